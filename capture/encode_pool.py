"""JPEG encoding of raw frames on a small thread pool, handed back in submission order.

Used when the rig says ``encode = "recorder"`` (workers send raw BGR). cv2 releases the GIL
while encoding, so up to ``workers`` frames encode at once; :meth:`EncodePool.ready` returns the
finished ones strictly in the order they were submitted, so each camera's segment stays in
sequence order.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

__all__ = ["EncodePool", "encode_jpeg"]


def encode_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """image: (H, W, 3) uint8 BGR -> JPEG bytes as a (B,) uint8 array."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
    return data


class EncodePool:
    """submit(tag, image) encodes in the background; ready() gives ``(tag, jpeg)`` in order."""

    def __init__(self, *, quality: int, workers: int):
        if not 50 <= quality <= 100 or workers < 1:
            raise ValueError(f"quality {quality} (expected 50..100) or workers {workers} (expected >= 1) out of range")
        self.quality = quality
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode")
        self._queue: deque = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, tag, image: np.ndarray) -> None:
        self._queue.append((tag, self._pool.submit(encode_jpeg, image, self.quality)))

    def ready(self, *, block: bool = False) -> list[tuple[object, np.ndarray]]:
        """The finished frames at the head of the queue (all of them when ``block``), in order."""
        out = []
        while self._queue and (block or self._queue[0][1].done()):
            tag, future = self._queue.popleft()
            out.append((tag, future.result()))
        return out

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
