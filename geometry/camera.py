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
    Missing observations are NaN, everywhere. A point that is not in front of a camera (the one
    rule, :func:`geometry.lens.in_front`: ``z > 1e-9`` m and within 89.94 deg of the axis in that
    camera's frame) projects to NaN.

The lens model itself (distortion, its inverse and Jacobians, ``K``) lives in :mod:`geometry.lens`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .arrays import as_float_array, flatten_leading, require_shape, unflatten_leading
from .lens import (OPENCV_DISTORTION_LENGTHS, DistortionModel, apply_K, distort_normalized, pad_distortion,
                   project_from_cam, remove_K, undistort_normalized)

__all__ = [
    "DistortionModel",
    "Camera",
    "distort_normalized",
    "undistort_normalized",
    "pad_distortion",
    "OPENCV_DISTORTION_LENGTHS",
]

_MAPPING_KEYS = ("name", "size", "K", "dist", "R", "t", "model")


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

    # -- the one plain mapping under every serializer ---------------------------------------------
    def to_mapping(self) -> dict:
        """Plain Python values (JSON/TOML-ready), the one camera mapping every file format builds on:
        ``name``, ``size`` [w, h], ``K`` 3x3, ``dist`` (D,) OpenCV order, ``R`` 3x3 cam_from_world,
        ``t`` (3,) metres, ``model``."""
        return {"name": self.name, "size": [int(s) for s in self.size], "K": self.K.tolist(),
                "dist": self.dist.tolist(), "R": self.R.tolist(), "t": self.t.tolist(), "model": self.model}

    @classmethod
    def from_mapping(cls, mapping, *, where: str = "camera") -> "Camera":
        """The camera of :meth:`to_mapping`'s keys (``dist``, ``R``, ``t``, ``model`` optional:
        none, identity, zero, ``"opencv"``). ValueError naming ``where`` for missing or unknown keys."""
        missing = [key for key in ("name", "size", "K") if key not in mapping]
        unknown = sorted(set(mapping) - set(_MAPPING_KEYS))
        if missing or unknown:
            problem = f"missing {', '.join(map(repr, missing))}" if missing else f"unknown {', '.join(map(repr, unknown))}"
            raise ValueError(f"{where}: {problem} (camera keys: {', '.join(_MAPPING_KEYS)})")
        return cls(name=mapping["name"], size=tuple(mapping["size"]), K=np.asarray(mapping["K"], dtype=float),
                   dist=np.asarray(mapping.get("dist", ()), dtype=float),
                   R=np.asarray(mapping.get("R", np.eye(3)), dtype=float),
                   t=np.asarray(mapping.get("t", np.zeros(3)), dtype=float), model=mapping.get("model", "opencv"))

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
        return project_from_cam(points_in_cam, self.K, self.dist_padded, self.model)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels -> undistorted normalized coordinates ``(X/Z, Y/Z)``.

        pixels: (..., 2) float64. Returns (..., 2) float64; NaN where the input is NaN or the lens
        model cannot be inverted there (see :func:`undistort_normalized`).
        """
        pixels = as_float_array(pixels, "pixels")
        require_shape(pixels, "pixels", "(..., 2)", trailing=(2,))
        return undistort_normalized(remove_K(pixels, self.K), self.dist_padded, self.model)

    def undistort_points(self, pixels: np.ndarray) -> np.ndarray:
        """Distorted pixels -> undistorted pixels (same ``K``, no lens distortion).

        Agrees with ``cv2.undistortPoints(pixels, K, dist, P=K)`` run to convergence.
        pixels: (..., 2) float64. Returns (..., 2) float64.
        """
        return apply_K(self.normalize(pixels), self.K)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Unit viewing directions in the world frame through distorted pixels.

        pixels: (..., 2). Returns (..., 3) float64 unit vectors (rays_in_world), starting at
        :attr:`center`.
        """
        xy = self.normalize(pixels)
        rays_in_cam = np.concatenate([xy, np.ones(xy.shape[:-1] + (1,))], axis=-1)
        rays_in_world = rays_in_cam @ self.R  # R.T @ ray, row-wise
        return rays_in_world / np.linalg.norm(rays_in_world, axis=-1, keepdims=True)
