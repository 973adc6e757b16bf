"""``--timestamps``: each camera's own frame times, from the files recorders write beside their
videos, and pairing the cameras' frames by them (for cameras that drop frames, as USB webcams do:
pairing by index then joins frames of different instants from the first dropped frame on).

Files (stdlib and numpy only: the command line loads nothing heavy):

- ``--timestamps FILE``, one file for every camera: Caliscope's ``timestamps.csv`` (columns
  ``cam_id`` and ``frame_time``; a ``sync_index`` or ``frame_index`` column is ignored, as Caliscope
  itself ignores it). A camera's frame k is its k-th earliest time (Caliscope's rule). ``cam_id`` N
  is the camera named ``cam_N`` (Caliscope's video names), ``N`` or ``port_N``.
- ``--timestamps NAME=FILE`` per camera: campy's ``frametimes.npy`` (rows frame number[, camera
  time], time since the first grab: the last row is used), any ``.npy`` of times, or a text / CSV
  file with one time per line (with a header, the column named ``frame_time``, ``timestamp``,
  ``time``, ``timestamp_s``, ``time_s`` or ``timeStamp``). File order is frame order.

Found without the flag (:func:`find_recorded_times`): a ``timestamps.csv`` in the one folder of all
the videos (Caliscope's layout), or a ``frametimes.npy`` beside each camera's video (campy's); the
pairing's notes name the file, and ``--timestamps none`` pairs by index instead.

Units: the times share one clock, in seconds, milliseconds, microseconds or nanoseconds; the unit
is told from the frame period (a period under 1 is seconds, then ms, us, ns by factors of 1000: 1 to
1000 frames per second) and said in the pairing's notes.

Pairing (:func:`match_frame_times`): the camera with the most frames is the reference; every other
camera's frame nearest in time to each reference frame joins its frameset when it is less than half
a frame period away. A camera without such a frame is missing from that frameset (its view is left
out there, as a session marks a missing view), and counted.

Conventions (dimension letters V cameras, F framesets, N frames of one camera) in
:mod:`geometry.camera`.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .frame_offsets import add_timestamps_argument  # the flag lives with --frame-offset: stdlib only

__all__ = ["FrameTimes", "TimedPairing", "add_timestamps_argument", "read_frame_times", "match_frame_times",
           "find_recorded_times", "timestamps_to_use", "timestamps_file", "resolved_timestamps"]

TIME_COLUMNS = ("frame_time", "timestamp", "time", "timestamp_s", "time_s", "timestamps", "frametime")
_UNITS = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))
FRAME_COUNT_TOLERANCE = 0.1  # more frames than times (or the reverse) beyond this share: another recording's file


@dataclass(frozen=True)
class FrameTimes:
    """Each camera's frame times on one clock.

    times_s: ``{name: (N,) float64}`` seconds, increasing, frame k of the camera's video at ``[k]``.
    unit: the unit the file(s) gave them in (``"s"``, ``"ms"``, ``"us"``, ``"ns"``).
    files: the file(s) read, as given on the command line (resolved paths): provenance.
    """

    times_s: dict[str, np.ndarray]
    unit: str
    files: tuple[str, ...]

    @property
    def period_s(self) -> float:
        """The frame period: the median interval between a camera's frames, over all cameras."""
        return _median_period(list(self.times_s.values()))

    def check_counts(self, sources) -> list[str]:
        """Check the times against the cameras' frames (``sources``: frame sources with ``name``,
        ``num_frames``, ``path``). A camera with no times, or whose frame count differs from its
        number of times by more than :data:`FRAME_COUNT_TOLERANCE`, is a ValueError (the file of
        another recording); a smaller difference is a note (the first frames that have both are
        paired)."""
        notes = []
        for source in sources:
            if source.name not in self.times_s:
                raise ValueError(f"--timestamps gives no times for camera {source.name}")
            have, count = self.times_s[source.name].size, int(source.num_frames)
            if abs(have - count) > FRAME_COUNT_TOLERANCE * max(count, 1):
                raise ValueError(f"--timestamps gives {have} times for camera {source.name} but {source.path} has "
                                 f"{count} frames: is it that camera's file?")
            if have != count:
                notes.append(f"camera {source.name}: {have} times for {count} frames; the first "
                             f"{min(have, count)} are paired")
        return notes


@dataclass(frozen=True)
class TimedPairing:
    """Frames paired by time.

    frame_indices: (F, V) int64, frame of camera v in frameset f, -1 where the camera has none.
        reference: the camera whose frames define the framesets (the one with the most frames).
        frameset_index: (F,) int64, each frameset's number: the reference camera's frame minus its
        whole offset (as pairing by index numbers them: the frame of a camera without offset).
        times_s: (F,) the reference frames' times, moved by that offset.
    spread_s: (F,) seconds between the earliest and the latest frame of each frameset.
    unpaired: ``{name: n}`` framesets without a frame of camera ``name`` within half a period
        (its view is missing there).
    """

    frame_indices: np.ndarray
    reference: int
    frameset_index: np.ndarray
    times_s: np.ndarray
    spread_s: np.ndarray
    unpaired: dict[str, int]


def find_recorded_times(paths: Mapping[str, str | Path]) -> tuple[str, ...]:
    """The ``--timestamps`` values a recorder left beside the cameras' videos ``{name: path}``:
    ``(folder/timestamps.csv,)`` when every video is in one folder holding Caliscope's
    timestamps.csv with times for every camera, ``("NAME=.../frametimes.npy", ...)`` when each
    camera's video has campy's frametimes.npy beside it, else ``()`` (also for image folders)."""
    paths = {name: Path(path) for name, path in paths.items()}
    if not paths or not all(p.is_file() for p in paths.values()):
        return ()
    folders = {p.resolve().parent for p in paths.values()}
    if len(folders) == 1:
        candidate = next(iter(folders)) / "timestamps.csv"
        if candidate.is_file():
            try:
                _caliscope_csv(candidate, list(paths))
            except ValueError:
                return ()
            return (str(candidate),)
    per_camera = {name: p.resolve().parent / "frametimes.npy" for name, p in paths.items()}
    if len(folders) == len(paths) and all(f.is_file() for f in per_camera.values()):
        return tuple(f"{name}={f}" for name, f in per_camera.items())
    return ()


def timestamps_to_use(given: Sequence[str], paths: Mapping[str, str | Path]) -> tuple[str, ...]:
    """``--timestamps`` as given, ``()`` for ``none``, or what :func:`find_recorded_times` finds
    beside the videos when the flag is absent."""
    given = [str(v) for v in given]
    if [v.lower() for v in given] == ["none"]:
        return ()
    if given:
        return tuple(given)
    return find_recorded_times(paths)


def timestamps_file(value: str) -> tuple[str | None, Path]:
    """One ``--timestamps`` value: ``NAME=FILE`` -> ``(NAME, FILE)``, ``FILE`` -> ``(None, FILE)``
    (a file whose own name holds ``=`` is a file)."""
    name, sep, path = str(value).partition("=")
    if sep and not Path(value).exists():
        return name, Path(path)
    return None, Path(value)


def resolved_timestamps(values: Sequence[str]) -> tuple[str, ...]:
    """``--timestamps`` values with their files' paths resolved (provenance that reopens anywhere)."""
    out = []
    for value in values:
        name, path = timestamps_file(value)
        out.append(str(path.resolve()) if name is None else f"{name}={path.resolve()}")
    return tuple(out)


def read_frame_times(values: Sequence[str], names: Sequence[str]) -> FrameTimes:
    """``--timestamps`` values (one file for every camera, or ``NAME=FILE`` per camera) for the
    cameras ``names``. Raises ValueError with one sentence for a file that cannot be read, a camera
    without times, or times that are not increasing."""
    values = [str(v) for v in values]
    if not values:
        raise ValueError("--timestamps needs a file")
    split = [timestamps_file(v) for v in values]
    per_camera = [name for name, _ in split if name is not None]
    if per_camera and len(per_camera) != len(values):
        raise ValueError("--timestamps takes one file for every camera (Caliscope's timestamps.csv) or "
                         "NAME=FILE for each camera, not both")
    raw: dict[str, np.ndarray] = {}
    if per_camera:
        for value, (name, path) in zip(values, split):
            if name not in names:
                raise ValueError(f"--timestamps {value}: camera {name!r} is not one of {', '.join(names)}")
            if name in raw:
                raise ValueError(f"--timestamps gives camera {name} twice")
            raw[name] = _camera_file(path)
        files = resolved_timestamps(values)
    else:
        if len(values) != 1:
            raise ValueError("--timestamps takes one file for every camera, or NAME=FILE for each camera")
        raw = _caliscope_csv(Path(values[0]), names)
        files = (str(Path(values[0]).resolve()),)
    missing = [n for n in names if n not in raw]
    if missing:
        raise ValueError(f"--timestamps gives no times for camera {', '.join(missing)}")
    for name, times in raw.items():
        if times.size < 2 or not np.isfinite(times).all():
            raise ValueError(f"--timestamps: camera {name} has {times.size} times"
                             + ("" if np.isfinite(times).all() else ", some not numbers"))
        back = np.flatnonzero(np.diff(times) <= 0)
        if back.size:
            raise ValueError(f"--timestamps: the times of camera {name} do not increase at its frame {back[0] + 1} "
                             f"({times[back[0]]!r} then {times[back[0] + 1]!r})")
    period = _median_period([raw[n] for n in names])
    unit, scale = next(((u, s) for k, (u, s) in enumerate(_UNITS) if period < 1000.0 ** k), _UNITS[-1])
    return FrameTimes(times_s={n: raw[n].astype(np.float64) * scale for n in names}, unit=unit, files=files)


def match_frame_times(times_s: Sequence[np.ndarray], names: Sequence[str],
                      offsets_frames: Mapping[str, int] | None = None, *, min_cameras: int = 2) -> TimedPairing:
    """Pair V cameras' frames by time (the module's rule).

    times_s: V arrays (N_v,) of increasing seconds on one clock. offsets_frames: ``{name: n}`` whole
        frames (``--frame-offset``): camera ``name``'s frame times are taken ``n`` periods earlier,
        so its frame k + n joins the others' frame k.
    min_cameras: framesets with fewer cameras than this are left out (default 2: a frameset
        needs two views to triangulate anything).
    Raises ValueError when no frameset has ``min_cameras`` cameras.
    """
    times = [np.asarray(t, dtype=np.float64) for t in times_s]
    period = _median_period(times)
    shift = [int((offsets_frames or {}).get(n, 0)) for n in names]
    times = [t - k * period for t, k in zip(times, shift)]
    reference = int(np.argmax([t.size for t in times]))
    wanted = times[reference]
    V, n_ref = len(times), wanted.size
    indices = np.full((n_ref, V), -1, dtype=np.int64)
    indices[:, reference] = np.arange(n_ref)
    for v, t in enumerate(times):
        if v == reference:
            continue
        after = np.clip(np.searchsorted(t, wanted), 1, t.size - 1)
        nearest = np.where(np.abs(t[after - 1] - wanted) <= np.abs(t[after] - wanted), after - 1, after)
        gap = np.abs(t[nearest] - wanted)
        ok = gap < 0.5 * period
        # a frame joins one frameset only: the nearest reference frame keeps it
        order = np.lexsort((gap, nearest))
        first = np.ones(order.size, dtype=bool)
        first[1:] = nearest[order][1:] != nearest[order][:-1]
        keep = np.zeros(n_ref, dtype=bool)
        keep[order[first]] = True
        indices[:, v] = np.where(ok & keep, nearest, -1)
    enough = (indices >= 0).sum(axis=1) >= min(min_cameras, V)
    if not enough.any():
        raise ValueError(f"no frameset has frames of {min(min_cameras, V)} cameras within half a frame period of "
                         "each other (do the timestamps share one clock?)")
    paired = indices[enough]
    unpaired = {names[v]: int((paired[:, v] < 0).sum()) for v in range(V) if (paired[:, v] < 0).any()}
    at = np.stack([np.where(paired[:, v] >= 0, times[v][np.maximum(paired[:, v], 0)], np.nan) for v in range(V)],
                  axis=1)
    return TimedPairing(frame_indices=paired, reference=reference, frameset_index=paired[:, reference] - shift[reference],
                        times_s=times[reference][paired[:, reference]],  # moved by its offset, as numbered
                        spread_s=np.nanmax(at, axis=1) - np.nanmin(at, axis=1), unpaired=unpaired)


def _median_period(times: Sequence[np.ndarray]) -> float:
    steps = np.concatenate([np.diff(np.asarray(t, dtype=np.float64)) for t in times])
    steps = steps[steps > 0]
    if steps.size == 0:
        raise ValueError("--timestamps: the times do not advance")
    return float(np.median(steps))


def _camera_file(path: Path) -> np.ndarray:
    """(N,) times of one camera's file (module docstring)."""
    if not path.is_file():
        raise ValueError(f"--timestamps file {path} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"--timestamps file {path} is not a readable .npy ({error})") from None
        if array.ndim == 2 and min(array.shape) <= 3 and array.shape[0] <= 3:  # campy: rows of N
            array = array[-1]
        elif array.ndim == 2 and array.shape[1] <= 3:
            array = array[:, -1]
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"--timestamps file {path} holds an array of shape {array.shape}; expected one time "
                             "per frame (or campy's rows: frame number[, camera time], time)")
        return array.astype(np.float64)
    rows = _csv_rows(path)
    header = [c.strip() for c in rows[0]]
    if _numbers(header) is None:
        column = next((header.index(h) for h in header if h.lower() in TIME_COLUMNS), None)
        if column is None:
            raise ValueError(f"--timestamps file {path}: no time column in its header ({', '.join(header)}); "
                             f"expected one of {', '.join(TIME_COLUMNS)}")
        body = rows[1:]
    else:
        column, body = len(header) - 1, rows
    values = []
    for line, row in enumerate(body, start=2 if body is not rows else 1):
        try:
            values.append(float(row[column]))
        except (IndexError, ValueError):
            raise ValueError(f"--timestamps file {path}, line {line}: {','.join(row)!r} is not a time") from None
    return np.asarray(values, dtype=np.float64)


def _caliscope_csv(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{name: (N,) times}`` of Caliscope's timestamps.csv, each camera's sorted (frame k = k-th
    earliest, as Caliscope reads them)."""
    if not path.is_file():
        raise ValueError(f"--timestamps file {path} does not exist")
    rows = _csv_rows(path)
    header = [c.strip() for c in rows[0]]
    if "cam_id" not in header or "frame_time" not in header:
        raise ValueError(f"--timestamps file {path} has columns {', '.join(header)}; one file for every camera is "
                         "Caliscope's timestamps.csv (cam_id, frame_time); for other recorders give NAME=FILE per camera")
    cam, time = header.index("cam_id"), header.index("frame_time")
    by_id: dict[str, list[float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        try:
            by_id.setdefault(str(int(float(row[cam]))), []).append(float(row[time]))
        except (IndexError, ValueError):
            raise ValueError(f"--timestamps file {path}, line {line}: {','.join(row)!r} is not cam_id, frame_time") \
                from None
    out: dict[str, np.ndarray] = {}
    for cam_id, times in by_id.items():
        name = next((n for n in (f"cam_{cam_id}", cam_id, f"port_{cam_id}") if n in names), None)
        if name is not None:
            out[name] = np.sort(np.asarray(times, dtype=np.float64))
    missing = [n for n in names if n not in out]
    if missing:
        raise ValueError(f"--timestamps file {path} has cam_id {', '.join(sorted(by_id, key=int))}, which name "
                         f"cameras cam_N (or N, port_N); camera {', '.join(missing)} is none of them")
    return out


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            delimiter = "\t" if "\t" in sample and "," not in sample else ("," if "," in sample else " ")
            rows = [r for r in csv.reader(handle, delimiter=delimiter, skipinitialspace=True) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--timestamps file {path} cannot be read as text ({error})") from None
    if not rows:
        raise ValueError(f"--timestamps file {path} is empty")
    return rows


def _numbers(cells: Sequence[str]) -> list[float] | None:
    try:
        return [float(c) for c in cells if c]
    except ValueError:
        return None
