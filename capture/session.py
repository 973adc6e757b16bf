"""Reading a recorded session: framesets, single frames, seeking by time, the ground truth.

>>> session = open_session("sessions/synthetic")
>>> for frameset in session.framesets():
...     frameset.images        # V images (H, W, 3) uint8 BGR, None where the view is missing

Frames are decoded in a thread pool a few framesets ahead of the caller (OpenCV releases the GIL
while decoding), reading byte ranges of the segment tars directly. A session whose recorder
crashed has no ``framesets.csv``: its framesets are regrouped from the segments' own tables.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from geometry import Rig

from .grouping import GroupingOptions, group_frames
from .layout import TRUTH_DIR, camera_dir, read_framesets_table, read_manifest, read_truth_cameras
from .segments import read_segment_index, segment_paths

__all__ = ["Frameset", "SessionTruth", "CameraIndex", "Session", "open_session"]


@dataclass(frozen=True)
class Frameset:
    """The V images of one instant.

    index: position in the session's frameset table. timestamp_s: s since the session start
    (median of the members' capture times). images: V entries, (H, W, 3) uint8 BGR or None where
    missing (or not requested). missing: (V,) bool. sequence: (V,) int64 the frames' sequence
    numbers, -1 where missing. times_s: (V,) float64 capture times, s, NaN where missing.
    """

    index: int
    timestamp_s: float
    images: list[np.ndarray | None]
    missing: np.ndarray
    sequence: np.ndarray
    times_s: np.ndarray


@dataclass(frozen=True)
class SessionTruth:
    """Ground truth of a synthetic session.

    rig: the true cameras, in session camera order. time_s: (F,) scene time of frame k, s.
    joints_in_world: (F, J, 3) m, NaN where nobody is in the scene. world_from_board: (F, 4, 4),
    NaN where the board is not. Frame k is the one with sequence number k in every synthetic camera
    (``Frameset.sequence``). description: board, joint names, injected latency_s per camera.
    """

    rig: Rig
    time_s: np.ndarray
    joints_in_world: np.ndarray
    world_from_board: np.ndarray
    description: dict


@dataclass(frozen=True)
class CameraIndex:
    """Every frame of one camera in the session: seq, time_s (s since start), t_wall (Unix s),
    width, height, all (F,); segment (F,) int64 into ``segments``; offset, size (F,) byte ranges."""

    name: str
    seq: np.ndarray
    time_s: np.ndarray
    t_wall: np.ndarray
    width: np.ndarray
    height: np.ndarray
    generation: np.ndarray
    segment: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    segments: tuple[Path, ...]

    def position(self, seq: int) -> int:
        """Row of the frame with sequence number ``seq``; ValueError when it is not in the session."""
        i = int(np.searchsorted(self.seq, seq))
        if i >= self.seq.size or self.seq[i] != seq:
            raise ValueError(f"camera {self.name!r} has no frame with sequence number {seq}")
        return i


def _camera_index(session: Path, name: str) -> CameraIndex:
    paths = segment_paths(camera_dir(session, name))
    parts = [read_segment_index(p) for p in paths]
    fields = ("seq", "time_s", "t_wall", "width", "height", "generation", "offset", "size")
    stacked = {f: np.concatenate([getattr(p, f) for p in parts]) if parts else np.zeros(0) for f in fields}
    segment = np.concatenate([np.full(p.seq.size, i) for i, p in enumerate(parts)]) if parts else np.zeros(0)
    order = np.argsort(stacked["seq"], kind="stable")
    ints = {"seq", "width", "height", "generation", "offset", "size"}
    arrays = {f: stacked[f][order].astype(np.int64 if f in ints else np.float64) for f in fields}
    return CameraIndex(name=name, segment=segment[order].astype(np.int64), segments=tuple(paths), **arrays)


class Session:
    """A session folder opened for reading (see :func:`open_session`). Use as a context manager
    or call :meth:`close` to release file handles and decoding threads."""

    def __init__(self, path: str | Path, *, threads: int | None = None):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.names: tuple[str, ...] = tuple(self.manifest["cameras"])
        self.cameras = [_camera_index(self.path, n) for n in self.names]
        table = read_framesets_table(self.path, self.names)
        self.regrouped = table is None
        if table is None:
            table = self._regroup()
        self.frameset_times_s, self.sequence, self.skew_s = table
        self._positions = self._positions_of_sequence()
        self._fds: dict[Path, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=threads or min(4, os.cpu_count() or 1),
                                        thread_name_prefix="session-decode")
        self._truth: SessionTruth | None | bool = False

    # -- basic facts ---------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.frameset_times_s.size)

    @property
    def num_framesets(self) -> int:
        return len(self)

    @property
    def fps(self) -> float:
        return float(self.manifest["rig"]["fps"])

    @property
    def complete(self) -> bool:
        """True when the recorder finished normally (the manifest says so)."""
        return self.manifest.get("status") == "complete"

    @property
    def missing(self) -> np.ndarray:
        """(S, V) bool: which views each frameset lacks."""
        return self.sequence < 0

    def __repr__(self) -> str:
        return f"Session({self.path}, {len(self)} framesets, cameras: {', '.join(self.names)})"

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    # -- frames ----------------------------------------------------------------------------
    def camera_index(self, camera: int | str) -> CameraIndex:
        return self.cameras[self._camera(camera)]

    def _camera(self, camera: int | str) -> int:
        if isinstance(camera, str):
            if camera not in self.names:
                raise ValueError(f"no camera named {camera!r} in the session (cameras: {', '.join(self.names)})")
            return self.names.index(camera)
        if not 0 <= camera < len(self.names):
            raise ValueError(f"camera index {camera} out of range 0..{len(self.names) - 1}")
        return camera

    def encoded_frame(self, camera: int | str, seq: int) -> bytes:
        """The JPEG bytes of one frame."""
        index = self.cameras[self._camera(camera)]
        return self._read_bytes(index, index.position(seq))

    def frame(self, camera: int | str, seq: int, *, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
        """One decoded frame (H, W, 3) uint8 BGR by camera and sequence number."""
        index = self.cameras[self._camera(camera)]
        return self._decode(index, index.position(seq), flags)

    def _read_bytes(self, index: CameraIndex, row: int) -> bytes:
        path = index.segments[index.segment[row]]
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        return os.pread(fd, int(index.size[row]), int(index.offset[row]))

    def _decode(self, index: CameraIndex, row: int, flags: int) -> np.ndarray:
        image = cv2.imdecode(np.frombuffer(self._read_bytes(index, row), np.uint8), flags)
        if image is None:
            raise ValueError(f"camera {index.name!r} frame {index.seq[row]} in {index.segments[index.segment[row]]} "
                             "does not decode")
        return image

    # -- framesets -------------------------------------------------------------------------
    def _positions_of_sequence(self) -> np.ndarray:
        """(S, V) int64 row of each frameset member in its CameraIndex, -1 where missing."""
        positions = np.full(self.sequence.shape, -1, np.int64)
        for v, index in enumerate(self.cameras):
            seq = self.sequence[:, v]
            present = seq >= 0
            if not index.seq.size and present.any():
                folder = camera_dir(self.path, index.name)
                state = "is missing" if not folder.is_dir() else "holds no complete segment"
                raise ValueError(f"{folder} {state}, but the frameset table of {self.path} names "
                                 f"{int(present.sum())} frames of camera {index.name!r}")
            rows = np.searchsorted(index.seq, seq[present])
            rows = np.minimum(rows, max(index.seq.size - 1, 0))
            found = index.seq[rows] == seq[present] if index.seq.size else np.zeros(0, bool)
            if not found.all():
                raise ValueError(f"{self.path}: the frameset table names frames of camera {index.name!r} "
                                 "that are not in its segments")
            positions[np.flatnonzero(present), v] = rows
        return positions

    def framesets(self, start: int = 0, stop: int | None = None, *, cameras: Sequence[int | str] | None = None,
                  flags: int = cv2.IMREAD_COLOR, prefetch: int = 8) -> Iterator[Frameset]:
        """Framesets ``start`` .. ``stop - 1`` in order, decoded ahead in the thread pool.

        cameras: decode only these views (the others come back None but keep their ``missing``
        flag); flags: cv2.imdecode flags (e.g. ``cv2.IMREAD_REDUCED_COLOR_2`` for a fast preview).
        """
        stop = len(self) if stop is None else min(stop, len(self))
        wanted = np.zeros(len(self.names), bool)
        wanted[[self._camera(c) for c in (cameras if cameras is not None else range(len(self.names)))]] = True
        queue: deque = deque()

        def submit(i: int) -> None:
            futures = [self._pool.submit(self._decode, self.cameras[v], int(self._positions[i, v]), flags)
                       if wanted[v] and self._positions[i, v] >= 0 else None for v in range(len(self.names))]
            queue.append((i, futures))

        next_i = start
        while next_i < stop and len(queue) < prefetch:
            submit(next_i)
            next_i += 1
        while queue:
            i, futures = queue.popleft()
            if next_i < stop:
                submit(next_i)
                next_i += 1
            yield self._frameset(i, [None if f is None else f.result() for f in futures])

    def __getitem__(self, i: int) -> Frameset:
        if not -len(self) <= i < len(self):
            raise IndexError(f"frameset {i} out of range (session has {len(self)})")
        i %= len(self)
        return next(self.framesets(i, i + 1))

    def _frameset(self, i: int, images: list) -> Frameset:
        seq = self.sequence[i]
        times = np.array([self.cameras[v].time_s[p] if p >= 0 else np.nan for v, p in enumerate(self._positions[i])])
        return Frameset(index=i, timestamp_s=float(self.frameset_times_s[i]), images=images, missing=seq < 0,
                        sequence=seq.copy(), times_s=times)

    def seek(self, time_s: float) -> int:
        """Index of the frameset whose timestamp is nearest ``time_s`` (s since the session start)."""
        if not len(self):
            raise ValueError(f"{self.path} holds no framesets")
        i = int(np.searchsorted(self.frameset_times_s, time_s))
        candidates = [c for c in (i - 1, i) if 0 <= c < len(self)]
        return min(candidates, key=lambda c: abs(self.frameset_times_s[c] - time_s))

    # -- truth -----------------------------------------------------------------------------
    @property
    def truth(self) -> SessionTruth | None:
        """The ground truth of a synthetic session, None for a real one."""
        if self._truth is False:
            self._truth = self._read_truth()
        return self._truth

    def _read_truth(self) -> SessionTruth | None:
        rig = read_truth_cameras(self.path)
        scene = self.path / TRUTH_DIR / "scene.npz"
        if rig is None or not scene.is_file():
            return None
        with np.load(scene) as data:
            arrays = {k: data[k] for k in ("time_s", "joints_in_world", "world_from_board")}
        description = json.loads((self.path / TRUTH_DIR / "scene.json").read_text())
        return SessionTruth(rig=rig, description=description, **arrays)

    def _regroup(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        options = self.manifest.get("options", {})
        grouping = GroupingOptions(period_s=1.0 / self.fps, tolerance_s=options.get("tolerance_s"),
                                   missing_view=options.get("missing_view", "mark"))
        sets = group_frames([c.seq for c in self.cameras], [c.time_s for c in self.cameras], grouping)
        time_s = np.array([f.time_s for f in sets], dtype=np.float64)
        seq = np.array([f.seq for f in sets], dtype=np.int64).reshape(len(sets), len(self.names))
        return time_s, seq, np.array([f.skew_s for f in sets], dtype=np.float64)


def open_session(path: str | Path, *, threads: int | None = None) -> Session:
    """Open a session folder for reading; ValueError with one sentence when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"session folder {path} does not exist")
    return Session(path, threads=threads)
