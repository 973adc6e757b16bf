"""Two-view epipolar geometry: fundamental and essential matrices, decomposition, cheirality.

Conventions in :mod:`geometry.camera`. Two views ``a`` and ``b`` observe the same 3D points; a
correspondence is the pair of image points of one 3D point. The relative pose ``(R, t)`` is
``cam_b_from_cam_a``: ``x_b = R @ x_a + t``. With ``E = [t]_x R`` and
``F = K_b^-T E K_a^-1`` the epipolar constraint reads

    hom(u_b)^T F hom(u_a) = 0     (undistorted pixels u)
    hom(x_b)^T E hom(x_a) = 0     (undistorted normalized coordinates x = (X/Z, Y/Z))

"Pixels" in this module are *undistorted* pixels (``Camera.undistort_points``): the epipolar
constraint does not hold for distorted ones. Pixel coordinates are never rounded.

Shapes: points ``(..., N, 2)`` float64; matrices ``(..., 3, 3)``; every function broadcasts the
leading batch dimensions, so many minimal samples (``(B, 8, 2)``) or many hypotheses
(``F (H, 3, 3)`` against ``points (N, 2)``) go through one call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .arrays import as_float_array, require_shape
from .ransac import RansacOptions, RansacReport, ransac
from .transforms import skew

__all__ = [
    "FundamentalEstimate",
    "estimate_fundamental",
    "fundamental_8point",
    "essential_8point",
    "project_to_essential",
    "essential_from_pose",
    "essential_from_fundamental",
    "fundamental_from_essential",
    "decompose_essential",
    "epipolar_residual",
    "epipolar_lines",
    "sampson_distance",
    "two_view_depths",
    "triangulation_angle_deg",
    "select_pose_by_cheirality",
]

_GRAM_ROWS = 64  # systems taller than this go through the Gram matrix (see _null_vector)
_MIN_DENOMINATOR = 1e-300  # guards 0/0 at an epipole; the numerator is then 0 as well

# Rotation by +90 deg about z, used to build the two rotation candidates from the SVD of E.
_W = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def _check_pair(points_a, points_b, min_points: int = 1):
    points_a = as_float_array(points_a, "points_a")
    points_b = as_float_array(points_b, "points_b")
    require_shape(points_a, "points_a", "(..., N, 2)", trailing=(2,))
    require_shape(points_b, "points_b", "(..., N, 2)", trailing=(2,))
    if points_a.ndim < 2 or points_a.shape != points_b.shape:
        raise ValueError(f"points_a has shape {points_a.shape} and points_b {points_b.shape}, "
                         "expected the same (..., N, 2)")
    if points_a.shape[-2] < min_points:
        raise ValueError(f"got {points_a.shape[-2]} correspondences, expected at least {min_points}")
    return points_a, points_b


def _check_K(K, name: str) -> np.ndarray:
    K = as_float_array(K, name)
    require_shape(K, name, "(3, 3)", trailing=(3, 3))
    return K


def _homogeneous(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1)


def _hartley_transform(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Similarity moving the weighted centroid to 0 and the mean distance to sqrt(2).

    points (..., N, 2), weights (..., N) >= 0. Returns T (..., 3, 3) with hom(p') = T hom(p).
    """
    total = np.maximum(weights.sum(axis=-1), _MIN_DENOMINATOR)
    centroid = np.einsum("...n,...ni->...i", weights, points) / total[..., None]
    distance = np.linalg.norm(points - centroid[..., None, :], axis=-1)
    mean_distance = np.einsum("...n,...n->...", weights, distance) / total
    scale = np.sqrt(2.0) / np.maximum(mean_distance, 1e-12)
    T = np.zeros(points.shape[:-2] + (3, 3))
    T[..., 0, 0] = T[..., 1, 1] = scale
    T[..., :2, 2] = -scale[..., None] * centroid
    T[..., 2, 2] = 1.0
    return T


def _normalized_pair(points_a, points_b, weights, *, min_points: int):
    """Validate a weighted point pair and Hartley-normalize it.

    Returns ``(ha, hb, weights, T_a, T_b)``: homogeneous normalized points (..., N, 3), the
    (..., N) weights (ones if None) and the (..., 3, 3) normalizing transforms.
    """
    points_a, points_b = _check_pair(points_a, points_b, min_points=min_points)
    if weights is None:
        weights = np.ones(points_a.shape[:-1])
    weights = np.broadcast_to(as_float_array(weights, "weights"), points_a.shape[:-1])
    if np.any(weights < 0):
        raise ValueError("weights must be non-negative")
    T_a = _hartley_transform(points_a, weights)
    T_b = _hartley_transform(points_b, weights)
    ha = _homogeneous(points_a) @ np.swapaxes(T_a, -1, -2)
    hb = _homogeneous(points_b) @ np.swapaxes(T_b, -1, -2)
    return ha, hb, weights, T_a, T_b


def _unit_frobenius(M: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(M, axis=(-2, -1), keepdims=True)
    return M / np.maximum(norm, _MIN_DENOMINATOR)


def _null_vector(A: np.ndarray) -> np.ndarray:
    """Right singular vector of the smallest singular value of each A (..., M, 9) -> (..., 9).

    Small systems (minimal samples) use the SVD, rows padded with zeros to 9 so that the thin
    SVD still returns the whole right singular basis when M < 9. Tall systems use the
    eigenvectors of the 9 x 9 Gram matrix ``A^T A``: numpy's batched SVD of ``(H, M, 9)`` costs
    ~1000x more for M in the thousands, and on Hartley-normalized data the squared condition
    number still leaves the null vector accurate to ~1e-10.
    """
    if A.shape[-2] > _GRAM_ROWS:
        _, vectors = np.linalg.eigh(np.swapaxes(A, -1, -2) @ A)
        return vectors[..., :, 0]
    if A.shape[-2] < A.shape[-1]:
        pad = np.zeros(A.shape[:-2] + (A.shape[-1] - A.shape[-2], A.shape[-1]))
        A = np.concatenate([A, pad], axis=-2)
    _, _, Vt = np.linalg.svd(A, full_matrices=False)
    return Vt[..., -1, :]


def fundamental_8point(points_a: np.ndarray, points_b: np.ndarray, *,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """Hartley's normalized 8-point algorithm, batched, with optional per-point weights.

    points_a, points_b: (..., N, 2) float64 undistorted pixels (or any affine image coordinates,
        e.g. normalized ones), N >= 8 (N = 8 is the minimal sample).
    weights: (..., N) non-negative row weights of the linear system (e.g. an inlier mask);
        at least 8 must be positive for a unique answer.
    Returns F (..., 3, 3) of rank 2 and unit Frobenius norm with ``hom(b)^T F hom(a) ~ 0``.
    A degenerate configuration (fewer than 8 points in general position) gives *a* matrix of
    the null space; RANSAC callers score it like any other hypothesis.
    """
    ha, hb, weights, T_a, T_b = _normalized_pair(points_a, points_b, weights, min_points=8)
    # Row n of A is kron(hb_n, ha_n): hom(b)^T F hom(a) = A f with f = F.ravel().
    A = (hb[..., :, None] * ha[..., None, :]).reshape(ha.shape[:-1] + (9,))
    F = _null_vector(A * np.sqrt(weights)[..., None]).reshape(A.shape[:-2] + (3, 3))
    U, S, Vt = np.linalg.svd(F)
    S[..., 2] = 0.0
    F = U @ (S[..., :, None] * Vt)
    F = np.swapaxes(T_b, -1, -2) @ F @ T_a
    return _unit_frobenius(F)


def project_to_essential(M: np.ndarray) -> np.ndarray:
    """Nearest essential matrix (equal non-zero singular values) in Frobenius norm.

    M: (..., 3, 3). Returns E (..., 3, 3) with singular values (1, 1, 0) / sqrt(2).
    """
    M = as_float_array(M, "M")
    require_shape(M, "M", "(..., 3, 3)", trailing=(3, 3))
    U, _, Vt = np.linalg.svd(M)
    return (U[..., :, :2] @ Vt[..., :2, :]) / np.sqrt(2.0)


def essential_8point(xy_a: np.ndarray, xy_b: np.ndarray, *,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Essential matrix from N >= 8 correspondences in undistorted normalized coordinates.

    xy_a, xy_b: (..., N, 2) float64 normalized coordinates ``(X/Z, Y/Z)``.
    weights: (..., N) as in :func:`fundamental_8point`.
    Returns E (..., 3, 3): the normalized 8-point solution projected onto the essential manifold
    (unit Frobenius norm; sign arbitrary).
    """
    return project_to_essential(fundamental_8point(xy_a, xy_b, weights=weights))


def essential_from_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``E = [t]_x R`` for the pose cam_b_from_cam_a. R (..., 3, 3), t (..., 3) -> (..., 3, 3)."""
    R = as_float_array(R, "R")
    t = as_float_array(t, "t")
    require_shape(R, "R", "(..., 3, 3)", trailing=(3, 3))
    require_shape(t, "t", "(..., 3)", trailing=(3,))
    return skew(t) @ R


def essential_from_fundamental(F: np.ndarray, K_a: np.ndarray, K_b: np.ndarray) -> np.ndarray:
    """``E = K_b^T F K_a`` (unit Frobenius norm). F (..., 3, 3); K_a, K_b (3, 3) or (..., 3, 3)."""
    F = as_float_array(F, "F")
    require_shape(F, "F", "(..., 3, 3)", trailing=(3, 3))
    K_a, K_b = _check_K(K_a, "K_a"), _check_K(K_b, "K_b")
    return _unit_frobenius(np.swapaxes(K_b, -1, -2) @ F @ K_a)


def fundamental_from_essential(E: np.ndarray, K_a: np.ndarray, K_b: np.ndarray) -> np.ndarray:
    """``F = K_b^-T E K_a^-1`` (unit Frobenius norm). E (..., 3, 3); K_a, K_b (3, 3) or (..., 3, 3)."""
    E = as_float_array(E, "E")
    require_shape(E, "E", "(..., 3, 3)", trailing=(3, 3))
    K_a, K_b = _check_K(K_a, "K_a"), _check_K(K_b, "K_b")
    return _unit_frobenius(np.swapaxes(np.linalg.inv(K_b), -1, -2) @ E @ np.linalg.inv(K_a))


def decompose_essential(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The four ``(R, t)`` cam_b_from_cam_a candidates of an essential matrix.

    E: (..., 3, 3) (any scale and sign).
    Returns R (..., 4, 3, 3) proper rotations and t (..., 4, 3) unit translations, ordered
    ``(R1, t), (R1, -t), (R2, t), (R2, -t)``. Exactly one candidate puts the scene in front of
    both cameras (:func:`select_pose_by_cheirality` picks it).
    """
    E = as_float_array(E, "E")
    require_shape(E, "E", "(..., 3, 3)", trailing=(3, 3))
    U, _, Vt = np.linalg.svd(E)
    # Flipping the sign of U or Vt only flips the sign of E: make both proper rotations.
    U = U * np.sign(np.linalg.det(U))[..., None, None]
    Vt = Vt * np.sign(np.linalg.det(Vt))[..., None, None]
    R1 = U @ _W @ Vt
    R2 = U @ _W.T @ Vt
    t = U[..., :, 2]
    R = np.stack([R1, R1, R2, R2], axis=-3)
    t = np.stack([t, -t, t, -t], axis=-2)
    return R, t


def epipolar_residual(F: np.ndarray, points_a: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Algebraic epipolar residual ``hom(b)^T F hom(a)``.

    F: (..., 3, 3) (E with normalized coordinates works the same); points (..., N, 2) broadcast
    against F's leading dimensions. Returns (..., N); zero for exact correspondences.
    """
    F = as_float_array(F, "F")
    points_a, points_b = _check_pair(points_a, points_b)
    Fa = _homogeneous(points_a) @ np.swapaxes(F, -1, -2)
    return np.sum(_homogeneous(points_b) * Fa, axis=-1)


def epipolar_lines(F: np.ndarray, points_a: np.ndarray) -> np.ndarray:
    """Epipolar lines in image b of points in image a, scaled so that ``l . hom(u_b)`` is the
    signed point-line distance in pixels.

    F: (..., 3, 3); points_a: (..., N, 2) undistorted pixels. Returns (..., N, 3) lines
    ``(a, b, c)`` with ``a^2 + b^2 = 1`` (``(0, 0, 1)``-like lines at the epipole are returned
    unscaled).
    """
    F = as_float_array(F, "F")
    points_a = as_float_array(points_a, "points_a")
    require_shape(points_a, "points_a", "(..., N, 2)", trailing=(2,))
    lines = _homogeneous(points_a) @ np.swapaxes(F, -1, -2)
    norm = np.linalg.norm(lines[..., :2], axis=-1, keepdims=True)
    return lines / np.where(norm > _MIN_DENOMINATOR, norm, 1.0)


def _sampson_signed(F: np.ndarray, ha: np.ndarray, hb: np.ndarray) -> np.ndarray:
    """Signed Sampson error; ha, hb homogeneous (N, 3) or (..., N, 3); F (..., 3, 3)."""
    Fa = ha @ np.swapaxes(F, -1, -2)  # rows F hom(a)
    Ftb = hb @ F  # rows F^T hom(b)
    numerator = np.sum(hb * Fa, axis=-1)
    denominator = Fa[..., 0] ** 2 + Fa[..., 1] ** 2 + Ftb[..., 0] ** 2 + Ftb[..., 1] ** 2
    return numerator / np.sqrt(np.maximum(denominator, _MIN_DENOMINATOR))


def sampson_distance(F: np.ndarray, points_a: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Sampson distance: first-order geometric distance of each correspondence to ``F``.

    F: (..., 3, 3) fundamental matrix in pixels; points_a, points_b: (..., N, 2) undistorted
    pixels, broadcast against F (``F (H, 3, 3)`` with ``points (N, 2)`` gives ``(H, N)``).
    Returns (..., N) float64 >= 0, pixels: the smallest joint displacement of ``(u_a, u_b)`` (to
    first order) that satisfies the epipolar constraint.
    """
    F = as_float_array(F, "F")
    require_shape(F, "F", "(..., 3, 3)", trailing=(3, 3))
    points_a, points_b = _check_pair(points_a, points_b)
    return np.abs(_sampson_signed(F, _homogeneous(points_a), _homogeneous(points_b)))


def two_view_depths(R: np.ndarray, t: np.ndarray, xy_a: np.ndarray,
                    xy_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depths of the midpoint triangulation of each correspondence under the pose (R, t).

    R: (..., 3, 3), t: (..., 3) cam_b_from_cam_a; xy_a, xy_b: (N, 2) or (..., N, 2) undistorted
    normalized coordinates, broadcast against the pose (``R (4, 3, 3)`` with ``xy (N, 2)`` gives
    ``(4, N)``). Returns ``(depth_a, depth_b)``, each (..., N): the z coordinate of the point in
    camera a and in camera b, in units of ``|t|``. Parallel rays (a point at infinity or a
    pure rotation) give depth 0 in both, i.e. "not in front".
    """
    R = as_float_array(R, "R")
    t = as_float_array(t, "t")
    da = _homogeneous(as_float_array(xy_a, "xy_a"))
    hb = _homogeneous(as_float_array(xy_b, "xy_b"))
    # Ray of b in frame a: R^T hom(x_b); centre of b in frame a: -R^T t.
    db = hb @ R  # rows R^T hom(x_b)
    cb = -np.einsum("...ji,...j->...i", R, t)[..., None, :]
    a11 = np.sum(da * da, axis=-1)
    a12 = -np.sum(da * db, axis=-1)
    a22 = np.sum(db * db, axis=-1)
    r1 = np.sum(da * cb, axis=-1)
    r2 = -np.sum(db * cb, axis=-1)
    det = a11 * a22 - a12 * a12
    # Rays closer to parallel than ~1e-7 rad carry no depth information.
    ok = det > 1e-14 * a11 * a22
    safe = np.where(ok, det, 1.0)
    depth_a = np.where(ok, (a22 * r1 - a12 * r2) / safe, 0.0)
    depth_b = np.where(ok, (a11 * r2 - a12 * r1) / safe, 0.0)
    return depth_a, depth_b


def triangulation_angle_deg(R: np.ndarray, xy_a: np.ndarray, xy_b: np.ndarray) -> np.ndarray:
    """Angle between the two viewing rays of each correspondence, degrees.

    R: (..., 3, 3) rotation cam_b_from_cam_a; xy_a, xy_b: (..., N, 2) normalized coordinates.
    Returns (..., N). For a point in front of both cameras this is its triangulation angle; it
    is ~0 for every point of a pure rotation.
    """
    da = _homogeneous(as_float_array(xy_a, "xy_a"))
    db = _homogeneous(as_float_array(xy_b, "xy_b")) @ as_float_array(R, "R")
    cos = np.sum(da * db, axis=-1) / (np.linalg.norm(da, axis=-1) * np.linalg.norm(db, axis=-1))
    sin = np.linalg.norm(np.cross(da, db), axis=-1) / (np.linalg.norm(da, axis=-1) * np.linalg.norm(db, axis=-1))
    return np.degrees(np.arctan2(sin, cos))


def select_pose_by_cheirality(R: np.ndarray, t: np.ndarray, xy_a: np.ndarray,
                              xy_b: np.ndarray) -> tuple[int, np.ndarray]:
    """Pick the candidate pose that puts most correspondences in front of both cameras.

    R: (C, 3, 3), t: (C, 3) candidates (e.g. the 4 of :func:`decompose_essential`);
    xy_a, xy_b: (N, 2) undistorted normalized coordinates (the inliers).
    Returns ``(index, in_front)``: the winning candidate and the (C, N) bool mask of points with
    positive depth in both cameras for every candidate.
    """
    R = as_float_array(R, "R")
    t = as_float_array(t, "t")
    require_shape(R, "R", "(C, 3, 3)", trailing=(3, 3), ndim=3)
    require_shape(t, "t", "(C, 3)", trailing=(3,), ndim=2)
    xy_a, xy_b = _check_pair(xy_a, xy_b)
    depth_a, depth_b = two_view_depths(R, t, xy_a, xy_b)
    in_front = (depth_a > 0) & (depth_b > 0)
    return int(np.argmax(in_front.sum(axis=-1))), in_front


@dataclass(frozen=True)
class FundamentalEstimate:
    """Result of :func:`estimate_fundamental`.

    F: (3, 3) rank-2 fundamental matrix, unit Frobenius norm, in undistorted pixels; NaN when
        ``report.success`` is False. inliers: (N,) bool (NaN rows are never inliers).
    report: the RANSAC report.
    """

    F: np.ndarray
    inliers: np.ndarray
    report: RansacReport


class _FundamentalProblem:
    """RANSAC problem: normalized 8-point F, scored by the Sampson distance in pixels."""

    sample_size = 8

    def __init__(self, points_a: np.ndarray, points_b: np.ndarray):
        self.points_a, self.points_b = points_a, points_b
        self.ha, self.hb = _homogeneous(points_a), _homogeneous(points_b)
        self.num_data = len(points_a)

    def fit_minimal(self, samples):
        return fundamental_8point(self.points_a[samples], self.points_b[samples])

    def fit_weighted(self, weights):
        shape = (len(weights),) + self.points_a.shape
        return fundamental_8point(np.broadcast_to(self.points_a, shape),
                                  np.broadcast_to(self.points_b, shape), weights=weights)

    def residuals(self, F, index=None):
        ha, hb = (self.ha, self.hb) if index is None else (self.ha[index], self.hb[index])
        return np.abs(_sampson_signed(F, ha, hb))


def estimate_fundamental(points_a: np.ndarray, points_b: np.ndarray, *, threshold_px: float = 1.0,
                         rng: np.random.Generator | None = None,
                         options: RansacOptions | None = None) -> FundamentalEstimate:
    """Robust fundamental matrix of two uncalibrated views (LO-RANSAC over the 8-point solver).

    points_a, points_b: (N, 2) float64 undistorted pixels; rows with a NaN are ignored.
    threshold_px: inlier threshold on the Sampson distance, pixels (replaces
        ``options.threshold_px``). rng: the only randomness (``default_rng(0)`` if None).
    ``report.success`` only says that RANSAC found a model with at least 8 inliers: degenerate
    configurations (a plane, coincident points, no parallax) are *not* detected here. For
    calibrated cameras use :func:`geometry.relative_pose`, which detects them, has 5 degrees
    of freedom instead of 7 and returns the pose itself.
    """
    points_a, points_b = _check_pair(points_a, points_b)
    if points_a.ndim != 2:
        raise ValueError(f"points_a has shape {points_a.shape}, expected (N, 2)")
    options = dataclasses.replace(RansacOptions() if options is None else options,
                                  threshold_px=float(threshold_px))
    valid = np.all(np.isfinite(points_a) & np.isfinite(points_b), axis=1)
    found = ransac(_FundamentalProblem(points_a[valid], points_b[valid]), options=options, rng=rng)
    inliers = np.zeros(len(points_a), dtype=bool)
    inliers[np.flatnonzero(valid)[found.inliers]] = True
    F = found.model if found.report.success else np.full((3, 3), np.nan)
    report = dataclasses.replace(found.report, inlier_ratio=found.report.num_inliers / max(len(points_a), 1))
    return FundamentalEstimate(F=F, inliers=inliers, report=report)
