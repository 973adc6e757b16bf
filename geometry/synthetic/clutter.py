"""False detections where nobody is: what a 2D keypoint detector reports on an empty scene.

Conventions in :mod:`geometry.camera` (V views, F frames, J joints; distorted pixels; NaN where
not observed). Real detectors fire on empty framesets too (a calibration board, a timecode
overlay, a coat on a chair): a "person" whose joints sit on a static structure of the room.
Because the structure is real and static, two views that both fire on it *agree* (the joints
triangulate), which is what makes such false labels hard to reject geometrically; what tells
them apart is their confidence, low and spread (median 0.32 against 0.82 for a real person in
the recording of issue 15).

Model (worst case for geometry): one static structure of J points in the capture volume; in
each frame each view fires on it with ``fire_rate``, reporting joint ``j`` at the projection of
point ``j`` (the same assignment in every view, so firing views agree), with Gaussian noise,
misses, and Beta-distributed confidences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..options import check_fields, option
from ..rig import Rig
from .detections import in_image

__all__ = ["ClutterNoise", "clutter_detections"]


@dataclass(frozen=True, kw_only=True)
class ClutterNoise:
    """Parameters of :func:`clutter_detections`.

    fire_rate: probability that a view reports the false person in a frame.
    pixel_sigma_px: Gaussian noise per coordinate, pixels. missing_rate: per joint.
    score: Beta ``(a, b)`` of the confidences (default: median ~0.32, spread 0.05-0.7).
    extent_m: the structure's points lie in a box of this size (metres) around ``centre_m``.
    """

    fire_rate: float = option(0.6, low=0, high=1)
    pixel_sigma_px: float = option(2.0, low=0)
    missing_rate: float = option(0.2, low=0, high=1)
    score: tuple[float, float] = option((2.5, 5.0), low=0, low_open=True, note="Beta parameters")
    extent_m: tuple[float, float, float] = (1.2, 0.2, 1.2)
    centre_m: tuple[float, float, float] = (0.5, 0.5, 1.0)

    def __post_init__(self) -> None:
        check_fields(self)


def clutter_detections(rig: Rig, num_frames: int, num_joints: int, *,
                       noise: ClutterNoise = ClutterNoise(),
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """False detections of an empty scene.

    Returns ``points_2d (V, F, J, 2)`` float64 distorted pixels and ``scores (V, F, J)``
    float64 in (0, 1), NaN where nothing was reported.
    """
    if num_frames < 0 or num_joints < 1:
        raise ValueError(f"num_frames is {num_frames} and num_joints {num_joints}, "
                         "expected >= 0 and >= 1")
    offsets = (rng.random((num_joints, 3)) - 0.5) * np.asarray(noise.extent_m)
    structure = np.asarray(noise.centre_m) + offsets
    V, F, J = len(rig), num_frames, num_joints
    truth = np.broadcast_to(rig.project(structure)[:, None], (V, F, J, 2))
    points = truth + noise.pixel_sigma_px * rng.standard_normal((V, F, J, 2))
    fired = rng.random((V, F))[..., None] < noise.fire_rate
    reported = fired & (rng.random((V, F, J)) >= noise.missing_rate) & in_image(truth, rig.sizes)
    scores = rng.beta(*noise.score, size=(V, F, J))
    points[~reported] = np.nan
    scores[~reported] = np.nan
    return points, scores
