"""What capture devices exist and which modes they offer, found by asking OpenCV.

On Linux only indices with a ``/dev/videoN`` node are opened (so a machine without cameras
answers at once); elsewhere every index up to ``max_index`` is tried. Each probe runs in a thread
with a time limit, so a driver that hangs cannot hang the command. Modes are found by requesting
common sizes and reading back what the device applied (OpenCV cannot enumerate modes).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2

__all__ = ["DeviceInfo", "probe_devices", "COMMON_SIZES"]

COMMON_SIZES = ((640, 480), (1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))


@dataclass(frozen=True)
class DeviceInfo:
    """One device: index, backend, its default mode and the modes it accepted (size, fps, fourcc)."""

    index: int
    backend: str
    default: tuple[int, int, float]
    modes: tuple[tuple[int, int, float, str | None], ...]


def _candidate_indices(max_index: int) -> list[int]:
    if sys.platform.startswith("linux"):
        nodes = sorted(Path("/dev").glob("video*"))
        return sorted(int(p.name[5:]) for p in nodes if p.name[5:].isdigit() and int(p.name[5:]) <= max_index)
    return list(range(max_index + 1))


def _fourcc(value: float) -> str | None:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if code and text.isprintable() else None


def _probe(index: int, sizes) -> DeviceInfo | None:
    capture = cv2.VideoCapture(index)
    try:
        if not capture.isOpened():
            return None
        default = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                   float(capture.get(cv2.CAP_PROP_FPS)))
        modes = set()
        for fourcc in ("MJPG", "YUYV"):
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*fourcc))
            for width, height in sizes:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
                applied = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
                if applied == (width, height):
                    modes.add((width, height, float(capture.get(cv2.CAP_PROP_FPS)),
                               _fourcc(capture.get(cv2.CAP_PROP_FOURCC))))
        return DeviceInfo(index, capture.getBackendName(), default, tuple(sorted(modes, key=lambda m: (m[0], m[1], str(m[3])))))
    finally:
        capture.release()


def probe_devices(max_index: int = 9, *, timeout_s: float = 5.0, sizes=COMMON_SIZES) -> tuple[list[DeviceInfo], list[int]]:
    """``(devices found, indices whose probe timed out)``; each probe gets ``timeout_s``."""
    found, hung = [], []
    for index in _candidate_indices(max_index):
        result: list = []
        thread = threading.Thread(target=lambda i=index: result.append(_probe(i, sizes)), daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            hung.append(index)
        elif result and result[0] is not None:
            found.append(result[0])
    return found, hung
