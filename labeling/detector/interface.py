"""The frozen 2D detector: a torch module run for inference only, images in, pixels out.

:class:`FrozenDetector` wraps any heatmap network (the built-in one, a state dict of a registered
architecture, or a TorchScript file): eval mode, gradients off, run under
``torch.inference_mode()``, on CUDA when present and on the CPU otherwise, batched across views
and framesets. It does the whole round trip:

1. person box: a given box per image, or (``search_size`` set) a low-resolution pass over the
   whole frame whose confident keypoints give the box; otherwise the whole frame;
2. crop: the box (times ``box_margin``) letterboxed into the network input with its aspect ratio
   kept (:mod:`labeling.detector.preprocess`), then normalized;
3. heatmaps decoded by soft-argmax with no quantization (:mod:`labeling.detector.decode`);
4. coordinates mapped back exactly to the pixels of the original image.

Conventions (pixel centres, dimension letters) in :mod:`geometry.camera`. Images are BGR uint8,
as OpenCV reads them and as rigkit's sessions store them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..detections import Detections
from .decode import DecodeOptions, decode_heatmaps, input_from_heatmap
from .loading import LoadedModel
from .preprocess import (boxes_from_points, full_image_boxes, image_from_input,
                         input_from_image_transforms, warp_to_input)

__all__ = ["DetectorSettings", "KeypointDetector", "FrozenDetector"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class DetectorSettings:
    """What a detector needs besides its weights (stored with rigkit's weights files).

    joint_names: J names in the order of the network's heatmaps.
    input_size: ``(width, height)`` of a person crop, pixels; multiples of ``heatmap_stride``.
    search_size: ``(width, height)`` of the whole-frame person-search pass, or None to crop the
        whole frame when no box is given.
    heatmap_stride: input pixels per heatmap cell (4 for heatmaps at 1/4 resolution).
    mean, std: per-channel normalization of ``pixel / 255`` in the network's channel order.
    channel_order: ``"bgr"`` or ``"rgb"`` (what the network was trained on).
    box_margin: a person box (given or found) is scaled by this about its centre before cropping.
    search_min_score: keypoints of the search pass at least this confident define the box.
    decode: heatmap decoding (see :class:`DecodeOptions`).
    name: a human-readable name for provenance.
    """

    joint_names: tuple[str, ...]
    input_size: tuple[int, int]
    search_size: tuple[int, int] | None = None
    heatmap_stride: int = 4
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    channel_order: Literal["bgr", "rgb"] = "bgr"
    box_margin: float = 1.25
    search_min_score: float = 0.3
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    name: str = "detector"

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(str(n) for n in self.joint_names))
        object.__setattr__(self, "input_size", _size(self.input_size, "input_size"))
        if self.search_size is not None:
            object.__setattr__(self, "search_size", _size(self.search_size, "search_size"))
        if not self.joint_names:
            raise ValueError("detector settings need joint_names")
        if self.heatmap_stride < 1:
            raise ValueError(f"heatmap_stride is {self.heatmap_stride}, expected >= 1")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean {self.mean} and std {self.std} must have 3 values, std > 0")
        if self.channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order is {self.channel_order!r}, expected 'bgr' or 'rgb'")
        if not self.box_margin >= 1.0:
            raise ValueError(f"box_margin is {self.box_margin}, expected >= 1")
        if isinstance(self.decode, dict):
            object.__setattr__(self, "decode", DecodeOptions(**self.decode))

    @classmethod
    def from_dict(cls, settings: dict) -> "DetectorSettings":
        """Settings from a weights file's dict; unknown keys are ignored (logged)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(settings) - known - {"architecture"})
        if unknown:
            log.debug("ignoring detector settings %s", ", ".join(unknown))
        if "joint_names" not in settings or "input_size" not in settings:
            raise ValueError("detector settings need 'joint_names' and 'input_size' (pass them when "
                             "loading a TorchScript file that does not carry rigkit.json)")
        return cls(**{k: v for k, v in settings.items() if k in known})

    def to_dict(self) -> dict:
        """JSON-like dict (what rigkit's weights files store)."""
        return {"joint_names": list(self.joint_names), "input_size": list(self.input_size),
                "search_size": None if self.search_size is None else list(self.search_size),
                "heatmap_stride": self.heatmap_stride, "mean": list(self.mean),
                "std": list(self.std), "channel_order": self.channel_order,
                "box_margin": self.box_margin, "search_min_score": self.search_min_score,
                "decode": {"mode": self.decode.mode,
                           "window_radius_cells": self.decode.window_radius_cells,
                           "beta": self.decode.beta},
                "name": self.name}


def _size(value, name: str) -> tuple[int, int]:
    size = tuple(int(v) for v in value)
    if len(size) != 2 or min(size) < 8:
        raise ValueError(f"{name} is {value}, expected (width, height) of at least 8 pixels")
    return size


class KeypointDetector:
    """What every detector backend offers (``builtin``, ``torchscript:``, ``onnx:``,
    ``mediapipe``; :func:`labeling.detector.open_detector`): single-person keypoints per image,
    with provenance.

    Subclasses set ``joint_names``, ``weights_sha256`` (hex sha256 of the model file(s)), ``name``
    and ``person_boxes`` (one phrase: where the person box comes from) and implement
    :meth:`detect`. ``tracks_boxes``: the backend wants each camera's previous-frame box
    (``boxes`` of :meth:`detect` from the last frame's keypoints), so its callers feed a camera's
    frames in order.
    """

    joint_names: tuple[str, ...]
    name: str = "detector"
    person_boxes: str = "the whole frame"
    tracks_boxes: bool = False
    batch_size: int = 32

    @property
    def weights_sha256(self) -> str:
        return self._weights_sha256

    @property
    def source(self) -> str:
        """Provenance text for :attr:`labeling.Detections.source`."""
        return f"{self.name} (weights sha256 {self.weights_sha256 or 'in-memory'})"

    def detect(self, images, boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(points_px (B, J, 2), scores (B, J))`` of B BGR uint8 images (see
        :meth:`FrozenDetector.detect`); NaN where a joint is not found."""
        raise NotImplementedError

    def detect_framesets(self, framesets: Sequence[Sequence[np.ndarray]], *,
                         camera_names: Sequence[str], frame_index: np.ndarray | None = None,
                         timestamp_s: np.ndarray | None = None) -> Detections:
        """Detections of F framesets of V views each (batched across both).

        framesets: F sequences of V BGR uint8 images, in the order of ``camera_names``.
        frame_index: (F,) frameset indices (default 0..F-1); timestamp_s: (F,) seconds (NaN).
        """
        F = len(framesets)
        V = len(camera_names)
        images = []
        for f, frameset in enumerate(framesets):
            if len(frameset) != V:
                raise ValueError(f"frameset {f} has {len(frameset)} images, expected {V} "
                                 f"(cameras {', '.join(camera_names)})")
            images.extend(frameset)
        points, scores = self.detect(images)  # (a tracking backend gets no boxes: full frames)
        J = len(self.joint_names)
        points = points.reshape(F, V, J, 2).transpose(1, 0, 2, 3)
        scores = scores.reshape(F, V, J).transpose(1, 0, 2)
        return Detections(points_2d=points, scores=scores, camera_names=tuple(camera_names),
                          joint_names=self.joint_names,
                          frame_index=np.arange(F) if frame_index is None else frame_index,
                          timestamp_s=np.full(F, np.nan) if timestamp_s is None else timestamp_s,
                          source=self.source,
                          metadata={"detector": self.name,
                                    "weights_sha256": self._weights_sha256})



class FrozenDetector(KeypointDetector):
    """A heatmap network frozen for inference.

    module: the torch module (it is put in eval mode, its parameters get
        ``requires_grad_(False)``, and it is moved to ``device``).
    settings: :class:`DetectorSettings`.
    weights_sha256: sha256 of the weights file ("" for an in-memory module).
    device: ``"cuda"`` when available and None is given, else ``"cpu"``.
    batch_size: crops per forward pass.
    """

    def __init__(self, module: nn.Module, settings: DetectorSettings, *, weights_sha256: str = "",
                 device: str | torch.device | None = None, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}, expected >= 1")
        self.device = torch.device(device if device is not None else
                                   ("cuda" if torch.cuda.is_available() else "cpu"))
        self.settings = settings
        self.batch_size = batch_size
        self._weights_sha256 = weights_sha256
        module = module.eval()
        for parameter in module.parameters():  # (ScriptModules lack requires_grad_)
            parameter.requires_grad_(False)
        self.module = module.to(self.device)
        # (pixel / 255 - mean) / std == pixel * _gain - _offset
        mean = torch.tensor(settings.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(settings.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._gain = 1.0 / (255.0 * std)
        self._offset = mean / std

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, **kwargs) -> "FrozenDetector":
        return cls(loaded.module, DetectorSettings.from_dict(loaded.settings),
                   weights_sha256=loaded.weights_sha256, **kwargs)

    # -- provenance --------------------------------------------------------------------------
    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.settings.joint_names

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def person_boxes(self) -> str:
        if self.settings.search_size is not None:
            return "a low-resolution person-search pass over each whole frame"
        return "the whole frame"

    def __repr__(self) -> str:
        return (f"FrozenDetector({self.settings.name!r}, {len(self.joint_names)} joints, "
                f"input {self.settings.input_size}, device {self.device})")

    # -- inference ---------------------------------------------------------------------------
    def detect(self, images, boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of one person per image.

        images: B BGR uint8 images, a list of (H_b, W_b, 3) (sizes may differ) or an array
            (B, H, W, 3).
        boxes: (B, 4) float ``(x0, y0, x1, y1)`` person boxes in original pixels, or None; rows
            of NaN (or None) mean "find the person" (search pass, else the whole frame).
        Returns ``(points_px (B, J, 2) float64, scores (B, J) float64 in [0, 1])``: original
        image pixels; NaN (score NaN) where the network saw no evidence of a joint.
        """
        images = _as_image_list(images)
        B = len(images)
        J = len(self.joint_names)
        if B == 0:
            return np.zeros((0, J, 2)), np.zeros((0, J))
        sizes = np.array([(image.shape[1], image.shape[0]) for image in images], dtype=np.float64)
        whole = full_image_boxes(sizes)
        if boxes is None:
            boxes = np.full((B, 4), np.nan)
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.shape != (B, 4):
            raise ValueError(f"boxes has shape {boxes.shape}, expected ({B}, 4) as (x0, y0, x1, y1)")
        boxes = boxes.copy()
        missing = ~np.isfinite(boxes).all(axis=1)
        margin = np.full(B, self.settings.box_margin)
        if missing.any():
            if self.settings.search_size is not None:
                index = np.flatnonzero(missing)
                points, scores = self._run([images[i] for i in index], whole[index],
                                           self.settings.search_size, margin=1.0)
                found_boxes, found = boxes_from_points(points, scores,
                                                       min_score=self.settings.search_min_score,
                                                       fallback=whole[index])
                boxes[index] = found_boxes
                margin[index[~found]] = 1.0
                if not found.all():
                    log.debug("person search found no one in %d of %d images; cropping the "
                              "whole frame there", int((~found).sum()), index.size)
            else:
                boxes[missing] = whole[missing]
                margin[missing] = 1.0
        return self._run(images, boxes, self.settings.input_size, margin=margin)

    def _run(self, images: list[np.ndarray], boxes: np.ndarray, input_size: tuple[int, int], *,
             margin) -> tuple[np.ndarray, np.ndarray]:
        """Crop pass: boxes (B, 4) -> (points (B, J, 2) original pixels, scores (B, J))."""
        B = len(images)
        J = len(self.joint_names)
        margin = np.broadcast_to(np.asarray(margin, dtype=np.float64), (B,))
        points = np.empty((B, J, 2))
        scores = np.empty((B, J))
        for start in range(0, B, self.batch_size):
            stop = min(start + self.batch_size, B)
            transforms = input_from_image_transforms(boxes[start:stop], input_size,
                                                     margin=margin[start:stop])
            crops = warp_to_input(images[start:stop], transforms, input_size)
            coords, confidence = self._forward(crops)
            points[start:stop] = image_from_input(coords, transforms)
            scores[start:stop] = confidence
        no_evidence = ~(scores > 0)
        points[no_evidence] = np.nan
        scores[no_evidence] = np.nan
        return points, scores

    def _forward(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(b, h, w, 3) uint8 crops -> (input-pixel coords (b, J, 2), confidence (b, J))."""
        with torch.inference_mode():
            batch = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float()
            if self.settings.channel_order == "rgb":
                batch = batch.flip(1)
            batch = batch * self._gain - self._offset
            heatmaps = self.module(batch)
            if heatmaps.ndim != 4 or heatmaps.shape[1] != len(self.joint_names):
                raise ValueError(f"the detector returned shape {tuple(heatmaps.shape)}, expected "
                                 f"(B, {len(self.joint_names)}, h, w) heatmaps")
            coords, confidence = decode_heatmaps(heatmaps, self.settings.decode)
            coords = input_from_heatmap(coords, self.settings.heatmap_stride)
        return coords.double().cpu().numpy(), confidence.double().cpu().numpy()


def _as_image_list(images) -> list[np.ndarray]:
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            raise ValueError(f"images has shape {images.shape}: pass a batch (B, H, W, 3) or a "
                             "list of images, not a single image")
        images = list(images)
    images = list(images)
    for b, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise ValueError(f"image {b} is {dtype} with shape {shape}, expected BGR uint8 "
                             "(H, W, 3)")
    return images
