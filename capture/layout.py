"""The session folder: where everything lives and the tables and truth files in it.

::

    SESSION/
      manifest.json            rig, applied camera settings, start time, rigkit version, status,
                               segments complete, counts; rewritten whole at every change
      framesets.csv            index, time_s, skew_s, then one column per camera: its frame's seq
                               (empty where the view is missing); written when the recording ends
      cameras/<name>/seg-NNNNNN.tar   the camera's frames (see :mod:`capture.segments`)
      cameras/<name>/timestamps.csv   all of the camera's frames (columns of frames.csv), at the end
      truth/cameras.json       synthetic rigs only: the true cameras (name, size, K, dist, R, t, model)
      truth/scene.npz          time_s (F,), joints_in_world (F, 17, 3), world_from_board (F, 4, 4)
      truth/scene.json         the board, the joint names, the per-camera latency_s

Times in tables are seconds since the session's start (``time_s``), plus the raw monotonic and
Unix wall clock stamps. After a crash ``framesets.csv`` may be absent: the reader regroups the
frames from the segments, which are the record of truth.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from geometry import Camera, Rig
from rigkit_files import write_atomic, write_json_atomic

from .grouping import GroupedFrameset
from .segments import FRAME_COLUMNS

__all__ = ["MANIFEST", "FRAMESETS", "CAMERAS_DIR", "TRUTH_DIR", "camera_dir", "write_framesets_table",
           "read_framesets_table", "write_timestamps", "write_truth_cameras", "read_truth_cameras",
           "write_truth_scene", "read_manifest", "write_manifest"]

MANIFEST = "manifest.json"
FRAMESETS = "framesets.csv"
CAMERAS_DIR = "cameras"
TRUTH_DIR = "truth"
FORMAT_VERSION = 1


def camera_dir(session: Path, name: str) -> Path:
    return Path(session) / CAMERAS_DIR / name


def write_manifest(session: Path, manifest: dict) -> None:
    write_json_atomic(Path(session) / MANIFEST, {"format_version": FORMAT_VERSION, **manifest})


def read_manifest(session: Path) -> dict:
    path = Path(session) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{session} is not a rigkit session: it has no {MANIFEST}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None


def write_framesets_table(session: Path, names: tuple[str, ...], framesets: list[GroupedFrameset]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "time_s", "skew_s", *names])
    for f in framesets:
        writer.writerow([f.index, repr(f.time_s), repr(f.skew_s),
                         *("" if m else int(s) for s, m in zip(f.seq, f.missing))])
    write_atomic(Path(session) / FRAMESETS, out.getvalue())


def read_framesets_table(session: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(time_s (S,) float64, seq (S, V) int64 with -1 where missing, skew_s (S,))`` or None if absent."""
    path = Path(session) / FRAMESETS
    if not path.is_file():
        return None
    rows = list(csv.reader(path.read_text().splitlines()))
    header = rows[0] if rows else []
    if header[:3] != ["index", "time_s", "skew_s"] or header[3:] != list(names):
        raise ValueError(f"{path} has camera columns {header[3:]}, expected {list(names)}")
    body = rows[1:]
    try:
        if any(len(r) != 3 + len(names) for r in body):
            raise ValueError("a row has the wrong number of columns")
        time_s = np.array([r[1] for r in body], dtype=np.float64)
        skew_s = np.array([r[2] for r in body], dtype=np.float64)
        seq = np.array([[int(v) if v else -1 for v in r[3:]] for r in body], dtype=np.int64).reshape(len(body), len(names))
    except ValueError as error:
        raise ValueError(f"{path} is damaged ({error}); delete it and the session is regrouped from its segments") from None
    return time_s, seq, skew_s


def write_timestamps(session: Path, name: str, rows: list[tuple]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FRAME_COLUMNS)
    writer.writerows(rows)
    write_atomic(camera_dir(session, name) / "timestamps.csv", out.getvalue())


def write_truth_cameras(session: Path, rig: Rig) -> None:
    folder = Path(session) / TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "cameras.json", {"cameras": [c.to_mapping() for c in rig]})


def read_truth_cameras(session: Path) -> Rig | None:
    path = Path(session) / TRUTH_DIR / "cameras.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return Rig([Camera.from_mapping(c, where=str(path)) for c in data["cameras"]])


def write_truth_scene(session: Path, arrays: dict[str, np.ndarray], description: dict) -> None:
    folder = Path(session) / TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(folder / "scene.npz", buffer.getvalue())
    write_json_atomic(folder / "scene.json", description)
