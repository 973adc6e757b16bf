"""Grouping frames from V cameras into framesets by timestamp, as they arrive.

Rule: the earliest waiting frame opens a window ``[anchor, anchor + 2 * tolerance_s)``; each
camera contributes its oldest waiting frame if it falls in the window, so every member lies
within ``tolerance_s`` of the window's centre and a camera gives at most one frame per frameset.
A camera with no frame in the window is *missing* from that frameset, decided only on evidence:
its next frame is later than the window, its stream ended, or (live recording) the other cameras
are already ``wait_s`` past the window. A frame is used once or stands alone: never duplicated,
never dropped. Policy for missing views: ``"mark"`` keeps the frameset with the view marked
missing; ``"skip"`` leaves incomplete framesets out of the table (their frames stay on disk and
are counted).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from geometry.options import check_fields, option

__all__ = ["MissingViewPolicy", "GroupingOptions", "GroupedFrameset", "FramesetGrouper", "group_frames"]

MissingViewPolicy = Literal["mark", "skip"]
_EPSILON_S = 1e-6


@dataclass(frozen=True, kw_only=True)
class GroupingOptions:
    """period_s: nominal frame period (s). tolerance_s: half-width of a frameset window (default
    period / 2). wait_s: how far (s, in other cameras' timestamps) the grouping waits for a late
    camera before marking it missing; None waits for evidence (replays, offline regrouping)."""

    period_s: float = option(low=0, low_open=True)
    tolerance_s: float | None = option(None, low=0, low_open=True, optional=True)
    wait_s: float | None = option(None, low=0, optional=True)
    missing_view: MissingViewPolicy = option("mark", choices=("mark", "skip"))

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def half_window_s(self) -> float:
        return self.period_s / 2 if self.tolerance_s is None else self.tolerance_s


@dataclass(frozen=True)
class GroupedFrameset:
    """One frameset. seq: (V,) int64 sequence numbers, -1 where ``missing``; times_s: (V,) float64
    capture times (s), NaN where missing; time_s: median of the members; skew_s: max - min."""

    index: int
    time_s: float
    seq: np.ndarray
    times_s: np.ndarray
    missing: np.ndarray

    @property
    def skew_s(self) -> float:
        present = self.times_s[~self.missing]
        return float(present.max() - present.min()) if present.size else 0.0


class FramesetGrouper:
    """Streaming grouper for ``num_cameras`` cameras (see the module docstring)."""

    def __init__(self, num_cameras: int, options: GroupingOptions):
        if num_cameras < 1:
            raise ValueError(f"num_cameras is {num_cameras}, expected >= 1")
        self.options = options
        self.queues: list[deque[tuple[int, float]]] = [deque() for _ in range(num_cameras)]
        self.ended = np.zeros(num_cameras, bool)
        self.latest_s = -np.inf
        self.next_index = 0
        self.skipped = 0  # incomplete framesets left out by the "skip" policy

    def add(self, camera: int, seq: int, time_s: float) -> list[GroupedFrameset]:
        """Add one frame; returns the framesets this decided (possibly none)."""
        self.queues[camera].append((int(seq), float(time_s)))
        self.latest_s = max(self.latest_s, float(time_s))
        return self._emit(final=False)

    def end(self, camera: int) -> list[GroupedFrameset]:
        """Camera ``camera`` will send no more frames (until :meth:`resume`)."""
        self.ended[camera] = True
        return self._emit(final=False)

    def resume(self, camera: int) -> None:
        self.ended[camera] = False

    def poll(self) -> list[GroupedFrameset]:
        """Framesets decidable now (call when time passes without frames)."""
        return self._emit(final=False)

    def flush(self) -> list[GroupedFrameset]:
        """Every remaining frame, as framesets (end of recording)."""
        return self._emit(final=True)

    def _emit(self, *, final: bool) -> list[GroupedFrameset]:
        out = []
        # Half-open and 1 us short of the full width: a frame exactly one period after the anchor
        # (a camera whose previous frame is missing) belongs to the next frameset, not this one.
        width = 2 * self.options.half_window_s - _EPSILON_S
        wait_s = self.options.wait_s
        while True:
            heads = [q[0] if q else None for q in self.queues]
            times = [h[1] for h in heads if h is not None]
            if not times:
                return out
            anchor = min(times)
            members = np.zeros(len(heads), bool)
            decided = True
            for c, head in enumerate(heads):
                if head is not None:
                    members[c] = head[1] < anchor + width
                elif not (final or self.ended[c] or (wait_s is not None and self.latest_s - anchor - width > wait_s)):
                    decided = False
                    break
            if not decided:
                return out
            seq = np.full(len(heads), -1, np.int64)
            times_s = np.full(len(heads), np.nan)
            for c in np.flatnonzero(members):
                seq[c], times_s[c] = self.queues[c].popleft()
            missing = ~members
            if missing.any() and self.options.missing_view == "skip":
                self.skipped += 1
                continue
            out.append(GroupedFrameset(self.next_index, float(np.median(times_s[members])), seq, times_s, missing))
            self.next_index += 1


def group_frames(seqs: list[np.ndarray], times_s: list[np.ndarray], options: GroupingOptions) -> list[GroupedFrameset]:
    """Offline grouping of whole recordings: per camera (F_v,) seq and (F_v,) times_s, ascending."""
    grouper = FramesetGrouper(len(seqs), options)
    events = sorted((t, c, s) for c, (seq, ts) in enumerate(zip(seqs, times_s)) for s, t in zip(seq, ts))
    out = []
    for t, c, s in events:
        out += grouper.add(c, int(s), float(t))
    return out + grouper.flush()
