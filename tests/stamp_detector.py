"""A detector stand-in for labeling tests on stamped images: each blank image carries a
``(camera, frame)`` stamp in its first pixel, and the stand-in returns where a COCO-17 person carried
along a circle truly is in that camera at that frame's instant (plus seeded noise). The pairing, the
interpolation and the labeling under it are the real ones."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def joints_on_circle(rest_in_world: np.ndarray, instant: float, *, period: float = 40.0,
                     radius_m: float = 0.8) -> np.ndarray:
    """(J, 3) m: the rest pose carried along a circle of ``radius_m`` (one turn per ``period``
    instants) at ``instant``."""
    phase = 2 * np.pi * instant / period
    return rest_in_world + np.array([radius_m * np.sin(phase), radius_m * np.cos(phase) - radius_m, 0.0])


class StampReader:
    """Reads the stamp of each image; ``instant_of(camera index, stamped frame)`` is the instant that
    frame shows (default: the stamped frame)."""

    name = "stamp reader"
    person_boxes = "the whole frame"
    tracks_boxes = False
    batch_size = 32
    weights_sha256 = "0" * 64
    source = "stamp reader (test stand-in)"

    def __init__(self, rig, rest, joint_names, *, noise_px: float = 0.3,
                 instant_of: Callable[[int, int], float] | None = None):
        self.rig, self.rest, self.joint_names = rig, rest, tuple(joint_names)
        self.noise_px = noise_px
        self.instant_of = instant_of or (lambda v, frame: float(frame))

    def detect(self, images, boxes=None):
        points, scores = [], []
        for image in images:
            v, frame = int(image[0, 0, 0]), int(image[0, 0, 1])
            joints = joints_on_circle(self.rest, self.instant_of(v, frame))
            rng = np.random.default_rng(1000 * v + frame)
            points.append(self.rig[v].project(joints) + rng.normal(0, self.noise_px, (len(joints), 2)))
            scores.append(np.full(len(joints), 0.9))
        return np.array(points), np.array(scores)
