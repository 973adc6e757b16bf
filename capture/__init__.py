"""Capture: synchronized multi-camera recording, session files and their checks.

Knows nothing of labeling or calibration. Conventions in :mod:`geometry.camera`. Rig files:
:mod:`capture.rigfile`; the session folder: :mod:`capture.layout`; reading it back:
:func:`open_session`.
"""

from .counter import burn_timecode, read_timecode
from .grouping import FramesetGrouper, GroupedFrameset, GroupingOptions, group_frames
from .render import RenderedFrame, SceneRenderer, joint_colors, render_person, render_scene
from .recorder import CameraStatus, RecordOptions, RecorderStatus, RecordResult, Recorder, record
from .rigfile import BoardSpec, CameraSpec, RigSpec, SyntheticSpec, load_rig
from .session import CameraIndex, Frameset, Session, SessionTruth, open_session

__all__ = [
    "burn_timecode", "read_timecode",
    "FramesetGrouper", "GroupedFrameset", "GroupingOptions", "group_frames",
    "RenderedFrame", "SceneRenderer", "joint_colors", "render_person", "render_scene",
    "CameraStatus", "RecordOptions", "RecorderStatus", "RecordResult", "Recorder", "record",
    "BoardSpec", "CameraSpec", "RigSpec", "SyntheticSpec", "load_rig",
    "CameraIndex", "Frameset", "Session", "SessionTruth", "open_session",
]
