"""Plane-induced homographies between two views: normalized DLT and transfer error.

Conventions in :mod:`geometry.camera`. ``hom(u_b) ~ H hom(u_a)``. A homography explains two
views exactly when there is no parallax (pure rotation) or the scene is a plane; relative-pose
estimation uses it to detect those degenerate configurations.
"""

from __future__ import annotations

import numpy as np

from .arrays import as_float_array
from .epipolar import _check_pair, _homogeneous, _normalized_pair, _null_vector

__all__ = ["homography_dlt", "homography_transfer_error", "homography_sampson_distance"]


def homography_dlt(points_a: np.ndarray, points_b: np.ndarray, *,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """Normalized DLT homography, batched, with optional per-point weights.

    points_a, points_b: (..., N, 2) float64 (undistorted pixels or normalized coordinates),
        N >= 4 (N = 4 is the minimal sample).
    weights: (..., N) non-negative weights of each point's two equations.
    Returns H (..., 3, 3) with unit Frobenius norm, ``hom(b) ~ H hom(a)``.
    """
    ha, hb, weights, T_a, T_b = _normalized_pair(points_a, points_b, weights, min_points=4)
    zeros = np.zeros_like(ha)
    x, y = hb[..., 0:1], hb[..., 1:2]
    # hom(b) x (H hom(a)) = 0: two independent rows per point.
    row_u = np.concatenate([zeros, -ha, y * ha], axis=-1)
    row_v = np.concatenate([ha, zeros, -x * ha], axis=-1)
    A = np.concatenate([row_u, row_v], axis=-2)
    w = np.sqrt(np.concatenate([weights, weights], axis=-1))
    H = _null_vector(A * w[..., None]).reshape(A.shape[:-2] + (3, 3))
    H = np.linalg.solve(T_b, H @ T_a)
    norm = np.linalg.norm(H, axis=(-2, -1), keepdims=True)
    return H / np.maximum(norm, 1e-300)


def homography_transfer_error(H: np.ndarray, points_a: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Distance between ``u_b`` and the transfer of ``u_a`` by ``H``, in b's units (pixels).

    H: (..., 3, 3); points (..., N, 2) broadcast against H. Returns (..., N) >= 0; a point
    that H maps to infinity gets the finite error 1e12 (never an outright inf).
    """
    H = as_float_array(H, "H")
    points_a, points_b = _check_pair(points_a, points_b)
    mapped = _homogeneous(points_a) @ np.swapaxes(H, -1, -2)
    w = mapped[..., 2]
    ok = np.abs(w) > 1e-12
    safe = np.where(ok, w, 1.0)
    distance = np.linalg.norm(mapped[..., :2] / safe[..., None] - points_b, axis=-1)
    return np.where(ok, distance, 1e12)


def homography_sampson_distance(H: np.ndarray, points_a: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """First-order geometric distance of each correspondence to the homography, pixels.

    The smallest joint displacement of ``(u_a, u_b)`` (to first order) that makes
    ``hom(u_b) x H hom(u_a) = 0``: unlike the one-sided transfer error it does not amplify the
    noise of image a where H magnifies (a plane seen at a grazing angle).
    H: (..., 3, 3); points (..., N, 2) broadcast against H. Returns (..., N) >= 0.
    """
    H = as_float_array(H, "H")
    points_a, points_b = _check_pair(points_a, points_b)
    Hx = _homogeneous(points_a) @ np.swapaxes(H, -1, -2)  # (..., N, 3)
    u, v = points_b[..., 0], points_b[..., 1]
    # Two independent rows of hom(u_b) x (H hom(u_a)) and their Jacobian w.r.t. (u_a, v_a, u_b, v_b).
    e1 = v * Hx[..., 2] - Hx[..., 1]
    e2 = Hx[..., 0] - u * Hx[..., 2]
    h = H[..., None, :, :]
    j1 = np.stack([v * h[..., 2, 0] - h[..., 1, 0], v * h[..., 2, 1] - h[..., 1, 1],
                   np.zeros_like(e1), Hx[..., 2]], axis=-1)
    j2 = np.stack([h[..., 0, 0] - u * h[..., 2, 0], h[..., 0, 1] - u * h[..., 2, 1],
                   -Hx[..., 2], np.zeros_like(e1)], axis=-1)
    s11 = np.sum(j1 * j1, axis=-1)
    s12 = np.sum(j1 * j2, axis=-1)
    s22 = np.sum(j2 * j2, axis=-1)
    det = s11 * s22 - s12 * s12
    ok = det > 1e-300
    safe = np.where(ok, det, 1.0)
    squared = (s22 * e1 * e1 - 2 * s12 * e1 * e2 + s11 * e2 * e2) / safe
    return np.where(ok, np.sqrt(np.maximum(squared, 0.0)), 1e12)
