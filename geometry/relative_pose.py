"""Relative pose of two calibrated cameras from point correspondences.

Conventions in :mod:`geometry.camera`; epipolar notation in :mod:`geometry.epipolar`. The pose
is ``cam_b_from_cam_a``: ``x_b = R @ x_a + t`` with ``|t| = 1`` (two views fix the direction of
the baseline, not its length).

Pipeline of :func:`relative_pose`:

1. undistort both point sets (distorted pixels -> normalized coordinates and undistorted
   pixels); rows with a NaN in either view are ignored;
2. RANSAC (:mod:`geometry.ransac`) on the essential matrix in normalized coordinates: 5-point
   minimal samples (:mod:`geometry.five_point`; or the linear 8-point), weighted 8-point re-fits
   for the LO-RANSAC local optimization, residual = Sampson distance in undistorted *pixels*
   (``F = K_b^-T E K_a^-1``), so ``threshold_px`` means pixels whatever the focal lengths;
3. degeneracy checks: too few points, points on a line, a homography that explains the
   inliers as well as ``E`` (pure rotation or a planar scene);
4. the four ``(R, t)`` candidates of ``E``, cheirality on the inliers picks one;
5. Levenberg-Marquardt on the 5 degrees of freedom of ``(R, t)`` minimising a robust loss of
   the Sampson distance in pixels: first a Cauchy loss over the RANSAC inliers, then rounds of
   Tukey's biweight over every point within a cutoff of 4.685 noise sigmas (sigma estimated
   from the residuals, so the result hardly depends on ``threshold_px``); the inliers are the points
   with a Sampson distance below ``threshold_px`` and in front of both cameras;
6. a final parallax check (median triangulation angle of the inliers).

Degenerate input gives ``success=False`` with a short ``reason``; only contract violations
(shapes, a malformed ``K``, bad options) raise ``ValueError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .arrays import as_float_array, require_shape
from .epipolar import (_homogeneous, _sampson_signed, decompose_essential, essential_8point,
                       select_pose_by_cheirality, triangulation_angle_deg, two_view_depths)
from .five_point import essential_5point
from .homography import homography_dlt, homography_sampson_distance
from .lens import DistortionModel, apply_K, pad_distortion, remove_K, undistort_normalized
from .options import check_fields, option, with_argument
from .ransac import RansacOptions, ransac, required_iterations
from .transforms import rotation_from_rvec, skew

__all__ = ["MinimalSolver", "RefineLoss", "RelativePoseOptions", "RelativePose", "relative_pose"]

RefineLoss = Literal["tukey", "cauchy", "huber", "squared"]
MinimalSolver = Literal["5point", "8point"]
_SAMPLE_SIZE = {"5point": 5, "8point": 8}
_MIN_POINTS = 8  # the linear 8-point re-fit of the local optimization needs 8
_HOMOGRAPHY_SAMPLE = 4
_JACOBIAN_STEP = 1e-6  # radians / unit-vector units for the central-difference Jacobian
_MAD_TO_SIGMA = 1.4826  # sigma of a normal distribution from the median absolute deviation
_SIGMA_WINDOW = 3.0  # noise sigma is estimated from the points within 3 x threshold_px
_REFINE_RTOL = 1e-10  # stop when the cost decreases by less than this fraction
_REFINE_STEP_TOL = 1e-10  # or the step is shorter (radians): 6e-9 deg
_MIN_SCALE = 1e-3  # loss scale floor (x threshold_px) for noise-free data
_KEPT_INLIERS = 0.9  # a refinement keeping fewer of the RANSAC inliers triggers a restart


@dataclass(frozen=True, kw_only=True)
class RelativePoseOptions:
    """Options of :func:`relative_pose`.

    ransac: RANSAC options; ``threshold_px`` is the inlier threshold (see :func:`relative_pose`).
    minimal_solver: ``"5point"`` (Stewenius; fewest samples, the default) or ``"8point"``
        (linear; needs (1/w)^3 more samples at inlier ratio w).
    min_inliers: fewer inliers than this (>= 8) is "no consensus".
    restarts: extra RANSAC runs allowed when the refined pose keeps fewer than 90% of the
        RANSAC inliers (a wrong essential matrix on an ill-conditioned pair); the refined pose
        with the most inliers wins.
    refine_loss: robust loss of the refinement rounds on the Sampson distance (Tukey's biweight
        by default: points beyond its cutoff have no influence).
    refine_cutoff_sigmas: the loss scale (Tukey's cutoff) in units of the keypoint noise sigma,
        which is estimated in every round as 1.4826 x the median Sampson distance of the points
        within 3 x threshold_px. The default is Tukey's classic constant (95% efficiency on
        Gaussian noise). Wider cutoffs (8) gain ~10% accuracy with 1 px noise and few outliers
        near the epipolar lines but lose ~20% with 3 px noise or 50% outliers, where wrong
        keypoints of the same person fall within the cutoff.
    refine_iterations: Levenberg-Marquardt iterations per refinement.
    refine_rounds: rounds of (estimate sigma, select the points within the cutoff, refine),
        after a first robust refinement on the RANSAC inliers (>= 1).
    max_homography_inlier_ratio: if a homography (RANSAC, same threshold) explains at least
        this fraction of the essential-matrix inliers, the pair is degenerate (pure rotation or
        planar scene).
    min_triangulation_angle_deg: the median triangulation angle of the inliers must reach this
        (below it the baseline is too short for the translation direction to mean anything).
    collinearity_factor: points whose RMS distance to their best-fit line is below
        ``collinearity_factor * threshold_px`` (in either image) are "on a line".
    """

    ransac: RansacOptions = option(factory=RansacOptions)
    minimal_solver: MinimalSolver = option("5point", choices=tuple(_SAMPLE_SIZE))
    min_inliers: int = option(15, low=_MIN_POINTS)
    restarts: int = option(2, low=0)
    refine_loss: RefineLoss = option("tukey", choices=("tukey", "cauchy", "huber", "squared"))
    refine_cutoff_sigmas: float = option(4.685, low=0, low_open=True)
    refine_iterations: int = option(30, low=0)
    refine_rounds: int = option(2, low=1)
    max_homography_inlier_ratio: float = option(0.8, low=0, high=1, low_open=True)
    min_triangulation_angle_deg: float = option(1.0, low=0)
    collinearity_factor: float = option(2.0, low=0)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class RelativePose:
    """Result of :func:`relative_pose`.

    R: (3, 3) rotation cam_b_from_cam_a; t: (3,) unit translation (``x_b = R x_a + t``).
        Both NaN when ``success`` is False.
    inliers: (N,) bool over the input rows (NaN rows are never inliers).
    success: a pose was found and the data are not degenerate. reason: "" on success, else
        a short explanation (too few points, collinear, pure rotation / planar, ...).
    num_iterations: RANSAC minimal samples drawn. num_inliers: ``inliers.sum()``.
    median_triangulation_angle_deg: median angle between the two rays of the inliers (NaN
        when no pose was found).
    rotation_std_deg, translation_std_deg: first-order standard deviations of the rotation
        angle and of the translation direction, degrees, from the Gauss-Newton covariance of
        the Sampson residuals of the inliers (noise sigma estimated from them). Use them to
        weight pairs; NaN when no pose was found.
    """

    R: np.ndarray
    t: np.ndarray
    inliers: np.ndarray
    success: bool
    num_iterations: int
    num_inliers: int
    reason: str = ""
    median_triangulation_angle_deg: float = float("nan")
    rotation_std_deg: float = float("nan")
    translation_std_deg: float = float("nan")


class _EssentialProblem:
    """RANSAC problem: E from normalized coordinates, scored by the Sampson distance in pixels."""

    def __init__(self, xy_a, xy_b, K_a, K_b, solver: MinimalSolver):
        self.solver, self.sample_size = solver, _SAMPLE_SIZE[solver]
        self.xy_a, self.xy_b = xy_a, xy_b
        self.ha, self.hb = _homogeneous(apply_K(xy_a, K_a)), _homogeneous(apply_K(xy_b, K_b))
        self.K_a_inv, self.K_b_inv_T = np.linalg.inv(K_a), np.linalg.inv(K_b).T
        self.num_data = len(xy_a)

    def fit_minimal(self, samples):
        if self.solver == "8point":
            return essential_8point(self.xy_a[samples], self.xy_b[samples])
        E, valid = essential_5point(self.xy_a[samples], self.xy_b[samples])
        return E[valid]

    def fit_weighted(self, weights):
        shape = (len(weights),) + self.xy_a.shape
        return essential_8point(np.broadcast_to(self.xy_a, shape), np.broadcast_to(self.xy_b, shape),
                                weights=weights)

    def residuals(self, E, index=None):
        ha, hb = (self.ha, self.hb) if index is None else (self.ha[index], self.hb[index])
        return np.abs(_sampson_signed(self.K_b_inv_T @ E @ self.K_a_inv, ha, hb))


class _HomographyProblem:
    """RANSAC problem: homography in pixels, scored by its Sampson distance in pixels."""

    sample_size = _HOMOGRAPHY_SAMPLE

    def __init__(self, px_a, px_b):
        self.px_a, self.px_b = px_a, px_b
        self.num_data = len(px_a)

    def fit_minimal(self, samples):
        return homography_dlt(self.px_a[samples], self.px_b[samples])

    def fit_weighted(self, weights):
        shape = (len(weights),) + self.px_a.shape
        return homography_dlt(np.broadcast_to(self.px_a, shape), np.broadcast_to(self.px_b, shape),
                              weights=weights)

    def residuals(self, H, index=None):
        if index is None:
            return homography_sampson_distance(H, self.px_a, self.px_b)
        return homography_sampson_distance(H, self.px_a[index], self.px_b[index])


def _check_intrinsics(K, name: str) -> np.ndarray:
    K = as_float_array(K, name)
    require_shape(K, name, "(3, 3)", trailing=(3, 3), ndim=2)
    if not (np.all(np.isfinite(K)) and K[0, 0] > 0 and K[1, 1] > 0 and K[1, 0] == 0
            and np.allclose(K[2], [0.0, 0.0, 1.0])):
        raise ValueError(f"{name} must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0, "
                         f"got {K.tolist()}")
    return K


def _normalize(points, K, dist, model: DistortionModel) -> np.ndarray:
    """(N, 2) distorted pixels -> (N, 2) undistorted normalized coordinates (NaN kept)."""
    dist = np.zeros(0) if dist is None else dist
    return undistort_normalized(remove_K(points, K), pad_distortion(dist, model), model)


def _line_rms_px(points: np.ndarray) -> float:
    """RMS distance of (M, 2) points to their best-fit line (0 for fewer than 3 points)."""
    if len(points) < 3:
        return 0.0
    centered = points - points.mean(axis=0)
    return float(np.sqrt(max(np.linalg.eigvalsh(centered.T @ centered / len(points))[0], 0.0)))


def _robust_weights(r: np.ndarray, loss: RefineLoss, scale: float):
    """IRLS weights and loss values for residuals r (..., N) in pixels."""
    s2 = (r / scale) ** 2
    if loss == "cauchy":
        return 1.0 / (1.0 + s2), scale**2 * np.log1p(s2)
    if loss == "tukey":
        inside = s2 < 1
        return np.where(inside, (1 - s2) ** 2, 0.0), np.where(
            inside, scale**2 / 6 * (1 - (1 - s2) ** 3), scale**2 / 6)
    if loss == "huber":
        a = np.abs(r) / scale
        return np.where(a <= 1, 1.0, 1.0 / np.maximum(a, 1.0)), np.where(
            a <= 1, r**2, scale**2 * (2 * a - 1))
    return np.ones_like(r), r**2


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _tangent_basis(t: np.ndarray) -> np.ndarray:
    """(3, 2) orthonormal basis of the plane orthogonal to the unit vector t."""
    u = _cross(t, np.eye(3)[int(np.argmin(np.abs(t)))])
    u /= np.linalg.norm(u)
    return np.stack([u, _cross(t, u)], axis=-1)


def _perturbed(R, t, basis, deltas, ha, hb, K_a_inv, K_b_inv_T):
    """Signed Sampson residuals (P, N) of P perturbed poses ``deltas`` (P, 5): rotation
    increment (3, radians, left-multiplied) and tangent step of the unit t (2, along basis)."""
    Rs = rotation_from_rvec(deltas[:, :3]) @ R
    ts = t + deltas[:, 3:] @ basis.T
    ts /= np.linalg.norm(ts, axis=-1, keepdims=True)
    return _sampson_signed(K_b_inv_T @ skew(ts) @ Rs @ K_a_inv, ha, hb), Rs, ts


_PROBES = np.concatenate([_JACOBIAN_STEP * np.eye(5), -_JACOBIAN_STEP * np.eye(5)])


def _jacobian(R, t, basis, ha, hb, K_a_inv, K_b_inv_T) -> np.ndarray:
    """(N, 5) central-difference Jacobian of the Sampson residuals, one batch of 10 poses."""
    r_probes = _perturbed(R, t, basis, _PROBES, ha, hb, K_a_inv, K_b_inv_T)[0]
    return (r_probes[:5] - r_probes[5:]).T / (2 * _JACOBIAN_STEP)


def _pose_std_deg(R, t, ha, hb, K_a_inv, K_b_inv_T) -> tuple[float, float]:
    """First-order standard deviations (deg) of the rotation (angle) and of the translation
    direction, from the Gauss-Newton covariance ``sigma^2 (J^T J)^-1`` over the inliers."""
    basis = _tangent_basis(t)
    J = _jacobian(R, t, basis, ha, hb, K_a_inv, K_b_inv_T)
    r = _perturbed(R, t, basis, np.zeros((1, 5)), ha, hb, K_a_inv, K_b_inv_T)[0][0]
    sigma2 = float(r @ r) / max(len(r) - 5, 1)
    information = J.T @ J
    if not np.all(np.isfinite(information)) or np.linalg.cond(information) > 1e14:
        return float("inf"), float("inf")
    covariance = sigma2 * np.linalg.inv(information)
    return (float(np.degrees(np.sqrt(max(np.trace(covariance[:3, :3]), 0.0)))),
            float(np.degrees(np.sqrt(max(np.trace(covariance[3:, 3:]), 0.0)))))


def _refine(R, t, ha, hb, K_a_inv, K_b_inv_T, *, loss: RefineLoss, scale: float, iterations: int):
    """Levenberg-Marquardt on (rotation increment (3), tangent step of t (2)) of the robust
    Sampson cost; numeric central-difference Jacobian evaluated as one batch of 10 poses."""

    def residuals(deltas):
        return _perturbed(R, t, basis, deltas, ha, hb, K_a_inv, K_b_inv_T)

    damping = 1e-3
    basis = _tangent_basis(t)
    r = residuals(np.zeros((1, 5)))[0][0]
    cost = _robust_weights(r, loss, scale)[1].sum()
    for _ in range(iterations):
        basis = _tangent_basis(t)
        J = _jacobian(R, t, basis, ha, hb, K_a_inv, K_b_inv_T)
        w = _robust_weights(r, loss, scale)[0]
        A = J.T @ (w[:, None] * J)
        g = J.T @ (w * r)
        while True:
            step = np.linalg.solve(A + damping * np.diag(np.diag(A) + 1e-12), -g)
            r_new, R_new, t_new = residuals(step[None])
            cost_new = _robust_weights(r_new[0], loss, scale)[1].sum()
            if cost_new < cost or damping > 1e12:
                break
            damping *= 10
        if not cost_new < cost:
            break  # no descent direction left: converged
        decrease = cost - cost_new
        R, t, r, cost = R_new[0], t_new[0], r_new[0], cost_new
        damping = max(damping / 10, 1e-12)
        if decrease <= _REFINE_RTOL * cost or np.linalg.norm(step) < _REFINE_STEP_TOL:
            break
    return R, t


def _distances(R, t, ha, hb, xy_a, xy_b, K_a_inv, K_b_inv_T):
    """Sampson distances (N,) in pixels and the (N,) in-front-of-both-cameras mask of a pose."""
    distance = np.abs(_sampson_signed(K_b_inv_T @ skew(t) @ R @ K_a_inv, ha, hb))
    depth_a, depth_b = two_view_depths(R, t, xy_a, xy_b)
    return distance, (depth_a > 0) & (depth_b > 0)


def _homography_options(ransac_options: RansacOptions, options: RelativePoseOptions) -> RansacOptions:
    """Only a homography with the degenerate inlier ratio matters: draw just enough samples to
    find one with the requested confidence if it exists; the iterative re-fit is enough LO."""
    enough = required_iterations(options.max_homography_inlier_ratio, _HOMOGRAPHY_SAMPLE,
                                 ransac_options.confidence)
    local = "none" if ransac_options.local_optimization == "none" else "iterative"
    return dataclasses.replace(ransac_options, local_optimization=local,
                               max_iterations=max(ransac_options.min_iterations, int(np.ceil(enough))))


def _polish(R, t, inliers, xy_a, xy_b, px_a, px_b, K_a, K_b, threshold_px: float,
            options: RelativePoseOptions):
    """Final refinement of (R, t); returns ``(R, t, inliers)`` or a failure reason (str).

    A robust start on the RANSAC inliers, then rounds on every point within the loss cutoff of
    the current pose: hard inlier sets chosen by the current pose would drop exactly the points
    that disagree with it and keep the pose where RANSAC left it.
    """
    ha, hb = _homogeneous(px_a), _homogeneous(px_b)
    K_a_inv, K_b_inv_T = np.linalg.inv(K_a), np.linalg.inv(K_b).T
    R, t = _refine(R, t, ha[inliers], hb[inliers], K_a_inv, K_b_inv_T, loss="cauchy",
                   scale=threshold_px, iterations=options.refine_iterations)
    for _ in range(options.refine_rounds):
        distance, front = _distances(R, t, ha, hb, xy_a, xy_b, K_a_inv, K_b_inv_T)
        window = front & (distance < _SIGMA_WINDOW * threshold_px)
        if window.sum() < options.min_inliers:
            return (f"no consensus after refinement: {int(window.sum())} points within "
                    f"{_SIGMA_WINDOW:g} x threshold_px")
        sigma_px = _MAD_TO_SIGMA * np.median(distance[window])
        scale = max(options.refine_cutoff_sigmas * sigma_px, _MIN_SCALE * threshold_px)
        support = front & (distance < max(scale, threshold_px))
        R, t = _refine(R, t, ha[support], hb[support], K_a_inv, K_b_inv_T, loss=options.refine_loss,
                       scale=scale, iterations=options.refine_iterations)
        distance, front = _distances(R, t, ha, hb, xy_a, xy_b, K_a_inv, K_b_inv_T)
        inliers = (distance < threshold_px) & front
        if inliers.sum() < options.min_inliers:
            return f"no consensus after refinement: {int(inliers.sum())} inliers"
    return R, t, inliers


def _pose_from_essential(found, xy_a, xy_b, px_a, px_b, K_a, K_b, threshold_px: float,
                         options: RelativePoseOptions):
    """Cheirality on the RANSAC inliers, then :func:`_polish`: ``(R, t, inliers)`` or a reason."""
    inliers = found.inliers
    R_candidates, t_candidates = decompose_essential(found.model)
    best, in_front = select_pose_by_cheirality(R_candidates, t_candidates, xy_a[inliers], xy_b[inliers])
    if in_front[best].sum() < max(options.min_inliers, 0.5 * inliers.sum()):
        return "cheirality: no candidate pose puts most inliers in front of both cameras"
    return _polish(R_candidates[best], t_candidates[best], inliers, xy_a, xy_b, px_a, px_b, K_a, K_b,
                   threshold_px, options)


def _failure(n: int, reason: str, *, iterations: int = 0) -> RelativePose:
    nan3 = np.full(3, np.nan)
    return RelativePose(R=np.full((3, 3), np.nan), t=nan3, inliers=np.zeros(n, dtype=bool),
                        success=False, num_iterations=iterations, num_inliers=0, reason=reason)


def relative_pose(points_a: np.ndarray, points_b: np.ndarray, K_a: np.ndarray, K_b: np.ndarray, *,
                  dist_a: np.ndarray | None = None, dist_b: np.ndarray | None = None,
                  threshold_px: float | None = None, rng: np.random.Generator | None = None,
                  options: RelativePoseOptions | None = None,
                  distortion_model_a: DistortionModel = "opencv",
                  distortion_model_b: DistortionModel = "opencv") -> RelativePose:
    """Relative pose ``cam_b_from_cam_a`` of two calibrated cameras from correspondences.

    points_a, points_b: (N, 2) float64 distorted pixels of the same N 3D points in cameras a
        and b; rows with a NaN in either view are ignored (never inliers).
    K_a, K_b: (3, 3) intrinsics. dist_a, dist_b: distortion coefficients in OpenCV order (see
        :mod:`geometry.camera`; None = no distortion); distortion_model_a/b: their model.
    threshold_px: inlier threshold on the Sampson distance, undistorted pixels (use about
        2-3 x the keypoint noise sigma): a shorthand for ``options.ransac.threshold_px`` (None: the
        options' value, 1 px by default; ValueError when ``options`` are given with another value).
    rng: the only source of randomness (``np.random.default_rng(0)`` if None).
    options: :class:`RelativePoseOptions`.
    Returns :class:`RelativePose`; see the module docstring for the pipeline and the
    degenerate cases reported with ``success=False``.
    """
    points_a = as_float_array(points_a, "points_a")
    points_b = as_float_array(points_b, "points_b")
    require_shape(points_a, "points_a", "(N, 2)", trailing=(2,), ndim=2)
    require_shape(points_b, "points_b", "(N, 2)", trailing=(2,), ndim=2)
    if points_a.shape != points_b.shape:
        raise ValueError(f"points_a has shape {points_a.shape} and points_b {points_b.shape}, "
                         "expected the same (N, 2)")
    K_a, K_b = _check_intrinsics(K_a, "K_a"), _check_intrinsics(K_b, "K_b")
    given = options is not None
    options = RelativePoseOptions() if options is None else options
    if not isinstance(options, RelativePoseOptions):
        raise ValueError(f"options must be RelativePoseOptions, got {type(options).__name__}")
    if threshold_px is not None:
        threshold_px = float(threshold_px)
    options = with_argument(options, "ransac.threshold_px", threshold_px, options_given=given)
    rng = np.random.default_rng(0) if rng is None else rng
    ransac_options = options.ransac
    threshold_px = ransac_options.threshold_px
    n = len(points_a)

    xy_a = _normalize(points_a, K_a, dist_a, distortion_model_a)
    xy_b = _normalize(points_b, K_b, dist_b, distortion_model_b)
    valid = np.all(np.isfinite(xy_a), axis=1) & np.all(np.isfinite(xy_b), axis=1)
    index = np.flatnonzero(valid)
    if len(index) < options.min_inliers:
        return _failure(n, f"too few points: {len(index)} valid correspondences (finite and within "
                           f"the lens model's range in both views), need {options.min_inliers}")
    xy_a, xy_b = xy_a[index], xy_b[index]
    px_a, px_b = apply_K(xy_a, K_a), apply_K(xy_b, K_b)
    line_tolerance_px = options.collinearity_factor * threshold_px

    def collinear(mask) -> bool:
        return min(_line_rms_px(px_a[mask]), _line_rms_px(px_b[mask])) < line_tolerance_px

    everything = np.ones(len(index), dtype=bool)
    if collinear(everything):
        return _failure(n, "points lie on a line in at least one image")

    problem = _EssentialProblem(xy_a, xy_b, K_a, K_b, options.minimal_solver)
    found = ransac(problem, options=ransac_options, rng=rng)
    iterations = found.report.num_iterations
    inliers = found.inliers
    consensus = found.report.success and inliers.sum() >= options.min_inliers
    if consensus and collinear(inliers):
        return _failure(n, "inlier points lie on a line in at least one image", iterations=iterations)
    # A homography over the essential-matrix inliers (or over all points when E found no
    # consensus: a pure rotation can defeat the essential-matrix solvers altogether).
    checked = inliers if consensus else everything
    homography = ransac(_HomographyProblem(px_a[checked], px_b[checked]),
                        options=_homography_options(ransac_options, options), rng=rng)
    if consensus:
        degenerate = homography.report.inlier_ratio >= options.max_homography_inlier_ratio
    else:
        degenerate = homography.report.num_inliers >= max(options.min_inliers, inliers.sum() + 1)
    if degenerate:
        return _failure(n, f"a homography explains the correspondences ({homography.report.num_inliers} "
                           f"inliers vs {int(inliers.sum())} for the essential matrix): pure rotation "
                           "(no parallax) or a planar scene", iterations=iterations)
    if not consensus:
        return _failure(n, f"no consensus: best essential matrix has {int(inliers.sum())} inliers, "
                           f"need {options.min_inliers}", iterations=iterations)

    pose = _pose_from_essential(found, xy_a, xy_b, px_a, px_b, K_a, K_b, threshold_px, options)
    # On ill-conditioned pairs (a small object, large noise) a wrong essential matrix can gather
    # nearly as many inliers as the right one; its refinement then loses inliers. Restart
    # RANSAC then and keep the refined pose with the most inliers.
    for _ in range(options.restarts):
        if not isinstance(pose, str) and pose[2].sum() >= _KEPT_INLIERS * found.inliers.sum():
            break
        found = ransac(problem, options=ransac_options, rng=rng)
        iterations += found.report.num_iterations
        if not found.report.success:
            continue
        other = _pose_from_essential(found, xy_a, xy_b, px_a, px_b, K_a, K_b, threshold_px, options)
        if isinstance(pose, str) or (not isinstance(other, str) and other[2].sum() > pose[2].sum()):
            pose = other
    if isinstance(pose, str):
        return _failure(n, pose, iterations=iterations)
    R, t, inliers = pose

    angle_deg = float(np.median(triangulation_angle_deg(R, xy_a[inliers], xy_b[inliers])))
    if angle_deg < options.min_triangulation_angle_deg:
        result = _failure(n, f"no parallax: median triangulation angle {angle_deg:.3g} deg < "
                             f"{options.min_triangulation_angle_deg} deg", iterations=iterations)
        return dataclasses.replace(result, median_triangulation_angle_deg=angle_deg)
    rotation_std_deg, translation_std_deg = _pose_std_deg(
        R, t, _homogeneous(px_a[inliers]), _homogeneous(px_b[inliers]), np.linalg.inv(K_a),
        np.linalg.inv(K_b).T)
    full_inliers = np.zeros(n, dtype=bool)
    full_inliers[index[inliers]] = True
    return RelativePose(R=R, t=t / np.linalg.norm(t), inliers=full_inliers, success=True,
                        num_iterations=iterations, num_inliers=int(inliers.sum()),
                        median_triangulation_angle_deg=angle_deg, rotation_std_deg=rotation_std_deg,
                        translation_std_deg=translation_std_deg)
