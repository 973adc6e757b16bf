"""Capture: synchronized multi-camera recording, session files and their checks.

Knows nothing of labeling or calibration. Conventions in :mod:`geometry.camera`.

- :mod:`.rigfile`: rig description TOML (cameras, sources, settings; a synthetic rig).
- :mod:`.sources`, :mod:`.worker`, :mod:`.wire`: one process per camera, frames over ZeroMQ.
- :mod:`.recorder`, :mod:`.grouping`, :mod:`.segments`, :mod:`.layout`: writing a session.
- :mod:`.session`: reading it back (:func:`open_session`); :mod:`.check`, :mod:`.export`.
- :mod:`.scene`, :mod:`.render`, :mod:`.counter`: the synthetic scene, its renderer, the timecode.
"""

from .check import CameraCheck, CheckOptions, CheckReport, check_session, estimate_offsets
from .counter import burn_timecode, read_timecode
from .export import ExportResult, export_session
from .grouping import FramesetGrouper, GroupedFrameset, GroupingOptions, group_frames
from .render import RenderedFrame, SceneRenderer, joint_colors, render_person, render_scene
from .recorder import CameraStatus, RecordOptions, RecorderStatus, RecordResult, Recorder, record
from .rigfile import CameraSpec, RigSpec, SyntheticSpec, load_rig
from .session import CameraIndex, Frameset, Session, SessionTruth, open_session

__all__ = [
    "CameraCheck", "CheckOptions", "CheckReport", "check_session", "estimate_offsets",
    "burn_timecode", "read_timecode", "ExportResult", "export_session",
    "FramesetGrouper", "GroupedFrameset", "GroupingOptions", "group_frames",
    "RenderedFrame", "SceneRenderer", "joint_colors", "render_person", "render_scene",
    "CameraStatus", "RecordOptions", "RecorderStatus", "RecordResult", "Recorder", "record",
    "CameraSpec", "RigSpec", "SyntheticSpec", "load_rig",
    "CameraIndex", "Frameset", "Session", "SessionTruth", "open_session",
]
