"""One camera worker process: open the source, pace, stamp, encode, push each frame to the recorder.

Started by the recorder with the ``spawn`` start method (no inherited state, no camera opened
before the process exists). Ignores SIGINT (the recorder decides when to stop, through
``stop_event``) and stops on SIGTERM like on the event.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass

import cv2
import zmq

from .rigfile import CameraSpec, SyntheticSpec
from .sources import Source, open_source
from .wire import pack_header

__all__ = ["WorkerConfig", "run_worker"]

_SEND_TIMEOUT_S = 0.2  # a blocking ("fast") send re-checks the stop event this often


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Everything a worker needs, picklable.

    The recording's clock comes separately (see :func:`run_worker`). max_frames: scheduled/fast sources stop after this many
    (None: until stopped). latency_s: injected host-timestamp offset (synthetic only).
    """

    camera_index: int
    spec: CameraSpec
    endpoint: str
    synthetic: SyntheticSpec | None = None
    synthetic_index: int = 0
    jpeg_quality: int = 90
    encode_in_worker: bool = True
    send_hwm: int = 8
    max_frames: int | None = None
    seq_start: int = 0
    generation: int = 0


def run_worker(config: WorkerConfig, stop_event, go_event, clock) -> None:
    """Process entry point. Reports failures to the recorder as an ``error`` message.

    After opening its source and saying ``hello`` the worker waits for ``go_event``; then
    ``clock[0]`` is the recording's time zero on the monotonic clock (s; scheduled frame ``k`` is
    due at ``clock[0] + k / fps``, the same instant for every worker) and ``clock[1]`` is
    ``time.time() - time.monotonic()``, so that all workers' wall-clock stamps agree.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    cv2.setNumThreads(1)
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, config.send_hwm)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(config.endpoint)
    camera = config.camera_index
    try:
        try:
            source = open_source(config.spec, synthetic=config.synthetic, synthetic_index=config.synthetic_index)
        except (OSError, ValueError) as error:
            sock.send(pack_header({"type": "error", "camera": camera, "message": str(error)}))
            return
        _warm_up(source, config)
        sock.send(pack_header({"type": "hello", "camera": camera, "applied": source.applied,
                               "timing": source.timing, "fps": source.fps, "generation": config.generation}))
        while not go_event.wait(0.1):
            if stop_event.is_set():
                source.close()
                return
        try:
            _Loop(config, source, sock, stop_event, start_mono=clock[0], wall_minus_mono=clock[1]).run()
        except Exception as error:  # report, then die: the recorder restarts the worker once
            sock.send(pack_header({"type": "error", "camera": camera, "message": f"{type(error).__name__}: {error}"}))
            raise
        finally:
            source.close()
    finally:
        sock.close()
        context.term()


def _warm_up(source: Source, config: WorkerConfig) -> None:
    """Run the render and encode paths once, so the first scheduled frame is not late."""
    if source.timing == "scheduled" and config.spec.kind == "synthetic":
        image = source.read(0)
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])


class _Loop:
    def __init__(self, config: WorkerConfig, source: Source, sock, stop_event, *, start_mono: float,
                 wall_minus_mono: float):
        self.config, self.source, self.sock, self.stop = config, source, sock, stop_event
        self.start_mono, self.wall_minus_mono = start_mono, wall_minus_mono
        self.dropped = 0
        self.late = 0
        self.params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
        self.latency_s = config.synthetic.latency_of(config.synthetic_index) if config.synthetic else 0.0

    def run(self) -> None:
        source, config = self.source, self.config
        period = 1.0 / source.fps
        k = config.seq_start
        if source.timing == "scheduled" and config.generation > 0:
            # A restarted worker resumes at the schedule's present; the frames in between are lost.
            k = max(k, math.ceil((time.monotonic() - self.start_mono) / period))
        while not self.stop.is_set():
            if config.max_frames is not None and k >= config.max_frames and source.timing != "live":
                break
            if source.timing == "scheduled":
                due = self.start_mono + k * period
                if not self._sleep_until(due):
                    break
                if time.monotonic() - due > period:
                    self.late += 1
                    if not source.skip(k):
                        break
                    k += 1
                    continue
                image = source.read(k)
                t_mono = due + self.latency_s
            else:
                image = source.read(k)
                t_mono = self.start_mono + k * period if source.timing == "fast" else time.monotonic()
            if image is None:
                break
            self._send(k, t_mono, image, block=source.timing == "fast")
            k += 1
        self.sock.send(pack_header({"type": "eos", "camera": config.camera_index, "dropped": self.dropped,
                                    "late": self.late, "next_seq": k}))

    def _sleep_until(self, due: float) -> bool:
        while True:
            remaining = due - time.monotonic()
            if remaining <= 0:
                return True
            if self.stop.wait(min(remaining, 0.05)):
                return False

    def _send(self, seq: int, t_mono: float, image, *, block: bool) -> None:
        config = self.config
        if config.encode_in_worker:
            ok, buffer = cv2.imencode(".jpg", image, self.params)
            if not ok:
                raise OSError(f"camera {config.spec.name!r}: JPEG encoding failed")
            encoding = "jpeg"
        else:
            buffer, encoding = image, "raw"
        header = pack_header({"type": "frame", "camera": config.camera_index, "seq": seq, "t_mono": t_mono,
                              "t_wall": t_mono + self.wall_minus_mono, "shape": list(image.shape),
                              "encoding": encoding, "dropped": self.dropped, "late": self.late,
                              "generation": config.generation})
        parts = [header, buffer]
        if not block:
            try:
                self.sock.send_multipart(parts, copy=False, flags=zmq.NOBLOCK)
            except zmq.Again:
                self.dropped += 1
            return
        while not self.stop.is_set():
            if self.sock.poll(int(_SEND_TIMEOUT_S * 1000), zmq.POLLOUT):
                self.sock.send_multipart(parts, copy=False)
                return
