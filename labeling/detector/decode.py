"""Heatmap decoding without quantization: soft-argmax (integral regression).

A heatmap cell ``(row i, column j)`` sits at heatmap coordinate ``(x=j, y=i)`` (pixel centres at
integers, as in :mod:`geometry.camera`). Decoded coordinates are continuous: the expectation of
the position under the heatmap's normalized mass, never the index of the maximum.

Two modes:

``"local"``
    Mass-weighted mean of the non-negative heatmap inside a window centred on the peak. For
    networks trained to regress Gaussian heatmaps (the built-in detector): the background's small
    positive values cannot drag the estimate, and a Gaussian centred at a sub-pixel location
    decodes to that location exactly up to its truncation by the window.
``"integral"``
    Softmax over the whole map (times ``beta``), then the expectation (Sun et al., "Integral
    Human Pose Regression", ECCV 2018). For networks trained end to end with an integral loss.
``"softmax_local"``
    Softmax over the whole map (times ``beta``), then the expectation inside the window around
    the peak. For networks trained with a cross-entropy loss against a normalized Gaussian (the
    built-in detector): the map is a probability distribution of the joint's position, and the
    window keeps a far secondary mode (the other wrist) out of the mean.

Confidence is the heatmap's peak value (``"local"``; a Gaussian target has peak 1) or the
softmax mass inside the window around the peak (``"integral"``, ``"softmax_local"``: the
probability that the joint is there), clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from geometry.options import check_fields, option

__all__ = ["DecodeOptions", "decode_heatmaps", "heatmap_from_input", "input_from_heatmap"]

DecodeMode = Literal["local", "integral", "softmax_local"]


@dataclass(frozen=True, kw_only=True)
class DecodeOptions:
    """How heatmaps become coordinates.

    mode: see the module docstring.
    window_radius_cells: half-size of the window around the peak, in heatmap cells (``"local"``
        averages inside it; ``"integral"`` measures the confidence mass inside it).
    beta: softmax sharpness for ``"integral"`` (the map is multiplied by it before the softmax).
    """

    mode: DecodeMode = option("local", choices=("local", "integral", "softmax_local"))
    window_radius_cells: int = option(3, low=1)
    beta: float = option(1.0, low=0, low_open=True)

    def __post_init__(self) -> None:
        check_fields(self)


def decode_heatmaps(heatmaps: torch.Tensor, options: DecodeOptions = DecodeOptions()
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel keypoint coordinates and confidences from heatmaps.

    heatmaps: (B, J, h, w) float tensor, any device.
    Returns ``(coords (B, J, 2) float32 heatmap coordinates (x, y), confidence (B, J) float32 in
    [0, 1])`` on the heatmaps' device. A map with no positive mass in the window decodes to its
    peak cell with confidence 0 (``"local"``); it is never NaN.
    """
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps has shape {tuple(heatmaps.shape)}, expected (B, J, h, w)")
    heatmaps = heatmaps.float()
    B, J, h, w = heatmaps.shape
    flat = heatmaps.reshape(B, J, h * w)
    peak_value, peak_index = flat.max(dim=-1)
    peak_y = torch.div(peak_index, w, rounding_mode="floor")
    peak_x = peak_index - peak_y * w
    ys = torch.arange(h, device=heatmaps.device, dtype=torch.float32)
    xs = torch.arange(w, device=heatmaps.device, dtype=torch.float32)
    r = options.window_radius_cells
    # (B, J, h, w) window mask around the peak, built from two separable 1D masks.
    in_y = (ys[None, None, :] - peak_y[..., None].float()).abs() <= r
    in_x = (xs[None, None, :] - peak_x[..., None].float()).abs() <= r
    window = in_y[..., :, None] & in_x[..., None, :]
    if options.mode == "local":
        mass = heatmaps.clamp(min=0) * window
        confidence = peak_value.clamp(0, 1)
    else:
        mass = torch.softmax(flat * options.beta, dim=-1).reshape(B, J, h, w)
        confidence = (mass * window).sum(dim=(-2, -1)).clamp(0, 1)
        if options.mode == "softmax_local":
            mass = mass * window
    total = mass.sum(dim=(-2, -1))
    safe = total > 0
    denom = torch.where(safe, total, torch.ones_like(total))
    x = (mass.sum(dim=-2) * xs).sum(dim=-1) / denom
    y = (mass.sum(dim=-1) * ys).sum(dim=-1) / denom
    x = torch.where(safe, x, peak_x.float())
    y = torch.where(safe, y, peak_y.float())
    confidence = torch.where(safe, confidence, torch.zeros_like(confidence))
    return torch.stack([x, y], dim=-1), confidence


def input_from_heatmap(coords: torch.Tensor, stride: int) -> torch.Tensor:
    """Heatmap coordinates -> network-input pixel coordinates.

    Cell ``i`` of a map at ``1/stride`` resolution covers input pixels ``stride*i .. stride*i +
    stride - 1``, so its centre is at ``stride*i + (stride - 1)/2``.
    """
    return coords * stride + (stride - 1) / 2


def heatmap_from_input(coords, stride: int):
    """Inverse of :func:`input_from_heatmap` (works on tensors and numpy arrays)."""
    return (coords - (stride - 1) / 2) / stride
