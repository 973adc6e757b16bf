"""Sub-frame pairing: cameras whose frames were exposed between the other cameras' frames.

Conventions in :mod:`geometry.camera`. A frame offset ``o`` (``--frame-offset NAME=o``, frames,
may be fractional) says camera NAME's frame ``k + o`` shows the instant of frameset ``k``. Images
can only be paired by whole frames, so an offset is split into ``o = n + a`` (``n = floor(o)``,
``0 <= a < 1``): frameset ``k`` holds the camera's frame ``k + n`` (:func:`split_frame_offsets`,
then :func:`capture.pairing.pair_frames` with the whole parts), and what is measured in those
frames (keypoints, corners, their scores) is moved ``a`` of the way to frame ``k + n + 1``
(:func:`shift_frames`: linear in time, exact for steady motion over one frame).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["shift_frames", "split_frame_offsets", "describe_fractions"]

_WHOLE_TOL_FRAMES = 1e-9  # an offset this close to a whole number is that number


def split_frame_offsets(offsets: Mapping[str, float]) -> tuple[dict[str, int], dict[str, float]]:
    """``{name: o}`` frames -> ``({name: n}, {name: a})`` with ``o = n + a``, ``n`` whole and
    ``0 <= a < 1``; cameras whose offset is whole are left out of the second mapping."""
    whole: dict[str, int] = {}
    fraction: dict[str, float] = {}
    for name, offset in offsets.items():
        offset = float(offset)
        if not math.isfinite(offset):
            raise ValueError(f"frame offset of {name} is {offset}, expected a finite number of frames")
        n = math.floor(offset + _WHOLE_TOL_FRAMES)
        a = offset - n
        whole[name] = int(n)
        if a > _WHOLE_TOL_FRAMES:
            fraction[name] = a
    return whole, fraction


def describe_fractions(fractions: Mapping[str, float], whole: Mapping[str, int]) -> str:
    """One sentence naming the cameras whose measurements :func:`shift_frames` interpolates."""
    parts = [f"{name} {a:.2f} of the way from its frame k{whole.get(name, 0):+d} to k{whole.get(name, 0) + 1:+d}"
             for name, a in fractions.items()]
    return ("sub-frame offsets: keypoints of frameset k interpolated, " + ", ".join(parts)
            + " (a camera's last paired frameset has no next frame: that view is left out there)")


def shift_frames(values: np.ndarray, offsets_frames: np.ndarray, *,
                 frame_numbers: np.ndarray | None = None) -> np.ndarray:
    """Resample each camera's track: ``out[v, f] = values[v, f + offsets_frames[v]]``.

    values: (V, F, ...) float64, e.g. points (V, F, J, 2) px or scores (V, F, J); NaN = missing.
    offsets_frames: (V,) float frames.
    frame_numbers: (F,) increasing numbers of the F framesets on the time axis, in frames (a
        recording's frameset indices): with gaps (framesets left out: dropped frames, a stride)
        the value at ``frame_numbers[f] + offset`` is read between the two framesets around that
        instant, and only when they are one step apart (the median step); None: 0, 1, 2, ...
    Linear interpolation between frames ``floor`` and ``floor + 1``; NaN outside the recording or
    where a neighbour is missing (an exact whole offset needs only its own frame).
    """
    values = np.asarray(values, dtype=np.float64)
    offsets = np.asarray(offsets_frames, dtype=np.float64).reshape(-1)
    if values.ndim < 3 or offsets.shape != (values.shape[0],):
        raise ValueError(f"values has shape {values.shape} and offsets {offsets.shape}, expected "
                         "(V, F, ...) with at least one trailing axis, and (V,)")
    if not np.all(np.isfinite(offsets)):
        raise ValueError("frame offsets must be finite")
    V, F = values.shape[:2]
    numbers = np.arange(F, dtype=np.float64) if frame_numbers is None else np.asarray(frame_numbers, np.float64)
    if numbers.shape != (F,) or (F > 1 and not (np.diff(numbers) > 0).all()):
        raise ValueError(f"frame_numbers has shape {numbers.shape}, expected ({F},) increasing")
    step = float(np.median(np.diff(numbers))) if F > 1 else 1.0
    tolerance = _WHOLE_TOL_FRAMES * max(step, 1.0)
    out = np.full_like(values, np.nan)
    expand = (slice(None),) + (None,) * (values.ndim - 2)
    for v in range(V):
        wanted = numbers + offsets[v]
        base = np.searchsorted(numbers, wanted + tolerance, side="right") - 1  # numbers[base] <= wanted
        b = np.clip(base, 0, F - 1)
        n = np.clip(base + 1, 0, F - 1)
        exact = (base >= 0) & (np.abs(numbers[b] - wanted) <= tolerance)
        gap = numbers[n] - numbers[b]
        bracketed = (base >= 0) & (base + 1 < F) & (np.abs(gap - step) <= tolerance)
        weight = np.where(exact, 0.0, (wanted - numbers[b]) / np.where(gap > 0, gap, 1.0))
        inside = exact | bracketed
        w = weight[expand]
        following = np.where(w > 0, values[v, n], 0.0)  # an unused neighbour may be missing
        value = (1 - w) * values[v, b] + w * following
        out[v, inside] = value[inside]
    return out
