"""Synthetic training and evaluation views for the built-in detector.

A view is a random person (``geometry.synthetic.random_poses``: height, proportions, pose,
heading) seen by a random camera (``geometry.synthetic.synthetic_camera``: position around the
person, field of view, lens distortion, image size), rendered by :mod:`capture.render` -- the
same renderer the synthetic capture source uses, so the demo's frames look like these -- and
stored as JPEG like a recording would. Ground truth is the camera's projection of the joints.
Randomness only through an explicit ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from geometry import Camera
from geometry.synthetic import random_poses, synthetic_camera

__all__ = ["SyntheticView", "random_view", "render_view", "jpeg_round_trip", "pixel_errors",
           "IMAGE_SIZES"]

IMAGE_SIZES = ((640, 480), (800, 600), (1280, 720), (1920, 1080), (720, 1280))


@dataclass(frozen=True)
class SyntheticView:
    """image: (H, W, 3) BGR uint8; points_2d: (J, 2) float64 ground-truth pixels (NaN behind the
    camera); in_image: (J,) bool inside the image; camera and joints_in_world (J, 3) metres."""

    image: np.ndarray
    points_2d: np.ndarray
    in_image: np.ndarray
    camera: Camera
    joints_in_world: np.ndarray


def random_view(rng: np.random.Generator, *, size: tuple[int, int] | None = None,
                skeleton: str = "COCO_17", max_tries: int = 50) -> tuple[Camera, np.ndarray]:
    """A random camera and a random person it sees whole (all joints inside the image).

    size: ``(width, height)``; None draws one of :data:`IMAGE_SIZES`.
    Returns ``(camera, joints_in_world (J, 3))``.
    """
    for _ in range(max_tries):
        joints = random_poses(1, rng=rng, skeleton=skeleton, area_radius_m=1.0).joints_in_world[0]
        centre = joints.mean(axis=0)
        width, height = size if size is not None else IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
        azimuth = rng.uniform(-np.pi, np.pi)
        distance = rng.uniform(2.5, 8.0)
        position = centre + np.array([distance * np.cos(azimuth), distance * np.sin(azimuth), 0.0])
        position[2] = rng.uniform(0.4, 3.2)
        target = centre + rng.normal(0.0, [0.25, 0.25, 0.3])
        lens = ("pinhole", "distorted", "fisheye")[rng.choice(3, p=[0.35, 0.55, 0.10])]
        camera = synthetic_camera("view", position, target, size=(int(width), int(height)),
                                  horizontal_fov_deg=rng.uniform(45.0, 90.0), lens=lens, rng=rng)
        points = camera.project(joints)
        inside = _inside(points, camera.size, margin_px=4.0)
        tall = np.ptp(points[:, 1]) if np.isfinite(points).all() else 0.0
        if inside.all() and tall > 0.12 * camera.size[1]:
            return camera, joints
    raise RuntimeError(f"no view of a whole person found in {max_tries} tries")


def _inside(points: np.ndarray, size, *, margin_px: float = 0.0) -> np.ndarray:
    finite = np.isfinite(points).all(axis=-1)
    with np.errstate(invalid="ignore"):
        return finite & (points[:, 0] >= margin_px) & (points[:, 1] >= margin_px) & \
            (points[:, 0] <= size[0] - 1 - margin_px) & (points[:, 1] <= size[1] - 1 - margin_px)


def render_view(rng: np.random.Generator, *, size: tuple[int, int] | None = None,
                jpeg_quality: int | None = 90) -> SyntheticView:
    """A rendered random view (see :func:`random_view`), JPEG round-tripped at ``jpeg_quality``."""
    from capture.render import render_person

    camera, joints = random_view(rng, size=size)
    image = render_person(camera, joints, rng=rng)
    if jpeg_quality is not None:
        image = jpeg_round_trip(image, jpeg_quality)
    points = camera.project(joints)
    return SyntheticView(image, points, _inside(points, camera.size), camera, joints)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality`` (what a recording stores)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def pixel_errors(predicted: np.ndarray, truth: np.ndarray, in_image: np.ndarray) -> np.ndarray:
    """Euclidean errors (pixels) of the joints inside the image; a missed joint counts as inf."""
    error = np.hypot(*(predicted - truth).transpose(2, 0, 1))
    error = np.where(np.isfinite(error), error, np.inf)
    return error[in_image]
