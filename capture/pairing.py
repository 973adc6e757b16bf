"""Pairing the frames of several cameras into framesets: the one mechanism of every command that
reads several cameras (``rigkit label``, ``rigkit label detect``, ``rigkit calibrate ...``).

- By the recording's timestamps where every camera has them (a rigkit session: the recorder
  grouped its framesets by timestamp, so frameset ``i`` of every camera is one instant).
- By each camera's own recorded frame times where they are given (``--timestamps``: Caliscope's
  timestamps.csv, campy's frametimes.npy, ...; :mod:`capture.timestamps`): cameras that drop
  frames stay paired by instant; a camera's dropped frame is a missing view (index -1) there.
- By index otherwise (video files, image folders: frame ``k`` of every camera), each camera
  shifted by its ``--frame-offset NAME=N`` (camera NAME's frame ``k + N`` pairs with frame ``k``
  of a camera without offset). A sub-frame offset pairs by its whole part; the rest is applied
  to what is detected in the frames (:mod:`capture.subframe`).
- Cameras with different frame counts: the framesets every camera has (the common range) are
  used and :attr:`FramePairing.notes` says which cameras had how many; ``mismatch="refuse"``
  raises ValueError instead.

Conventions (dimension letters V cameras, F framesets) in :mod:`geometry.camera`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from .frame_offsets import parse_frame_offsets
from .subframe import split_frame_offsets
from .frames import frame_indices

if TYPE_CHECKING:
    from .frames import FrameSource
    from .timestamps import FrameTimes

__all__ = ["FramePairing", "pair_frames", "parse_frame_offsets", "iter_framesets", "RecordingSpec",
           "Recording", "SynchronizedFrames"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FramePairing:
    """Which frame of each camera belongs to each frameset.

    names: the V camera names, in the order given.
    frame_indices: (F, V) int64, frame of camera v in frameset f (an index into that camera's
        source: a video frame, an image of the folder, a session frameset); -1 where the camera has
        no frame of that instant (paired by recorded times: it dropped it).
    frameset_index: (F,) int64, the frameset's number: the frame index of a camera without offset.
    timestamp_s: (F,) float64 seconds from the recording's start (the session's frameset times,
        else frame / fps where the files say their fps, else NaN).
    paired_by: ``"timestamps"`` (a recorded session, or ``--timestamps``) or ``"index"``.
    notes: sentences for the user (different frame counts and the range used).
    """

    names: tuple[str, ...]
    frame_indices: np.ndarray
    frameset_index: np.ndarray
    timestamp_s: np.ndarray
    paired_by: Literal["timestamps", "index"]
    notes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return int(self.frame_indices.shape[0])

    def frames_of(self, name: str) -> np.ndarray:
        """(F,) frame indices of camera ``name``."""
        return self.frame_indices[:, self.names.index(name)]


def pair_frames(sources: Mapping[str, "FrameSource"], offsets: Mapping[str, int] | None = None, *,
                mismatch: Literal["common", "refuse"] = "common",
                frame_times: "FrameTimes | None" = None) -> FramePairing:
    """Pair the frames of several cameras into framesets.

    sources: ``{name: source}`` in rig order; a source has ``num_frames``, and optionally ``fps``
        and ``timestamps_s`` (:class:`capture.frames.FrameSource`: video file, image folder or a
        session's camera).
    offsets: ``{name: N}`` frames (``--frame-offset``, :func:`parse_frame_offsets`): camera
        ``name``'s frame ``k + N`` pairs with frame ``k`` of a camera without offset. Cameras not
        named have offset 0.
    mismatch: cameras with different frame counts: ``"common"`` uses the framesets all cameras
        have and says so in ``notes`` (the caller shows them once); ``"refuse"`` raises ValueError.
        (Paired by ``frame_times``, different counts are what dropped frames look like.)
    frame_times: each camera's own frame times (:func:`capture.timestamps.read_frame_times`):
        pair by them (:func:`capture.timestamps.match_frame_times`) instead of by index.
    Returns a :class:`FramePairing`; ``pairing.frame_indices[f]`` are the frames of frameset f.
    Raises ValueError when no frameset has a frame of every camera.
    """
    if not sources:
        raise ValueError("pairing frames needs at least one camera")
    names = tuple(sources)
    offsets = dict(offsets or {})
    unknown = [n for n in offsets if n not in sources]
    if unknown:
        raise ValueError(f"--frame-offset names camera {unknown[0]!r}, which is not one of "
                         f"{', '.join(names)}")
    if frame_times is not None:
        return _pair_by_times(sources, offsets, frame_times)
    counts = np.array([int(sources[n].num_frames) for n in names], dtype=np.int64)
    shift = np.array([int(offsets.get(n, 0)) for n in names], dtype=np.int64)
    stamped = all(getattr(sources[n], "timestamps_s", None) is not None for n in names)
    paired_by: Literal["timestamps", "index"] = "timestamps" if stamped else "index"
    notes: list[str] = []
    # frameset k holds frame k + shift[v] of camera v; every camera must have that frame
    first = int(max(0, (-shift).max()))
    stop = int((counts - shift).min())
    if len(set(counts.tolist())) > 1:
        text = ", ".join(f"{n}: {c}" for n, c in zip(names, counts))
        unit = "framesets" if stamped else "frames"
        if mismatch == "refuse":
            raise ValueError(f"the cameras have different numbers of {unit} ({text})")
        notes.append(f"the cameras have different numbers of {unit} ({text}); using the "
                     f"{max(stop - first, 0)} framesets every camera has"
                     + ("" if stamped else "; if a camera dropped frames, pairing by index joins different "
                        "instants from its first dropped frame on: give the recorded frame times with "
                        "--timestamps (e.g. Caliscope's timestamps.csv)"))
    if shift.any():
        notes.append("frame offsets " + ", ".join(f"{n}={o:+d}" for n, o in zip(names, shift) if o))
    if stop <= first:
        raise ValueError("no frameset has a frame of every camera (frame counts "
                         + ", ".join(f"{n}: {c}" for n, c in zip(names, counts))
                         + (", offsets " + ", ".join(f"{n}={o}" for n, o in offsets.items())
                            if offsets else "") + ")")
    frameset_index = np.arange(first, stop, dtype=np.int64)
    frame_indices = frameset_index[:, None] + shift[None, :]
    if stamped:
        reference = int(np.argmin(np.abs(shift)))
        times = np.asarray(sources[names[reference]].timestamps_s, dtype=np.float64)
        timestamp_s = times[frame_indices[:, reference]]
    else:
        fps = getattr(sources[names[0]], "fps", None)
        timestamp_s = (frameset_index / fps if fps and np.isfinite(fps) and fps > 0
                       else np.full(frameset_index.size, np.nan))
    return FramePairing(names=names, frame_indices=frame_indices, frameset_index=frameset_index,
                        timestamp_s=np.asarray(timestamp_s, dtype=np.float64), paired_by=paired_by,
                        notes=tuple(notes))


def _pair_by_times(sources: Mapping[str, "FrameSource"], offsets: Mapping[str, int],
                   frame_times: "FrameTimes") -> FramePairing:
    """:func:`pair_frames` by each camera's recorded frame times."""
    from .timestamps import match_frame_times

    names = tuple(sources)
    notes = frame_times.check_counts(sources.values())
    times = [frame_times.times_s[n][:int(sources[n].num_frames)] for n in names]
    timed = match_frame_times(times, names, {n: int(o) for n, o in offsets.items()})
    spread_ms = 1000.0 * timed.spread_s
    notes.append(f"paired by timestamps ({frame_times.unit}): {len(timed.frameset_index)} framesets on "
                 f"{names[timed.reference]}'s frames, times within a frameset {np.median(spread_ms):.0f} ms apart "
                 f"(median; {spread_ms.max():.0f} max)"
                 + ("; views missing where a camera had no frame within half a period: "
                    + ", ".join(f"{n} {k}" for n, k in timed.unpaired.items()) if timed.unpaired else ""))
    if any(offsets.values()):
        notes.append("frame offsets " + ", ".join(f"{n}={int(o):+d}" for n, o in offsets.items() if o))
    start_s = min(float(t[0]) for t in times)
    return FramePairing(names=names, frame_indices=timed.frame_indices, frameset_index=timed.frameset_index,
                        timestamp_s=timed.times_s - start_s, paired_by="timestamps", notes=tuple(notes))


def iter_framesets(sources: Mapping[str, "FrameSource"], pairing: FramePairing, start: int = 0,
                   stop: int | None = None) -> Iterator[tuple[int, list[np.ndarray | None]]]:
    """Yield ``(position, images)`` for framesets ``start:stop`` of ``pairing`` (positions along
    F): V BGR images in ``pairing.names`` order, None where a camera's frame cannot be decoded.
    Each camera is decoded sequentially, once."""
    stop = len(pairing) if stop is None else min(stop, len(pairing))
    if start >= stop:
        return
    iterators, heads = [], []
    for v, name in enumerate(pairing.names):
        wanted = pairing.frame_indices[start:stop, v]
        iterator = sources[name].frames(wanted[wanted >= 0])  # -1: no frame of this camera there
        iterators.append(iterator)
        heads.append(next(iterator, None))
    for position in range(start, stop):
        images: list[np.ndarray | None] = []
        for v in range(len(pairing.names)):
            wanted = int(pairing.frame_indices[position, v])
            while heads[v] is not None and heads[v][0] < wanted:
                heads[v] = next(iterators[v], None)
            if heads[v] is not None and heads[v][0] == wanted:
                images.append(heads[v][1])
                heads[v] = next(iterators[v], None)
            else:
                images.append(None)
        yield position, images


@dataclass(frozen=True)
class RecordingSpec:
    """Where a multi-camera recording's frames come from, picklable (for Ray workers): a rigkit
    session folder, or one video file / image folder per camera; plus frame offsets.

    session: session folder, or None. cameras: ``((name, path), ...)`` for files and folders
        (with a session: camera names to keep, paths empty). offsets: ``((name, frames), ...)``,
        may be fractional: frames are paired by the whole part (:attr:`whole_offsets`), and the
        keypoints detected in them are moved by the rest (:attr:`fractions`, :mod:`capture.subframe`).
    timestamps: ``--timestamps`` values (files): the cameras' frames are paired by these recorded
        times (:mod:`capture.timestamps`) instead of by index; not with a session (a session's
        framesets are already grouped by its own timestamps).
    """

    session: str | None = None
    cameras: tuple[tuple[str, str], ...] = ()
    offsets: tuple[tuple[str, float], ...] = ()
    timestamps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.session is None and not self.cameras) or (
                self.session is not None and any(path for _, path in self.cameras)):
            raise ValueError("a recording is a session folder or NAME=PATH cameras, not both or neither")
        if self.session is not None and self.timestamps:
            raise ValueError("--timestamps pairs video files or image folders; a session's framesets are "
                             "already paired by the timestamps it recorded")

    @classmethod
    def from_args(cls, *, session: str | None = None, videos: Sequence[str] = (),
                  frame_offsets: Sequence[str] = (), timestamps: Sequence[str] = ()) -> "RecordingSpec":
        """From the command line: ``--session DIR`` or ``--videos NAME=PATH ...``, and
        ``--frame-offset NAME=N ...`` (checked: paths exist, names unique, offsets are numbers,
        sub-frame allowed), ``--timestamps ...`` (read and checked when opened)."""
        from .frames import parse_camera_args

        offsets = {name: _plain(value) for name, value in
                   parse_frame_offsets(frame_offsets, fractional=True).items()}
        if session is not None:
            if not Path(session).is_dir():
                raise ValueError(f"session folder {session} does not exist")
            return cls(session=str(Path(session).resolve()), offsets=tuple(offsets.items()),
                       timestamps=tuple(t for t in timestamps if str(t).lower() != "none"))
        cameras = parse_camera_args(videos, flag="--videos")
        from .timestamps import resolved_timestamps, timestamps_to_use

        found = timestamps_to_use(timestamps, {c.name: c.path for c in cameras})
        return cls(cameras=tuple((c.name, str(c.path.resolve())) for c in cameras),
                   offsets=tuple(offsets.items()), timestamps=resolved_timestamps(found))

    @property
    def whole_offsets(self) -> dict[str, int]:
        """``{name: n}``: the whole frames by which each named camera's frames are paired."""
        return split_frame_offsets(dict(self.offsets))[0]

    @property
    def fractions(self) -> dict[str, float]:
        """``{name: a}``, ``0 < a < 1``: cameras whose detections :func:`capture.subframe.shift_frames`
        moves ``a`` of the way to their next frame (empty when every offset is whole)."""
        return split_frame_offsets(dict(self.offsets))[1]

    def describe(self) -> dict:
        """JSON-ready provenance."""
        out: dict = {"session": self.session} if self.session else {"videos": dict(self.cameras)}
        if self.offsets:
            out["frame_offsets"] = {name: _plain(value) for name, value in self.offsets}
        if self.timestamps:
            out["timestamps"] = list(self.timestamps)
        return out

    def open(self, *, mismatch: Literal["common", "refuse"] = "common") -> "Recording":
        """Open every camera and pair the frames (:func:`pair_frames`)."""
        from .frames import CameraSource, open_session_sources, open_source

        if self.session is not None:
            names = [n for n, _ in self.cameras] or None
            opened = open_session_sources(self.session, names)
        else:
            opened = [open_source(CameraSource(name, Path(path))) for name, path in self.cameras]
        sources = {s.name: s for s in opened}
        times = None
        if self.timestamps:
            from .timestamps import read_frame_times
            times = read_frame_times(self.timestamps, list(sources))
        return Recording(self, sources, pair_frames(sources, self.whole_offsets, mismatch=mismatch,
                                                    frame_times=times))


def _plain(frames: float) -> int | float:
    """A whole number of frames as an int (``3``, not ``3.0``, in provenance), else the float."""
    return int(frames) if float(frames).is_integer() else float(frames)


class Recording:
    """An open recording: ``sources`` (``{name: FrameSource}``), their ``pairing``, and
    :meth:`framesets` to read paired images."""

    def __init__(self, spec: RecordingSpec, sources: dict[str, "FrameSource"], pairing: FramePairing):
        self.spec, self.sources, self.pairing = spec, sources, pairing

    @property
    def names(self) -> tuple[str, ...]:
        return self.pairing.names

    @property
    def sizes(self) -> dict[str, tuple[int, int]]:
        """``{name: (width, height)}`` pixels of the decoded frames."""
        return {n: tuple(self.sources[n].size) for n in self.names}

    def __len__(self) -> int:
        return len(self.pairing)

    def framesets(self, start: int = 0, stop: int | None = None):
        """:func:`iter_framesets` over positions ``start:stop`` (a session without offsets is
        read through ``Session.framesets``, which decodes ahead in its thread pool)."""
        session = next((getattr(s, "session", None) for s in self.sources.values()), None)
        if session is not None and not any(self.spec.whole_offsets.values()):
            return self._session_framesets(session, start, stop)
        return iter_framesets(self.sources, self.pairing, start, stop)

    def _session_framesets(self, session, start: int, stop: int | None):
        stop = len(self) if stop is None else min(stop, len(self))
        order = [session.names.index(name) for name in self.names]
        for frameset in session.framesets(start, stop, cameras=self.names):
            yield frameset.index, [frameset.images[v] for v in order]

    def close(self) -> None:
        session = next((getattr(s, "session", None) for s in self.sources.values()), None)
        if session is not None:
            session.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SynchronizedFrames:
    """Framesets of several cameras, paired by :func:`capture.pairing.pair_frames` (the one
    pairing: timestamps for a session, index otherwise, ``offsets`` in frames).

    sources: the cameras, in rig order. ``start``, ``stride``, ``limit`` select framesets among
    the paired ones (a warning names cameras with different lengths; their common range is used).
    offsets: ``{name: N}``, camera ``name``'s frame ``k + N`` pairs with frame ``k``.
    frame_times: the cameras' recorded frame times (``--timestamps``): pair by them instead.
    Iterating yields ``(frameset_index, {name: image})`` with every camera's frame decoded once; a
    camera whose frame is missing or unreadable there is absent from the dict.
    """

    def __init__(self, sources: Sequence["FrameSource"], *, start: int = 0, stride: int = 1,
                 limit: int | None = None, offsets: dict[str, int] | None = None,
                 frame_times: "FrameTimes | None" = None):
        if not sources:
            raise ValueError("SynchronizedFrames needs at least one camera")
        self.sources = tuple(sources)
        self.pairing = pair_frames({s.name: s for s in self.sources}, offsets, frame_times=frame_times)
        for note in self.pairing.notes:
            (logger.info if note.startswith("paired by timestamps") else logger.warning)("%s", note)
        self.num_frames = len(self.pairing)
        self.positions = frame_indices(self.num_frames, start=start, stride=stride, limit=limit)
        self.indices = self.pairing.frameset_index[self.positions]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __iter__(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        wanted_frames = self.pairing.frame_indices[self.positions]  # (K, V)
        iterators = [source.frames(wanted_frames[:, v][wanted_frames[:, v] >= 0])  # -1: no frame there
                     for v, source in enumerate(self.sources)]
        heads: list[tuple[int, np.ndarray] | None] = [next(it, None) for it in iterators]
        for k, frameset in enumerate(self.indices):
            images = {}
            for v, (source, iterator) in enumerate(zip(self.sources, iterators)):
                wanted = int(wanted_frames[k, v])
                while heads[v] is not None and heads[v][0] < wanted:
                    heads[v] = next(iterator, None)
                if heads[v] is not None and heads[v][0] == wanted:
                    images[source.name] = heads[v][1]
                    heads[v] = next(iterator, None)
            if not images and all(h is None for h in heads):
                return
            yield int(frameset), images
