"""Closing a session: the manifest it starts with, and the tables, truth and final manifest it ends with.

:func:`initial_manifest` is written before any worker starts (status ``"starting"``), then
updated to ``"recording"`` at the go. :func:`finalize_session` writes ``framesets.csv``, every
camera's ``timestamps.csv``, a synthetic rig's scene truth, and the manifest with the final
status (``"complete"`` or ``"failed"``), the counts and the segments complete (layout:
:mod:`capture.layout`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from rigkit_version import rigkit_version

from .grouping import GroupedFrameset
from .layout import write_framesets_table, write_manifest, write_timestamps, write_truth_scene
from .record_status import CameraCounts
from .rigfile import RigSpec

__all__ = ["initial_manifest", "finalize_session", "write_scene_truth"]


def initial_manifest(rig: RigSpec, names: tuple[str, ...], options: dict) -> dict:
    """The manifest of a session about to start (``options``: the recording options as recorded)."""
    return {
        "status": "starting", "rig": rig.to_dict(), "cameras": list(names),
        "rigkit_version": rigkit_version(), "created_utc": datetime.now(timezone.utc).isoformat(),
        "options": options, "segment_s": rig.segment_s, "encoding": "jpeg", "jpeg_quality": rig.jpeg_quality,
        "crash_note": (f"segments are written whole: after a crash or power cut only each camera's segment "
                       f"in progress (at most {rig.segment_s:g} s) can be lost, and framesets.csv is "
                       "rebuilt from the segments when it is missing"),
        "segments_complete": [],
    }


def finalize_session(out: Path, manifest: dict, *, rig: RigSpec, names: tuple[str, ...], started: bool,
                     framesets: list[GroupedFrameset], cameras: list[CameraCounts], rows: list[list[tuple]],
                     status: str, stopped_by: str, error: str | None, segments_complete: list[str],
                     duration_s: float, grouping_skipped: int) -> None:
    """Write the tables (when the recording ``started``) and the final manifest. Raises OSError."""
    if started:
        write_framesets_table(out, names, framesets)
        for name, camera_rows in zip(names, rows):
            if camera_rows:
                write_timestamps(out, name, camera_rows)
        write_scene_truth(out, rig, manifest, last_seq=max((c.last_seq for c in cameras), default=0))
    manifest.update(
        status=status, stopped_by=stopped_by, error=error, segments_complete=segments_complete,
        duration_s=duration_s,
        counts={c.name: {"frames": c.frames, "dropped": c.dropped, "late": c.late, "missing": c.missing,
                         "restarts": c.restarts} for c in cameras},
        framesets=len(framesets), complete_framesets=sum(1 for f in framesets if not f.missing.any()),
        grouping_skipped=grouping_skipped)
    write_manifest(out, manifest)


def write_scene_truth(out: Path, rig: RigSpec, manifest: dict, *, last_seq: int) -> None:
    """``truth/scene.*`` of a synthetic rig, frames 0..last_seq (a loop scene has no truth)."""
    synthetic = rig.synthetic
    if synthetic is None or synthetic.scene == "loop":
        return
    from .scene import SyntheticScene  # the synthetic scene loads only for synthetic rigs

    fps = next(c.fps for c in rig.cameras if c.kind == "synthetic")
    scene = SyntheticScene(synthetic, fps)
    arrays = scene.truth(max(last_seq, 0) + 1)
    synthetic_names = [c.name for c in rig.cameras if c.kind == "synthetic"]
    description = {"fps": fps, "skeleton": scene.skeleton.name, "joints": list(scene.skeleton.joint_names),
                   "latency_s": {n: synthetic.latency_of(i) for i, n in enumerate(synthetic_names)},
                   "board": manifest["rig"]["synthetic"]["board"],
                   "note": "frame k (a synthetic camera's seq) shows the scene at time_s[k]"}
    write_truth_scene(out, arrays, description)
