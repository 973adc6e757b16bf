"""Verifying a recording another recorder wrote (one video file or image folder per camera, and
the frame times it kept beside them): ``rigkit capture check --videos NAME=PATH ... [--timestamps]``.

With frame times (:mod:`capture.timestamps`; found beside the videos or given): each camera's frame
rate, its longest interval between frames, the frames it dropped (an interval of k periods, k >= 2,
is k - 1 dropped frames, the period being the median interval over all cameras), the framesets
its frames pair into (:func:`capture.timestamps.match_frame_times`) and how far apart in time a
frameset's frames are. Without them only the frame counts and the files' frame rates can be
compared: a dropped frame cannot be seen, and the report says so.

Conventions (dimension letters V cameras, F framesets, N frames of one camera) in
:mod:`geometry.camera`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["VideoCameraCheck", "VideoRecordingCheck", "check_videos", "DROP_INTERVAL_PERIODS"]

DROP_INTERVAL_PERIODS = 1.5  # an interval this many frame periods long or longer has dropped frames


@dataclass(frozen=True)
class VideoCameraCheck:
    """One camera.

    frames: frames in its video (or images in its folder). times: frame times given for it
        (None without timestamps). fps: frames per second from its times, else the file's (NaN
        when neither says). max_interval_ms: its longest interval between frames (NaN without
        times). dropped: frames it dropped (intervals of two periods or more; 0 without times).
    missing_in_framesets: framesets of the other cameras it has no frame for.
    """

    name: str
    frames: int
    times: int | None
    fps: float
    max_interval_ms: float
    dropped: int
    missing_in_framesets: int


@dataclass(frozen=True)
class VideoRecordingCheck:
    """The recording. framesets: paired framesets (every camera has a frame). spread_ms:
    (median, 95th percentile, max) time between a frameset's earliest and latest frame (NaN
    without times). timestamps: the files the times came from (empty: none)."""

    cameras: tuple[VideoCameraCheck, ...]
    framesets: int
    spread_ms: tuple[float, float, float]
    timestamps: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        """One sentence per thing a lab technician should act on (empty: none)."""
        out = [f"{c.name}: {c.dropped} frame(s) dropped (longest interval {c.max_interval_ms:.0f} ms)"
               for c in self.cameras if c.dropped]
        counts = {c.frames for c in self.cameras}
        if not self.timestamps and len(counts) > 1:
            out.append("the cameras have different numbers of frames ("
                       + ", ".join(f"{c.name} {c.frames}" for c in self.cameras)
                       + "): a camera dropped frames or started late, and pairing by index joins different "
                         "instants; record the frame times (or give them with --timestamps)")
        return out

    def text(self) -> str:
        med, p95, mx = self.spread_ms
        timed = bool(self.timestamps)
        lines = [f"recording of {len(self.cameras)} cameras: {self.framesets} framesets paired "
                 + (f"by the frame times in {', '.join(self.timestamps)}" if timed else "by index (no frame times)")]
        if timed:
            lines.append(f"time between a frameset's frames: median {med:.1f} ms, p95 {p95:.1f} ms, max {mx:.1f} ms")
        lines.append(f"{'camera':<10}{'frames':>8}{'times':>7}{'fps':>8}{'dropped':>9}{'missing':>9}{'max dt ms':>11}")
        for c in self.cameras:
            lines.append(f"{c.name:<10}{c.frames:>8}{'-' if c.times is None else c.times:>7}{c.fps:>8.2f}"
                         f"{c.dropped:>9}{c.missing_in_framesets:>9}"
                         + (f"{c.max_interval_ms:>11.1f}" if np.isfinite(c.max_interval_ms) else f"{'-':>11}"))
        lines += list(self.notes)
        if not timed:
            lines.append("no frame times: dropped frames cannot be seen (give them with --timestamps: Caliscope's "
                         "timestamps.csv, campy's frametimes.npy, ...)")
        problems = self.problems
        lines.append("problems: none" if not problems else "problems:\n" + "\n".join(f"  {p}" for p in problems))
        return "\n".join(lines)


def check_videos(sources: Mapping[str, object], timestamps: Sequence[str] = ()) -> VideoRecordingCheck:
    """Check a recording of one frame source per camera (``{name: source}``: ``num_frames``,
    ``fps``, ``path``; :func:`capture.frames.open_source`) against its frame times
    (``--timestamps`` values, read with :func:`capture.timestamps.read_frame_times`; empty: none)."""
    from .timestamps import match_frame_times, read_frame_times

    names = list(sources)
    counts = {n: int(sources[n].num_frames) for n in names}
    if not timestamps:  # by index: the framesets every camera has
        cameras = tuple(VideoCameraCheck(name=n, frames=counts[n], times=None,
                                         fps=float(getattr(sources[n], "fps", None) or np.nan),
                                         max_interval_ms=np.nan, dropped=0,
                                         missing_in_framesets=max(counts.values()) - counts[n]) for n in names)
        return VideoRecordingCheck(cameras=cameras, framesets=min(counts.values()), spread_ms=(np.nan,) * 3,
                                   timestamps=())
    times = read_frame_times(timestamps, names)
    notes = times.check_counts(sources.values())
    timed = match_frame_times([times.times_s[n][:counts[n]] for n in names], names)
    period = times.period_s
    cameras = []
    for name in names:
        intervals = np.diff(times.times_s[name])
        dropped = np.where(intervals >= DROP_INTERVAL_PERIODS * period, np.rint(intervals / period) - 1, 0)
        cameras.append(VideoCameraCheck(
            name=name, frames=counts[name], times=int(times.times_s[name].size), fps=float(1.0 / np.median(intervals)),
            max_interval_ms=float(1e3 * intervals.max()), dropped=int(dropped.sum()),
            missing_in_framesets=int(timed.unpaired.get(name, 0))))
    spread = 1e3 * timed.spread_s
    return VideoRecordingCheck(
        cameras=tuple(cameras), framesets=int(timed.frameset_index.size), timestamps=times.files, notes=tuple(notes),
        spread_ms=(float(np.median(spread)), float(np.percentile(spread, 95)), float(spread.max())))
