"""One camera worker process: open the source, pace, stamp, encode, push each frame to the recorder.

Started by the recorder with the ``spawn`` start method (no inherited state, no camera opened
before the process exists). Ignores SIGINT (the recorder decides when to stop) and stops on
SIGTERM as on the recorder's word.

The recorder talks to its workers through one lock-free shared array (:class:`Control`), not
``multiprocessing.Event``: an Event whose waiter is SIGKILLed can block the next ``set()`` forever,
and a worker killed at any instant must never hang the recording.
"""

from __future__ import annotations

import math
import os
import signal
import time
from dataclasses import dataclass

import cv2
import zmq

from .rigfile import CameraSpec, SyntheticSpec
from .sources import Source, open_camera
from .wire import pack_header

__all__ = ["WorkerConfig", "Control", "run_worker"]

_SEND_TIMEOUT_S = 0.2  # a blocking ("fast") send re-checks the stop flag this often
_POLL_S = 0.02         # how often a waiting worker looks at the control array


class Control:
    """The recorder -> workers channel: a shared ``RawArray('d', 3)`` of (start_mono,
    wall_minus_mono, stop). ``start_mono > 0`` means go: scheduled frame ``k`` is due at
    ``start_mono + k / fps`` on the machine-wide monotonic clock; ``wall_minus_mono`` is
    ``time.time() - time.monotonic()`` at that moment, so that all workers' wall stamps agree."""

    def __init__(self, array):
        self.array = array
        self.local_stop = False  # set by this process's SIGTERM handler
        self.parent_pid = os.getppid()  # a worker whose recorder died (SIGKILL, power) stops too

    @classmethod
    def create(cls, context) -> "Control":
        return cls(context.RawArray("d", 3))

    def go(self, start_mono: float, wall_minus_mono: float) -> None:
        self.array[1] = wall_minus_mono
        self.array[0] = start_mono

    def request_stop(self) -> None:
        self.array[2] = 1.0

    @property
    def started(self) -> bool:
        return self.array[0] > 0

    @property
    def stopping(self) -> bool:
        return self.local_stop or self.array[2] != 0 or os.getppid() != self.parent_pid

    def wait_go(self) -> bool:
        """Block until go (True) or stop (False)."""
        while not self.started:
            if self.stopping:
                return False
            time.sleep(_POLL_S)
        return not self.stopping

    def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False as soon as a stop is requested."""
        deadline = time.monotonic() + seconds
        while not self.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            time.sleep(min(remaining, _POLL_S))
        return False


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Everything a worker needs, picklable.

    The recording's clock comes separately (see :func:`run_worker`). max_frames: scheduled/fast sources stop after this many
    (None: until stopped). catch_up_s: how far a scheduled source may fall behind its schedule
    before it skips (and counts) a frame, like a camera's onboard frame buffer; frames keep their
    scheduled timestamps either way.
    """

    camera_index: int
    spec: CameraSpec
    endpoint: str
    synthetic: SyntheticSpec | None = None
    synthetic_index: int = 0
    jpeg_quality: int = 90
    encode_in_worker: bool = True
    send_hwm: int = 8
    catch_up_s: float = 0.5
    max_frames: int | None = None
    seq_start: int = 0
    generation: int = 0


def run_worker(config: WorkerConfig, control_array) -> None:
    """Process entry point. Reports failures to the recorder as an ``error`` message.

    After opening its source and saying ``hello`` the worker waits for the go of ``control_array``
    (see :class:`Control`), then streams until its source ends or the recorder says stop.
    """
    control = Control(control_array)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: setattr(control, "local_stop", True))
    cv2.setNumThreads(1)
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, config.send_hwm)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(config.endpoint)
    camera = config.camera_index
    try:
        try:
            source = open_camera(config.spec, synthetic=config.synthetic, synthetic_index=config.synthetic_index)
        except (OSError, ValueError) as error:
            sock.send(pack_header({"type": "error", "camera": camera, "message": str(error)}))
            return
        _warm_up(source, config)
        sock.send(pack_header({"type": "hello", "camera": camera, "applied": source.applied,
                               "timing": source.timing, "fps": source.fps, "generation": config.generation}))
        if not control.wait_go():
            source.close()
            return
        try:
            _Loop(config, source, sock, control).run()
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
    if config.spec.kind == "synthetic":
        image = source.read(0)
        cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])


class _Loop:
    def __init__(self, config: WorkerConfig, source: Source, sock, control: Control):
        self.config, self.source, self.sock, self.control = config, source, sock, control
        self.start_mono, self.wall_minus_mono = control.array[0], control.array[1]
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
        while not self.control.stopping:
            if config.max_frames is not None and k >= config.max_frames and source.timing != "live":
                break
            if source.timing == "scheduled":
                due = self.start_mono + k * period
                if not self._sleep_until(due):
                    break
                if time.monotonic() - due > max(period, config.catch_up_s):
                    self.late += 1
                    if not source.skip(k):
                        break
                    k += 1
                    continue
                image = source.read(k)
                t_mono = due + self.latency_s
            else:
                image = source.read(k)
                t_mono = self.start_mono + k * period + self.latency_s if source.timing == "fast" else time.monotonic()
            if image is None:
                break
            self._send(k, t_mono, image, block=source.timing == "fast")
            k += 1
        self.sock.send(pack_header({"type": "eos", "camera": config.camera_index, "dropped": self.dropped,
                                    "late": self.late, "next_seq": k}))

    def _sleep_until(self, due: float) -> bool:
        return self.control.sleep(due - time.monotonic())

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
        while not self.control.stopping:
            if self.sock.poll(int(_SEND_TIMEOUT_S * 1000), zmq.POLLOUT):
                self.sock.send_multipart(parts, copy=False)
                return
