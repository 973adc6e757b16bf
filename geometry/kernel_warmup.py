"""Compile the triangulation kernels ahead of the first real call.

:mod:`geometry._kernels` is compiled by numba on first use and cached beside it, so the first
triangulation after an install pauses (~27 s on 2 cores) and later processes load the machine
code in well under a second. :func:`compile_kernels` makes that pause happen when a caller
chooses (the ``rigkit`` commands that triangulate do it once their input is validated, and
say so when it takes long) by running every kernel once on a tiny two-camera scene, with the
same argument types as the real calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from .camera import Camera
from .reprojection import reprojection_error
from .rig import Rig
from .robust_triangulation import triangulate_robust
from .triangulation import triangulate

__all__ = ["compile_kernels"]


def compile_kernels(*, notify: Callable[[str], None] | None = None,
                    notify_after_s: float = 5.0) -> float:
    """Run triangulate, triangulate_robust and reprojection_error once on a tiny scene (two
    cameras 1 m apart looking at points 3 m away), compiling or loading their kernels.

    notify: called with a sentence when this takes longer than ``notify_after_s`` (from a helper
        thread: the work is still running) and again when it is done; never otherwise.
    Returns the seconds it took.
    """
    return run_announced(_run_every_kernel, notify=notify, notify_after_s=notify_after_s,
                         what="the triangulation kernels",
                         how_long="compiled once per install, about half a minute")


def run_announced(work: Callable[[], object], *, notify: Callable[[str], None] | None,
                  notify_after_s: float, what: str, how_long: str) -> float:
    """Run ``work()``; when it takes longer than ``notify_after_s``, ``notify`` says so from a
    helper thread ("preparing {what} ({how_long}) ...") and again when it is done ("{what} ready
    (N s)", without a leading "the"). Returns the seconds it took."""
    done = threading.Event()
    late = threading.Event()

    def watch() -> None:
        if not done.wait(notify_after_s):
            late.set()
            notify(f"preparing {what} ({how_long}) ...")

    start = time.perf_counter()
    watcher = threading.Thread(target=watch, daemon=True) if notify is not None else None
    if watcher is not None:
        watcher.start()
    try:
        work()
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    seconds = time.perf_counter() - start
    if late.is_set():
        notify(f"{what.removeprefix('the ')} ready ({seconds:.0f} s)")
    return seconds


def _run_every_kernel() -> None:
    K = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])
    dist = np.array([-0.1, 0.01, 0.0, 0.0, 0.0])
    rig = Rig([Camera("a", (1280, 720), K, dist, np.eye(3), np.zeros(3)),
               Camera("b", (1280, 720), K, dist, np.eye(3), np.array([-1.0, 0.0, 0.0]))])
    points = np.array([[0.5, 0.2, 3.0], [0.4, -0.1, 3.5]])
    observed = rig.project(points)
    triangulate(rig, observed)
    triangulate_robust(rig, observed)
    reprojection_error(rig, points, observed)
