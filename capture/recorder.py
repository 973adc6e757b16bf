"""The recorder: starts one worker process per camera, receives, writes, groups and watches.

Frames arrive on one ZeroMQ PULL socket (bound to 127.0.0.1 or ipc unless the caller names
another address) with a bounded receive queue per worker. Each frame is appended to its camera's
segment as it arrives (:mod:`capture.segments`), and its timestamp goes to the grouper
(:mod:`capture.grouping`). A worker that dies is noticed within ``watch_interval_s``, reported,
restarted once (``restarts``), and the framesets it missed record it as missing. ``stop()`` (from
a signal handler, another thread, or the end of ``duration_s``) stops the workers, drains what
they already sent, closes every segment and writes the tables and the final manifest. A failure
(a camera that cannot be opened, a full disk) stops the same way, then raises with one sentence.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import zmq

from geometry import Rig
from rigkit_version import rigkit_version

from .grouping import FramesetGrouper, GroupedFrameset, GroupingOptions, MissingViewPolicy
from .layout import (camera_dir, write_framesets_table, write_manifest, write_timestamps, write_truth_cameras,
                     write_truth_scene)
from .preview import Preview
from .rigfile import RigSpec
from .scene import SyntheticScene, synthetic_rig
from .segments import SegmentWriter
from .wire import unpack_header
from .worker import Control, WorkerConfig, run_worker

__all__ = ["RecordOptions", "CameraStatus", "RecorderStatus", "RecordResult", "Recorder", "record"]

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 60.0  # every worker must have opened its source by then
_DRAIN_TIMEOUT_S = 5.0     # after stop, how long workers get to send what they hold
_EOS_WAIT_S = 3.0          # a cleanly exited worker's end-of-stream message must arrive by then


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

    duration_s: float | None = None
    endpoint: str = "tcp://127.0.0.1:*"
    tolerance_s: float | None = None
    wait_s: float | None = None
    missing_view: MissingViewPolicy = "mark"
    send_hwm: int = 8
    recv_hwm: int = 8
    catch_up_s: float = 0.5
    restarts: int = 1
    watch_interval_s: float = 0.2
    status_interval_s: float = 1.0
    preview: bool = False

    def __post_init__(self) -> None:
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration_s is {self.duration_s}, expected > 0 seconds")
        if min(self.send_hwm, self.recv_hwm) < 1:
            raise ValueError("send_hwm and recv_hwm must be >= 1 frame")
        if not 0 < self.watch_interval_s <= 1.0:
            raise ValueError(f"watch_interval_s is {self.watch_interval_s}, expected in (0, 1] s")
        if self.catch_up_s < 0:
            raise ValueError(f"catch_up_s is {self.catch_up_s}, expected >= 0 seconds")
        if self.restarts < 0:
            raise ValueError(f"restarts is {self.restarts}, expected >= 0")


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


@dataclass(frozen=True)
class RecordResult:
    """What a recording produced. Per-camera tuples are in rig order."""

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

    @property
    def lost(self) -> int:
        return sum(self.dropped) + sum(self.late)


@dataclass
class _Camera:
    index: int
    process: multiprocessing.Process | None = None
    generation: int = 0
    restarts: int = 0
    started: bool = False
    ended: bool = False
    applied: dict = field(default_factory=dict)
    timing: str = ""
    fps: float = 0.0
    frames: int = 0
    last_seq: int = -1
    dropped: int = 0
    late: int = 0
    dropped_before: int = 0  # cumulative counts of earlier generations
    late_before: int = 0
    missing: int = 0
    rows: list = field(default_factory=list)
    interval_frames: int = 0
    clean_exit_s: float | None = None  # when the worker was first seen gone with exit code 0


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
        names = rig.names
        self.names = names
        self.cams = [_Camera(i) for i in range(len(names))]
        self._spawn = multiprocessing.get_context("spawn")
        self._control = Control.create(self._spawn)
        self._closer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-close")
        self._encoder: ThreadPoolExecutor | None = None
        self._encoding: deque = deque()
        self._framesets: list[GroupedFrameset] = []
        self._segments_done: list[str] = []
        self._segments_lock = threading.Lock()
        self._manifest: dict = {}
        self._start_mono = 0.0
        self._write_failed = False

    # -- public ----------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Ask the recording to stop and finalize (safe from signal handlers and other threads)."""
        if not self._stop.is_set():
            self.stopped_by = reason
        self._stop.set()

    def run(self) -> RecordResult:
        """Record until stopped, the duration is over or every stream ended; finalize; return counts."""
        self.out.mkdir(parents=True, exist_ok=True)
        context = zmq.Context()
        sock = context.socket(zmq.PULL)
        sock.setsockopt(zmq.RCVHWM, self.options.recv_hwm)
        sock.setsockopt(zmq.LINGER, 0)
        error: BaseException | None = None
        try:
            sock.bind(self.options.endpoint)
            self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
            self._prepare()
            for cam in self.cams:
                self._start_worker(cam)
            self._wait_for_hellos(sock)
            self._go_now()
            self._loop(sock)
        except BaseException as caught:  # finalize whatever was recorded, then re-raise
            error = caught
            self.stopped_by = "error"
        finally:
            try:
                self._shutdown(sock)
            finally:
                sock.close()
                context.term()
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
        self.writers = [SegmentWriter(camera_dir(self.out, name), segment_s=rig.segment_s, closer=self._closer,
                                      on_complete=self._segment_complete) for name in self.names]
        if rig.encode == "recorder":
            self._encoder = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                               thread_name_prefix="encode")
        self.preview = Preview(self.names) if options.preview else None
        if rig.synthetic is not None:
            synthetic_names = [c.name for c in rig.cameras if c.kind == "synthetic"]
            truth = synthetic_rig(rig.synthetic)
            write_truth_cameras(self.out, Rig([cam.replace(name=n) for cam, n in zip(truth, synthetic_names)]))
        self._manifest = {
            "status": "starting", "rig": rig.to_dict(), "cameras": list(self.names),
            "rigkit_version": rigkit_version(), "created_utc": datetime.now(timezone.utc).isoformat(),
            "options": {"duration_s": options.duration_s, "tolerance_s": self.grouper.options.half_window_s,
                        "wait_s": wait_s, "missing_view": options.missing_view, "endpoint": self.endpoint},
            "segment_s": rig.segment_s, "encoding": "jpeg", "jpeg_quality": rig.jpeg_quality,
            "crash_note": (f"segments are written whole: after a crash or power cut only each camera's segment "
                           f"in progress (at most {rig.segment_s:g} s) can be lost, and framesets.csv is "
                           "rebuilt from the segments when it is missing"),
            "segments_complete": [],
        }
        write_manifest(self.out, self._manifest)

    def _worker_config(self, cam: _Camera, seq_start: int) -> WorkerConfig:
        rig, spec = self.rig, self.rig.cameras[cam.index]
        max_frames = None
        if self.options.duration_s is not None and spec.kind in ("synthetic", "file", "images"):
            max_frames = math.ceil(self.options.duration_s * spec.fps - 1e-9)
        synthetic_index = sum(1 for c in rig.cameras[:cam.index] if c.kind == "synthetic")
        return WorkerConfig(camera_index=cam.index, spec=spec, endpoint=self.endpoint, synthetic=rig.synthetic,
                            synthetic_index=synthetic_index, jpeg_quality=rig.jpeg_quality,
                            encode_in_worker=rig.encode == "worker", send_hwm=self.options.send_hwm,
                            catch_up_s=self.options.catch_up_s,
                            max_frames=max_frames, seq_start=seq_start, generation=cam.generation)

    def _start_worker(self, cam: _Camera, seq_start: int = 0) -> None:
        config = self._worker_config(cam, seq_start)
        cam.process = self._spawn.Process(target=run_worker, name=f"rigkit-capture-{self.names[cam.index]}",
                                          args=(config, self._control.array), daemon=True)
        cam.process.start()

    def _wait_for_hellos(self, sock) -> None:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        while not all(c.started for c in self.cams):
            if self._stop.is_set():
                return
            if time.monotonic() > deadline:
                late = [self.names[c.index] for c in self.cams if not c.started]
                raise OSError(f"camera(s) {', '.join(late)} did not open within {_STARTUP_TIMEOUT_S:.0f} s")
            if sock.poll(100):
                self._receive(sock.recv_multipart(copy=False))
            for cam in self.cams:
                if not cam.started and not cam.process.is_alive():
                    raise OSError(f"the worker of camera {self.names[cam.index]!r} exited while opening its source "
                                  f"(exit code {cam.process.exitcode})")

    def _go_now(self) -> None:
        self._start_mono = time.monotonic() + 0.25
        wall_minus_mono = time.time() - time.monotonic()
        self._manifest.update(status="recording", start_mono=self._start_mono,
                              start_utc=datetime.fromtimestamp(self._start_mono + wall_minus_mono, timezone.utc).isoformat(),
                              applied={self.names[c.index]: {**c.applied, "timing": c.timing, "fps": c.fps}
                                       for c in self.cams})
        write_manifest(self.out, self._manifest)
        self._control.go(self._start_mono, wall_minus_mono)
        self.started.set()

    def worker_pids(self) -> dict[str, int | None]:
        """The process id of each camera's current worker (for monitoring and fault tests)."""
        return {self.names[c.index]: None if c.process is None else c.process.pid for c in self.cams}

    # -- the loop --------------------------------------------------------------------------
    def _loop(self, sock) -> None:
        options = self.options
        next_watch = time.monotonic()
        next_status = self._start_mono + options.status_interval_s
        last_status_t, last_bytes = self._start_mono, 0
        interval_skew = 0.0
        while True:
            now = time.monotonic()
            if options.duration_s is not None and now >= self._start_mono + options.duration_s + self._grace():
                self.stop("duration")
            if self._stop.is_set() or all(c.ended for c in self.cams):
                if not self._stop.is_set():
                    self.stopped_by = "end of streams"
                return
            if sock.poll(50):
                for _ in range(64):
                    try:
                        parts = sock.recv_multipart(copy=False, flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._receive(parts)
            self._drain_encoder(block=False)
            for f in self.grouper.poll():
                self._add_frameset(f)
            now = time.monotonic()
            if now >= next_watch:
                next_watch = now + options.watch_interval_s
                self._watch()
            if self.preview is not None:
                self.preview.show()
            if self._framesets:
                interval_skew = max(interval_skew, self._framesets[-1].skew_s)
            if now >= next_status:
                next_status = now + options.status_interval_s
                written = sum(w.bytes_written for w in self.writers)
                dt = max(now - last_status_t, 1e-6)
                status = self._status(now, dt, interval_skew, (written - last_bytes) / dt / 1e6)
                last_status_t, last_bytes, interval_skew = now, written, 0.0
                self._manifest["segments_complete"] = self._segments_snapshot()
                write_manifest(self.out, self._manifest)
                if self.on_status is not None:
                    self.on_status(status)
                else:
                    log.info("%s", status.line())

    def _grace(self) -> float:
        # Scheduled sources stop by themselves after duration_s; live ones are stopped here.
        live = any(c.kind in ("device", "stream") for c in self.rig.cameras)
        if live:
            return 0.0
        # Sources paced "fast" end after their last frame however long the machine takes to make it.
        return math.inf if all(c.replay == "fast" for c in self.rig.cameras) else 5.0

    def _receive(self, parts) -> None:
        header = unpack_header(parts[0].buffer)
        cam = self.cams[header["camera"]]
        kind = header["type"]
        if kind == "frame" and self._write_failed:
            return  # the disk failed: frames still in flight cannot be kept
        if kind == "frame":
            self._on_frame(cam, header, parts[1])
        elif kind == "hello":
            cam.started, cam.applied, cam.timing, cam.fps = True, header["applied"], header["timing"], header["fps"]
            if header["generation"] > 0:
                log.warning("camera %s: worker restarted (generation %d)", self.names[cam.index], header["generation"])
        elif kind == "error":
            name = self.names[cam.index]
            if not cam.started:
                raise OSError(header["message"] if name in header["message"] else f"camera {name!r}: {header['message']}")
            log.error("camera %s: worker failed: %s", name, header["message"])
        elif kind == "eos":
            cam.dropped, cam.late = cam.dropped_before + header["dropped"], cam.late_before + header["late"]
            cam.ended = True
            for f in self.grouper.end(cam.index):
                self._add_frameset(f)

    def _on_frame(self, cam: _Camera, header: dict, frame) -> None:
        time_s = header["t_mono"] - self._start_mono
        cam.dropped = cam.dropped_before + header["dropped"]
        cam.late = cam.late_before + header["late"]
        seq = header["seq"]
        if seq <= cam.last_seq:
            log.warning("camera %s: sequence %d after %d; frame ignored", self.names[cam.index], seq, cam.last_seq)
            return
        cam.last_seq = seq
        cam.frames += 1
        cam.interval_frames += 1
        height, width = header["shape"][:2]
        meta = dict(seq=seq, time_s=time_s, t_mono=header["t_mono"], t_wall=header["t_wall"], width=width,
                    height=height, generation=header["generation"])
        if header["encoding"] == "jpeg":
            self._write(cam, frame.buffer, meta)
        else:
            image = np.frombuffer(frame.buffer, np.uint8).reshape(header["shape"])
            params = [cv2.IMWRITE_JPEG_QUALITY, self.rig.jpeg_quality]
            self._encoding.append((cam, meta, self._encoder.submit(lambda im=image: cv2.imencode(".jpg", im, params)[1])))
        for f in self.grouper.add(cam.index, seq, time_s):
            self._add_frameset(f)

    def _drain_encoder(self, *, block: bool) -> None:
        while self._encoding and (block or self._encoding[0][2].done()):
            cam, meta, future = self._encoding.popleft()
            self._write(cam, future.result(), meta)

    def _write(self, cam: _Camera, data, meta: dict) -> None:
        try:
            self.writers[cam.index].add(data, **meta)
        except OSError as error:
            self._write_failed = True
            raise OSError(f"writing camera {self.names[cam.index]!r} to {self.out} failed "
                          f"({error.strerror or error}); the segments completed before that are intact") from error
        cam.rows.append(tuple(meta[k] for k in ("seq", "time_s", "t_mono", "t_wall", "width", "height", "generation")))
        if self.preview is not None:
            self.preview.update(cam.index, data)

    def _add_frameset(self, frameset: GroupedFrameset) -> None:
        self._framesets.append(frameset)
        for c in np.flatnonzero(frameset.missing):
            self.cams[c].missing += 1

    def _watch(self) -> None:
        now = time.monotonic()
        for cam in self.cams:
            if cam.ended or cam.process is None or cam.process.is_alive():
                continue
            name = self.names[cam.index]
            if cam.process.exitcode == 0:
                # A clean exit follows the worker's end-of-stream message, which may still be
                # queued behind its last frames: wait for it rather than restart.
                if cam.clean_exit_s is None:
                    cam.clean_exit_s = now
                elif now - cam.clean_exit_s > _EOS_WAIT_S:
                    log.warning("camera %s: worker exited without its end-of-stream message", name)
                    cam.ended = True
                    for f in self.grouper.end(cam.index):
                        self._add_frameset(f)
                continue
            log.error("camera %s: worker process died (exit code %s)", name, cam.process.exitcode)
            cam.process.join(timeout=0.1)
            if cam.restarts < self.options.restarts and not self._stop.is_set():
                cam.restarts += 1
                cam.generation += 1
                cam.dropped_before, cam.late_before = cam.dropped, cam.late
                cam.clean_exit_s = None
                self._start_worker(cam, seq_start=cam.last_seq + 1)
            else:
                cam.ended = True
                for f in self.grouper.end(cam.index):
                    self._add_frameset(f)

    def _status(self, now: float, dt: float, skew_s: float, disk_mb_s: float) -> RecorderStatus:
        cameras = []
        for cam in self.cams:
            cameras.append(CameraStatus(self.names[cam.index], cam.interval_frames / dt, cam.frames, cam.dropped,
                                        cam.late, cam.missing, cam.restarts,
                                        cam.process is not None and cam.process.is_alive()))
            cam.interval_frames = 0
        return RecorderStatus(now - self._start_mono, len(self._framesets), skew_s * 1e3, disk_mb_s, tuple(cameras))

    # -- stopping --------------------------------------------------------------------------
    def _shutdown(self, sock) -> None:
        self._control.request_stop()  # also releases workers still waiting for the go
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            alive = [c for c in self.cams if c.process is not None and c.process.is_alive() and not c.ended]
            if not alive and not sock.poll(0):
                break
            if sock.poll(50):
                for _ in range(256):
                    try:
                        self._receive(sock.recv_multipart(copy=False, flags=zmq.NOBLOCK))
                    except zmq.Again:
                        break
                    except OSError as error:
                        log.error("%s", error)
                        break
            for cam in alive:
                if not cam.process.is_alive():
                    cam.ended = True
        for cam in self.cams:
            if cam.process is None or cam.process.pid is None:
                continue
            # A worker that sent its end of stream only has to exit (which takes a while on a busy machine).
            cam.process.join(timeout=5.0 if cam.ended else 1.0)
            if cam.process.is_alive():
                (log.debug if cam.ended else log.warning)("camera %s: worker did not exit; terminating it",
                                                          self.names[cam.index])
                cam.process.terminate()
                cam.process.join(timeout=2.0)
            if cam.process.is_alive():
                cam.process.kill()
                cam.process.join()

    def _segment_complete(self, path: Path, rows: list) -> None:
        with self._segments_lock:
            self._segments_done.append(str(path.relative_to(self.out)))

    def _segments_snapshot(self) -> list[str]:
        with self._segments_lock:
            return sorted(self._segments_done)

    def _finalize(self, error: BaseException | None) -> RecordResult:
        close_error = None
        if self._encoder is not None:
            try:
                self._drain_encoder(block=True)
            except OSError as caught:
                close_error = caught
            self._encoder.shutdown()
        for writer in self.writers if hasattr(self, "writers") else []:
            try:
                writer.close()
            except OSError as caught:  # a full disk: the segments closed before are intact
                close_error = close_error or caught
        self._closer.shutdown(wait=True)
        if hasattr(self, "grouper"):
            for f in self.grouper.flush():
                self._add_frameset(f)
        for cam in self.cams:
            cam.rows.sort()
        duration = max((time.monotonic() - self._start_mono) if self._start_mono else 0.0, 0.0)
        result = RecordResult(
            path=self.out, names=self.names, framesets=len(self._framesets),
            complete_framesets=sum(1 for f in self._framesets if not f.missing.any()),
            frames=tuple(c.frames for c in self.cams), dropped=tuple(c.dropped for c in self.cams),
            late=tuple(c.late for c in self.cams), missing=tuple(c.missing for c in self.cams),
            restarts=tuple(c.restarts for c in self.cams), duration_s=duration, stopped_by=self.stopped_by,
            max_skew_ms=max((f.skew_s for f in self._framesets), default=0.0) * 1e3)
        try:
            if self._start_mono:
                write_framesets_table(self.out, self.names, self._framesets)
                for cam in self.cams:
                    if cam.rows:
                        write_timestamps(self.out, self.names[cam.index], cam.rows)
                self._write_scene_truth()
            self._manifest.update(
                status="complete" if error is None and close_error is None else "failed",
                stopped_by=self.stopped_by, error=None if error is None else str(error),
                segments_complete=self._segments_snapshot(), duration_s=duration,
                counts={name: {"frames": result.frames[i], "dropped": result.dropped[i], "late": result.late[i],
                               "missing": result.missing[i], "restarts": result.restarts[i]}
                        for i, name in enumerate(self.names)},
                framesets=result.framesets, complete_framesets=result.complete_framesets,
                grouping_skipped=self.grouper.skipped if hasattr(self, "grouper") else 0)
            write_manifest(self.out, self._manifest)
        except OSError as caught:
            close_error = close_error or caught
        if close_error is not None and error is None:
            raise OSError(f"writing the session {self.out} failed: {close_error.strerror or close_error}; "
                          "the segments completed before that are intact") from close_error
        return result

    def _write_scene_truth(self) -> None:
        synthetic = self.rig.synthetic
        if synthetic is None or synthetic.scene == "loop":
            return  # a loop of a few frames does not follow the scene: no truth to keep
        fps = next(c.fps for c in self.rig.cameras if c.kind == "synthetic")
        last = max((c.last_seq for c in self.cams), default=0)
        scene = SyntheticScene(synthetic, fps)
        arrays = scene.truth(max(last, 0) + 1)
        synthetic_names = [c.name for c in self.rig.cameras if c.kind == "synthetic"]
        description = {"fps": fps, "skeleton": scene.skeleton.name, "joints": list(scene.skeleton.joint_names),
                       "latency_s": {n: synthetic.latency_of(i) for i, n in enumerate(synthetic_names)},
                       "board": self._manifest["rig"]["synthetic"]["board"],
                       "note": "frame k (a synthetic camera's seq) shows the scene at time_s[k]"}
        write_truth_scene(self.out, arrays, description)


def record(rig: RigSpec, out: str | Path, options: RecordOptions = RecordOptions(), *, on_status=None) -> RecordResult:
    """Record ``rig`` into ``out`` (see :class:`Recorder`)."""
    return Recorder(rig, out, options, on_status=on_status).run()
