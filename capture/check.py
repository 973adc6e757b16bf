"""Verifying a session after the fact: counts, gaps, skew, and each camera's time offset.

Offsets (for cameras that were not hardware-synchronized): the delay of each camera's host
timestamps relative to a reference camera, in seconds, to a fraction of a frame.

``"counter"``
    when the images carry the timecode of :mod:`capture.counter` (the synthetic source burns it;
    a physical timecode display in view works the same): ``time_s - timecode`` per frame, median
    over the frames, relative to the reference camera. Precise to the timecode's 0.1 ms tick.
``"motion"``
    otherwise: each camera's motion energy (mean absolute difference of successive frames at a
    quarter resolution) as a function of its timestamps, cross-correlated with the reference's
    over lags of +- ``max_lag_s`` on a fine grid (sub-frame by linear interpolation of the
    signals). It needs an event every camera sees alike at the same instant: a flash or a change
    of the room light, a clap in the middle of the volume. A person walking around a ring of
    cameras or a board that faces one camera at a time looks different from each view and gives
    no reliable peak; ``offset_quality`` (the peak correlation) says how far to trust the answer:
    below about 0.7 treat it as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from geometry.options import check_fields, option

from .counter import read_timecode, timecode_cell_px
from .layout import CAMERAS_DIR
from .session import CameraIndex, Session

__all__ = ["OffsetMethod", "CheckOptions", "CameraCheck", "CheckReport", "check_session", "estimate_offsets"]

OffsetMethod = Literal["auto", "counter", "motion", "none"]
_COUNTER_MIN_FRAMES = 5


@dataclass(frozen=True, kw_only=True)
class CheckOptions:
    """offset_method: ``"auto"`` uses the counter when every camera shows it, motion otherwise.
    counter_samples: frames per camera read for the counter. max_lag_s: motion search range.
    gap_factor: an interval longer than this many nominal periods is a timestamp gap."""

    offset_method: OffsetMethod = option("auto", choices=("auto", "counter", "motion", "none"))
    counter_samples: int = option(60, low=_COUNTER_MIN_FRAMES)
    max_lag_s: float = option(0.5, low=0, low_open=True)
    gap_factor: float = option(1.5, low=1, low_open=True)
    reference: int = 0

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class CameraCheck:
    """One camera. seq_gaps: (G, 2) int64 rows ``(last seq before, frames missing)``.
    offset_s: timestamp delay relative to the reference camera (s), NaN when not estimated.
    offset_quality: counter: fraction of sampled frames whose code read; motion: peak correlation."""

    name: str
    frames: int
    first_seq: int
    last_seq: int
    seq_gaps: np.ndarray
    lost_in_gaps: int
    dropped: int
    late: int
    restarts: int
    missing_in_framesets: int
    fps: float
    max_interval_s: float
    timestamp_gaps: int
    offset_s: float
    offset_quality: float

    @property
    def lost(self) -> int:
        """Frames that never reached the disk: the sequence gaps (which include the worker's drops
        and late skips), or the worker's own count when that is larger (a loss at the very end)."""
        return max(self.lost_in_gaps, self.dropped + self.late)


@dataclass(frozen=True)
class CheckReport:
    """The whole session. skew_ms: (median, 95th percentile, max) over complete framesets."""

    path: str
    status: str
    regrouped: bool
    framesets: int
    complete_framesets: int
    skew_ms: tuple[float, float, float]
    offset_method: str
    reference: str
    cameras: tuple[CameraCheck, ...]
    consistency: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        out = []
        if self.status != "complete":
            out.append(f"the recording did not finish normally (manifest status {self.status!r})")
        out += list(self.consistency)
        for c in self.cameras:
            if c.lost:
                out.append(f"{c.name}: {c.lost} frame(s) lost ({c.lost_in_gaps} in sequence gaps; the worker "
                           f"counted {c.dropped} dropped for a full queue and {c.late} skipped late)")
            if c.missing_in_framesets:
                out.append(f"{c.name}: missing from {c.missing_in_framesets} frameset(s)")
            if c.restarts:
                out.append(f"{c.name}: worker restarted {c.restarts} time(s)")
        return out

    def text(self) -> str:
        med, p95, mx = self.skew_ms
        lines = [f"session {self.path}: {self.framesets} framesets, {self.complete_framesets} complete, "
                 f"status {self.status}" + (" (frameset table rebuilt from segments)" if self.regrouped else ""),
                 f"skew within framesets: median {med:.2f} ms, p95 {p95:.2f} ms, max {mx:.2f} ms",
                 f"offsets by {self.offset_method}, relative to {self.reference}",
                 f"{'camera':<10}{'frames':>8}{'fps':>8}{'lost':>6}{'missing':>9}{'max dt ms':>11}{'offset ms':>11}"
                 f"{'quality':>9}"]
        for c in self.cameras:
            lines.append(f"{c.name:<10}{c.frames:>8}{c.fps:>8.2f}{c.lost:>6}"
                         f"{c.missing_in_framesets:>9}{c.max_interval_s * 1e3:>11.1f}{c.offset_s * 1e3:>11.2f}"
                         f"{c.offset_quality:>9.2f}")
        problems = self.problems
        lines += [f"problem: {p}" for p in problems] if problems else ["no frame lost"]
        return "\n".join(lines)


def _sample_rows(count: int, samples: int) -> np.ndarray:
    return np.unique(np.linspace(0, count - 1, min(samples, count)).round().astype(np.int64)) if count else np.zeros(0, np.int64)


def _counter_offsets(session: Session, options: CheckOptions) -> tuple[np.ndarray, np.ndarray] | None:
    deltas, quality = [], []
    for v, index in enumerate(session.cameras):
        rows = _sample_rows(index.seq.size, options.counter_samples)
        values = []
        for row in rows:
            image = session.frame(v, int(index.seq[row]), flags=cv2.IMREAD_GRAYSCALE)
            code = read_timecode(image)
            if code is not None:
                values.append(index.time_s[row] - code)
        if len(values) < min(_COUNTER_MIN_FRAMES, rows.size) or not rows.size:
            return None
        deltas.append(float(np.median(values)))
        quality.append(len(values) / rows.size)
    return np.array(deltas), np.array(quality)


def _motion_signals(session: Session, v: int, index: CameraIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times (F-1,), energy (F-1,), light (F-1,))`` between successive frames: motion energy is
    the mean absolute difference (anything that moves), light the median signed difference (what
    changes everywhere at once: a flash, the room light), both in grey levels at 1/4 resolution."""
    cell = timecode_cell_px((int(index.width[0]), int(index.height[0]))) if index.seq.size else 8
    previous, energy, light, times = None, [], [], []
    for seq, t in zip(index.seq, index.time_s):
        image = session.frame(v, int(seq), flags=cv2.IMREAD_REDUCED_GRAYSCALE_4).astype(np.float32)
        # The timecode's corner (if any) changes every frame: keep it out of the signals.
        image[: (2 * cell + 3) // 4, : (19 * cell + 3) // 4] = 0
        if previous is not None and previous.shape == image.shape:
            difference = image - previous
            energy.append(float(np.mean(np.abs(difference))))
            light.append(float(np.median(difference)))
            times.append(t)
        previous = image
    return np.array(times), np.array(energy), np.array(light)


def _peak_lag(t_ref: np.ndarray, ref: np.ndarray, t: np.ndarray, signal: np.ndarray, lags: np.ndarray) -> tuple[float, float]:
    """``(lag, correlation)`` maximizing corr(ref(t), signal(t + lag)); (NaN, 0) without signal."""
    scores = np.full(lags.size, -np.inf)
    for i, lag in enumerate(lags):
        inside = (t_ref + lag >= t[0]) & (t_ref + lag <= t[-1])
        if inside.sum() < max(4, t_ref.size // 2):
            continue
        a, b = ref[inside], np.interp(t_ref[inside] + lag, t, signal)
        if a.std() > 1e-6 and b.std() > 1e-6:
            scores[i] = float(np.corrcoef(a, b)[0, 1])
    if not np.isfinite(scores).any():
        return float("nan"), 0.0
    best = int(np.argmax(scores))
    lag, peak = float(lags[best]), float(scores[best])
    if 0 < best < lags.size - 1 and np.isfinite(scores[best - 1]) and np.isfinite(scores[best + 1]):
        # Parabolic refinement of the peak between grid steps.
        left, right = scores[best - 1], scores[best + 1]
        curvature = left - 2 * peak + right
        if curvature < 0:
            lag += 0.5 * (left - right) / curvature * (lags[1] - lags[0])
    return lag, peak


def _motion_offsets(session: Session, options: CheckOptions) -> tuple[np.ndarray, np.ndarray]:
    signals = [_motion_signals(session, v, index) for v, index in enumerate(session.cameras)]
    t_ref = signals[options.reference][0]
    offsets, quality = np.full(len(signals), np.nan), np.zeros(len(signals))
    if t_ref.size < 4:
        return offsets, quality
    lags = np.arange(-options.max_lag_s, options.max_lag_s + 1e-12, 1.0 / session.fps / 20)
    for v, (t, energy, light) in enumerate(signals):
        if t.size < 4:
            continue
        # Whichever cue correlates better: global light changes, else motion energy.
        candidates = [_peak_lag(t_ref, signals[options.reference][k], t, s, lags) for k, s in ((1, energy), (2, light))]
        offsets[v], quality[v] = max(candidates, key=lambda c: c[1])
    offsets[options.reference], quality[options.reference] = 0.0, 1.0
    return offsets, quality


def estimate_offsets(session: Session, options: CheckOptions = CheckOptions()) -> tuple[str, np.ndarray, np.ndarray]:
    """``(method, offset_s (V,), quality (V,))``: each camera's timestamp delay relative to the
    reference camera (s; NaN when not estimated). See the module docstring for the methods."""
    if options.offset_method == "none" or not len(session.cameras):
        return "none", np.full(len(session.names), np.nan), np.zeros(len(session.names))
    if options.offset_method in ("auto", "counter"):
        counter = _counter_offsets(session, options)
        if counter is not None:
            deltas, quality = counter
            return "counter", deltas - deltas[options.reference], quality
        if options.offset_method == "counter":
            raise ValueError(f"{session.path}: not every camera shows a readable timecode; use the motion method")
    offsets, quality = _motion_offsets(session, options)
    return "motion", offsets, quality


def check_session(session: Session, options: CheckOptions = CheckOptions()) -> CheckReport:
    """Counts, gaps, skew and offsets of ``session`` (see the module docstring)."""
    if not 0 <= options.reference < len(session.names):
        raise ValueError(f"reference camera {options.reference} out of range 0..{len(session.names) - 1}")
    counts = session.manifest.get("counts", {})
    period = 1.0 / session.fps
    method, offsets, quality = estimate_offsets(session, options)
    missing = session.missing
    cameras = []
    for v, index in enumerate(session.cameras):
        steps = np.diff(index.seq)
        gap_rows = np.flatnonzero(steps > 1)
        gaps = np.stack([index.seq[gap_rows], steps[gap_rows] - 1], axis=1) if gap_rows.size else np.zeros((0, 2), np.int64)
        intervals = np.diff(index.time_s)
        span = index.time_s[-1] - index.time_s[0] if index.time_s.size > 1 else 0.0
        recorded = counts.get(index.name, {})
        cameras.append(CameraCheck(
            name=index.name, frames=int(index.seq.size), first_seq=int(index.seq[0]) if index.seq.size else -1,
            last_seq=int(index.seq[-1]) if index.seq.size else -1, seq_gaps=gaps.astype(np.int64),
            lost_in_gaps=int(gaps[:, 1].sum()) if gaps.size else 0,
            dropped=int(recorded.get("dropped", 0)), late=int(recorded.get("late", 0)),
            restarts=int(recorded.get("restarts", 0)), missing_in_framesets=int(missing[:, v].sum()),
            fps=(index.seq.size - 1) / span if span > 0 else 0.0,
            max_interval_s=float(intervals.max()) if intervals.size else 0.0,
            timestamp_gaps=int((intervals > options.gap_factor * period).sum()),
            offset_s=float(offsets[v]), offset_quality=float(quality[v])))
    complete = ~missing.any(axis=1)
    consistency = tuple(_consistency(session))
    skews = session.skew_s[complete] * 1e3
    skew = (float(np.median(skews)), float(np.percentile(skews, 95)), float(skews.max())) if skews.size else (0.0, 0.0, 0.0)
    return CheckReport(path=str(session.path), status=str(session.manifest.get("status")), regrouped=session.regrouped,
                       framesets=len(session), complete_framesets=int(complete.sum()), skew_ms=skew,
                       offset_method=method, reference=session.names[options.reference], cameras=tuple(cameras),
                       consistency=consistency)


def _consistency(session: Session) -> list[str]:
    """The frameset table against the segments, and both against the manifest: one sentence per
    disagreement (a camera without frames, frames the table leaves out, frames or framesets the
    recorder counted that are not on disk, a camera folder the manifest does not name)."""
    out, manifest = [], session.manifest
    counts = manifest.get("counts", {})
    skip_policy = manifest.get("options", {}).get("missing_view") == "skip"
    for v, index in enumerate(session.cameras):
        folder = session.path / CAMERAS_DIR / index.name
        if not index.seq.size:
            out.append(f"{index.name}: no frames on disk ({folder} is missing or holds no complete segment)")
            continue
        in_table = int((session.sequence[:, v] >= 0).sum())
        if in_table < index.seq.size and not skip_policy:
            out.append(f"{index.name}: the frameset table accounts for {in_table} of the {index.seq.size} frames "
                       "in its segments (framesets.csv is truncated or damaged)")
        counted = counts.get(index.name, {}).get("frames")
        if counted is not None and counted > index.seq.size:
            out.append(f"{index.name}: the recorder counted {counted} frames, its segments hold "
                       f"{index.seq.size} (segment files missing)")
    expected = manifest.get("framesets")
    if expected is not None and not session.regrouped and len(session) < expected:
        out.append(f"framesets.csv has {len(session)} framesets, the manifest counted {expected} "
                   "(the table is truncated)")
    on_disk = session.path / CAMERAS_DIR
    extra = sorted(p.name for p in on_disk.iterdir() if p.is_dir() and p.name not in session.names) \
        if on_disk.is_dir() else []
    if extra:
        out.append(f"camera folder(s) {', '.join(extra)} in {on_disk} are not in the manifest's cameras "
                   f"({', '.join(session.names)})")
    return out
