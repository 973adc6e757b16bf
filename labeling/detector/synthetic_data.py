"""Synthetic training and evaluation views for the built-in detector.

A view is a random person (``geometry.synthetic.random_poses``: height, proportions, pose,
heading, position) seen by a random camera of a pool (``geometry.synthetic.synthetic_camera``:
position around the room's centre, field of view, lens distortion, image size), rendered by
:mod:`capture.render` -- the renderer of the synthetic capture source, so the demo's frames look
like these -- and stored as JPEG like a recording. Ground truth is the camera's projection of
every joint (occluded ones too: pseudo-labels want them); the renderer says which joints' discs
were drawn (visible). Building a camera's renderer (its rays and room) costs up to seconds, a
frame of it milliseconds: cameras are kept in a pool, one of them replaced every
``refresh_every`` views. Randomness only through an explicit ``rng``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from geometry import Camera

__all__ = ["SyntheticView", "ViewSampler", "jpeg_round_trip", "pixel_errors", "IMAGE_SIZES"]

# (width, height) and how often each is drawn for the training pool.
IMAGE_SIZES = ((640, 480), (800, 600), (1280, 720), (1920, 1080), (720, 1280))
_SIZE_WEIGHTS = (0.3, 0.15, 0.3, 0.15, 0.1)
_ROOM_RADIUS_M = 6.5  # cameras stay inside the renderer's 7 m room


@dataclass(frozen=True)
class SyntheticView:
    """image: (H, W, 3) BGR uint8. points_2d: (J, 2) float64 ground-truth pixels of every joint
    (NaN behind the camera). in_image: (J,) bool inside the image. visible: (J,) bool the joint's
    disc was drawn (in the image and not hidden). camera; joints_in_world: (J, 3) metres."""

    image: np.ndarray
    points_2d: np.ndarray
    in_image: np.ndarray
    visible: np.ndarray
    camera: Camera
    joints_in_world: np.ndarray


def _random_camera(rng: np.random.Generator, size: tuple[int, int], name: str) -> Camera:
    from geometry.synthetic import synthetic_camera  # the scene generators load with the first view

    azimuth = rng.uniform(-np.pi, np.pi)
    radius = rng.uniform(2.5, _ROOM_RADIUS_M)
    position = np.array([radius * np.cos(azimuth), radius * np.sin(azimuth), rng.uniform(0.4, 3.0)])
    target = np.array([*rng.normal(0.0, 0.4, 2), rng.uniform(0.6, 1.3)])
    lens = ("pinhole", "distorted", "fisheye")[rng.choice(3, p=[0.35, 0.55, 0.10])]
    return synthetic_camera(name, position, target, size=size,
                            horizontal_fov_deg=rng.uniform(45.0, 90.0), lens=lens, rng=rng)


class ViewSampler:
    """Random rendered views of one person, from a pool of random cameras.

    rng: the only source of randomness.
    sizes: image sizes to draw cameras from (default :data:`IMAGE_SIZES` with training weights).
    pool_size: cameras kept at once; refresh_every: views between replacing one camera.
    jpeg_quality: (low, high) JPEG quality drawn per view, or None for no JPEG round trip.
    """

    def __init__(self, rng: np.random.Generator, *, sizes=None, pool_size: int = 16,
                 refresh_every: int = 150, jpeg_quality: tuple[int, int] | None = (45, 95),
                 skeleton: str = "COCO_17"):
        from capture.render import SceneRenderer

        self._renderer_class = SceneRenderer
        self.rng = rng
        self.sizes = tuple(sizes) if sizes is not None else IMAGE_SIZES
        self._weights = (np.asarray(_SIZE_WEIGHTS) if sizes is None
                         else np.full(len(self.sizes), 1 / len(self.sizes)))
        self.refresh_every = refresh_every
        self.jpeg_quality = jpeg_quality
        self.skeleton = skeleton
        self._count = 0
        self._pool = [self._new_renderer(k) for k in range(pool_size)]

    def _new_renderer(self, k: int):
        size = self.sizes[self.rng.choice(len(self.sizes), p=self._weights)]
        camera = _random_camera(self.rng, tuple(int(s) for s in size), f"pool{k}")
        return self._renderer_class(camera, background_seed=int(self.rng.integers(1 << 30)),
                                    sensor_noise_sigma=float(self.rng.uniform(0.0, 4.0)))

    def sample(self, max_tries: int = 40) -> SyntheticView:
        """One view of a whole person (every joint projects inside the image)."""
        self._count += 1
        if self.refresh_every and self._count % self.refresh_every == 0:
            k = int(self.rng.integers(len(self._pool)))
            self._pool[k] = self._new_renderer(k)
        from geometry.synthetic import random_poses

        for _ in range(max_tries):
            renderer = self._pool[int(self.rng.integers(len(self._pool)))]
            camera = renderer.camera
            joints = random_poses(1, rng=self.rng, skeleton=self.skeleton,
                                  area_radius_m=1.6).joints_in_world[0]
            points = camera.project(joints)
            inside = _inside(points, camera.size, margin_px=3.0)
            if not inside.all() or np.ptp(points[:, 1]) < 0.12 * camera.size[1]:
                continue
            frame = renderer.render(joints_in_world=joints, skeleton=self.skeleton,
                                    noise_seed=int(self.rng.integers(1 << 30)),
                                    appearance_seed=int(self.rng.integers(1 << 30)))
            image = frame.image
            if self.jpeg_quality is not None:
                image = jpeg_round_trip(image, int(self.rng.integers(*self.jpeg_quality, endpoint=True)))
            return SyntheticView(image, points, _inside(points, camera.size), frame.joint_visible,
                                 camera, joints)
        raise RuntimeError(f"no whole person in view after {max_tries} tries")


def _inside(points: np.ndarray, size, *, margin_px: float = 0.0) -> np.ndarray:
    finite = np.isfinite(points).all(axis=-1)
    with np.errstate(invalid="ignore"):
        return finite & (points[:, 0] >= margin_px) & (points[:, 1] >= margin_px) & \
            (points[:, 0] <= size[0] - 1 - margin_px) & (points[:, 1] <= size[1] - 1 - margin_px)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality`` (what a recording stores)."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)


def pixel_errors(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Euclidean errors (pixels), same shape as the points minus the last axis; a missed joint
    (NaN prediction) counts as inf."""
    error = np.hypot(*np.moveaxis(np.asarray(predicted) - np.asarray(truth), -1, 0))
    return np.where(np.isfinite(error), error, np.inf)
