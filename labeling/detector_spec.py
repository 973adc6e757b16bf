"""The one ``--detector`` grammar, everywhere a detector is chosen (torch-free, so that the
commands' ``--help`` stays fast; :func:`labeling.detector.open_detector` builds the detector).

``builtin``
    rigkit's small heatmap network, trained on synthetic renders: the demo's detector; it does
    not see real people.
``mediapipe``
    MediaPipe BlazePose full, 33 landmarks (``rigkit[mediapipe]``): the one for real footage
    out of the box.
``onnx:MODEL.onnx``
    a top-down heatmap or SimCC model exported to ONNX (RTMPose, ViTPose, MMPose;
    ``rigkit[onnx]``): for real footage with a model you bring (:mod:`.onnx_model`).
``torchscript:MODEL.pt``
    a TorchScript heatmap network (settings from its ``rigkit.json`` extra file).
``PATH`` (bare)
    a weights file as before: TorchScript or a rigkit checkpoint, told apart by content.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["DetectorSpec", "parse_detector_spec", "DETECTOR_HELP"]

DetectorKind = Literal["builtin", "mediapipe", "onnx", "torchscript", "weights"]
DETECTOR_HELP = ("builtin (default; trained on synthetic renders: the demo's), mediapipe "
                 "(BlazePose, 33 landmarks: real footage; needs rigkit[mediapipe]), "
                 "onnx:MODEL.onnx (an RTMPose/ViTPose/MMPose top-down export: real footage; needs "
                 "rigkit[onnx]), torchscript:MODEL.pt, or a bare weights path (TorchScript or "
                 "rigkit checkpoint)")


@dataclass(frozen=True)
class DetectorSpec:
    """A parsed ``--detector`` value: ``kind`` and, for file-based kinds, ``path``."""

    kind: DetectorKind
    path: str | None = None

    def __str__(self) -> str:
        if self.kind in ("builtin", "mediapipe"):
            return self.kind
        return self.path if self.kind == "weights" else f"{self.kind}:{self.path}"


def parse_detector_spec(value: str | os.PathLike | DetectorSpec | None) -> DetectorSpec:
    """``--detector`` text -> :class:`DetectorSpec` (None is ``builtin``); ValueError for an
    unknown prefix or an empty path."""
    if value is None:
        return DetectorSpec("builtin")
    if isinstance(value, DetectorSpec):
        return value
    text = str(value).strip()
    lowered = text.lower()
    if lowered in ("builtin", "builtin_coco17"):
        return DetectorSpec("builtin")
    if lowered in ("mediapipe", "blazepose"):
        return DetectorSpec("mediapipe")
    prefix, sep, path = text.partition(":")
    if sep and prefix.lower() in ("onnx", "torchscript"):
        if not path:
            raise ValueError(f"--detector {text!r} names no file (expected {prefix}:PATH)")
        return DetectorSpec(prefix.lower(), path)  # type: ignore[arg-type]
    if sep and len(prefix) > 1 and not Path(text).exists():
        raise ValueError(f"--detector {text!r}: unknown kind {prefix!r}; expected {DETECTOR_HELP}")
    if not text:
        raise ValueError(f"--detector is empty; expected {DETECTOR_HELP}")
    return DetectorSpec("weights", text)
