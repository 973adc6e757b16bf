"""What a demo run is: its options, the rig file it records from, and the output folder's layout.

A demo run lives in one folder (``--out``): ``rig.toml`` (the synthetic rig it records, usable
with ``rigkit capture record``), ``session/`` (the recording), ``calibration/`` (``board.toml``,
``keypoints.toml``), ``detections/`` (the detector's output, cached per chunk), ``labels/``
(shards + ``index.json``), ``report/`` (pictures of every stage) and ``demo.json`` (the options
of the run, checked when a run is restarted into the same folder).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["DemoOptions", "DemoPaths", "rig_toml", "check_output_folder", "MIN_CAMERAS", "MAX_CAMERAS"]

MIN_CAMERAS, MAX_CAMERAS = 4, 8
_OPTIONS_FILE = "demo.json"


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    """One demo run.

    cameras: cameras of the synthetic ring rig (4..8). size: (width, height) px. fps: frame rate.
    intrinsics_s: seconds per camera of the board held up close to it alone (for its lens), the
    cameras in turn, at the start of the recording.
    board_s: seconds of the ChArUco board pass (recorded first; default 3 s per camera: the board
    is turned towards each camera in turn); person_s: seconds of the person moving (after the
    board). seed: the rig, the scene and its look (the same seed, the same run; seed 1 turns the
    board towards every camera of 4..8-camera rings within 3 s per camera).
    shard_size: framesets per shard. detector: ``"builtin"`` or a weights file.
    """

    cameras: int = 4
    size: tuple[int, int] = (640, 480)
    fps: float = 15.0
    intrinsics_s: float = 2.0
    board_s: float | None = None
    person_s: float = 12.0
    seed: int = 1
    shard_size: int = 64
    detector: str = "builtin"

    def __post_init__(self) -> None:
        if self.board_s is None:
            object.__setattr__(self, "board_s", 3.0 * self.cameras)
        if not MIN_CAMERAS <= self.cameras <= MAX_CAMERAS:
            raise ValueError(f"--cameras is {self.cameras}, expected {MIN_CAMERAS} to {MAX_CAMERAS}")
        if len(self.size) != 2 or min(self.size) < 160 or max(self.size) > 1920:
            raise ValueError(f"size is {self.size}, expected (width, height) between 160 and 1920 px")
        if not 5 <= self.fps <= 60:
            raise ValueError(f"fps is {self.fps:g}, expected 5 to 60 frames per second")
        if self.intrinsics_s * self.fps < 10 or self.board_s * self.fps < 15:
            raise ValueError(f"the board pass has {self.intrinsics_s * self.fps:.0f} close-up frames per camera "
                             f"and {self.board_s * self.fps:.0f} shared frames; calibration needs at least 10 "
                             "and 15")
        if self.person_s * self.fps < 20:
            raise ValueError(f"the person part has {self.person_s * self.fps:.0f} frames, expected at least 20 "
                             "(give more seconds)")
        if self.seconds > 600:
            raise ValueError(f"{self.seconds:g} s of recording is more than a demo needs (at most 600 s)")
        if self.shard_size < 1:
            raise ValueError(f"shard_size is {self.shard_size}, expected >= 1 framesets")

    @property
    def calibration_s(self) -> float:
        """Seconds of the whole board pass (close-ups, then the board carried through the rig)."""
        return self.intrinsics_s * self.cameras + self.board_s

    @property
    def seconds(self) -> float:
        return self.calibration_s + self.person_s

    @property
    def close_up_frames(self) -> int:
        """Frames of the close-ups (every camera's), at the start of the board pass."""
        return int(round(self.intrinsics_s * self.fps)) * self.cameras

    @property
    def board_frames(self) -> int:
        return self.close_up_frames + int(round(self.board_s * self.fps))

    @property
    def person_frames(self) -> int:
        return int(round(self.person_s * self.fps))

    def to_json(self) -> dict:
        out = asdict(self)
        out["size"] = list(self.size)
        return out


class _Inside:
    """A path of the run folder: ``paths.<name>`` is ``paths.root / relative``."""

    def __init__(self, relative: str):
        self.relative = relative

    def __get__(self, paths, owner=None) -> Path:
        return self if paths is None else paths.root / self.relative


@dataclass(frozen=True)
class DemoPaths:
    """Where each stage writes inside the run folder ``root``: the rig file, the recorded
    session (and its partial folder while recording), calibration, detections, labels, report and
    the stage markers."""

    root: Path
    rig = _Inside("rig.toml")
    session, session_partial = _Inside("session"), _Inside("session.partial")
    calibration, detections = _Inside("calibration"), _Inside("detections")
    labels, report, stages = _Inside("labels"), _Inside("report"), _Inside("stages")


def rig_toml(options: DemoOptions) -> str:
    """The rig file of the run: ``options.cameras`` synthetic cameras in a ring, rendered scene,
    paced as fast as the machine renders (no frame is skipped on a slow machine; every frame is
    still stamped at ``k / fps``)."""
    width, height = options.size
    return f"""# The rig of a `rigkit demo` run: synthetic cameras in a ring around a known scene (a ChArUco
# board pass, then a person moving), rendered by capture/render.py. Record it again with
#   rigkit capture record --rig rig.toml --out another-session --duration {options.seconds:g}
# (pace = "fast" renders every frame however long it takes: without --duration the script repeats
# until Ctrl-C, filling the disk at about 10 MB per second of recording).
name = "demo-{options.cameras}cam"
fps = {options.fps:g}
segment_s = 1.0
jpeg_quality = 90

[synthetic]
layout = "ring"
num_cameras = {options.cameras}
seed = {options.seed}
size = [{width}, {height}]
lens = "distorted"
intrinsics_s = {options.intrinsics_s:g}
board_s = {options.board_s:g}
person_s = {options.person_s:g}
counter = true
scene = "rendered"
pace = "fast"

[synthetic.board]         # the keys of a board file (geometry/board.py)
type = "charuco"
squares = [7, 5]
square_length_m = 0.15    # an A0 print (1.05 x 0.75 m): 20+ px squares at 4 m on 640x480
marker_length_m = 0.1125
dictionary = "DICT_4X4_50"
margin_m = 0.04
"""


def check_output_folder(root: Path, options: DemoOptions) -> bool:
    """Prepare ``root`` for ``options``; True when it already holds (part of) the same run.

    A folder holding a run with other options, or files that are not a demo run, is refused with
    one sentence (nothing in it is touched).
    """
    from rigkit_files import write_json_atomic

    marker = root / _OPTIONS_FILE
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            raise ValueError(f"{marker} is not readable; choose another --out folder") from None
        if previous != options.to_json():
            changed = sorted(k for k in set(previous) | set(options.to_json())
                             if previous.get(k) != options.to_json().get(k))
            raise ValueError(f"{root} holds a demo run with other options ({', '.join(changed)}); "
                             "choose another --out folder or repeat the same options")
        return True
    if root.exists() and not root.is_dir():
        raise ValueError(f"--out {root} is a file, expected a folder")
    if root.is_dir() and any(root.iterdir()):
        raise ValueError(f"--out {root} is not empty and holds no demo run; choose an empty or new folder")
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(marker, options.to_json(), indent=1)
    return False
