"""What a recording knows about each camera while it runs, and the status line built from it.

:class:`CameraCounts` is the recorder's one per-camera account (frames received, the worker's
cumulative drop and late counts across restarts, framesets the camera is missing from);
:class:`StatusMeter` turns the accounts into a :class:`RecorderStatus` snapshot once per
``status_interval_s`` (fps over the interval, disk rate, largest skew).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CameraCounts", "CameraStatus", "RecorderStatus", "StatusMeter"]


@dataclass
class CameraCounts:
    """One camera's running account. ``dropped``/``late`` are cumulative over worker generations:
    a restarted worker counts from zero again, so the earlier generations' totals are kept in
    ``dropped_before``/``late_before`` (see :meth:`restarted`)."""

    name: str
    frames: int = 0
    last_seq: int = -1
    dropped: int = 0
    late: int = 0
    dropped_before: int = 0
    late_before: int = 0
    missing: int = 0
    restarts: int = 0
    interval_frames: int = 0
    rows: list = field(default_factory=list)

    def worker_counts(self, dropped: int, late: int) -> None:
        """The current worker's cumulative ``dropped`` and ``late`` (from a frame or end-of-stream header)."""
        self.dropped, self.late = self.dropped_before + dropped, self.late_before + late

    def accept(self, seq: int) -> bool:
        """Count frame ``seq``; False (not counted) when it does not follow the last one."""
        if seq <= self.last_seq:
            return False
        self.last_seq = seq
        self.frames += 1
        self.interval_frames += 1
        return True

    def restarted(self) -> None:
        self.restarts += 1
        self.dropped_before, self.late_before = self.dropped, self.late

    @property
    def lost(self) -> int:
        return self.dropped + self.late


@dataclass(frozen=True)
class CameraStatus:
    """One camera during a recording: fps over the last interval, cumulative counts."""

    name: str
    fps: float
    frames: int
    dropped: int
    late: int
    missing: int
    restarts: int
    alive: bool


@dataclass(frozen=True)
class RecorderStatus:
    """A snapshot for the status line. skew_ms: largest frameset skew over the last interval."""

    elapsed_s: float
    framesets: int
    skew_ms: float
    disk_mb_s: float
    cameras: tuple[CameraStatus, ...]

    def line(self, *, with_time: bool = True) -> str:
        cams = "  ".join(f"{c.name} {c.fps:4.1f}fps" + (f" drop {c.dropped + c.late}" if c.dropped + c.late else "")
                         + (f" miss {c.missing}" if c.missing else "") + ("" if c.alive else " DOWN")
                         for c in self.cameras)
        text = f"framesets {self.framesets}  skew {self.skew_ms:.1f} ms  disk {self.disk_mb_s:.1f} MB/s  |  {cams}"
        return f"{self.elapsed_s:6.1f}s  {text}" if with_time else text


class StatusMeter:
    """Interval statistics since the last snapshot: call :meth:`skew` for every new frameset's
    skew (s) and :meth:`snapshot` once per interval."""

    def __init__(self, start_mono: float):
        self.start_mono = start_mono
        self._last_t, self._last_bytes, self._skew_s = start_mono, 0, 0.0

    def skew(self, skew_s: float) -> None:
        self._skew_s = max(self._skew_s, skew_s)

    def snapshot(self, now: float, cameras: list[CameraCounts], alive: list[bool], framesets: int,
                 bytes_written: int) -> RecorderStatus:
        """The status at monotonic time ``now``; resets the interval counters."""
        dt = max(now - self._last_t, 1e-6)
        disk_mb_s = (bytes_written - self._last_bytes) / dt / 1e6
        statuses = []
        for cam, up in zip(cameras, alive):
            statuses.append(CameraStatus(cam.name, cam.interval_frames / dt, cam.frames, cam.dropped, cam.late,
                                         cam.missing, cam.restarts, up))
            cam.interval_frames = 0
        status = RecorderStatus(now - self.start_mono, framesets, self._skew_s * 1e3, disk_mb_s, tuple(statuses))
        self._last_t, self._last_bytes, self._skew_s = now, bytes_written, 0.0
        return status
