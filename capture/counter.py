"""A timecode burned into images as black and white blocks, readable from pixels after JPEG.

Layout: two rows of 19 square cells in the image's top-left corner, ``cell_px`` pixels each (a
multiple of 8, so every cell is whole JPEG blocks and survives compression). Row-major cells:
cell 0 is white and cell 1 black (the reference levels for the threshold), then 36 bits, most
significant first: 28 bits of the time in ticks of 0.1 ms (wrapping after 2**28 ticks, about
7.46 h) and 8 bits of CRC-8 (polynomial 0x07) over those 28 bits. A white cell is a 1.

The synthetic source burns the scene time at exposure, so ``capture check`` can measure each
camera's offset against its host timestamps to a fraction of a frame.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["TICK_S", "TIMECODE_BITS", "timecode_cell_px", "burn_timecode", "read_timecode"]

TICK_S = 1e-4
TIMECODE_BITS = 28
_CRC_BITS = 8
_COLUMNS = 19
_ROWS = 2
_WRAP = 1 << TIMECODE_BITS


def _crc8(value: int) -> int:
    """CRC-8 (poly 0x07, init 0) of the 28-bit ``value`` as 4 bytes, big-endian."""
    crc = 0
    for byte in value.to_bytes(4, "big"):
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def timecode_cell_px(size: tuple[int, int]) -> int:
    """Cell size used for an image of ``size = (width, height)``: 8 px per 640 px of width, >= 8."""
    return 8 * max(1, round(size[0] / 640))


def _bits(time_s: float) -> np.ndarray:
    ticks = int(round(time_s / TICK_S)) % _WRAP
    word = (ticks << _CRC_BITS) | _crc8(ticks)
    total = TIMECODE_BITS + _CRC_BITS
    return np.array([(word >> (total - 1 - i)) & 1 for i in range(total)], dtype=np.uint8)


def burn_timecode(image: np.ndarray, time_s: float, *, cell_px: int | None = None) -> None:
    """Draw the timecode of ``time_s`` (s, >= 0) into ``image`` (H, W[, 3]) uint8, in place."""
    height, width = image.shape[:2]
    cell = timecode_cell_px((width, height)) if cell_px is None else cell_px
    if cell % 8 or cell <= 0:
        raise ValueError(f"cell_px is {cell}, expected a positive multiple of 8")
    if width < _COLUMNS * cell or height < _ROWS * cell:
        raise ValueError(f"image of {width}x{height} px is too small for a timecode of {cell} px cells")
    levels = (np.concatenate([[1, 0], _bits(time_s)]).reshape(_ROWS, _COLUMNS) * 255).astype(np.uint8)
    block = cv2.resize(levels, (_COLUMNS * cell, _ROWS * cell), interpolation=cv2.INTER_NEAREST)
    image[: _ROWS * cell, : _COLUMNS * cell] = block[:, :, None] if image.ndim == 3 else block


def _read(gray: np.ndarray, cell: int) -> float | None:
    if gray.shape[0] < _ROWS * cell or gray.shape[1] < _COLUMNS * cell:
        return None
    margin = cell // 4
    region = gray[: _ROWS * cell, : _COLUMNS * cell].astype(np.float32)
    cells = region.reshape(_ROWS, cell, _COLUMNS, cell)[:, margin:cell - margin, :, margin:cell - margin]
    means = cells.mean(axis=(1, 3)).reshape(-1)
    white, black = means[0], means[1]
    if white - black < 60:
        return None
    values = means[2:]
    # A valid cell is near one of the two references; anything in between is not our code.
    if np.any(np.abs(values - (white + black) / 2) < (white - black) / 6):
        return None
    bits = (values > (white + black) / 2).astype(np.int64)
    word = int("".join(map(str, bits)), 2)
    ticks, crc = word >> _CRC_BITS, word & 0xFF
    if _crc8(ticks) != crc:
        return None
    return ticks * TICK_S


def read_timecode(image: np.ndarray, *, cell_px: int | None = None) -> float | None:
    """The time (s, modulo 2**28 ticks) burned by :func:`burn_timecode`, or None if absent/corrupt.

    image: (H, W[, 3]) uint8, BGR or gray, possibly JPEG-compressed. Without ``cell_px`` the sizes
    8, 16, 24 and 32 px are tried (the CRC rejects the wrong ones).
    """
    gray = image if image.ndim == 2 else image[..., 1]
    candidates = (cell_px,) if cell_px is not None else (8, 16, 24, 32)
    for cell in candidates:
        value = _read(gray, cell)
        if value is not None:
            return value
    return None
