"""The 2D detections of one recording: what every detector and importer produces.

Conventions in :mod:`geometry.camera` (V views, F frames/framesets, J joints; pixels are distorted
image coordinates of the original frames; NaN where not observed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Detections"]


@dataclass(frozen=True, kw_only=True)
class Detections:
    """Single-subject 2D keypoints of V cameras over F framesets.

    points_2d: (V, F, J, 2) float64 pixels; NaN where a view has no detection of a joint.
    scores: (V, F, J) float64 detector confidence in [0, 1]; NaN where ``points_2d`` is NaN.
    camera_names: V names, matched to the calibration's cameras by name.
    joint_names: J names, in the order of the skeleton (``geometry.skeletons``).
    frame_index: (F,) int64 frameset index in the recording.
    timestamp_s: (F,) float64 seconds from the start of the recording (NaN when unknown).
    source: free text naming where the detections came from (detector + weights hash, or the
        imported files), recorded as provenance in every shard.
    """

    points_2d: np.ndarray
    scores: np.ndarray
    camera_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    source: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        points = np.array(self.points_2d, dtype=np.float64)  # a copy: the NaN fill below writes
        if points.ndim != 4 or points.shape[-1] != 2:
            raise ValueError(f"points_2d has shape {points.shape}, expected (V, F, J, 2)")
        V, F, J, _ = points.shape
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.shape != (V, F, J):
            raise ValueError(f"scores has shape {scores.shape}, expected ({V}, {F}, {J})")
        camera_names = tuple(str(n) for n in self.camera_names)
        joint_names = tuple(str(n) for n in self.joint_names)
        if len(camera_names) != V:
            raise ValueError(f"{len(camera_names)} camera names for {V} views")
        if len(set(camera_names)) != V:
            raise ValueError(f"camera names must be unique, got {camera_names}")
        if len(joint_names) != J:
            raise ValueError(f"{len(joint_names)} joint names for {J} joints")
        frame_index = np.asarray(self.frame_index, dtype=np.int64).reshape(-1)
        timestamp_s = np.asarray(self.timestamp_s, dtype=np.float64).reshape(-1)
        if frame_index.shape != (F,) or timestamp_s.shape != (F,):
            raise ValueError(f"frame_index and timestamp_s must have shape ({F},), got "
                             f"{frame_index.shape} and {timestamp_s.shape}")
        missing = np.isnan(points).any(axis=-1)
        points[missing] = np.nan
        scores = np.where(missing, np.nan, scores)
        for name, value in (("points_2d", points), ("scores", scores), ("camera_names", camera_names),
                            ("joint_names", joint_names), ("frame_index", frame_index),
                            ("timestamp_s", timestamp_s)):
            object.__setattr__(self, name, value)

    @property
    def num_views(self) -> int:
        return self.points_2d.shape[0]

    @property
    def num_frames(self) -> int:
        return self.points_2d.shape[1]

    @property
    def num_joints(self) -> int:
        return self.points_2d.shape[2]

    def select_cameras(self, names: tuple[str, ...] | list[str]) -> "Detections":
        """The same detections with views reordered/subset to ``names`` (ValueError if absent)."""
        missing = [n for n in names if n not in self.camera_names]
        if missing:
            raise ValueError(f"detections have no camera named {', '.join(missing)} "
                             f"(they have {', '.join(self.camera_names)})")
        order = [self.camera_names.index(n) for n in names]
        return Detections(points_2d=self.points_2d[order], scores=self.scores[order],
                          camera_names=tuple(names), joint_names=self.joint_names,
                          frame_index=self.frame_index, timestamp_s=self.timestamp_s,
                          source=self.source, metadata=dict(self.metadata))

    def frames(self, start: int, stop: int) -> "Detections":
        """Framesets ``start:stop`` (positions along F, not frame indices)."""
        return Detections(points_2d=self.points_2d[:, start:stop], scores=self.scores[:, start:stop],
                          camera_names=self.camera_names, joint_names=self.joint_names,
                          frame_index=self.frame_index[start:stop],
                          timestamp_s=self.timestamp_s[start:stop], source=self.source,
                          metadata=dict(self.metadata))
