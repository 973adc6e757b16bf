"""Seeded synthetic rigs with known ground truth: ring, arc and ceiling layouts.

Conventions in :mod:`geometry.camera`. The synthetic world is Z-up (like the Pose2Sim lab data),
metres; the capture volume is centred on the origin with the floor at ``z = 0``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..camera import Camera
from ..rig import Rig

__all__ = ["Lens", "look_at", "synthetic_camera", "ring_rig", "arc_rig", "ceiling_rig"]

Lens = Literal["pinhole", "distorted", "fisheye"]


def look_at(center: np.ndarray, target: np.ndarray, *, up: np.ndarray = (0.0, 0.0, 1.0)):
    """Pose of a camera at ``center`` looking at ``target`` with the image's up towards ``up``.

    center, target, up: (3,) world, metres. Returns ``(R (3, 3), t (3,))`` cam_from_world.
    Raises ValueError when the viewing direction is parallel to ``up``.
    """
    center = np.asarray(center, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - center
    if np.linalg.norm(forward) < 1e-12:
        raise ValueError("look_at: target coincides with the camera centre")
    z = forward / np.linalg.norm(forward)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to up; choose another up")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ center


def _lens_distortion(lens: Lens, rng: np.random.Generator) -> np.ndarray:
    if lens == "pinhole":
        return np.zeros(0)
    if lens == "distorted":
        # Typical machine-vision lens: barrel distortion, small tangential terms, rational k4..k6.
        k1 = rng.uniform(-0.25, -0.05)
        k2 = rng.uniform(0.0, 0.12)
        p1, p2 = rng.uniform(-5e-4, 5e-4, size=2)
        k3 = rng.uniform(-0.03, 0.0)
        return np.array([k1, k2, p1, p2, k3, 0.0, 0.0, 0.0])
    if lens == "fisheye":
        return np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.01, 0.01), 0.0, 0.0])
    raise ValueError(f"unknown lens {lens!r}, expected 'pinhole', 'distorted' or 'fisheye'")


def synthetic_camera(name: str, center: np.ndarray, target: np.ndarray, *,
                     size: tuple[int, int] = (1920, 1080), horizontal_fov_deg: float = 70.0,
                     lens: Lens = "distorted", rng: np.random.Generator,
                     up: np.ndarray = (0.0, 0.0, 1.0)) -> Camera:
    """One camera with a plausible, seeded intrinsic calibration looking at ``target``.

    The focal length follows from ``horizontal_fov_deg``; fx and fy differ by up to 0.5% and the
    principal point is within 1% of the image centre.
    """
    width, height = size
    f = (width / 2) / np.tan(np.radians(horizontal_fov_deg) / 2)
    fx = f * rng.uniform(0.995, 1.005)
    fy = fx * rng.uniform(0.997, 1.003)
    cx = (width - 1) / 2 + rng.uniform(-0.01, 0.01) * width
    cy = (height - 1) / 2 + rng.uniform(-0.01, 0.01) * height
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    R, t = look_at(center, target, up=up)
    model = "fisheye" if lens == "fisheye" else "opencv"
    return Camera(name=name, size=size, K=K, dist=_lens_distortion(lens, rng), R=R, t=t, model=model)


def _names(num_cameras: int) -> list[str]:
    return [f"cam{i + 1:02d}" for i in range(num_cameras)]


def _checked_rng(num_cameras: int, rng: np.random.Generator | None) -> np.random.Generator:
    """The rig generators' common checks: at least 2 cameras; no rng -> the seeded default."""
    if num_cameras < 2:
        raise ValueError(f"num_cameras is {num_cameras}, expected at least 2")
    return np.random.default_rng(0) if rng is None else rng


def ring_rig(num_cameras: int = 6, *, radius_m: float = 4.0, height_m: float = 1.8,
             target: np.ndarray = (0.0, 0.0, 1.0), size: tuple[int, int] = (1920, 1080),
             horizontal_fov_deg: float = 70.0, lens: Lens = "distorted",
             rng: np.random.Generator | None = None, jitter_m: float = 0.1) -> Rig:
    """Cameras evenly spaced on a horizontal circle around ``target``, all looking at it.

    rng: seeds intrinsics, distortion and a small position jitter (``jitter_m``); the default
    ``np.random.default_rng(0)`` keeps calls without an rng reproducible.
    """
    rng = _checked_rng(num_cameras, rng)
    angles = np.linspace(0, 2 * np.pi, num_cameras, endpoint=False)
    return _circle_rig(angles, radius_m, height_m, target, size, horizontal_fov_deg, lens, rng, jitter_m)


def arc_rig(num_cameras: int = 4, *, arc_deg: float = 150.0, radius_m: float = 4.0,
            height_m: float = 1.6, target: np.ndarray = (0.0, 0.0, 1.0),
            size: tuple[int, int] = (1920, 1080), horizontal_fov_deg: float = 70.0,
            lens: Lens = "distorted", rng: np.random.Generator | None = None,
            jitter_m: float = 0.1) -> Rig:
    """Cameras on an arc of ``arc_deg`` degrees in front of the subject (a lab wall setup)."""
    rng = _checked_rng(num_cameras, rng)
    half = np.radians(arc_deg) / 2
    angles = np.linspace(-half, half, num_cameras) - np.pi / 2
    return _circle_rig(angles, radius_m, height_m, target, size, horizontal_fov_deg, lens, rng, jitter_m)


def ceiling_rig(num_cameras: int = 4, *, room_m: tuple[float, float] = (6.0, 6.0),
                height_m: float = 2.8, target: np.ndarray = (0.0, 0.0, 0.9),
                size: tuple[int, int] = (1920, 1080), horizontal_fov_deg: float = 80.0,
                lens: Lens = "distorted", rng: np.random.Generator | None = None,
                jitter_m: float = 0.1) -> Rig:
    """Cameras near the ceiling in the room's corners and wall centres, looking down at ``target``."""
    rng = _checked_rng(num_cameras, rng)
    angles = np.linspace(np.pi / 4, np.pi / 4 + 2 * np.pi, num_cameras, endpoint=False)
    half_x, half_y = room_m[0] / 2, room_m[1] / 2
    cameras = []
    for name, angle in zip(_names(num_cameras), angles):
        # Intersect the direction with the room's walls (a rectangle), stay 0.2 m inside.
        c, s = np.cos(angle), np.sin(angle)
        scale = min(half_x / max(abs(c), 1e-9), half_y / max(abs(s), 1e-9)) - 0.2
        center = np.array([c * scale, s * scale, height_m]) + rng.normal(0, jitter_m, 3)
        cameras.append(synthetic_camera(name, center, target, size=size,
                                        horizontal_fov_deg=horizontal_fov_deg, lens=lens, rng=rng))
    return Rig(cameras)


def _circle_rig(angles, radius_m, height_m, target, size, horizontal_fov_deg, lens, rng, jitter_m) -> Rig:
    target = np.asarray(target, dtype=np.float64)
    cameras = []
    for name, angle in zip(_names(len(angles)), angles):
        center = np.array([radius_m * np.cos(angle), radius_m * np.sin(angle), height_m])
        center = center + np.array([target[0], target[1], 0.0]) + rng.normal(0, jitter_m, 3)
        cameras.append(synthetic_camera(name, center, target, size=size,
                                        horizontal_fov_deg=horizontal_fov_deg, lens=lens, rng=rng))
    return Rig(cameras)
