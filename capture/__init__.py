"""Capture: synchronized multi-camera recording, session files and their checks.

Knows nothing of labeling or calibration. Conventions in :mod:`geometry.camera`.

- :mod:`.rigfile`: rig description TOML (cameras, sources, settings; a synthetic rig).
- :mod:`.sources`, :mod:`.worker`, :mod:`.wire`: one process per camera, frames over ZeroMQ.
- :mod:`.recorder`, :mod:`.grouping`, :mod:`.segments`, :mod:`.layout`: writing a session.
- :mod:`.session`: reading it back (:func:`open_session`); :mod:`.check`, :mod:`.export`.
- :mod:`.scene`, :mod:`.render`, :mod:`.counter`: the synthetic scene, its renderer, the timecode.
- :mod:`.frames`, :mod:`.pairing`, :mod:`.frame_offsets`, :mod:`.subframe`: one frame source over
  videos and image folders, pairing them into framesets, the ``--frame-offset`` flag, sub-frame
  offsets applied to what was detected in the frames.
"""

from __future__ import annotations

from rigkit_lazy import lazy_attributes

# public name -> the submodule that defines it; imported on first use (see rigkit_lazy)
_SUBMODULES = {
    "CameraCheck": "check", "CheckOptions": "check", "CheckReport": "check", "check_session": "check",
    "estimate_offsets": "check",
    "burn_timecode": "counter", "read_timecode": "counter",
    "ExportResult": "export", "export_session": "export",
    "FramesetGrouper": "grouping", "GroupedFrameset": "grouping", "GroupingOptions": "grouping",
    "group_frames": "grouping",
    "RenderedFrame": "render", "SceneRenderer": "render", "joint_colors": "render", "render_person": "render",
    "render_scene": "render",
    "CameraStatus": "recorder", "RecordOptions": "recorder", "RecorderStatus": "recorder",
    "RecordResult": "recorder", "Recorder": "recorder", "record": "recorder",
    "CameraSpec": "rigfile", "RigSpec": "rigfile", "SyntheticSpec": "rigfile", "load_rig_spec": "rigfile",
    "CameraIndex": "session", "Frameset": "session", "Session": "session", "SessionTruth": "session",
    "open_session": "session",
}
__all__ = list(_SUBMODULES)
__getattr__, __dir__ = lazy_attributes(__name__, _SUBMODULES)
