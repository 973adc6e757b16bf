"""Camera model and the conventions of the whole project.

Every other docstring in rigkit refers here instead of repeating these.

Frames and poses
    ``x_cam = R @ X_world + t`` (world -> camera; OpenCV's ``P_c = R P_w + t``). ``R`` is the
    rotation ``cam_from_world`` and ``t`` its translation, so the camera centre in the world is
    ``-R.T @ t``. Camera axes: x right, y down, z forward (the optical axis). Transforms are
    named ``<dst>_from_<src>`` and compose right to left.

Pixels
    The pixel origin is the centre of the top-left pixel (OpenCV). ``size`` is ``(width,
    height)`` in pixels. ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]``; rigkit applies the skew
    ``s`` when it is non-zero (OpenCV ignores it; every calibration rigkit writes has ``s = 0``).

Distortion (two models)
    ``"opencv"``: OpenCV's rational model, coefficients in OpenCV order
    ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])``: 0, 4, 5 or 8 values. Internally padded to 8.
    ``"fisheye"``: OpenCV's fisheye (equidistant + polynomial) model, exactly
    ``(k1, k2, k3, k4)``: ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``.

Dimension letters used in every docstring
    ``V`` views/cameras, ``N`` points, ``F`` frames, ``J`` joints/keypoints, ``...`` any
    leading batch dimensions.

Units
    Metres for world coordinates, pixels for image coordinates, seconds for time. Unsuffixed
    angles are radians; names carry other units (``threshold_px``, ``rotation_error_deg``).

Missing data
    Missing observations are NaN, everywhere. A point that is not in front of a camera
    (``z <= 0`` in that camera's frame) projects to NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .arrays import as_float_array, flatten_leading, require_shape, unflatten_leading

__all__ = [
    "DistortionModel",
    "Camera",
    "distort_normalized",
    "undistort_normalized",
    "pad_distortion",
    "OPENCV_DISTORTION_LENGTHS",
]

DistortionModel = Literal["opencv", "fisheye"]
OPENCV_DISTORTION_LENGTHS = (0, 4, 5, 8)
_UNDISTORT_ITERATIONS = 30
_UNDISTORT_TOLERANCE = 1e-14  # normalized units; ~1e-11 px at f = 1000 px


def pad_distortion(dist: np.ndarray, model: DistortionModel) -> np.ndarray:
    """Validate ``dist`` and return the padded working vector.

    dist: (D,) coefficients in OpenCV order (see module docstring).
    Returns (8,) for ``"opencv"`` as ``(k1, k2, p1, p2, k3, k4, k5, k6)``, (4,) for ``"fisheye"``.
    """
    dist = as_float_array(dist, "dist").reshape(-1)
    if model == "opencv":
        if dist.size not in OPENCV_DISTORTION_LENGTHS:
            raise ValueError(
                f"dist has {dist.size} coefficients, expected one of {OPENCV_DISTORTION_LENGTHS} "
                "for the opencv model (k1, k2, p1, p2[, k3[, k4, k5, k6]])")
        padded = np.zeros(8)
        padded[: dist.size] = dist
        return padded
    if model == "fisheye":
        if dist.size not in (0, 4):
            raise ValueError(f"dist has {dist.size} coefficients, expected 4 for the fisheye model "
                             "(k1, k2, k3, k4)")
        padded = np.zeros(4)
        padded[: dist.size] = dist
        return padded
    raise ValueError(f"unknown distortion model {model!r}, expected 'opencv' or 'fisheye'")


def _opencv_distort(x: np.ndarray, y: np.ndarray, d: np.ndarray, *, jacobian: bool):
    """Rational OpenCV distortion on normalized coordinates; d: (..., 8) broadcasting with x."""
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
    j10 = 2 * xy * drad + 2 * p1 * x + 2 * p2 * y
    j11 = radial + 2 * y * y * drad + 6 * p1 * y + 2 * p2 * x
    return xd, yd, (j00, j01, j10, j11)


def _fisheye_theta_d(theta: np.ndarray, d: np.ndarray):
    k1, k2, k3, k4 = (d[..., i] for i in range(4))
    t2 = theta * theta
    theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    dtheta_d = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
    return theta_d, dtheta_d


def distort_normalized(xy: np.ndarray, dist: np.ndarray, model: DistortionModel = "opencv") -> np.ndarray:
    """Apply lens distortion to normalized image coordinates.

    xy: (..., 2) float64, undistorted normalized coordinates ``(X/Z, Y/Z)`` in the camera frame.
    dist: padded coefficients from :func:`pad_distortion`, (8,) / (4,), or any shape
        ``(..., 8)`` / ``(..., 4)`` that broadcasts against ``xy[..., 0]`` (one row per camera).
    Returns (..., 2) float64 distorted normalized coordinates (apply ``K`` to get pixels).
    """
    x, y = xy[..., 0], xy[..., 1]
    if model == "opencv":
        xd, yd, _ = _opencv_distort(x, y, dist, jacobian=False)
        return np.stack([xd, yd], axis=-1)
    r = np.hypot(x, y)
    theta = np.arctan(r)
    theta_d, _ = _fisheye_theta_d(theta, dist)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(r > 1e-12, theta_d / np.where(r > 1e-12, r, 1.0), 1.0)
    return np.stack([x * scale, y * scale], axis=-1)


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
            f, df = _fisheye_theta_d(theta, dist)
            step = (f - theta_d) / df
            theta = theta - step
            if np.all(~(np.abs(step) > _UNDISTORT_TOLERANCE)):
                break
        f, df = _fisheye_theta_d(theta, dist)
        ok = (np.abs(f - theta_d) < 1e-9) & (df > 0) & (theta >= 0) & (theta < np.pi / 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(theta_d > 1e-12, np.tan(theta) / np.where(theta_d > 1e-12, theta_d, 1.0), 1.0)
        out = np.stack([xd * scale, yd * scale], axis=-1)
        out[~ok] = np.nan
        return out
    x, y = xd.copy(), yd.copy()
    for _ in range(_UNDISTORT_ITERATIONS):
        fx, fy, (j00, j01, j10, j11) = _opencv_distort(x, y, dist, jacobian=True)
        ex, ey = fx - xd, fy - yd
        det = j00 * j11 - j01 * j10
        with np.errstate(invalid="ignore", divide="ignore"):
            dx = (j11 * ex - j01 * ey) / det
            dy = (-j10 * ex + j00 * ey) / det
        # Damp steps that would jump far (outside the model's valid range): keeps Newton stable.
        step = np.hypot(dx, dy)
        limit = 0.5 * (1 + np.hypot(x, y))
        damp = np.where(step > limit, limit / np.where(step > 0, step, 1), 1.0)
        x = x - damp * dx
        y = y - damp * dy
        if np.all(~(step > _UNDISTORT_TOLERANCE)):
            break
    fx, fy, (j00, j01, j10, j11) = _opencv_distort(x, y, dist, jacobian=True)
    residual = np.hypot(fx - xd, fy - yd)
    ok = (residual < 1e-9) & (j00 * j11 - j01 * j10 > 0)
    out = np.stack([x, y], axis=-1)
    out[~ok] = np.nan
    return out


def _apply_K(xy: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 2) normalized -> pixels; K (3, 3) or (..., 3, 3) broadcasting with xy[..., 0]."""
    u = K[..., 0, 0] * xy[..., 0] + K[..., 0, 1] * xy[..., 1] + K[..., 0, 2]
    v = K[..., 1, 1] * xy[..., 1] + K[..., 1, 2]
    return np.stack([u, v], axis=-1)


def _remove_K(pixels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 2) pixels -> normalized (distorted) coordinates; inverse of :func:`_apply_K`."""
    y = (pixels[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (pixels[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    return np.stack([x, y], axis=-1)


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera: intrinsics, distortion and its pose ``cam_from_world``.

    name: unique within a rig.
    size: (width, height) in pixels.
    K: (3, 3) float64 intrinsic matrix.
    dist: (D,) float64 distortion coefficients in OpenCV order (D as the model allows).
    R: (3, 3) float64 rotation cam_from_world.
    t: (3,) float64 translation cam_from_world, metres.
    model: ``"opencv"`` or ``"fisheye"``.
    """

    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    R: np.ndarray = field(default_factory=lambda: np.eye(3))
    t: np.ndarray = field(default_factory=lambda: np.zeros(3))
    model: DistortionModel = "opencv"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"camera name must be a non-empty string, got {self.name!r}")
        size = tuple(int(s) for s in np.asarray(self.size).reshape(-1))
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"camera {self.name!r}: size is {self.size!r}, expected (width, height) > 0")
        K = as_float_array(self.K, "K")
        require_shape(K, "K", "(3, 3)", trailing=(3, 3), ndim=2)
        if not (K[0, 0] > 0 and K[1, 1] > 0 and np.allclose(K[2], [0, 0, 1]) and K[1, 0] == 0):
            raise ValueError(f"camera {self.name!r}: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] "
                             f"with fx, fy > 0, got {K.tolist()}")
        R = as_float_array(self.R, "R")
        require_shape(R, "R", "(3, 3)", trailing=(3, 3), ndim=2)
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
            raise ValueError(f"camera {self.name!r}: R is not a rotation matrix")
        t = as_float_array(self.t, "t").reshape(-1)
        if t.shape != (3,):
            raise ValueError(f"camera {self.name!r}: t has shape {np.shape(self.t)}, expected (3,)")
        dist = as_float_array(self.dist, "dist").reshape(-1)
        pad_distortion(dist, self.model)  # validates length and model
        for name, value in (("size", size), ("K", K), ("R", R), ("t", t), ("dist", dist)):
            if isinstance(value, np.ndarray):
                value = value.copy()
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    # -- derived quantities -------------------------------------------------------------------
    @property
    def dist_padded(self) -> np.ndarray:
        """(8,) for opencv, (4,) for fisheye: the working distortion vector."""
        return pad_distortion(self.dist, self.model)

    @property
    def center(self) -> np.ndarray:
        """(3,) camera centre in the world, metres: ``-R.T @ t``."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection matrix ``K [R | t]`` (ignores distortion)."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def replace(self, **changes) -> "Camera":
        """A copy with some fields changed (``name``, ``R``, ``t``, ...)."""
        fields = dict(name=self.name, size=self.size, K=self.K, dist=self.dist, R=self.R, t=self.t,
                      model=self.model)
        fields.update(changes)
        return Camera(**fields)

    # -- projection ---------------------------------------------------------------------------
    def project(self, points_in_world: np.ndarray) -> np.ndarray:
        """Project world points to distorted pixels.

        points_in_world: (..., 3) float64, metres.
        Returns (..., 2) float64 pixels; NaN where the point is not in front of the camera.
        """
        points = as_float_array(points_in_world, "points_in_world")
        require_shape(points, "points_in_world", "(..., 3)", trailing=(3,))
        flat, leading = flatten_leading(points, 1)
        points_in_cam = flat @ self.R.T + self.t
        return unflatten_leading(self.project_from_cam(points_in_cam), leading)

    def project_from_cam(self, points_in_cam: np.ndarray) -> np.ndarray:
        """Project points already in this camera's frame: (..., 3) -> (..., 2) pixels."""
        z = points_in_cam[..., 2]
        in_front = z > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = points_in_cam[..., :2] / np.where(in_front, z, 1.0)[..., None]
        pixels = _apply_K(distort_normalized(xy, self.dist_padded, self.model), self.K)
        pixels[~in_front] = np.nan
        return pixels

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels -> undistorted normalized coordinates ``(X/Z, Y/Z)``.

        pixels: (..., 2) float64. Returns (..., 2) float64; NaN where the input is NaN or the lens
        model cannot be inverted there (see :func:`undistort_normalized`).
        """
        pixels = as_float_array(pixels, "pixels")
        require_shape(pixels, "pixels", "(..., 2)", trailing=(2,))
        return undistort_normalized(_remove_K(pixels, self.K), self.dist_padded, self.model)

    def undistort_points(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels -> undistorted pixels (same ``K``, no lens distortion).

        Agrees with ``cv2.undistortPoints(pixels, K, dist, P=K)`` run to convergence.
        pixels: (..., 2) float64. Returns (..., 2) float64.
        """
        return _apply_K(self.normalize(pixels), self.K)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Unit viewing directions in the world frame through distorted pixels.

        pixels: (..., 2). Returns (..., 3) float64 unit vectors (rays_in_world), starting at
        :attr:`center`.
        """
        xy = self.normalize(pixels)
        rays_in_cam = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)
        rays_in_world = rays_in_cam @ self.R  # R.T @ ray, row-wise
        return rays_in_world / np.linalg.norm(rays_in_world, axis=-1, keepdims=True)
