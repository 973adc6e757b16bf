"""A lens model that does not overfit thin data: chosen by held-out corners, held by priors, with its
projection uncertainty over the image.

Conventions in :mod:`geometry.camera` (the OpenCV model; distortion order k1, k2, p1, p2, k3, k4,
k5, k6). A board that only ever covered the image centre pins down neither the principal point
nor the high-order distortion, and a full model fitted to it fits the corners it saw to 0.2 px
while bending the image corners by tens of pixels. Three remedies:

1. **Complexity by cross-validation** (:func:`select_lens_model`): the candidate models
   :data:`COMPLEXITIES` (``focal``: one focal length, principal point at the image centre, no
   distortion; ``pinhole``: fx, fy, cx, cy; ``radial``: + k1, k2; ``standard``: + p1, p2, k3;
   ``rational``: + k4, k5, k6) are each fitted on all board views but one fold and scored on the
   held-out fold's corners (each held-out view posed by PnP with the fitted lens, so the score is
   what the lens predicts, not what a view's own pose absorbs). The simplest model within
   ``tolerance`` of the best held-out RMS wins.
2. **Priors** (:class:`LensPriors`): every distortion coefficient costs its displacement at the
   farthest image corner (px) over ``distortion_px``, the principal point its distance from the
   image centre over ``principal_point_px``, ``fx / fy - 1`` over ``pixel_aspect`` (square pixels),
   all measured against ``corner_noise_px`` (a ridge term in the least squares; the bundle
   adjustment's joint refinement uses the same rows, :func:`lens_prior_rows`). Where the board
   went the data outweigh them; where it never went they keep the model from inventing
   distortion.
3. **Projection uncertainty** (:func:`projection_uncertainty`, after mrcal): the covariance of the
   intrinsics (the fit's normal equations, board poses marginalized, noise from the residuals)
   propagated to the pixel where a fixed ray lands, over a grid covering the image, after removing
   the part that a rotation of the camera absorbs (a shift of the principal point with a matching
   rotation moves no observation). Where the figure is small the model can be trusted.

The fit itself (:func:`fit_lens`) is Levenberg-Marquardt on the corners of all views jointly,
with OpenCV's ``projectPoints`` Jacobians (dense; at most a few hundred parameters).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from geometry import Camera
from geometry.options import check_fields, option

__all__ = ["Complexity", "COMPLEXITIES", "LensPriors", "lens_prior_rows", "IntrinsicsAnchor", "lens_anchor", "LensFit", "fit_lens", "ModelScore", "LensSelection",
           "select_lens_model", "LensUncertainty", "projection_uncertainty", "lens_error_px"]

log = logging.getLogger(__name__)

Complexity = Literal["focal", "pinhole", "radial", "standard", "rational"]
COMPLEXITIES: tuple[str, ...] = ("focal", "pinhole", "radial", "standard", "rational")
# full intrinsic vector: fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6 (projectPoints' column order)
_NAMES = ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")
_FREE = {"pinhole": (0, 1, 2, 3), "radial": (0, 1, 2, 3, 4, 5), "standard": (0, 1, 2, 3, 4, 5, 6, 7, 8),
         "rational": tuple(range(12))}
_DIST_LENGTH = {"focal": 0, "pinhole": 0, "radial": 4, "standard": 5, "rational": 8}
# displacement of each distortion coefficient at normalized radius r: ~ f * r**power
_POWER = {4: 3, 5: 5, 6: 2, 7: 2, 8: 7, 9: 3, 10: 5, 11: 7}


@dataclass(frozen=True, kw_only=True)
class LensPriors:
    """Ridge priors of :func:`fit_lens`, all in pixels.

    distortion_px: prior spread of each distortion coefficient's displacement at the farthest
        image corner (a webcam's barrel distortion bends the corners by 50-150 px).
    principal_point_px: prior spread of the principal point around the image centre.
    pixel_aspect: prior spread of ``fx / fy - 1`` (square pixels: webcams, machine-vision and phone
        sensors all have them; a thin board view lets fx and fy drift apart by a few %).
    corner_noise_px: the corners' detection noise the priors are weighed against.
    """

    distortion_px: float = option(60.0, low=0, low_open=True, note="pixels")
    principal_point_px: float = option(40.0, low=0, low_open=True, note="pixels")
    pixel_aspect: float = option(0.003, low=0, low_open=True)
    corner_noise_px: float = option(0.5, low=0, low_open=True, note="pixels")

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, eq=False)
class LensFit:
    """One fitted lens.

    camera: the lens (identity pose). complexity: the model fitted. rms_px: RMS corner residual of
    the fit. per_view_rms_px: (U,). rvecs, tvecs: (U, 3) cam_from_board per view.
    covariance: (P, P) of the free intrinsics ``free_names``, px-noise scaled (board poses
    marginalized). noise_px: residual noise estimate per coordinate.
    """

    camera: Camera
    complexity: str
    rms_px: float
    per_view_rms_px: np.ndarray
    rvecs: np.ndarray
    tvecs: np.ndarray
    covariance: np.ndarray
    free_names: tuple[str, ...]
    noise_px: float


@dataclass(frozen=True, eq=False)
class IntrinsicsAnchor:
    """One camera's intrinsics as a separate solve found them, with their uncertainty: a Gaussian
    prior for a later solve (the joint refinement of :mod:`calibration.board_validation`).

    theta: (12,) fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6 (px; zeros past the model's own).
    sqrt_information: (P, 12) rows R with ``|R (theta' - theta)|^2`` the Mahalanobis distance of
        ``theta'`` from the estimate (the inverse covariance is ``R^T R``; zero columns for the
        parameters the solve did not estimate).
    """

    theta: np.ndarray
    sqrt_information: np.ndarray

    def distance(self, K: np.ndarray, dist: np.ndarray) -> float:
        """Mahalanobis distance (sigmas) of the lens ``K``, ``dist`` from this estimate."""
        return float(np.linalg.norm(self.sqrt_information @ (_full_vector(K, dist) - self.theta)))


def _mapping(complexity: str) -> np.ndarray:
    """(12, P): d full-intrinsics / d free parameters."""
    if complexity == "focal":
        A = np.zeros((12, 1))
        A[0, 0] = A[1, 0] = 1.0
        return A
    free = _FREE[complexity]
    A = np.zeros((12, len(free)))
    A[list(free), np.arange(len(free))] = 1.0
    return A


def _free_names(complexity: str) -> tuple[str, ...]:
    return ("f",) if complexity == "focal" else tuple(_NAMES[i] for i in _FREE[complexity])


def _full_vector(K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    d = np.zeros(8)
    dist = np.asarray(dist, dtype=np.float64).reshape(-1)[:8]
    d[:dist.size] = dist
    return np.concatenate([[K[0, 0], K[1, 1], K[0, 2], K[1, 2]], d])


def _K(theta: np.ndarray) -> np.ndarray:
    return np.array([[theta[0], 0.0, theta[2]], [0.0, theta[1], theta[3]], [0.0, 0.0, 1.0]])


def lens_prior_rows(theta: np.ndarray, A: np.ndarray, image_size, priors: LensPriors):
    """Prior residuals (k,) and their Jacobian (k, P) in the free parameters, px-noise units.

    theta: (12,) fx, fy, cx, cy, k1, k2, p1, p2, k3, k4, k5, k6. A: (12, P) d theta / d free
    parameters. Rows: the principal point's offset from the image centre, ``fx / fy - 1`` (when fx
    and fy are free apart) and each free distortion coefficient's displacement at the farthest
    image corner, each over its prior spread and times ``corner_noise_px``: squared and summed with
    pixel residuals of that noise, they are the negative log of Gaussian priors.
    """
    w, h = image_size
    cx0, cy0 = (w - 1) / 2, (h - 1) / 2
    weight = priors.corner_noise_px
    rows, jac = [], []
    free = np.flatnonzero(np.abs(A).sum(axis=1))
    f = 0.5 * (theta[0] + theta[1])
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    r_max = float(np.max(np.hypot((corners[:, 0] - theta[2]) / theta[0], (corners[:, 1] - theta[3]) / theta[1])))
    if 0 in free and 1 in free and np.abs(A[0] - A[1]).sum() > 0:  # fx, fy free apart: square pixels
        scale = weight / priors.pixel_aspect
        rows.append(scale * (theta[0] / theta[1] - 1))
        jac.append(scale * (A[0] / theta[1] - theta[0] / theta[1] ** 2 * A[1]))
    for i in free:
        if i in (2, 3):
            centre = cx0 if i == 2 else cy0
            scale = weight / priors.principal_point_px
            rows.append(scale * (theta[i] - centre))
            jac.append(scale * A[i])
        elif i >= 4:
            scale = weight * f * r_max ** _POWER[i] / priors.distortion_px
            rows.append(scale * theta[i])
            jac.append(scale * A[i])
    if not rows:
        return np.zeros(0), np.zeros((0, A.shape[1]))
    return np.asarray(rows), np.asarray(jac)


def _evaluate(obj, pixels, theta, poses, A, jacobian: bool):
    """Per view residuals (n_u * 2,) and, optionally, Jacobian blocks d/d pose (n_u*2, 6) and
    d/d free intrinsics (n_u*2, P)."""
    K, dist = _K(theta), theta[4:]
    res, pose_blocks, intr_blocks = [], [], []
    for u in range(len(poses)):
        projected, J = cv2.projectPoints(obj[u], poses[u, :3], poses[u, 3:], K, dist)
        res.append((projected.reshape(-1, 2) - pixels[u]).reshape(-1))
        if jacobian:
            pose_blocks.append(J[:, :6])
            intr_blocks.append(J[:, 6:18] @ A)
    return res, pose_blocks, intr_blocks


class _Normal:
    """The normal equations with the per-view pose blocks kept apart (eliminated by Schur)."""

    def __init__(self, res, pose_blocks, intr_blocks, prior_r, prior_J):
        self.U = np.stack([a.T @ a for a in pose_blocks])  # (U, 6, 6)
        self.W = np.stack([a.T @ b for a, b in zip(pose_blocks, intr_blocks)])  # (U, 6, P)
        self.gp = np.stack([a.T @ r for a, r in zip(pose_blocks, res)])  # (U, 6)
        self.V = sum(b.T @ b for b in intr_blocks) + prior_J.T @ prior_J  # (P, P)
        self.gc = sum(b.T @ r for b, r in zip(intr_blocks, res)) + prior_J.T @ prior_r  # (P,)

    def step(self, damping: float):
        """(pose steps (U, 6), intrinsic step (P,)) of the damped system."""
        idx6 = np.arange(6)
        Ud = self.U.copy()
        Ud[:, idx6, idx6] += damping * self.U[:, idx6, idx6] + 1e-12 * (1 + self.U[:, idx6, idx6])
        Ui = np.linalg.inv(Ud)
        Vd = self.V.copy()
        d = np.diag(self.V)
        Vd[np.diag_indices_from(Vd)] += damping * d + 1e-12 * (1 + d)
        UiW = Ui @ self.W  # (U, 6, P)
        S = Vd - np.einsum("uip,uiq->pq", self.W, UiW)
        rhs = -self.gc + np.einsum("uip,ui->p", UiW, self.gp)
        dc = np.linalg.solve(S, rhs)
        dp = -np.einsum("uij,uj->ui", Ui, self.gp + self.W @ dc)
        return dp, dc

    def intrinsics_information(self) -> np.ndarray:
        """(P, P) Schur complement: the information on the intrinsics with the poses marginalized."""
        UiW = np.linalg.inv(self.U + 1e-12 * np.eye(6)) @ self.W
        return self.V - np.einsum("uip,uiq->pq", self.W, UiW)


def fit_lens(corners_in_board: np.ndarray, views: Sequence[tuple[np.ndarray, np.ndarray]], image_size, *,
             complexity: Complexity = "radial", priors: LensPriors = LensPriors(),
             initial: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
             name: str = "camera", max_iterations: int = 50) -> LensFit:
    """Fit one lens of ``complexity`` with ``priors`` to board views.

    corners_in_board: (C, 3) board frame, metres. views: per view ``(ids (n,), corners_px (n, 2))``.
    image_size: (width, height) px. initial: ``(K (3, 3), dist, rvecs (U, 3), tvecs (U, 3))`` to
    start from (default: OpenCV's fit of a pinhole camera).
    """
    if complexity not in COMPLEXITIES:
        raise ValueError(f"complexity is {complexity!r}, expected one of {', '.join(COMPLEXITIES)}")
    if len(views) < 2:
        raise ValueError(f"fitting a lens needs at least 2 board views, got {len(views)}")
    corners = np.asarray(corners_in_board, dtype=np.float64)
    obj = [np.ascontiguousarray(corners[ids]).reshape(-1, 1, 3) for ids, _ in views]
    pixels = [np.asarray(px, dtype=np.float64).reshape(-1, 2) for _, px in views]
    if initial is None:
        initial = _initial_pinhole(obj, pixels, image_size)
    K0, dist0, rvecs, tvecs = initial
    theta = _full_vector(K0, dist0)
    if complexity == "focal":
        theta[0] = theta[1] = 0.5 * (theta[0] + theta[1])
        theta[2], theta[3] = (image_size[0] - 1) / 2, (image_size[1] - 1) / 2
    A = _mapping(complexity)
    keep = np.abs(A).sum(axis=1) > 0
    theta[4:][~keep[4:]] = 0.0  # coefficients the model does not have
    poses = np.concatenate([np.asarray(rvecs, dtype=np.float64).reshape(-1, 3),
                            np.asarray(tvecs, dtype=np.float64).reshape(-1, 3)], axis=1)

    def total_cost(theta, poses):
        res, _, _ = _evaluate(obj, pixels, theta, poses, A, False)
        prior_r, _ = lens_prior_rows(theta, A, image_size, priors)
        return float(sum(r @ r for r in res) + prior_r @ prior_r)

    def linearize(theta, poses):
        res, pose_blocks, intr_blocks = _evaluate(obj, pixels, theta, poses, A, True)
        prior_r, prior_J = lens_prior_rows(theta, A, image_size, priors)
        return res, _Normal(res, pose_blocks, intr_blocks, prior_r, prior_J)

    damping = 1e-3
    cost = total_cost(theta, poses)
    res, normal = linearize(theta, poses)
    for _ in range(max_iterations):
        improved = False
        for _ in range(8):
            try:
                dp, dc = normal.step(damping)
            except np.linalg.LinAlgError:
                damping *= 10
                continue
            new_theta = theta + A @ dc
            new_poses = poses + dp
            if not (new_theta[0] > 0 and new_theta[1] > 0):
                damping *= 10
                continue
            new_cost = total_cost(new_theta, new_poses)
            if np.isfinite(new_cost) and new_cost < cost:
                improved = True
                break
            damping *= 10
        if not improved:
            break
        relative = (cost - new_cost) / max(cost, 1e-300)
        theta, poses, cost = new_theta, new_poses, new_cost
        damping = max(damping / 3, 1e-9)
        res, normal = linearize(theta, poses)
        if relative < 1e-9:
            break
    data = np.concatenate(res).reshape(-1, 2)
    U, P = len(poses), A.shape[1]
    noise = float(np.sqrt(np.sum(data**2) / max(data.size - (6 * U + P), 1)))
    try:
        information = normal.intrinsics_information()
        covariance = noise**2 * np.linalg.inv(information + 1e-12 * np.eye(P) * (1 + np.diag(information).max()))
    except np.linalg.LinAlgError:
        covariance = np.full((P, P), np.nan)
    per_view = np.array([float(np.sqrt(np.mean(r.reshape(-1, 2) ** 2 @ np.ones(2)))) for r in res])
    length = _DIST_LENGTH[complexity]
    camera = Camera(name=name, size=tuple(image_size), K=_K(theta), dist=theta[4:4 + length].copy())
    return LensFit(camera=camera, complexity=complexity, rms_px=float(np.sqrt(np.mean(np.sum(data**2, axis=1)))),
                   per_view_rms_px=per_view, rvecs=poses[:, :3].copy(), tvecs=poses[:, 3:].copy(),
                   covariance=covariance, free_names=_free_names(complexity), noise_px=noise)


def lens_anchor(fit: LensFit) -> IntrinsicsAnchor:
    """The :class:`IntrinsicsAnchor` of a fit: its lens and the inverse of its covariance.
    ValueError when the covariance is not finite and positive definite."""
    A = _mapping(fit.complexity)  # (12, P)
    cov = fit.covariance
    if not np.all(np.isfinite(cov)):
        raise ValueError(f"{fit.camera.name}: the lens fit has no finite covariance")
    try:
        information = np.linalg.inv(cov + 1e-12 * np.eye(len(cov)) * (1 + np.abs(np.diag(cov)).max()))
        R = np.linalg.cholesky(0.5 * (information + information.T)).T  # (P, P), R^T R = information
    except np.linalg.LinAlgError:
        raise ValueError(f"{fit.camera.name}: the lens fit's covariance is not positive definite") from None
    return IntrinsicsAnchor(theta=_full_vector(fit.camera.K, fit.camera.dist),
                            sqrt_information=R @ np.linalg.pinv(A))


def _initial_pinhole(obj, pixels, image_size):
    """K, dist (zeros), rvecs, tvecs from OpenCV's fit of a pinhole camera (no distortion)."""
    flags = (cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3
             | cv2.CALIB_FIX_ASPECT_RATIO)
    w, h = image_size
    K0 = np.array([[max(w, h), 0, (w - 1) / 2], [0, max(w, h), (h - 1) / 2], [0, 0, 1.0]])
    _, K, _, rvecs, tvecs = cv2.calibrateCamera(
        [o.astype(np.float32) for o in obj], [p.astype(np.float32).reshape(-1, 1, 2) for p in pixels],
        tuple(image_size), K0, np.zeros(5), flags=flags | cv2.CALIB_USE_INTRINSIC_GUESS)
    return K, np.zeros(8), np.asarray(rvecs).reshape(-1, 3), np.asarray(tvecs).reshape(-1, 3)


# -- model selection ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ModelScore:
    """complexity; heldout_rms_px: RMS of held-out views' corners over all folds; fit_rms_px: the
    fit on all views; parameters: free intrinsics."""

    complexity: str
    heldout_rms_px: float
    fit_rms_px: float
    parameters: int


@dataclass(frozen=True, kw_only=True)
class LensSelection:
    """The chosen fit and every candidate's score; reason: one sentence on the choice."""

    fit: LensFit
    scores: tuple[ModelScore, ...]
    reason: str


def select_lens_model(corners_in_board: np.ndarray, views: Sequence[tuple[np.ndarray, np.ndarray]], image_size, *,
                      candidates: Sequence[str] = COMPLEXITIES, folds: int = 5, tolerance: float = 0.03,
                      priors: LensPriors = LensPriors(), name: str = "camera") -> LensSelection:
    """Pick the lens complexity by cross-validation over board views (module docstring, 1).

    folds: views are dealt round-robin into this many folds (at most one per view).
    tolerance: a simpler model wins while its held-out RMS is within this fraction of the best.
    """
    from .validation import heldout_view_errors

    views = list(views)
    if len(views) < 3:
        raise ValueError(f"model selection needs at least 3 board views, got {len(views)}")
    unknown = [c for c in candidates if c not in COMPLEXITIES]
    if unknown:
        raise ValueError(f"unknown lens complexity {unknown[0]!r}, expected one of {', '.join(COMPLEXITIES)}")
    corners = np.asarray(corners_in_board, dtype=np.float64)
    k = int(min(folds, len(views)))
    fold_of = np.arange(len(views)) % k
    base = fit_lens(corners, views, image_size, complexity="pinhole", priors=priors, name=name)
    fits, scores = {}, []
    counts = np.array([len(ids) for ids, _ in views], dtype=np.float64)
    for complexity in candidates:
        full = fit_lens(corners, views, image_size, complexity=complexity, priors=priors, name=name,
                        initial=(base.camera.K, np.zeros(8), base.rvecs, base.tvecs))
        fits[complexity] = full
        sq, n = 0.0, 0.0
        for fold in range(k):
            train = np.flatnonzero(fold_of != fold)
            test = np.flatnonzero(fold_of == fold)
            if len(train) < 2:
                continue
            fit = fit_lens(corners, [views[i] for i in train], image_size, complexity=complexity, priors=priors,
                           name=name, initial=(full.camera.K, full.camera.dist, full.rvecs[train], full.tvecs[train]),
                           max_iterations=15)
            errors = heldout_view_errors(fit.camera, corners, [views[i] for i in test])
            ok = np.isfinite(errors)
            sq += float(np.sum(errors[ok] ** 2 * counts[test][ok]))
            n += float(np.sum(counts[test][ok]))
        scores.append(ModelScore(complexity=complexity, heldout_rms_px=float(np.sqrt(sq / n)) if n else float("inf"),
                                 fit_rms_px=full.rms_px, parameters=len(full.free_names)))
    best = min(s.heldout_rms_px for s in scores)
    chosen = next(s for s in scores if s.heldout_rms_px <= best * (1 + tolerance))
    richer = [s for s in scores if s.parameters > chosen.parameters]
    reason = (f"{chosen.complexity}: held-out corners {chosen.heldout_rms_px:.3f} px"
              + (f" (best {best:.3f} px; richer models gain under {tolerance:.0%})" if richer else ""))
    log.info("%s: lens model %s", name, reason)
    return LensSelection(fit=fits[chosen.complexity], scores=tuple(scores), reason=reason)


# -- projection uncertainty ---------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class LensUncertainty:
    """Projection uncertainty over the image (px, 1 sigma, worst direction).

    grid_px: (Gy, Gx, 2) pixel centres of the grid. sigma_px: (Gy, Gx), inf where the lens model
    cannot undistort the pixel (it folds there). mean_px, max_px over the finite part of the grid; centre_px: at the grid point nearest the image centre; trusted_fraction: fraction of
    the grid under ``trust_px``.
    """

    grid_px: np.ndarray
    sigma_px: np.ndarray
    mean_px: float
    max_px: float
    centre_px: float
    trusted_fraction: float
    trust_px: float

    def sentence(self) -> str:
        return (f"lens uncertainty {self.centre_px:.2f} px at the centre, {self.mean_px:.2f} px mean, "
                f"{self.max_px:.2f} px worst; {self.trusted_fraction:.0%} of the image under {self.trust_px:g} px")


def _grid(image_size, cells: int) -> np.ndarray:
    w, h = image_size
    nx = cells if w >= h else max(2, int(round(cells * w / h)))
    ny = cells if h > w else max(2, int(round(cells * h / w)))
    xs = np.linspace(0, w - 1, nx)
    ys = np.linspace(0, h - 1, ny)
    return np.stack(np.meshgrid(xs, ys), axis=-1)


def projection_uncertainty(fit: LensFit, *, cells: int = 24, trust_px: float = 1.0) -> LensUncertainty:
    """Where in the image the fitted lens can be trusted (module docstring, 3)."""
    camera = fit.camera
    grid = _grid(camera.size, cells)
    pixels = grid.reshape(-1, 2)
    rays = camera.normalize(pixels)
    ok = np.all(np.isfinite(rays), axis=1)
    points = np.concatenate([rays, np.ones((len(rays), 1))], axis=1)
    points[~ok] = [0.0, 0.0, 1.0]
    _, J = cv2.projectPoints(points.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), camera.K,
                             _full_vector(camera.K, camera.dist)[4:])
    G = J[:, 6:18] @ _mapping(fit.complexity)  # (2P, p)
    Rj = J[:, :3]  # a small rotation of the camera
    G = G - Rj @ np.linalg.lstsq(Rj, G, rcond=None)[0]
    sigma = np.empty(len(pixels))
    for i in range(len(pixels)):
        g = G[2 * i:2 * i + 2]
        C = g @ fit.covariance @ g.T
        sigma[i] = np.sqrt(max(np.linalg.eigvalsh(C).max(), 0.0))
    sigma[~ok] = np.inf
    sigma = sigma.reshape(grid.shape[:2])
    finite = sigma[np.isfinite(sigma)]
    centre = np.unravel_index(np.argmin(np.sum((grid - np.asarray(camera.size) / 2) ** 2, axis=-1)), sigma.shape)
    return LensUncertainty(grid_px=grid, sigma_px=sigma, mean_px=float(finite.mean()) if finite.size else np.nan,
                           max_px=float(finite.max()) if finite.size else np.nan, centre_px=float(sigma[centre]),
                           trusted_fraction=float(np.mean(sigma < trust_px)), trust_px=trust_px)


def lens_error_px(estimate: Camera, truth: Camera, *, cells: int = 24) -> np.ndarray:
    """(Gy, Gx) px between where the same rays land with the true and the estimated lens, over a
    grid covering the whole image (rays from the true lens at the grid pixels)."""
    grid = _grid(truth.size, cells).reshape(-1, 2)
    rays = truth.normalize(grid)
    points = np.concatenate([rays, np.ones((len(rays), 1))], axis=1)
    projected = estimate.project_from_cam(points)
    shape = _grid(truth.size, cells).shape[:2]
    return np.linalg.norm(projected - grid, axis=-1).reshape(shape)

