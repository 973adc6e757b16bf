"""Segment files: a camera's frames as JPEG members of a plain tar, written whole or not at all.

A segment ``seg-NNNNNN.tar`` holds at most ``segment_s`` seconds (<= 2 s) of one camera: members
``<seq 9 digits>.jpg`` in arrival order, then ``frames.csv`` (its per-frame timestamp table,
columns :data:`FRAME_COLUMNS`). Any tar tool lists and extracts it. It is written under the name
``.seg-NNNNNN.tar.part``, flushed, fsync'ed and renamed, so after a crash or power cut a segment
either exists complete or not at all; only the one in progress is lost.
"""

from __future__ import annotations

import csv
import io
import tarfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigkit_files import replace_durably

__all__ = ["FRAME_COLUMNS", "SegmentWriter", "SegmentIndex", "read_segment_index", "segment_paths"]

FRAME_COLUMNS = ("seq", "time_s", "t_mono", "t_wall", "width", "height", "generation")
_BLOCK = 512


def _member_header(name: str, size: int, mtime: float) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o644
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def segment_paths(camera_dir: Path) -> list[Path]:
    """The complete segments of a camera folder, in order (``.part`` files are not segments)."""
    return sorted(Path(camera_dir).glob("seg-*.tar"))


@dataclass
class _OpenSegment:
    number: int
    file: io.BufferedWriter
    temp: Path
    final: Path
    start_s: float
    rows: list


class SegmentWriter:
    """Appends one camera's encoded frames to segments; closes each in the background ``closer``.

    ``on_complete(path, rows)`` is called (from the closer thread) once a segment is on disk for
    good. Errors of a background close (a full disk) re-raise from the next :meth:`add`/:meth:`close`.
    """

    def __init__(self, camera_dir: Path, *, segment_s: float, closer: ThreadPoolExecutor, on_complete=None):
        if not 0 < segment_s <= 2.0:
            raise ValueError(f"segment_s is {segment_s}, expected in (0, 2]")
        self.dir = Path(camera_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_s = segment_s
        self.closer = closer
        self.on_complete = on_complete
        self.current: _OpenSegment | None = None
        self.next_number = len(segment_paths(self.dir))
        self.pending: list[Future] = []
        self.bytes_written = 0
        self._lock = threading.Lock()

    def add(self, data, *, seq: int, time_s: float, t_mono: float, t_wall: float, width: int, height: int,
            generation: int = 0) -> None:
        """Append one JPEG frame (bytes-like) captured at ``time_s`` (s since the session start)."""
        self._raise_background_errors()
        if self.current is not None and time_s - self.current.start_s >= self.segment_s:
            self._close_current()
        if self.current is None:
            final = self.dir / f"seg-{self.next_number:06d}.tar"
            temp = self.dir / f".{final.name}.part"
            self.current = _OpenSegment(self.next_number, open(temp, "wb"), temp, final, time_s, [])
            self.next_number += 1
        size = memoryview(data).nbytes
        f = self.current.file
        f.write(_member_header(f"{seq:09d}.jpg", size, t_wall))
        f.write(data)
        f.write(_padding(size))
        self.bytes_written += _BLOCK + size + (-size % _BLOCK)
        self.current.rows.append((seq, time_s, t_mono, t_wall, width, height, generation))

    def _close_current(self) -> None:
        segment, self.current = self.current, None
        self.pending = [p for p in self.pending if not p.done() or p.exception() is not None]
        self.pending.append(self.closer.submit(self._finish, segment))

    def _finish(self, segment: _OpenSegment) -> None:
        table = io.StringIO()
        writer = csv.writer(table, lineterminator="\n")
        writer.writerow(FRAME_COLUMNS)
        writer.writerows([(s, repr(t), repr(m), repr(w), wd, h, g) for s, t, m, w, wd, h, g in segment.rows])
        data = table.getvalue().encode()
        f = segment.file
        f.write(_member_header("frames.csv", len(data), segment.rows[-1][3]))
        f.write(data + _padding(len(data)))
        f.write(b"\0" * (2 * _BLOCK))
        f.close()
        replace_durably(segment.temp, segment.final)
        if self.on_complete is not None:
            self.on_complete(segment.final, segment.rows)

    def _raise_background_errors(self) -> None:
        for p in self.pending:
            if p.done() and p.exception() is not None:
                raise p.exception()

    def close(self) -> None:
        """Finish the open segment and wait for every background close of this camera."""
        if self.current is not None:
            self._close_current()
        for p in self.pending:
            p.result()
        self.pending = []


@dataclass(frozen=True)
class SegmentIndex:
    """One segment's table. seq (F,) int64; time_s, t_mono, t_wall (F,) float64 s; offset, size
    (F,) int64 byte ranges of each JPEG in the tar; width, height, generation (F,) int64."""

    path: Path
    seq: np.ndarray
    time_s: np.ndarray
    t_mono: np.ndarray
    t_wall: np.ndarray
    width: np.ndarray
    height: np.ndarray
    generation: np.ndarray
    offset: np.ndarray
    size: np.ndarray


def read_segment_index(path: Path) -> SegmentIndex:
    """Read a segment's frame table and member offsets; ValueError if it is not a complete segment."""
    path = Path(path)
    try:
        with tarfile.open(path, "r:") as tar:
            members = {m.name: (m.offset_data, m.size) for m in tar.getmembers()}
            table = tar.extractfile("frames.csv").read().decode()
    except (tarfile.TarError, KeyError, AttributeError) as error:
        raise ValueError(f"segment {path} is damaged or incomplete: {error}") from None
    rows = list(csv.reader(io.StringIO(table)))
    if not rows or tuple(rows[0]) != FRAME_COLUMNS:
        raise ValueError(f"segment {path} has an unexpected frames.csv header {rows[:1]}")
    body = rows[1:]
    columns = {name: [r[i] for r in body] for i, name in enumerate(FRAME_COLUMNS)}
    seq = np.array(columns["seq"], dtype=np.int64)
    try:
        ranges = np.array([members[f"{s:09d}.jpg"] for s in seq], dtype=np.int64).reshape(-1, 2)
    except KeyError as error:
        raise ValueError(f"segment {path} lists frame {error} that it does not hold") from None
    as_float = {k: np.array(columns[k], dtype=np.float64) for k in ("time_s", "t_mono", "t_wall")}
    as_int = {k: np.array(columns[k], dtype=np.int64) for k in ("width", "height", "generation")}
    return SegmentIndex(path=path, seq=seq, offset=ranges[:, 0], size=ranges[:, 1], **as_float, **as_int)
