"""The recorder: wires the parts of a recording together and runs its loop.

The parts, each in its own module and tested on its own:

- :mod:`capture.supervisor`: one worker process per camera; a dead one is noticed within
  ``watch_interval_s``, reported and restarted once (``restarts``);
- :mod:`capture.receiver`: the ZeroMQ PULL socket the workers send to (127.0.0.1 or ipc unless the
  caller names another address), bounded per worker;
- :mod:`capture.encode_pool`: JPEG encoding when the rig has the recorder encode;
- :mod:`capture.session_writer`: each frame appended to its camera's segment as it arrives;
- :mod:`capture.grouping`: timestamps grouped into framesets (a view that never came is marked
  missing);
- :mod:`capture.record_status`: the per-camera account and the status line;
- :mod:`capture.finalize`: the manifest, the tables and the truth files.

``stop()`` (from a signal handler, another thread, or the end of ``duration_s``) stops the
workers, drains what they already sent, closes every segment and writes the tables and the final
manifest. A failure (a camera that cannot be opened, a full disk) stops the same way, then raises
with one sentence. Frames lost on the way (a worker's full queue, a scheduled frame skipped late,
a sequence gap after a worker died) are counted per camera in :class:`RecordResult`.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from geometry.options import check_fields, option

from .encode_pool import EncodePool
from .finalize import finalize_session, initial_manifest
from .grouping import FramesetGrouper, GroupedFrameset, GroupingOptions, MissingViewPolicy
from .layout import write_manifest, write_truth_cameras
from .preview import Preview
from .receiver import FrameReceiver, Message
from .record_status import CameraCounts, CameraStatus, RecorderStatus, StatusMeter
from .rigfile import RigSpec
from .session_writer import SessionWriter
from .supervisor import WorkerSupervisor
from .worker import WorkerConfig

__all__ = ["RecordOptions", "CameraStatus", "RecorderStatus", "RecordResult", "Recorder", "record"]

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 60.0  # every worker must have opened its source by then
_DRAIN_TIMEOUT_S = 5.0     # after stop, how long workers get to send what they hold


@dataclass(frozen=True, kw_only=True)
class RecordOptions:
    """duration_s: stop after this long (None: until :meth:`Recorder.stop`). endpoint: where the
    recorder's PULL socket binds (``tcp://127.0.0.1:*`` picks a free port; ``ipc://...`` works too).
    tolerance_s / wait_s / missing_view: see :class:`capture.grouping.GroupingOptions` (wait_s
    default: max(1 s, 10 frame periods) live, evidence-only when any camera replays "fast").
    send_hwm / recv_hwm: queue bounds in frames per worker. catch_up_s: how far a scheduled source
    (synthetic, realtime replay) may lag its schedule before it skips frames (see
    :class:`capture.worker.WorkerConfig`). restarts: how many times a dead worker
    is restarted. preview: show a mosaic window (only when a display exists)."""

    duration_s: float | None = option(None, low=0, low_open=True, optional=True, note="seconds")
    endpoint: str = "tcp://127.0.0.1:*"
    tolerance_s: float | None = None
    wait_s: float | None = None
    missing_view: MissingViewPolicy = "mark"
    send_hwm: int = option(8, low=1, note="frames")
    recv_hwm: int = option(8, low=1, note="frames")
    catch_up_s: float = option(0.5, low=0, note="seconds")
    restarts: int = option(1, low=0)
    watch_interval_s: float = option(0.2, low=0, high=1, low_open=True, note="seconds")
    status_interval_s: float = 1.0
    preview: bool = False

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class RecordResult:
    """What a recording produced. Per-camera tuples are in rig order. ``gaps``: frames missing
    between two received sequence numbers (a worker that died and was restarted leaves one)."""

    path: Path
    names: tuple[str, ...]
    framesets: int
    complete_framesets: int
    frames: tuple[int, ...]
    dropped: tuple[int, ...]
    late: tuple[int, ...]
    missing: tuple[int, ...]
    restarts: tuple[int, ...]
    duration_s: float
    stopped_by: str
    max_skew_ms: float
    gaps: tuple[int, ...] = ()

    @property
    def lost_per_camera(self) -> tuple[int, ...]:
        """Frames of each camera that never reached the disk: its sequence gaps (which include the
        worker's drops and late skips), or the worker's own count when larger (a loss at the end)."""
        gaps = self.gaps or (0,) * len(self.names)
        return tuple(max(g, d + l) for g, d, l in zip(gaps, self.dropped, self.late))

    @property
    def lost(self) -> int:
        return sum(self.lost_per_camera)


class Recorder:
    """Record ``rig`` into the new session folder ``out``. Call :meth:`run` once."""

    def __init__(self, rig: RigSpec, out: str | Path, options: RecordOptions = RecordOptions(), *,
                 on_status=None):
        self.rig, self.options, self.on_status = rig, options, on_status
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"output path {self.out} exists and is not a folder; choose a new session folder")
        if self.out.exists() and any(self.out.iterdir()):
            raise ValueError(f"output folder {self.out} exists and is not empty; choose a new session folder")
        self._stop = threading.Event()
        self.started = threading.Event()  # set when the workers are told to go
        self.stopped_by = "duration"
        self.names = rig.names
        self.cams = [CameraCounts(name) for name in self.names]
        self.gaps = [0] * len(self.names)
        self.supervisor = WorkerSupervisor(self.names, self._worker_config, restarts=options.restarts)
        self._hello = [False] * len(self.names)
        self._applied: dict[str, dict] = {}
        self._framesets: list[GroupedFrameset] = []
        self._manifest: dict = {}
        self._start_mono = 0.0
        self.writer: SessionWriter | None = None
        self.grouper: FramesetGrouper | None = None
        self.encoder: EncodePool | None = None
        self.preview: Preview | None = None

    # -- public ----------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask the recording to stop and finalize (safe from signal handlers and other threads)."""
        if not self._stop.is_set():
            self.stopped_by = reason
        self._stop.set()

    def worker_pids(self) -> dict[str, int | None]:
        """The process id of each camera's current worker (for monitoring and fault tests)."""
        return self.supervisor.pids()

    def run(self) -> RecordResult:
        """Record until stopped, the duration is over or every stream ended; finalize; return counts."""
        self.out.mkdir(parents=True, exist_ok=True)
        error: BaseException | None = None
        receiver = None
        try:
            receiver = FrameReceiver(self.options.endpoint, recv_hwm=self.options.recv_hwm)
            self.endpoint = receiver.endpoint
            self._prepare()
            self.supervisor.start_all()
            self._wait_for_hellos(receiver)
            self._go_now()
            self._loop(receiver)
        except BaseException as caught:  # finalize whatever was recorded, then re-raise
            error = caught
            self.stopped_by = "error"
        finally:
            try:
                if receiver is not None:
                    self._drain(receiver)
                self.supervisor.shutdown()
            finally:
                if receiver is not None:
                    receiver.close()
        result = self._finalize(error)
        if error is not None:
            raise error
        return result

    # -- setup -----------------------------------------------------------------------------
    def _prepare(self) -> None:
        rig, options = self.rig, self.options
        fast = any(c.replay == "fast" and c.kind in ("file", "images", "synthetic") for c in rig.cameras)
        period = 1.0 / max(c.fps for c in rig.cameras)
        wait_s = options.wait_s if options.wait_s is not None else (None if fast else max(1.0, 10 * period))
        self.grouper = FramesetGrouper(len(self.names), GroupingOptions(
            period_s=period, tolerance_s=options.tolerance_s, wait_s=wait_s, missing_view=options.missing_view))
        self.writer = SessionWriter(self.out, self.names, segment_s=rig.segment_s)
        if rig.encode == "recorder":
            self.encoder = EncodePool(quality=rig.jpeg_quality, workers=max(1, min(4, os.cpu_count() or 1)))
        self.preview = Preview(self.names) if options.preview else None
        if rig.synthetic is not None:
            from geometry import Rig

            from .scene import synthetic_rig  # the synthetic scene loads only for synthetic rigs
            synthetic_names = [c.name for c in rig.cameras if c.kind == "synthetic"]
            truth = synthetic_rig(rig.synthetic)
            write_truth_cameras(self.out, Rig([cam.replace(name=n) for cam, n in zip(truth, synthetic_names)]))
        self._manifest = initial_manifest(rig, self.names, {
            "duration_s": options.duration_s, "tolerance_s": self.grouper.options.half_window_s,
            "wait_s": wait_s, "missing_view": options.missing_view, "endpoint": self.endpoint})
        write_manifest(self.out, self._manifest)

    def _worker_config(self, camera: int, seq_start: int, generation: int) -> WorkerConfig:
        rig, spec = self.rig, self.rig.cameras[camera]
        max_frames = None
        if self.options.duration_s is not None and spec.kind in ("synthetic", "file", "images"):
            max_frames = math.ceil(self.options.duration_s * spec.fps - 1e-9)
        synthetic_index = sum(1 for c in rig.cameras[:camera] if c.kind == "synthetic")
        return WorkerConfig(camera_index=camera, spec=spec, endpoint=self.endpoint, synthetic=rig.synthetic,
                            synthetic_index=synthetic_index, jpeg_quality=rig.jpeg_quality,
                            encode_in_worker=rig.encode == "worker", send_hwm=self.options.send_hwm,
                            catch_up_s=self.options.catch_up_s,
                            max_frames=max_frames, seq_start=seq_start, generation=generation)

    def _wait_for_hellos(self, receiver: FrameReceiver) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not all(self._hello):
            if self._stop.is_set():
                return
            if time.monotonic() > deadline:
                late = [name for name, hello in zip(self.names, self._hello) if not hello]
                raise OSError(f"camera(s) {', '.join(late)} did not open within {_STARTUP_TIMEOUT_S:.0f} s")
            for message in receiver.receive(timeout_ms=100):
                self._on_message(message)
            for camera, name in enumerate(self.names):
                if not self._hello[camera] and not self.supervisor.alive(camera):
                    raise OSError(f"the worker of camera {name!r} exited while opening its source "
                                  f"(exit code {self.supervisor.processes[camera].exitcode})")

    def _go_now(self) -> None:
        self._start_mono = time.monotonic() + 0.25
        wall_minus_mono = time.time() - time.monotonic()
        self._manifest.update(status="recording", start_mono=self._start_mono,
                              start_utc=datetime.fromtimestamp(self._start_mono + wall_minus_mono, timezone.utc).isoformat(),
                              applied=self._applied)
        write_manifest(self.out, self._manifest)
        self.supervisor.go(self._start_mono, wall_minus_mono)
        self.started.set()

    # -- the loop --------------------------------------------------------------------------
    def _loop(self, receiver: FrameReceiver) -> None:
        options = self.options
        next_watch = time.monotonic()
        next_status = self._start_mono + options.status_interval_s
        meter = StatusMeter(self._start_mono)
        while True:
            now = time.monotonic()
            if options.duration_s is not None and now >= self._start_mono + options.duration_s + self._grace():
                self.stop("duration")
            if self._stop.is_set() or all(self.supervisor.ended):
                if not self._stop.is_set():
                    self.stopped_by = "end of streams"
                return
            for message in receiver.receive(timeout_ms=50):
                self._on_message(message)
            self._write_encoded(block=False)
            for f in self.grouper.poll():
                self._add_frameset(f)
            now = time.monotonic()
            if now >= next_watch:
                next_watch = now + options.watch_interval_s
                self._watch()
            if self.preview is not None:
                self.preview.show()
            if self._framesets:
                meter.skew(self._framesets[-1].skew_s)
            if now >= next_status:
                next_status = now + options.status_interval_s
                status = meter.snapshot(now, self.cams, [self.supervisor.alive(c) for c in range(len(self.cams))],
                                        len(self._framesets), self.writer.bytes_written)
                self._manifest["segments_complete"] = self.writer.segments_complete()
                write_manifest(self.out, self._manifest)
                if self.on_status is not None:
                    self.on_status(status)
                else:
                    log.info("%s", status.line())

    def _grace(self) -> float:
        # Scheduled sources stop by themselves after duration_s; live ones are stopped here.
        if any(c.kind in ("device", "stream") for c in self.rig.cameras):
            return 0.0
        # Sources paced "fast" end after their last frame however long the machine takes to make it.
        return math.inf if all(c.replay == "fast" for c in self.rig.cameras) else 5.0

    def _on_message(self, message: Message) -> None:
        header, camera = message.header, message.camera
        kind, name = message.kind, self.names[camera]
        if kind == "frame":
            if self.writer is not None and not self.writer.failed:  # after a disk failure frames cannot be kept
                self._on_frame(camera, header, message.payload)
        elif kind == "hello":
            self._hello[camera] = True
            self._applied[name] = {**header["applied"], "timing": header["timing"], "fps": header["fps"]}
            if header["generation"] > 0:
                log.warning("camera %s: worker restarted (generation %d)", name, header["generation"])
        elif kind == "error":
            if not self._hello[camera]:
                raise OSError(header["message"] if name in header["message"] else f"camera {name!r}: {header['message']}")
            log.error("camera %s: worker failed: %s", name, header["message"])
        elif kind == "eos":
            self.cams[camera].worker_counts(header["dropped"], header["late"])
            self.supervisor.end(camera)
            for f in self.grouper.end(camera):
                self._add_frameset(f)

    def _on_frame(self, camera: int, header: dict, frame) -> None:
        cam = self.cams[camera]
        cam.worker_counts(header["dropped"], header["late"])
        seq, previous = header["seq"], cam.last_seq
        if not cam.accept(seq):
            log.warning("camera %s: sequence %d after %d; frame ignored", cam.name, seq, previous)
            return
        self.gaps[camera] += seq - previous - 1 if previous >= 0 else 0
        height, width = header["shape"][:2]
        meta = dict(seq=seq, time_s=header["t_mono"] - self._start_mono, t_mono=header["t_mono"],
                    t_wall=header["t_wall"], width=width, height=height, generation=header["generation"])
        if header["encoding"] == "jpeg":
            self._write(camera, frame.buffer, meta)
        else:
            self.encoder.submit((camera, meta), np.frombuffer(frame.buffer, np.uint8).reshape(header["shape"]))
        for f in self.grouper.add(camera, seq, meta["time_s"]):
            self._add_frameset(f)

    def _write_encoded(self, *, block: bool) -> None:
        if self.encoder is None:
            return
        for (camera, meta), data in self.encoder.ready(block=block):
            self._write(camera, data, meta)

    def _write(self, camera: int, data, meta: dict) -> None:
        self.writer.write(camera, data, meta)
        if self.preview is not None:
            self.preview.update(camera, data)

    def _add_frameset(self, frameset: GroupedFrameset) -> None:
        self._framesets.append(frameset)
        for c in np.flatnonzero(frameset.missing):
            self.cams[c].missing += 1

    def _watch(self) -> None:
        events = self.supervisor.watch(may_restart=not self._stop.is_set(),
                                       next_seq=lambda camera: self.cams[camera].last_seq + 1)
        for event in events:
            if event.kind == "restarted":
                self.cams[event.camera].restarted()
            else:
                for f in self.grouper.end(event.camera):
                    self._add_frameset(f)

    # -- stopping --------------------------------------------------------------------------
    def _drain(self, receiver: FrameReceiver) -> None:
        """Stop the workers and take what they already sent (up to ``_DRAIN_TIMEOUT_S``)."""
        self.supervisor.request_stop()
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            running = self.supervisor.running()
            if not running and not receiver.pending():
                break
            try:
                for message in receiver.receive(timeout_ms=50, max_messages=256):
                    self._on_message(message)
            except OSError as error:
                log.error("%s", error)
            for camera in running:
                if not self.supervisor.alive(camera):
                    self.supervisor.end(camera)

    def _finalize(self, error: BaseException | None) -> RecordResult:
        close_error = None
        if self.encoder is not None:
            try:
                self._write_encoded(block=True)
            except OSError as caught:
                close_error = caught
            self.encoder.shutdown()
        if self.writer is not None:
            close_error = close_error or self.writer.close()
        if self.grouper is not None:
            for f in self.grouper.flush():
                self._add_frameset(f)
        duration = max((time.monotonic() - self._start_mono) if self._start_mono else 0.0, 0.0)
        for camera, restarts in enumerate(self.supervisor.restarts):
            self.cams[camera].restarts = restarts
        result = RecordResult(
            path=self.out, names=self.names, framesets=len(self._framesets),
            complete_framesets=sum(1 for f in self._framesets if not f.missing.any()),
            frames=tuple(c.frames for c in self.cams), dropped=tuple(c.dropped for c in self.cams),
            late=tuple(c.late for c in self.cams), missing=tuple(c.missing for c in self.cams),
            restarts=tuple(c.restarts for c in self.cams), duration_s=duration, stopped_by=self.stopped_by,
            max_skew_ms=max((f.skew_s for f in self._framesets), default=0.0) * 1e3, gaps=tuple(self.gaps))
        if self._manifest:
            try:
                finalize_session(
                    self.out, self._manifest, rig=self.rig, names=self.names, started=bool(self._start_mono),
                    framesets=self._framesets, cameras=self.cams,
                    rows=self.writer.rows if self.writer is not None else [[] for _ in self.names],
                    status="complete" if error is None and close_error is None else "failed",
                    stopped_by=self.stopped_by, error=None if error is None else str(error),
                    segments_complete=self.writer.segments_complete() if self.writer is not None else [],
                    duration_s=duration, grouping_skipped=self.grouper.skipped if self.grouper is not None else 0)
            except OSError as caught:
                close_error = close_error or caught
        if close_error is not None and error is None:
            raise OSError(f"writing the session {self.out} failed: {close_error.strerror or close_error}; "
                          "the segments completed before that are intact") from close_error
        return result


def record(rig: RigSpec, out: str | Path, options: RecordOptions = RecordOptions(), *, on_status=None) -> RecordResult:
    """Record ``rig`` into ``out`` (see :class:`Recorder`)."""
    return Recorder(rig, out, options, on_status=on_status).run()
