"""Torch mirror of the geometry core for training losses: project, triangulate, reprojection loss.

Import it explicitly (``import geometry.differentiable``); ``geometry`` itself never imports torch.
Conventions are those of :mod:`geometry.camera` (``x_cam = R @ X_world + t``, pixel origin at the
centre of the top-left pixel, OpenCV distortion order, ``V`` views first, NaN for missing), and
the names, shapes and units match the numpy functions: :meth:`geometry.Rig.project`,
:func:`geometry.triangulate` (its linear stage) and :func:`geometry.reprojection_error`.

Every function keeps the dtype and device of its first tensor argument (camera parameters are
moved there) and is differentiable with respect to all tensor inputs (points, observations,
weights and camera parameters). Camera parameters of a V-camera rig, as tensors:

- ``K`` (V, 3, 3) intrinsics; ``R`` (V, 3, 3) rotation cam_from_world; ``t`` (V, 3) metres;
- ``dist`` (V, D): ``"opencv"`` model with D in (0, 4, 5, 8) coefficients
  ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])``, or ``"fisheye"`` with D = 4 ``(k1, k2, k3, k4)``;
  one model for the whole rig (:func:`rig_tensors` builds all four from a :class:`geometry.Rig`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .lens import (FISHEYE_DISTORTION_LENGTHS, FISHEYE_SMALL_R2, MAX_NORMALIZED, MIN_DEPTH_M,
                   OPENCV_DISTORTION_LENGTHS, PADDED_LENGTHS, fisheye_theta_d, normalized_from_pixel,
                   opencv_distortion, pixel_from_normalized)
from .rig import Rig

__all__ = ["rig_tensors", "project", "undistort_points", "triangulate", "reprojection_loss"]

Model = Literal["opencv", "fisheye"]
Reduction = Literal["mean", "sum", "none"]

_UNDISTORT_ITERATIONS = 8  # Newton steps (unrolled, so gradients flow through them); ~1e-12


def rig_tensors(rig: Rig, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None):
    """``(K, dist, R, t, model)`` of a rig as tensors; ValueError if its cameras mix lens models.

    dist is padded to (V, 8) for ``"opencv"`` and (V, 4) for ``"fisheye"``.
    """
    models = {cam.model for cam in rig}
    if len(models) != 1:
        raise ValueError(f"the torch mirror needs one lens model per rig, got {sorted(models)}")
    model = models.pop()

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.array(array), dtype=dtype, device=device)

    dist = np.stack([cam.dist_padded for cam in rig])
    return tensor(rig.K), tensor(dist), tensor(rig.R), tensor(rig.t), model


def project(points_in_world: torch.Tensor, K, dist, R, t, *, model: Model = "opencv") -> torch.Tensor:
    """Project world points into every camera: (..., 3) metres -> (V, ..., 2) distorted pixels.

    NaN where a point is not seen by a camera (the one rule of :func:`geometry.lens.in_front`), as
    :meth:`geometry.Rig.project`; the gradient there is zero, not NaN.
    """
    points = _as_points(points_in_world, "points_in_world", 3)
    K, dist, R, t = _cameras(points, K, dist, R, t, model)
    leading = points.shape[:-1]
    flat = points.reshape(-1, 3)
    in_cam = torch.einsum("vij,nj->vni", R, flat) + t[:, None, :]
    z = in_cam[..., 2]
    in_front = ((z > MIN_DEPTH_M) & (in_cam[..., 0].abs() < MAX_NORMALIZED * z)
                & (in_cam[..., 1].abs() < MAX_NORMALIZED * z))
    safe_z = torch.where(in_front, z, torch.ones_like(z))
    xy = in_cam[..., :2] / safe_z[..., None]
    pixels = _apply_K(_distort(xy, dist[:, None, :], model), K[:, None])
    pixels = torch.where(in_front[..., None], pixels, torch.full_like(pixels, float("nan")))
    return pixels.reshape((K.shape[0],) + tuple(leading) + (2,))


def undistort_points(points_2d: torch.Tensor, K, dist, *, model: Model = "opencv",
                     undistort_iterations: int = _UNDISTORT_ITERATIONS) -> torch.Tensor:
    """Distorted pixels (V, ..., 2) -> undistorted normalized coordinates ``(X/Z, Y/Z)`` (V, ..., 2).

    Newton's method, unrolled for ``undistort_iterations`` steps so it is differentiable (the
    numpy reference is :meth:`geometry.Rig.normalize`).
    """
    points_2d = _as_points(points_2d, "points_2d", 2)
    K, dist, _, _ = _cameras(points_2d, K, dist, None, None, model)
    _check_views(points_2d, K.shape[0])
    flat = points_2d.reshape(K.shape[0], -1, 2)
    normalized = _undistort(_remove_K(flat, K[:, None]), dist[:, None, :], model, undistort_iterations)
    return normalized.reshape(points_2d.shape)


def triangulate(points_2d: torch.Tensor, K, dist, R, t, *, weights: torch.Tensor | None = None,
                model: Model = "opencv", undistort_iterations: int = _UNDISTORT_ITERATIONS) -> torch.Tensor:
    """Differentiable weighted linear triangulation (the linear stage of :func:`geometry.triangulate`).

    points_2d: (V, ..., 2) distorted pixels; NaN where not observed.
    weights: optional (V, ...) non-negative confidences (0 or NaN = ignore); default 1.
    undistort_iterations: Newton steps of the (unrolled, differentiable) undistortion.
    Solves the weighted DLT normal equations, rows ``(x r3 - r1)``, ``(y r3 - r2)`` of every view
    scaled to pixels by fx, fy, exactly as the numpy linear solution does (no Gauss-Newton
    refinement: for training losses the linear solve is smooth and cheap).
    Returns (..., 3) world points, metres; NaN where fewer than 2 views are usable (with zero
    gradient there, so a masked loss stays finite).
    """
    points_2d = _as_points(points_2d, "points_2d", 2)
    K, dist, R, t = _cameras(points_2d, K, dist, R, t, model)
    num_views = K.shape[0]
    _check_views(points_2d, num_views)
    leading = points_2d.shape[1:-1]
    flat = points_2d.reshape(num_views, -1, 2)
    w = _weights(weights, points_2d, flat)
    observed = torch.isfinite(flat).all(dim=-1) & (w > 0)
    w = torch.where(observed, w, torch.zeros_like(w))
    flat = torch.where(observed[..., None], flat, torch.zeros_like(flat))
    xy = _undistort(_remove_K(flat, K[:, None]), dist[:, None, :], model, undistort_iterations)
    x, y = xy[..., 0], xy[..., 1]
    # rows (V, N, 2, 3) and right-hand sides (V, N, 2)
    row_x = x[..., None] * R[:, None, 2, :] - R[:, None, 0, :]
    row_y = y[..., None] * R[:, None, 2, :] - R[:, None, 1, :]
    rows = torch.stack([row_x, row_y], dim=2)
    rhs = torch.stack([t[:, None, 0] - x * t[:, None, 2], t[:, None, 1] - y * t[:, None, 2]], dim=-1)
    scale = torch.stack([K[:, 0, 0], K[:, 1, 1]], dim=-1) ** 2  # (V, 2)
    weight = w[..., None] * scale[:, None, :]
    normal = torch.einsum("vnki,vnkj,vnk->nij", rows, rows, weight)
    g = torch.einsum("vnki,vnk,vnk->ni", rows, rhs, weight)
    enough = observed.sum(dim=0) >= 2
    eye = torch.eye(3, dtype=normal.dtype, device=normal.device).expand_as(normal)
    safe = torch.where(enough[:, None, None], normal, eye)
    solution = torch.linalg.solve(safe, g)
    solution = torch.where(enough[:, None], solution, torch.full_like(solution, float("nan")))
    return solution.reshape(tuple(leading) + (3,))


def reprojection_loss(points_in_world: torch.Tensor, points_2d: torch.Tensor, K, dist, R, t, *,
                      weights: torch.Tensor | None = None, model: Model = "opencv",
                      reduction: Reduction = "mean") -> torch.Tensor:
    """Weighted squared reprojection error in pixels^2.

    points_in_world: (..., 3) metres; points_2d: (V, ..., 2) distorted pixels, NaN where not
    observed; weights: optional (V, ...) (0 or NaN = ignore), default 1.
    Only observations that are finite, weighted and in front of the camera count (the others
    contribute exactly 0 with zero gradient). ``reduction``: ``"none"`` -> (V, ...) per
    observation ``w |e|^2``; ``"sum"``; ``"mean"`` -> the sum divided by the sum of the weights that
    count (0 when nothing counts).
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction is {reduction!r}, expected 'mean', 'sum' or 'none'")
    projected = project(points_in_world, K, dist, R, t, model=model)
    points_2d = _as_points(points_2d, "points_2d", 2).to(projected)
    if points_2d.shape != projected.shape:
        raise ValueError(f"points_2d has shape {tuple(points_2d.shape)}, expected {tuple(projected.shape)} "
                         "(V views, the leading shape of points_in_world, 2)")
    w = _weights(weights, points_2d, points_2d)
    counts = torch.isfinite(projected).all(dim=-1) & torch.isfinite(points_2d).all(dim=-1) & (w > 0)
    difference = torch.where(counts[..., None], projected - points_2d, torch.zeros_like(projected))
    w = torch.where(counts, w, torch.zeros_like(w))
    per_observation = w * (difference ** 2).sum(dim=-1)
    if reduction == "none":
        return per_observation
    total = per_observation.sum()
    if reduction == "sum":
        return total
    return total / torch.clamp(w.sum(), min=torch.finfo(w.dtype).tiny)


# -- helpers ------------------------------------------------------------------------------------

def _as_points(x, name: str, last: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != last:
        raise ValueError(f"{name} has shape {tuple(x.shape)}, expected (..., {last})")
    return x


def _cameras(like: torch.Tensor, K, dist, R, t, model: str):
    """Validate and move the camera tensors to ``like``'s dtype and device; pad ``dist``."""
    if model not in ("opencv", "fisheye"):
        raise ValueError(f"unknown distortion model {model!r}, expected 'opencv' or 'fisheye'")
    K = torch.as_tensor(K).to(like)
    if K.ndim != 3 or K.shape[1:] != (3, 3):
        raise ValueError(f"K has shape {tuple(K.shape)}, expected (V, 3, 3)")
    num_views = K.shape[0]
    dist = torch.as_tensor(dist).to(like)
    if dist.ndim == 1 and dist.numel() == 0:
        dist = dist.reshape(num_views if num_views else 0, 0)
    if dist.ndim != 2 or dist.shape[0] != num_views:
        raise ValueError(f"dist has shape {tuple(dist.shape)}, expected ({num_views}, D)")
    if model == "opencv" and dist.shape[1] not in OPENCV_DISTORTION_LENGTHS:
        raise ValueError(f"dist has {dist.shape[1]} coefficients, expected one of {OPENCV_DISTORTION_LENGTHS} "
                         "for the opencv model (k1, k2, p1, p2[, k3[, k4, k5, k6]])")
    if model == "fisheye" and dist.shape[1] not in FISHEYE_DISTORTION_LENGTHS:
        raise ValueError(f"dist has {dist.shape[1]} coefficients, expected 4 for the fisheye model")
    dist = torch.nn.functional.pad(dist, (0, PADDED_LENGTHS[model] - dist.shape[1]))
    if R is not None:
        R = torch.as_tensor(R).to(like)
        t = torch.as_tensor(t).to(like)
        if R.shape != (num_views, 3, 3):
            raise ValueError(f"R has shape {tuple(R.shape)}, expected ({num_views}, 3, 3)")
        if t.shape != (num_views, 3):
            raise ValueError(f"t has shape {tuple(t.shape)}, expected ({num_views}, 3)")
    return K, dist, R, t


def _check_views(points_2d: torch.Tensor, num_views: int) -> None:
    if points_2d.ndim < 2 or points_2d.shape[0] != num_views:
        raise ValueError(f"points_2d has shape {tuple(points_2d.shape)}, expected ({num_views}, ..., 2)")


def _weights(weights, points_2d: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(V, M...) weights shaped like ``like[..., 0]``; NaN -> 0; ValueError if negative."""
    if weights is None:
        return torch.ones_like(like[..., 0])
    weights = torch.as_tensor(weights).to(points_2d)
    if weights.shape != points_2d.shape[:-1]:
        raise ValueError(f"weights has shape {tuple(weights.shape)}, expected {tuple(points_2d.shape[:-1])}")
    if bool((weights < 0).any()):
        raise ValueError("weights must be non-negative (0 or NaN = ignore the observation)")
    weights = torch.nan_to_num(weights, nan=0.0)
    return weights.reshape(like.shape[:-1])


def _apply_K(xy: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return torch.stack(pixel_from_normalized(xy[..., 0], xy[..., 1], K), dim=-1)


def _remove_K(pixels: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return torch.stack(normalized_from_pixel(pixels[..., 0], pixels[..., 1], K), dim=-1)


def _distort(xy: torch.Tensor, d: torch.Tensor, model: str) -> torch.Tensor:
    x, y = xy[..., 0], xy[..., 1]
    if model == "opencv":
        xd, yd, _ = opencv_distortion(x, y, d, jacobian=False)
        return torch.stack([xd, yd], dim=-1)
    r2 = x * x + y * y
    small = r2 < FISHEYE_SMALL_R2
    r = torch.sqrt(torch.where(small, torch.ones_like(r2), r2))
    scale = torch.where(small, torch.ones_like(r), fisheye_theta_d(torch.atan(r), d)[0] / r)
    return xy * scale[..., None]


def _undistort(xy_d: torch.Tensor, d: torch.Tensor, model: str, iterations: int) -> torch.Tensor:
    """Newton's method on the distortion, unrolled; xy_d (V, N, 2), d (V, 1, C)."""
    if model == "fisheye":
        theta_d = torch.sqrt((xy_d * xy_d).sum(-1).clamp_min(1e-30))
        theta = theta_d
        for _ in range(iterations):
            f, df = fisheye_theta_d(theta, d)
            theta = theta - (f - theta_d) / df
        scale = torch.tan(theta) / theta_d
        return xy_d * scale[..., None]
    x, y = xy_d[..., 0], xy_d[..., 1]
    xd, yd = x, y
    for _ in range(iterations):
        # the closed-form Jacobian of geometry.lens (differentiable: the steps are unrolled)
        fx, fy, (j00, j01, j11) = opencv_distortion(x, y, d, jacobian=True)
        ex, ey = fx - xd, fy - yd
        det = j00 * j11 - j01 * j01
        x = x - (j11 * ex - j01 * ey) / det
        y = y - (j00 * ey - j01 * ex) / det
    return torch.stack([x, y], dim=-1)
