"""Cameras that frame one person from a random viewpoint: training views for 2D detectors.

Conventions in :mod:`geometry.camera`; Z-up synthetic world, floor at ``z = 0``. A detector sees
a crop around the person; rendering such a view directly (a camera whose image *is* the crop)
is cheaper than rendering a full frame and cropping, and covers viewpoints, distances, focal
lengths, lens distortion and in-plane rotations a fixed rig never shows.
"""

from __future__ import annotations

import numpy as np

from ..arrays import as_float_array
from ..camera import Camera
from ..transforms import rotation_from_rvec
from .rigs import Lens, synthetic_camera

__all__ = ["person_view_camera"]


def person_view_camera(joints_in_world: np.ndarray, *, rng: np.random.Generator,
                       size: tuple[int, int] = (192, 256), lens: Lens = "distorted",
                       elevation_deg: tuple[float, float] = (-5.0, 50.0),
                       horizontal_fov_deg: tuple[float, float] = (35.0, 70.0),
                       fill: tuple[float, float] = (0.55, 0.9), max_offset: float = 0.08,
                       max_roll_deg: float = 20.0, name: str = "view") -> Camera:
    """A camera looking at one person from a random direction, the person filling the image.

    joints_in_world: (J, 3) world metres (NaN joints ignored).
    size: (width, height) of the image in pixels.
    lens: distortion of the camera (see :func:`geometry.synthetic.synthetic_camera`).
    elevation_deg: range of the viewing elevation above the horizon (azimuth is uniform).
    horizontal_fov_deg: range of the field of view.
    fill: range of the share of the smaller image side the person's bounding sphere spans.
    max_offset: largest shift of the person's centre from the image centre, share of the size.
    max_roll_deg: largest in-plane rotation of the camera.
    Returns a :class:`geometry.Camera` at least 0.1 m above the floor.
    """
    joints = as_float_array(joints_in_world, "joints_in_world")
    if joints.ndim != 2 or joints.shape[1] != 3:
        raise ValueError(f"joints_in_world has shape {joints.shape}, expected (J, 3)")
    finite = joints[np.isfinite(joints).all(axis=1)]
    if len(finite) == 0:
        raise ValueError("joints_in_world has no finite joint to frame")
    centre = 0.5 * (finite.min(axis=0) + finite.max(axis=0))
    radius = max(float(np.linalg.norm(finite - centre, axis=1).max()), 0.05)
    width, height = size
    fov = np.radians(rng.uniform(*horizontal_fov_deg))
    focal_px = (width / 2) / np.tan(fov / 2)
    # The sphere of ``radius`` spans ``fill * min(size)`` pixels at this distance.
    span_px = rng.uniform(*fill) * min(width, height)
    distance = max(2 * radius * focal_px / span_px, radius + 0.2)
    azimuth = rng.uniform(-np.pi, np.pi)
    elevation = np.radians(rng.uniform(*elevation_deg))
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                          np.sin(elevation)])
    position = centre + distance * direction
    position[2] = max(position[2], 0.1)
    # Aim slightly beside the person so it is not always centred.
    forward = centre - position
    forward /= np.linalg.norm(forward)
    side = np.cross(forward, [0.0, 0.0, 1.0])
    side = side / np.linalg.norm(side) if np.linalg.norm(side) > 1e-6 else np.array([1.0, 0.0, 0.0])
    up = np.cross(side, forward)
    shift = rng.uniform(-max_offset, max_offset, 2) * np.array([width, height]) / focal_px * distance
    target = centre + shift[0] * side + shift[1] * up
    camera = synthetic_camera(name, position, target, size=size, horizontal_fov_deg=np.degrees(fov),
                              lens=lens, rng=rng)
    roll = rotation_from_rvec(np.array([0.0, 0.0, np.radians(rng.uniform(-max_roll_deg, max_roll_deg))]))
    R = roll @ camera.R
    return camera.replace(R=R, t=-R @ position)
