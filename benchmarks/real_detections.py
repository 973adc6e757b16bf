"""Real-footage detections for the benchmarks, made by rigkit's own detector backend.

``mediapipe_detections`` runs ``rigkit label detect --videos NAME=PATH ... --detector mediapipe``
(the command a user runs; MediaPipe BlazePose, each frame on its own) and keeps the npz it
writes as the cache, so the benchmarks measure exactly what a user's labels are made from.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["mediapipe_detections"]


def mediapipe_detections(videos: dict[str, Path], npz: Path, *, joints=None):
    """``(Detections, seconds)``: BlazePose on every frame of each video (camera name -> path),
    from ``npz`` when it exists (seconds NaN) or written there by ``rigkit label detect``;
    joints reordered/subset to ``joints`` (names) when given, e.g. COCO-17."""
    import rigkit_cli
    from labeling.detections import read_npz_detections

    seconds = float("nan")
    if not Path(npz).is_file():
        argv = ["--quiet", "label", "detect", "--detector", "mediapipe", "--out", str(npz), "--videos",
                *[f"{name}={path}" for name, path in videos.items()]]
        started = time.perf_counter()
        status = rigkit_cli.main(argv)
        seconds = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"rigkit {' '.join(argv)} exited with {status}")
    detections = read_npz_detections(npz)
    return (detections.select_joints(joints) if joints is not None else detections), seconds
