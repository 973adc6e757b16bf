"""The lens model, once: distortion models and lengths, distort / undistort, analytic Jacobians,
``K``, and the one rule for "in front of the camera".

The numpy reference for every other implementation: :class:`geometry.Camera` and
:class:`geometry.Rig` project through it, the compiled kernels (:mod:`geometry._kernels`) and the
torch mirror (:mod:`geometry.differentiable`) take their constants from it and are tested against
it over the whole image, and the bundle adjustment uses its analytic Jacobians. Conventions
(distortion order, pixel origin, ``K``) in :mod:`geometry.camera`.

Seen by a camera (:func:`in_front`): ``z > MIN_DEPTH_M`` and ``|x|, |y| < MAX_NORMALIZED * z`` in
the camera's frame. Elsewhere a point projects to NaN (a point in the camera's plane would land at
~1e300 px).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .arrays import as_float_array

__all__ = [
    "DistortionModel", "DISTORTION_MODELS", "OPENCV_DISTORTION_LENGTHS", "FISHEYE_DISTORTION_LENGTHS",
    "PADDED_LENGTHS", "MIN_DEPTH_M", "MAX_NORMALIZED", "FISHEYE_SMALL_R2",
    "pad_distortion", "in_front", "normalized_from_cam", "distort_normalized", "distort_jacobian",
    "distortion_coefficient_jacobian", "undistort_normalized", "apply_K", "remove_K", "project_from_cam",
    "pixel_from_normalized", "normalized_from_pixel", "opencv_distortion", "fisheye_theta_d",
]

DistortionModel = Literal["opencv", "fisheye"]
DISTORTION_MODELS: tuple[str, ...] = ("opencv", "fisheye")
OPENCV_DISTORTION_LENGTHS = (0, 4, 5, 8)  # k1, k2, p1, p2[, k3[, k4, k5, k6]]
FISHEYE_DISTORTION_LENGTHS = (0, 4)  # k1..k4 (0: no distortion)
PADDED_LENGTHS = {"opencv": 8, "fisheye": 4}  # the working vector of pad_distortion

MIN_DEPTH_M = 1e-9  # a point closer to a camera's plane than this is not seen by it
MAX_NORMALIZED = 1e3  # |X/Z| beyond this (89.94 deg off axis) is outside any lens: not seen
FISHEYE_SMALL_R2 = 1e-12  # below this r^2 the fisheye scale takes its limit at the axis (error ~r^2)

_UNDISTORT_ITERATIONS = 30
_UNDISTORT_TOLERANCE = 1e-14  # normalized units; ~1e-11 px at f = 1000 px
_INVERTED_RESIDUAL = 1e-9  # a Newton solution farther than this from its target is not an inverse


def pad_distortion(dist: np.ndarray, model: DistortionModel) -> np.ndarray:
    """Validate ``dist`` and return the padded working vector.

    dist: (D,) coefficients in OpenCV order (see :mod:`geometry.camera`).
    Returns (8,) for ``"opencv"`` as ``(k1, k2, p1, p2, k3, k4, k5, k6)``, (4,) for ``"fisheye"``.
    """
    dist = as_float_array(dist, "dist").reshape(-1)
    if model == "opencv":
        if dist.size not in OPENCV_DISTORTION_LENGTHS:
            raise ValueError(
                f"dist has {dist.size} coefficients, expected one of {OPENCV_DISTORTION_LENGTHS} "
                "for the opencv model (k1, k2, p1, p2[, k3[, k4, k5, k6]])")
    elif model == "fisheye":
        if dist.size not in FISHEYE_DISTORTION_LENGTHS:
            raise ValueError(f"dist has {dist.size} coefficients, expected 4 for the fisheye model "
                             "(k1, k2, k3, k4)")
    else:
        raise ValueError(f"unknown distortion model {model!r}, expected 'opencv' or 'fisheye'")
    padded = np.zeros(PADDED_LENGTHS[model])
    padded[: dist.size] = dist
    return padded


# -- visibility and K ---------------------------------------------------------------------------

def in_front(points_in_cam: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (...,) bool: seen by the camera (module docstring); False for NaN."""
    x, y, z = points_in_cam[..., 0], points_in_cam[..., 1], points_in_cam[..., 2]
    with np.errstate(invalid="ignore"):
        return (z > MIN_DEPTH_M) & (np.abs(x) < MAX_NORMALIZED * z) & (np.abs(y) < MAX_NORMALIZED * z)


def normalized_from_cam(points_in_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) camera-frame points -> ``(xy (..., 2), seen (...,))``: ``(X/Z, Y/Z)``, finite
    garbage where not seen (mask it with ``seen``)."""
    seen = in_front(points_in_cam)
    z = np.where(seen, points_in_cam[..., 2], 1.0)
    return points_in_cam[..., :2] / z[..., None], seen


def pixel_from_normalized(x, y, K):
    """``(u, v)`` from normalized ``(x, y)``: plain arithmetic, numpy arrays or torch tensors alike.
    K: (3, 3) or (..., 3, 3) broadcasting with x."""
    return K[..., 0, 0] * x + K[..., 0, 1] * y + K[..., 0, 2], K[..., 1, 1] * y + K[..., 1, 2]


def normalized_from_pixel(u, v, K):
    """``(x, y)`` from pixel ``(u, v)``, the inverse of :func:`pixel_from_normalized` (any array type)."""
    y = (v - K[..., 1, 2]) / K[..., 1, 1]
    return (u - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0], y


def apply_K(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 2) normalized -> pixels; K (3, 3) or (..., 3, 3) broadcasting with xy[..., 0]."""
    return np.stack(pixel_from_normalized(xy[..., 0], xy[..., 1], K), axis=-1)


def remove_K(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 2) pixels -> normalized (distorted) coordinates; inverse of :func:`apply_K`."""
    return np.stack(normalized_from_pixel(pixels[..., 0], pixels[..., 1], K), axis=-1)


def project_from_cam(points_in_cam: np.ndarray, K: np.ndarray, dist: np.ndarray,
                     model: DistortionModel) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) distorted pixels; NaN where not seen.

    K, dist (padded): broadcasting against ``points_in_cam[..., 0]`` as in :func:`distort_normalized`.
    """
    xy, seen = normalized_from_cam(points_in_cam)
    pixels = apply_K(distort_normalized(xy, dist, model), K)
    pixels[~seen] = np.nan
    return pixels


# -- the distortion models ----------------------------------------------------------------------

def opencv_distortion(x, y, d, *, jacobian: bool):
    """Rational OpenCV distortion; d: (..., 8) broadcasting with x. Returns xd, yd and, when asked,
    the (symmetric) Jacobian ``(j00, j01, j11)`` with respect to (x, y), else None.

    Plain arithmetic: numpy arrays or torch tensors alike (the torch mirror calls it)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = (d[..., i] for i in range(8))
    r2 = x * x + y * y
    num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    den = 1 + r2 * (k4 + r2 * (k5 + r2 * k6))
    radial = num / den
    xy = x * y
    xd = x * radial + 2 * p1 * xy + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * xy
    if not jacobian:
        return xd, yd, None
    dnum = k1 + r2 * (2 * k2 + 3 * k3 * r2)
    dden = k4 + r2 * (2 * k5 + 3 * k6 * r2)
    drad = (dnum * den - num * dden) / (den * den)
    j00 = radial + 2 * x * x * drad + 2 * p1 * y + 6 * p2 * x
    j01 = 2 * xy * drad + 2 * p1 * x + 2 * p2 * y
    j11 = radial + 2 * y * y * drad + 6 * p1 * y + 2 * p2 * x
    return xd, yd, (j00, j01, j11)


def fisheye_theta_d(theta, d):
    """theta_d and d theta_d / d theta of the fisheye polynomial; d: (..., 4). Any array type."""
    k1, k2, k3, k4 = (d[..., i] for i in range(4))
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    dtheta_d = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta_d, dtheta_d


def _fisheye(x, y, d, *, jacobian: bool):
    """Fisheye distortion as ``xd = x s(r)``; the Jacobian ``s I + g [x y]^T [x y]`` with
    ``g = s'(r) / r``; at the axis (r^2 < FISHEYE_SMALL_R2) the limits s = 1, g = 2 (k1 - 1/3)."""
    r2 = x * x + y * y
    small = r2 < FISHEYE_SMALL_R2
    r = np.sqrt(np.where(small, 1.0, r2))
    theta_d, dtheta_d = fisheye_theta_d(np.arctan(r), d)
    scale = np.where(small, 1.0, theta_d / r)
    if not jacobian:
        return x * scale, y * scale, None
    g = np.where(small, 2 * (d[..., 0] - 1 / 3), (dtheta_d / (1 + r2) - scale) / np.where(small, 1.0, r2))
    return x * scale, y * scale, (scale + g * x * x, g * x * y, scale + g * y * y)


_MODELS = {"opencv": opencv_distortion, "fisheye": _fisheye}


def distort_normalized(xy: np.ndarray, dist: np.ndarray, model: DistortionModel = "opencv") -> np.ndarray:
    """Apply lens distortion to normalized image coordinates.

    xy: (..., 2) float64, undistorted normalized coordinates ``(X/Z, Y/Z)`` in the camera frame.
    dist: padded coefficients from :func:`pad_distortion`, (8,) / (4,), or any shape
        ``(..., 8)`` / ``(..., 4)`` that broadcasts against ``xy[..., 0]`` (one row per camera).
    Returns (..., 2) float64 distorted normalized coordinates (apply ``K`` to get pixels).
    """
    xd, yd, _ = _MODELS[model](xy[..., 0], xy[..., 1], dist, jacobian=False)
    return np.stack([xd, yd], axis=-1)


def distort_jacobian(xy: np.ndarray, dist: np.ndarray,
                     model: DistortionModel = "opencv") -> tuple[np.ndarray, np.ndarray]:
    """:func:`distort_normalized` and its analytic Jacobian with respect to ``xy``.

    Returns ``(xy_distorted (..., 2), d_distorted_d_xy (..., 2, 2))`` (symmetric for both models).
    """
    xd, yd, (j00, j01, j11) = _MODELS[model](xy[..., 0], xy[..., 1], dist, jacobian=True)
    jac = np.stack([np.stack([j00, j01], axis=-1), np.stack([j01, j11], axis=-1)], axis=-2)
    return np.stack([xd, yd], axis=-1), jac


def distortion_coefficient_jacobian(xy: np.ndarray, dist: np.ndarray,
                                    model: DistortionModel = "opencv") -> np.ndarray:
    """Analytic derivative of :func:`distort_normalized` with respect to the padded coefficients.

    xy: (..., 2); dist: padded, broadcasting as in :func:`distort_normalized`.
    Returns (..., 2, C) with C = 8 (opencv: k1, k2, p1, p2, k3, k4, k5, k6) or 4 (fisheye: k1..k4).
    """
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    if model == "opencv":
        k1, k2, k3, k4, k5, k6 = (dist[..., i] for i in (0, 1, 4, 5, 6, 7))
        num = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        inv_den = 1 / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        powers = (r2, r2 * r2, r2 * r2 * r2)
        d_radial = [p * inv_den for p in powers] + [-num * p * inv_den * inv_den for p in powers]
        xy2 = 2 * x * y
        columns_x = [x * d_radial[0], x * d_radial[1], xy2, r2 + 2 * x * x, x * d_radial[2],
                     x * d_radial[3], x * d_radial[4], x * d_radial[5]]
        columns_y = [y * d_radial[0], y * d_radial[1], r2 + 2 * y * y, xy2, y * d_radial[2],
                     y * d_radial[3], y * d_radial[4], y * d_radial[5]]
    elif model == "fisheye":
        small = r2 < FISHEYE_SMALL_R2
        r = np.sqrt(np.where(small, 1.0, r2))
        theta = np.arctan(r)
        theta_over_r = np.where(small, 1.0, theta / r)
        t2 = theta * theta
        powers = (t2, t2 * t2, t2 * t2 * t2, t2 * t2 * t2 * t2)  # d theta_d / d k_i = theta^(2i+1)
        columns_x = [x * theta_over_r * p for p in powers]
        columns_y = [y * theta_over_r * p for p in powers]
    else:
        raise ValueError(f"unknown distortion model {model!r}, expected 'opencv' or 'fisheye'")
    shape = np.broadcast_shapes(np.shape(x), np.shape(dist)[:-1])
    return np.stack([np.stack([np.broadcast_to(c, shape) for c in columns_x], axis=-1),
                     np.stack([np.broadcast_to(c, shape) for c in columns_y], axis=-1)], axis=-2)


def undistort_normalized(xy_distorted: np.ndarray, dist: np.ndarray,
                         model: DistortionModel = "opencv") -> np.ndarray:
    """Invert :func:`distort_normalized` by Newton's method (vectorized, to ~1e-14).

    xy_distorted: (..., 2) float64 distorted normalized coordinates.
    dist: as in :func:`distort_normalized`.
    Returns (..., 2) undistorted normalized coordinates. Where the lens model cannot be inverted
    (a point outside the range where the polynomial is monotonic) the result is NaN, which every
    caller treats as "not observed".
    """
    xd, yd = xy_distorted[..., 0], xy_distorted[..., 1]
    if model == "fisheye":
        theta_d = np.hypot(xd, yd)
        theta = theta_d.copy()
        for _ in range(_UNDISTORT_ITERATIONS):
            f, df = fisheye_theta_d(theta, dist)
            step = (f - theta_d) / df
            theta = theta - step
            if np.all(~(np.abs(step) > _UNDISTORT_TOLERANCE)):
                break
        f, df = fisheye_theta_d(theta, dist)
        ok = (np.abs(f - theta_d) < _INVERTED_RESIDUAL) & (df > 0) & (theta >= 0) & (theta < np.pi / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(theta_d > 1e-12, np.tan(theta) / np.where(theta_d > 1e-12, theta_d, 1.0), 1.0)
        out = np.stack([xd * scale, yd * scale], axis=-1)
        out[~ok] = np.nan
        return out
    x, y = xd.copy(), yd.copy()
    for _ in range(_UNDISTORT_ITERATIONS):
        fx, fy, (j00, j01, j11) = opencv_distortion(x, y, dist, jacobian=True)
        ex, ey = fx - xd, fy - yd
        det = j00 * j11 - j01 * j01
        with np.errstate(invalid="ignore", divide="ignore"):
            dx = (j11 * ex - j01 * ey) / det
            dy = (-j01 * ex + j00 * ey) / det
        # Damp steps that would jump far (outside the model's valid range): keeps Newton stable.
        step = np.hypot(dx, dy)
        limit = 0.5 * (1 + np.hypot(x, y))
        damp = np.where(step > limit, limit / np.where(step > 0, step, 1), 1.0)
        x = x - damp * dx
        y = y - damp * dy
        if np.all(~(step > _UNDISTORT_TOLERANCE)):
            break
    fx, fy, (j00, j01, j11) = opencv_distortion(x, y, dist, jacobian=True)
    residual = np.hypot(fx - xd, fy - yd)
    ok = (residual < _INVERTED_RESIDUAL) & (j00 * j11 - j01 * j01 > 0)
    out = np.stack([x, y], axis=-1)
    out[~ok] = np.nan
    return out
