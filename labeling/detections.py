"""The 2D detections of one recording: what every detector and importer produces, and the one
npz layout that carries them between commands.

Conventions in :mod:`geometry.camera` (V views, F frames/framesets, J joints; pixels are distorted
image coordinates of the original frames; NaN where not observed).

The detections npz (written by ``rigkit label detect``, read by ``rigkit label --detections
npz:FILE`` and ``rigkit calibrate keypoints --detections npz:FILE``), one array per field:

=================  =================  =================================================
key                shape, dtype       meaning
=================  =================  =================================================
``points_2d``      (V, F, J, 2) f8    pixels, NaN where not detected (required)
``camera_names``   (V,) str           matched to the calibration by name (required)
``scores``         (V, F, J) f8       confidence in [0, 1] (default: 1 where detected)
``joint_names``    (J,) str           (default: ``joint0``, ``joint1``, ...)
``frame_index``    (F,) i8            frameset numbers (default: 0..F-1)
``timestamp_s``    (F,) f8            seconds (default: NaN)
``frame_sizes``    (V, 2) i8          decoded (width, height) px, -1 unknown (optional)
``source``         () str             provenance: detector and model sha256 (optional)
``weights_sha256`` () str             the detector model's sha256 (optional)
``recording``      () str             JSON: the session or videos detected (optional)
=================  =================  =================================================
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["Detections", "write_npz_detections", "read_npz_detections", "NPZ_REQUIRED_KEYS"]

NPZ_REQUIRED_KEYS = ("points_2d", "camera_names")


@dataclass(frozen=True, kw_only=True)
class _Keypoints2D:
    """The fields every container of 2D keypoints of V cameras over F framesets shares:
    :class:`Detections` (one subject) and ``labeling.association.PersonCandidates`` (several
    people per view); each documents the shapes and checks them."""

    points_2d: np.ndarray
    scores: np.ndarray
    camera_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    source: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Detections(_Keypoints2D):
    """Single-subject 2D keypoints of V cameras over F framesets.

    points_2d: (V, F, J, 2) float64 pixels; NaN where a view has no detection of a joint.
    scores: (V, F, J) float64 detector confidence in [0, 1]; NaN where ``points_2d`` is NaN.
    camera_names: V names, matched to the calibration's cameras by name.
    joint_names: J names, in the order of the skeleton (``geometry.skeletons``).
    frame_index: (F,) int64 frameset index in the recording.
    timestamp_s: (F,) float64 seconds from the start of the recording (NaN when unknown).
    source: free text naming where the detections came from (detector + weights hash, or the
        imported files), recorded as provenance in every shard.
    metadata: free-form provenance (what an importer had to decide), carried along.
    """

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

    def select_joints(self, names: tuple[str, ...] | list[str]) -> "Detections":
        """The same detections with joints reordered/subset to ``names`` (ValueError if absent),
        e.g. BlazePose's 33 landmarks down to COCO-17 (the COCO names are BlazePose's)."""
        missing = [n for n in names if n not in self.joint_names]
        if missing:
            raise ValueError(f"detections have no joint named {', '.join(missing)}")
        order = [self.joint_names.index(n) for n in names]
        return replace(self, points_2d=self.points_2d[:, :, order], scores=self.scores[:, :, order],
                       joint_names=tuple(names), metadata=dict(self.metadata))

    def shifted(self, offsets_frames: Mapping[str, float]) -> "Detections":
        """Each named camera's track moved by its ``--frame-offset`` (frames, may be fractional):
        frameset ``f`` gets what the camera detected at its frame ``f + offset``, interpolated
        between neighbouring frames (:func:`capture.subframe.shift_frames`); NaN where that frame
        is outside the take or a neighbour is missing. Frame indices and timestamps stay."""
        from capture.subframe import shift_frames

        unknown = [n for n in offsets_frames if n not in self.camera_names]
        if unknown:
            raise ValueError(f"--frame-offset names camera {unknown[0]!r}, which is not one of "
                             f"{', '.join(self.camera_names)}")
        shift = np.array([float(offsets_frames.get(n, 0.0)) for n in self.camera_names])
        if not shift.any():
            return self
        numbers = np.asarray(self.frame_index)  # frames missing from the file are gaps in time
        numbers = numbers if numbers.size < 2 or (np.diff(numbers) > 0).all() else None
        return replace(self, points_2d=shift_frames(self.points_2d, shift, frame_numbers=numbers),
                       scores=shift_frames(self.scores, shift, frame_numbers=numbers), metadata=dict(self.metadata))

    def frames(self, start: int, stop: int) -> "Detections":
        """Framesets ``start:stop`` (positions along F, not frame indices)."""
        return Detections(points_2d=self.points_2d[:, start:stop], scores=self.scores[:, start:stop],
                          camera_names=self.camera_names, joint_names=self.joint_names,
                          frame_index=self.frame_index[start:stop],
                          timestamp_s=self.timestamp_s[start:stop], source=self.source,
                          metadata=dict(self.metadata))


def write_npz_detections(path: str | os.PathLike, detections: Detections) -> Path:
    """Write the detections npz (layout in the module docstring) atomically: a crash leaves no
    file that looks complete. ``detections.metadata["frame_sizes"]`` (``{camera: [w, h]}``),
    ``["weights_sha256"]`` and ``["recording"]`` (a dict) are stored when present."""
    from rigkit_files import write_atomic

    sizes = detections.metadata.get("frame_sizes", {})
    frame_sizes = np.array([sizes.get(n, (-1, -1)) for n in detections.camera_names], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, points_2d=detections.points_2d, scores=detections.scores,
                        camera_names=np.array(detections.camera_names),
                        joint_names=np.array(detections.joint_names),
                        frame_index=detections.frame_index, timestamp_s=detections.timestamp_s,
                        frame_sizes=frame_sizes.reshape(-1, 2), source=np.array(detections.source),
                        weights_sha256=np.array(str(detections.metadata.get("weights_sha256", ""))),
                        recording=np.array(json.dumps(detections.metadata.get("recording", {}))))
    path = Path(path)
    write_atomic(path, buffer.getvalue())
    return path


def read_npz_detections(path: str | os.PathLike) -> Detections:
    """Detections from the npz layout of the module docstring (missing optional keys get their
    defaults). ``metadata["frame_sizes"]`` holds the decoded sizes where the file has them.
    Raises ValueError / FileNotFoundError with one sentence naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detections file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
    except Exception as error:  # OSError, ValueError, zipfile.BadZipFile, zlib.error (truncated)
        raise ValueError(f"{path} is not a readable .npz file of detections (truncated or damaged: "
                         f"{type(error).__name__})") from None
    missing = [k for k in NPZ_REQUIRED_KEYS if k not in fields]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)} (an npz of detections needs "
                         f"{', '.join(NPZ_REQUIRED_KEYS)}; it has {', '.join(fields) or 'nothing'})")
    points = np.asarray(fields["points_2d"], dtype=np.float64)
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"{path}: points_2d has shape {points.shape}, expected (V, F, J, 2)")
    V, F, J, _ = points.shape
    scores = fields.get("scores")
    if scores is None:
        scores = np.where(np.isfinite(points).all(axis=-1), 1.0, np.nan)
    joint_names = fields.get("joint_names", np.array([f"joint{j}" for j in range(J)]))
    metadata: dict = {}
    sizes = fields.get("frame_sizes")
    names = tuple(str(n) for n in fields["camera_names"].reshape(-1))
    if sizes is not None and sizes.shape == (V, 2):
        metadata["frame_sizes"] = {n: [int(w), int(h)] for n, (w, h) in zip(names, sizes) if w > 0 and h > 0}
    if "weights_sha256" in fields and str(fields["weights_sha256"]):
        metadata["weights_sha256"] = str(fields["weights_sha256"])
    if "recording" in fields:
        try:
            recording = json.loads(str(fields["recording"]))
        except json.JSONDecodeError:
            recording = {}
        if isinstance(recording, dict) and recording:
            metadata["recording"] = recording
    source = str(fields["source"]) if "source" in fields else ""
    try:
        return Detections(points_2d=points, scores=scores, camera_names=names,
                          joint_names=tuple(str(n) for n in joint_names.reshape(-1)),
                          frame_index=fields.get("frame_index", np.arange(F)),
                          timestamp_s=fields.get("timestamp_s", np.full(F, np.nan)),
                          source=f"npz:{path.resolve()}" + (f" ({source})" if source else ""),
                          metadata=metadata)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
