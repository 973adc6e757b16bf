"""An optional live preview: a mosaic of the latest frame of every camera in one OpenCV window.

Only when asked for and only when a display exists (``DISPLAY`` or ``WAYLAND_DISPLAY``); frames
are decoded at a quarter of their size and the window refreshes at most ``max_hz`` times a second,
so the preview costs the recording little.
"""

from __future__ import annotations

import logging
import math
import os
import time

import cv2
import numpy as np

__all__ = ["Preview", "display_available", "mosaic"]

log = logging.getLogger(__name__)


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def mosaic(images: list[np.ndarray | None], *, tile: tuple[int, int] = (320, 240)) -> np.ndarray:
    """Tile images (any sizes; None draws a dark tile) into a grid of ``tile = (w, h)`` cells, BGR uint8."""
    columns = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / columns))
    width, height = tile
    canvas = np.full((rows * height, columns * width, 3), 30, np.uint8)
    for i, image in enumerate(images):
        if image is None:
            continue
        r, c = divmod(i, columns)
        scale = min(width / image.shape[1], height / image.shape[0])
        resized = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))))
        canvas[r * height:r * height + resized.shape[0], c * width:c * width + resized.shape[1]] = resized
    return canvas


class Preview:
    """Keeps the latest encoded frame per camera; :meth:`show` draws the mosaic now and then."""

    def __init__(self, names: tuple[str, ...], *, max_hz: float = 10.0):
        self.names = names
        self.latest: list[bytes | None] = [None] * len(names)
        self.enabled = display_available()
        self.period_s = 1.0 / max_hz
        self.next_s = 0.0
        if not self.enabled:
            log.warning("preview asked for but no display is available (DISPLAY/WAYLAND_DISPLAY unset); recording without it")

    def update(self, camera: int, jpeg) -> None:
        if self.enabled:
            self.latest[camera] = bytes(jpeg)

    def show(self) -> None:
        now = time.monotonic()
        if not self.enabled or now < self.next_s:
            return
        self.next_s = now + self.period_s
        images = [None if data is None else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
                  for data in self.latest]
        for image, name in zip(images, self.names):
            if image is not None:
                cv2.putText(image, name, (8, image.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 255), 1)
        cv2.imshow("rigkit capture", mosaic(images))
        cv2.waitKey(1)
