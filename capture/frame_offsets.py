"""``--frame-offset NAME=N``: the flag and its parser, shared by ``rigkit label`` and ``rigkit
calibrate``, and the ``--timestamps`` flag (read by :mod:`capture.timestamps`) (stdlib only:
building the command line loads nothing heavy).

Camera NAME's frame k + N shows the instant of the other cameras' frame k. Pairing recordings
(:func:`capture.pairing.pair_frames`) takes whole frames; a sub-frame offset pairs by its whole
part and moves what is detected in the frames the rest of the way (:mod:`capture.subframe`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["add_frame_offset_argument", "add_timestamps_argument", "parse_frame_offsets"]


def add_frame_offset_argument(parser, *, fractional: bool = False, note: str = "") -> None:
    """``--frame-offset NAME=N`` (repeatable) on an argparse ``parser``, read back with
    :func:`parse_frame_offsets` (same ``fractional``); ``note`` ends the help text."""
    kind = "frames, may be fractional" if fractional else "whole frames"
    parser.add_argument("--frame-offset", action="append", default=[], metavar="NAME=N",
                        help=f"camera NAME's frame k + N shows the instant of the other cameras' frame k "
                             f"({kind}; repeatable)" + (f"; {note}" if note else ""))


def add_timestamps_argument(parser) -> None:
    """``--timestamps FILE | NAME=FILE ... | none`` on an argparse ``parser`` (read with
    :func:`capture.timestamps.timestamps_to_use` and :func:`capture.timestamps.read_frame_times`)."""
    parser.add_argument("--timestamps", nargs="+", default=[], metavar="FILE|NAME=FILE",
                        help="pair the cameras' frames by their recorded times instead of by index (cameras "
                             "that drop frames): Caliscope's timestamps.csv for every camera, or NAME=FILE per "
                             "camera (campy's frametimes.npy, a .npy or a text file of one time per frame); "
                             "default: such files beside the videos; 'none': by index")


def parse_frame_offsets(values: Sequence[str] | None, *, names: Sequence[str] | None = None,
                        fractional: bool = False) -> dict[str, int] | dict[str, float]:
    """``["cam02=3", "cam04=-1"]`` (``--frame-offset NAME=N``, repeatable) -> ``{name: frames}``.

    names: the known cameras; an offset naming another camera is a ValueError.
    fractional: False: N is a whole number of frames (pairing recordings, :func:`pair_frames`);
        True: any number of frames, e.g. ``cam03=-0.5`` (detected points are moved by the
        sub-frame part, :mod:`capture.subframe`, as ``rigkit calibrate keypoints --sync`` and
        ``calibrate extrinsics`` print them); the values are floats.
    Only the cameras given appear in the result.
    """
    offsets: dict = {}
    for value in values or ():
        name, sep, number = str(value).partition("=")
        name, number = name.strip(), number.strip()
        try:
            frames = float(number) if fractional else int(number)
        except ValueError:
            frames = None
        if frames is not None and not math.isfinite(frames):
            frames = None
        if not sep or not name or frames is None:
            what = "a number of frames (e.g. cam02=-0.5)" if fractional else "a whole number of frames (e.g. cam02=3)"
            raise ValueError(f"--frame-offset {value!r} is not NAME=N with N {what}")
        if name in offsets:
            raise ValueError(f"--frame-offset {name} is given twice")
        if names is not None and name not in names:
            raise ValueError(f"--frame-offset names camera {name!r}, which is not one of "
                             f"{', '.join(names)}")
        offsets[name] = frames
    return offsets
