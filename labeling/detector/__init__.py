"""Frozen 2D keypoint detectors: the interface, the built-in reference network, weights loading.

``builtin_detector()`` is rigkit's own small heatmap network (trained on synthetic renders, weights
shipped in the package); ``load_detector(path)`` freezes any TorchScript file or state dict of a
registered architecture; ``open_detector(spec)`` takes the one ``--detector`` grammar
(:mod:`.spec`: ``builtin``, ``mediapipe``, ``onnx:PATH``, ``torchscript:PATH``, a bare path) and
returns any backend behind :class:`KeypointDetector`. Nothing is downloaded at run time.
"""

from __future__ import annotations

import os

from .builtin import BUILTIN_ARCHITECTURE, BUILTIN_WEIGHTS, HeatmapNet
from .decode import DecodeOptions, decode_heatmaps
from .interface import DetectorSettings, FrozenDetector, KeypointDetector
from .loading import (LoadedModel, export_torchscript, load_model, register_architecture,
                      registered_architectures, save_checkpoint)

from .spec import DETECTOR_HELP, DetectorSpec, open_detector, parse_detector_spec

__all__ = [
    "open_detector", "parse_detector_spec", "DetectorSpec", "DETECTOR_HELP", "KeypointDetector",
    "FrozenDetector", "DetectorSettings", "load_detector", "builtin_detector",
    "DecodeOptions", "decode_heatmaps",
    "register_architecture", "registered_architectures", "load_model", "LoadedModel",
    "save_checkpoint", "export_torchscript",
    "HeatmapNet", "BUILTIN_ARCHITECTURE", "BUILTIN_WEIGHTS",
]

BUILTIN_NAMES = ("builtin", "builtin_coco17")


def load_detector(path_or_name: str | os.PathLike, *, device: str | None = None,
                  batch_size: int = 32, **settings) -> FrozenDetector:
    """A frozen detector from a weights file (TorchScript or checkpoint) or ``"builtin"``.

    settings: overrides of the stored :class:`DetectorSettings` fields (e.g. ``joint_names`` and
        ``input_size`` for a TorchScript file without rigkit metadata), or ``architecture`` /
        ``architecture_kwargs`` for a bare state dict.
    """
    path = BUILTIN_WEIGHTS if str(path_or_name) in BUILTIN_NAMES else path_or_name
    loaded = load_model(path, **settings)
    return FrozenDetector.from_loaded(loaded, device=device, batch_size=batch_size)


def builtin_detector(*, device: str | None = None, batch_size: int = 32) -> FrozenDetector:
    """rigkit's built-in COCO-17 detector (``weights/builtin_coco17.pt``, shipped)."""
    if not BUILTIN_WEIGHTS.is_file():
        raise ValueError(f"the built-in detector's weights {BUILTIN_WEIGHTS} are missing; "
                         "reinstall rigkit or train them with "
                         "`python -m labeling.detector.train_builtin`")
    return load_detector(BUILTIN_WEIGHTS, device=device, batch_size=batch_size)
