"""The built-in reference detector: a small heatmap CNN (architecture ``"rigkit_heatmap_v1"``).

A light encoder-decoder in the style of the simple baselines (Xiao et al., ECCV 2018) shrunk for
CPUs: strided 3x3 convolutions down to 1/16 of the input (one dilated convolution widens the
receptive field), bilinear upsampling with skip connections back to 1/4, and a 1x1 head giving
J heatmaps at 1/4 of the input resolution. About 0.5 M parameters (2 MB of float32), ~0.2 GMAC
per 144x192 crop. Fully convolutional: any input whose sides are multiples of 16 works, which the
person-search pass uses (a landscape letterbox of the whole frame).

The shipped weights (``weights/builtin_coco17.pt``) were trained by
:mod:`labeling.detector.train_builtin` on synthetic renders only; see that module.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from .loading import register_architecture

__all__ = ["HeatmapNet", "BUILTIN_ARCHITECTURE", "BUILTIN_WEIGHTS", "BUILTIN_INPUT_SIZE",
           "BUILTIN_SEARCH_SIZE", "HEATMAP_STRIDE"]

BUILTIN_ARCHITECTURE = "rigkit_heatmap_v1"
BUILTIN_WEIGHTS = Path(__file__).with_name("weights") / "builtin_coco17.pt"
BUILTIN_INPUT_SIZE = (144, 192)  # (width, height) of a person crop, pixels
BUILTIN_SEARCH_SIZE = (256, 192)  # (width, height) of the whole-frame person-search pass
HEATMAP_STRIDE = 4


def _conv(in_channels: int, out_channels: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation,
                  bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class HeatmapNet(nn.Module):
    """Image batch (B, 3, H, W) float (normalized) -> heatmaps (B, J, H/4, W/4) float.

    num_joints: J. width: channels at 1/4 resolution (1/8 gets 2x, 1/16 gets 3x).
    """

    def __init__(self, num_joints: int = 17, width: int = 32):
        super().__init__()
        if num_joints < 1 or width < 4:
            raise ValueError(f"num_joints={num_joints} and width={width}, expected >= 1 and >= 4")
        c4, c8, c16 = width, 2 * width, 3 * width
        self.stem = nn.Sequential(_conv(3, width // 2, stride=2), _conv(width // 2, c4, stride=2),
                                  _conv(c4, c4))
        self.down8 = nn.Sequential(_conv(c4, c8, stride=2), _conv(c8, c8))
        self.down16 = nn.Sequential(_conv(c8, c16, stride=2), _conv(c16, c16),
                                    _conv(c16, c16, dilation=2))
        self.up8 = _conv(c16 + c8, c8)
        self.up4 = nn.Sequential(_conv(c8 + c4, 3 * width // 2), _conv(3 * width // 2, 3 * width // 2))
        self.head = nn.Conv2d(3 * width // 2, num_joints, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f4 = self.stem(images)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        x = functional.interpolate(f16, size=f8.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up8(torch.cat([x, f8], dim=1))
        x = functional.interpolate(x, size=f4.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up4(torch.cat([x, f4], dim=1))
        return self.head(x)


register_architecture(BUILTIN_ARCHITECTURE)(HeatmapNet)
