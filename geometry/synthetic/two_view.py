"""Seeded two-view scenes with ground truth: correspondences of a person-sized point cloud.

Conventions in :mod:`geometry.camera`; the relative pose is ``cam_b_from_cam_a`` as in
:mod:`geometry.epipolar`. The world is Z-up with the floor at ``z = 0`` (see
:mod:`geometry.synthetic.rigs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..camera import Camera

__all__ = ["TwoViewScene", "person_volume_points", "two_view_scene"]


def person_volume_points(num_points: int, *, rng: np.random.Generator, num_frames: int = 12,
                         size_m: tuple[float, float, float] = (0.5, 0.5, 1.8),
                         walk_half_width_m: float = 1.0) -> np.ndarray:
    """Keypoint-like points of a person-sized box walking through the capture volume.

    A random walk of ``num_frames`` frames stays within ``walk_half_width_m`` of the origin
    (x, y); each point belongs to a random frame and lies uniformly in the box ``size_m``
    (width, depth, height) standing on the floor there. Non-planar but compact, like the
    keypoints of one person over a short clip.
    Returns (num_points, 3) float64 world points, metres.
    """
    if num_points < 0 or num_frames < 1:
        raise ValueError(f"num_points {num_points} and num_frames {num_frames}: expected >= 0 and >= 1")
    path = np.cumsum(rng.normal(0, 0.25, (num_frames, 2)), axis=0)
    path = np.clip(path - path.mean(axis=0) + rng.uniform(-0.5, 0.5, 2),
                   -walk_half_width_m, walk_half_width_m)
    frame = rng.integers(0, num_frames, num_points)
    size = np.asarray(size_m, dtype=np.float64)
    offset = rng.uniform(-0.5, 0.5, (num_points, 3)) * size + [0.0, 0.0, size[2] / 2]
    return np.concatenate([path[frame], np.zeros((num_points, 1))], axis=1) + offset


@dataclass(frozen=True)
class TwoViewScene:
    """Correspondences between two cameras with the truth behind them.

    camera_a, camera_b: the cameras (poses cam_from_world).
    points_in_world: (N, 3) metres.
    pixels_a, pixels_b: (N, 2) distorted pixels with noise; outlier rows of b replaced.
    outliers: (N,) bool, rows whose b observation is a gross outlier.
    R: (3, 3) true rotation cam_b_from_cam_a. t: (3,) true unit translation cam_b_from_cam_a
        (zeros for cameras sharing their centre: a pure rotation).
    """

    camera_a: Camera
    camera_b: Camera
    points_in_world: np.ndarray
    pixels_a: np.ndarray
    pixels_b: np.ndarray
    outliers: np.ndarray
    R: np.ndarray
    t: np.ndarray


def two_view_scene(camera_a: Camera, camera_b: Camera, points_in_world: np.ndarray, *,
                   rng: np.random.Generator, noise_px: float = 0.0,
                   outlier_ratio: float = 0.0) -> TwoViewScene:
    """Project ``points_in_world`` into both cameras, add noise and gross outliers.

    noise_px: standard deviation of the Gaussian noise added to the distorted pixels of both
        views. outlier_ratio: fraction of rows whose observation in b is replaced: half of them
        by the observation of another point (a detector that picked the wrong keypoint), half
        by a uniform position in the image.
    """
    if not 0 <= outlier_ratio <= 1 or not noise_px >= 0:
        raise ValueError(f"outlier_ratio {outlier_ratio} must be in [0, 1] and noise_px {noise_px} >= 0")
    points = np.asarray(points_in_world, dtype=np.float64)
    n = len(points)
    pixels_a = camera_a.project(points) + rng.normal(0, noise_px, (n, 2))
    pixels_b = camera_b.project(points) + rng.normal(0, noise_px, (n, 2))
    outliers = rng.random(n) < outlier_ratio
    swapped = outliers & (rng.random(n) < 0.5) if n > 1 else np.zeros(n, dtype=bool)
    # The observation of another point: shift the index by 1..n-1 so it is never the same one.
    pixels_b[swapped] = pixels_b[(np.flatnonzero(swapped) + rng.integers(1, max(n, 2), swapped.sum())) % n]
    anywhere = outliers & ~swapped
    pixels_b[anywhere] = rng.uniform([0.0, 0.0], camera_b.size, (anywhere.sum(), 2))
    R = camera_b.R @ camera_a.R.T
    t = camera_b.t - R @ camera_a.t
    length = np.linalg.norm(t)
    return TwoViewScene(camera_a=camera_a, camera_b=camera_b, points_in_world=points,
                        pixels_a=pixels_a, pixels_b=pixels_b, outliers=outliers, R=R,
                        t=t / length if length > 1e-12 else np.zeros(3))
