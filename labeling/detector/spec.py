"""Building the detector a ``--detector`` value names (grammar: :mod:`labeling.detector_spec`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..detector_spec import DETECTOR_HELP, DetectorSpec, parse_detector_spec
from .interface import KeypointDetector

__all__ = ["DetectorSpec", "parse_detector_spec", "open_detector", "DETECTOR_HELP"]


def open_detector(value: str | os.PathLike | DetectorSpec | None, *, device: str | None = None,
                  batch_size: int = 32) -> KeypointDetector:
    """The detector a ``--detector`` value names (see the module docstring).

    A file that is not what its flag says (``onnx:`` on a torch file, ``torchscript:`` on a
    checkpoint) and a missing optional extra raise ValueError with one sentence.
    """
    spec = parse_detector_spec(value)
    if spec.kind == "mediapipe":
        from .mediapipe_pose import MediaPipePoseDetector

        return MediaPipePoseDetector()
    if spec.kind == "onnx":
        from .onnx_model import load_onnx_detector

        return load_onnx_detector(spec.path, batch_size=batch_size)
    from . import BUILTIN_WEIGHTS, load_detector
    from .loading import _is_torchscript

    if spec.kind == "builtin":
        return load_detector(BUILTIN_WEIGHTS, device=device, batch_size=batch_size)
    path = Path(spec.path)
    if not path.is_file():
        raise ValueError(f"detector weights {path} do not exist")
    if spec.kind == "torchscript" and not _is_torchscript(path):
        raise ValueError(f"--detector torchscript:{path}: the file is not TorchScript "
                         "(torch.jit.save); a rigkit checkpoint is given as a bare path")
    return load_detector(path, device=device, batch_size=batch_size)
