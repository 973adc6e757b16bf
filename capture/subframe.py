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


def shift_frames(values: np.ndarray, offsets_frames: np.ndarray) -> np.ndarray:
    """Resample each camera's track: ``out[v, f] = values[v, f + offsets_frames[v]]``.

    values: (V, F, ...) float64, e.g. points (V, F, J, 2) px or scores (V, F, J); NaN = missing.
    offsets_frames: (V,) float frames.
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
    out = np.full_like(values, np.nan)
    frames = np.arange(F)
    expand = (slice(None),) + (None,) * (values.ndim - 2)
    for v in range(V):
        position = frames + offsets[v]
        base = np.floor(position + _WHOLE_TOL_FRAMES).astype(np.int64)
        weight = position - base
        weight = np.where(np.abs(weight) < _WHOLE_TOL_FRAMES, 0.0, weight)
        inside = (base >= 0) & (base < F) & ((weight == 0) | (base + 1 < F))
        b = np.clip(base, 0, F - 1)
        n = np.clip(base + 1, 0, F - 1)
        w = weight[expand]
        following = np.where(w > 0, values[v, n], 0.0)  # an unused neighbour may be missing
        value = (1 - w) * values[v, b] + w * following
        out[v, inside] = value[inside]
    return out
