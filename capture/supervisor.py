"""Supervision of the camera worker processes: start, notice a death, restart, stop.

One process per camera (``spawn`` context, so a worker never inherits the recorder's sockets or
threads). :meth:`WorkerSupervisor.watch` is called every ``watch_interval_s`` by the recorder
and says what changed: a worker that died with a non-zero exit code is restarted (at most
``restarts`` times, continuing its sequence numbers) or, past that, its camera ends; a worker
that exited cleanly gets ``eos_wait_s`` for its end-of-stream message (queued behind its last
frames) before its camera is declared ended. :meth:`shutdown` tells every worker to stop and
joins, terminates or kills each in turn.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass

from .worker import Control, run_worker

__all__ = ["WorkerSupervisor", "WatchEvent"]

log = logging.getLogger(__name__)

EOS_WAIT_S = 3.0  # a cleanly exited worker's end-of-stream message must arrive by then


@dataclass(frozen=True)
class WatchEvent:
    """What :meth:`WorkerSupervisor.watch` saw: ``kind`` is ``"restarted"`` (the camera's worker
    died and a new one was started) or ``"ended"`` (the camera will send nothing more)."""

    camera: int
    kind: str
    exit_code: int | None


class WorkerSupervisor:
    """The worker processes of one recording.

    ``config_for(camera, seq_start, generation)`` builds the argument of ``target`` (by default
    :func:`capture.worker.run_worker`, which also receives the shared control array).
    """

    def __init__(self, names: tuple[str, ...], config_for: Callable[[int, int, int], object], *,
                 restarts: int = 1, target: Callable = run_worker, eos_wait_s: float = EOS_WAIT_S):
        self.names = names
        self._config_for = config_for
        self._target = target
        self.max_restarts = restarts
        self.eos_wait_s = eos_wait_s
        self._spawn = multiprocessing.get_context("spawn")
        self.control = Control.create(self._spawn)
        self.processes: list[multiprocessing.Process | None] = [None] * len(names)
        self.generation = [0] * len(names)
        self.restarts = [0] * len(names)
        self.ended = [False] * len(names)
        self._clean_exit_s: list[float | None] = [None] * len(names)

    def start(self, camera: int, seq_start: int = 0) -> None:
        config = self._config_for(camera, seq_start, self.generation[camera])
        process = self._spawn.Process(target=self._target, name=f"rigkit-capture-{self.names[camera]}",
                                      args=(config, self.control.array), daemon=True)
        process.start()
        self.processes[camera] = process

    def start_all(self) -> None:
        for camera in range(len(self.names)):
            self.start(camera)

    def alive(self, camera: int) -> bool:
        process = self.processes[camera]
        return process is not None and process.is_alive()

    def pids(self) -> dict[str, int | None]:
        return {name: None if p is None else p.pid for name, p in zip(self.names, self.processes)}

    def end(self, camera: int) -> None:
        """Mark ``camera`` ended (its end-of-stream arrived)."""
        self.ended[camera] = True

    def watch(self, *, may_restart: bool, next_seq: Callable[[int], int]) -> list[WatchEvent]:
        """Look at every worker once. A dead one is restarted when ``may_restart`` and it has
        restarts left, continuing at ``next_seq(camera)``."""
        now, events = time.monotonic(), []
        for camera, process in enumerate(self.processes):
            if self.ended[camera] or process is None or process.is_alive():
                continue
            name = self.names[camera]
            if process.exitcode == 0:
                if self._clean_exit_s[camera] is None:
                    self._clean_exit_s[camera] = now
                elif now - self._clean_exit_s[camera] > self.eos_wait_s:
                    log.warning("camera %s: worker exited without its end-of-stream message", name)
                    self.ended[camera] = True
                    events.append(WatchEvent(camera, "ended", 0))
                continue
            log.error("camera %s: worker process died (exit code %s)", name, process.exitcode)
            process.join(timeout=0.1)
            if self.restarts[camera] < self.max_restarts and may_restart:
                self.restarts[camera] += 1
                self.generation[camera] += 1
                self._clean_exit_s[camera] = None
                self.start(camera, seq_start=next_seq(camera))
                events.append(WatchEvent(camera, "restarted", process.exitcode))
            else:
                self.ended[camera] = True
                events.append(WatchEvent(camera, "ended", process.exitcode))
        return events

    def go(self, start_mono: float, wall_minus_mono: float) -> None:
        self.control.go(start_mono, wall_minus_mono)

    def request_stop(self) -> None:
        """Tell every worker to stop (also releases those still waiting for the go)."""
        self.control.request_stop()

    def running(self) -> list[int]:
        """Cameras whose worker is alive and has not ended its stream."""
        return [c for c in range(len(self.names)) if self.alive(c) and not self.ended[c]]

    def shutdown(self) -> None:
        """Join every worker; terminate, then kill, one that does not exit."""
        self.request_stop()
        for camera, process in enumerate(self.processes):
            if process is None or process.pid is None:
                continue
            # A worker that sent its end of stream only has to exit (a while on a busy machine).
            process.join(timeout=5.0 if self.ended[camera] else 1.0)
            if process.is_alive():
                (log.debug if self.ended[camera] else log.warning)(
                    "camera %s: worker did not exit; terminating it", self.names[camera])
                process.terminate()
                process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join()
