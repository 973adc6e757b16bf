"""A person seen by cameras that are not synchronized: known per-camera time offsets, sub-frame.

The ground truth for the time-offset estimation (``calibration.sync``): the person moves at
``oversample`` times the frame rate, and camera v's frame f shows the instant f + shown[v]
(in frames, rounded to 1 / oversample).
"""

from __future__ import annotations

import numpy as np

from ..rig import Rig
from .detections import DetectorNoise, simulate_detections
from .motion import person_motion

__all__ = ["unsynchronized_detections"]

_LEAD_IN = 200  # motion samples before the first frame, so negative offsets stay inside the motion


def unsynchronized_detections(rig: Rig, shown_frames, num_frames: int, *, rng: np.random.Generator,
                              oversample: int = 10, fps: float = 30.0,
                              noise: DetectorNoise | None = None) -> np.ndarray:
    """COCO-17 detections ``(V, F, 17, 2)`` px of one walking person, camera v's frame f showing
    the instant f + ``shown_frames[v]`` (frames, |shown| < 200 / oversample). noise: the detector
    model (default: 1 px, 2% gross errors, 2% left/right swaps)."""
    noise = DetectorNoise(pixel_sigma_px=1.0, outlier_rate=0.02, swap_rate=0.02) if noise is None else noise
    shown = np.asarray(shown_frames, dtype=np.float64)
    motion = person_motion(num_frames * oversample + _LEAD_IN, fps=fps * oversample, rng=rng)
    views = []
    for v in range(len(rig)):
        index = _LEAD_IN // 2 + (np.arange(num_frames) * oversample + np.round(shown[v] * oversample)).astype(int)
        seen = simulate_detections(rig.subset([v]), motion.joints_in_world[index], skeleton="coco17", noise=noise,
                                   rng=rng)
        views.append(seen.points_2d[0])
    return np.stack(views)
