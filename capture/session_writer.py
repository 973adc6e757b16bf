"""Writing a session's frames: one :class:`capture.segments.SegmentWriter` per camera, their rows,
and the list of segments on disk for good.

:meth:`SessionWriter.write` appends one JPEG to its camera's segment and keeps its timestamp row
(for ``timestamps.csv``). Segments close on a background thread; each closed one is added to
:meth:`segments_complete` (paths relative to the session, for the manifest). A write that fails
(a full disk) raises ``OSError`` with one sentence naming the camera and the session and saying
that the segments completed before are intact; after that :attr:`failed` is set and the recorder
drops the frames still in flight.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .layout import camera_dir
from .segments import FRAME_COLUMNS, SegmentWriter

__all__ = ["SessionWriter"]


class SessionWriter:
    """The frames of the cameras ``names`` into the session folder ``out``."""

    def __init__(self, out: Path, names: tuple[str, ...], *, segment_s: float):
        self.out = Path(out)
        self.names = names
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-close")
        self._writers = [SegmentWriter(camera_dir(self.out, name), segment_s=segment_s, closer=self._closer,
                                       on_complete=self._segment_complete) for name in names]
        self._done: list[str] = []
        self._lock = threading.Lock()
        self.rows: list[list[tuple]] = [[] for _ in names]
        self.failed = False

    @property
    def bytes_written(self) -> int:
        return sum(w.bytes_written for w in self._writers)

    def write(self, camera: int, data, meta: dict) -> None:
        """Append JPEG ``data`` (bytes-like) of ``camera``; ``meta`` has the keys of
        :data:`capture.segments.FRAME_COLUMNS`."""
        try:
            self._writers[camera].add(data, **meta)
        except OSError as error:
            self.failed = True
            raise OSError(f"writing camera {self.names[camera]!r} to {self.out} failed "
                          f"({error.strerror or error}); the segments completed before that are intact") from error
        self.rows[camera].append(tuple(meta[k] for k in FRAME_COLUMNS))

    def _segment_complete(self, path: Path, rows: list) -> None:
        with self._lock:
            self._done.append(str(path.relative_to(self.out)))

    def segments_complete(self) -> list[str]:
        with self._lock:
            return sorted(self._done)

    def close(self) -> OSError | None:
        """Finish every open segment and wait for the background closes; the first error (if any)
        is returned rather than raised, so that the caller can still write what it can."""
        first = None
        for writer in self._writers:
            try:
                writer.close()
            except OSError as error:  # a full disk: the segments closed before are intact
                first = first or error
        self._closer.shutdown(wait=True)
        for rows in self.rows:
            rows.sort()
        return first
