"""``--detector onnx:MODEL.onnx``: a top-down keypoint model exported to ONNX (MMPose, RTMPose,
ViTPose exports, or rigkit's own :func:`export_onnx`), run with onnxruntime (optional extra
``rigkit[onnx]``).

What the model needs besides its weights, first found wins:

1. the model's metadata property ``rigkit`` (JSON, written by :func:`export_onnx`);
2. a sidecar TOML next to the model, ``MODEL.toml`` or ``MODEL.onnx.toml``, e.g. for an RTMPose
   export::

       joint_names = ["nose", "left_eye", ...]     # J names (default: COCO-17 when J = 17)
       input_size = [192, 256]                     # (width, height) (default: the model's input)
       mean = [0.485, 0.456, 0.406]                # of pixel / 255 (default ImageNet)
       std = [0.229, 0.224, 0.225]
       channel_order = "rgb"                       # default "rgb" (MMPose's bgr_to_rgb)
       output = "simcc"                            # "heatmap" or "simcc" (default: by the outputs)
       simcc_split_ratio = 2.0                     # SimCC bins per input pixel (default: by shape)

3. defaults read off the model: input size from a static input shape, ``output`` from the
   outputs (one (B, J, h, w) output: heatmaps; two (B, J, bins) outputs: SimCC x then y).

Decoding: heatmaps as the built-in detector (:mod:`labeling.detector.decode`, soft-argmax around
the peak, stride = input / heatmap size); SimCC by the argmax of each axis, ``bin / ratio`` input
pixels, score the smaller of the two maxima clipped to [0, 1].

Person boxes (the model sees a crop), said in the run's log and provenance:

- with ``box_model = "det.onnx"`` in the sidecar (a path relative to the model): a person-box
  ONNX model run on every whole frame (letterboxed to its input; ``box_input_size``, ``box_mean``,
  ``box_std``, ``box_channel_order`` default to its static input shape and the pose model's
  normalization); its first output holds rows ``(x0, y0, x1, y1, score, ...)`` in input pixels,
  as mmdeploy's RTMDet/YOLOX ``dets`` (1, N, 5); the best row at least ``box_min_score``
  (default 0.3) is the person, else the whole frame;
- otherwise each camera's box comes from its keypoints in the previous frame (confident joints,
  grown by ``box_margin``); a camera's first frame, a frame after a lost person, and the first
  frameset of every chunk use the whole frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tomllib
from pathlib import Path

import numpy as np
import torch

from .decode import decode_heatmaps, input_from_heatmap
from .interface import DetectorSettings, FrozenDetector, _as_image_list
from .loading import file_sha256
from .preprocess import full_image_boxes, image_from_input, input_from_image_transforms, warp_to_input

__all__ = ["OnnxDetector", "load_onnx_detector", "export_onnx", "ONNX_METADATA_KEY"]

log = logging.getLogger(__name__)
ONNX_METADATA_KEY = "rigkit"
_ONNX_DEFAULTS = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                  "channel_order": "rgb"}


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ValueError("the onnx detector needs onnxruntime: install rigkit[onnx]") from None
    return onnxruntime


class PersonBoxModel:
    """A person-box ONNX model (see the module docstring): whole frames in, one box per image."""

    def __init__(self, session, *, input_size: tuple[int, int], mean, std, channel_order: str,
                 min_score: float, name: str):
        self.session, self.input_size, self.min_score, self.name = session, input_size, min_score, name
        self.channel_order = channel_order
        self._input_name = session.get_inputs()[0].name
        self._gain = 1.0 / (255.0 * np.array(std, dtype=np.float32).reshape(1, 3, 1, 1))
        self._offset = np.array(mean, dtype=np.float32).reshape(1, 3, 1, 1) * 255.0 * self._gain

    def boxes(self, images: list[np.ndarray]) -> np.ndarray:
        """(B, 4) ``(x0, y0, x1, y1)`` image pixels; NaN rows where no person is found."""
        sizes = np.array([(im.shape[1], im.shape[0]) for im in images], dtype=np.float64)
        transforms = input_from_image_transforms(full_image_boxes(sizes), self.input_size)
        crops = warp_to_input(images, transforms, self.input_size)
        out = np.full((len(images), 4), np.nan)
        for b in range(len(images)):  # box models are usually exported with batch 1
            batch = crops[b:b + 1].transpose(0, 3, 1, 2).astype(np.float32)
            if self.channel_order == "rgb":
                batch = batch[:, ::-1]
            batch = np.ascontiguousarray(batch * self._gain - self._offset, dtype=np.float32)
            rows = np.asarray(self.session.run(None, {self._input_name: batch})[0], dtype=np.float64)
            if rows.size == 0 or rows.shape[-1] < 5:
                continue
            rows = rows.reshape(-1, rows.shape[-1])
            best = rows[np.argmax(rows[:, 4])]
            if best[4] >= self.min_score:
                corners = image_from_input(best[:4].reshape(1, 2, 2), transforms[b:b + 1])
                out[b] = corners.reshape(4)
        return out


def _sidecar(path: Path) -> dict:
    for candidate in (path.with_suffix(".toml"), path.with_name(path.name + ".toml")):
        if candidate.is_file():
            try:
                return tomllib.loads(candidate.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"{candidate} is not valid TOML ({error})") from None
    return {}


class OnnxDetector(FrozenDetector):
    """A top-down ONNX keypoint model (see the module docstring); the crop, letterbox and
    back-mapping are :class:`FrozenDetector`'s, the network is an onnxruntime session."""

    tracks_boxes = True

    def __init__(self, session, settings: DetectorSettings, *, output: str, simcc_split_ratio: float,
                 weights_sha256: str, batch_size: int = 32, box_model: PersonBoxModel | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size is {batch_size}, expected >= 1")
        self.session = session
        self.settings = settings
        self.output = output
        self.simcc_split_ratio = float(simcc_split_ratio)
        self.batch_size = batch_size
        self.device = torch.device("cpu")
        self._weights_sha256 = weights_sha256
        self._input_name = session.get_inputs()[0].name
        mean = np.array(settings.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.array(settings.std, dtype=np.float32).reshape(1, 3, 1, 1)
        self._gain = 1.0 / (255.0 * std)
        self._offset = mean / std
        self.module = None
        self.box_model = box_model
        self.tracks_boxes = box_model is None

    @property
    def person_boxes(self) -> str:
        if self.box_model is not None:
            return f"the box model {self.box_model.name} on every whole frame"
        return "each camera's keypoints in the previous frame (the whole frame at a camera's first frame)"

    def detect(self, images, boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`FrozenDetector.detect`; with a box model, images without a given box get
        the box model's (the whole frame where it finds no one)."""
        if self.box_model is not None:
            images = _as_image_list(images)
            found = self.box_model.boxes(images)
            if boxes is None:
                boxes = found
            else:
                boxes = np.asarray(boxes, dtype=np.float64)
                boxes = np.where(np.isfinite(boxes).all(axis=1)[:, None], boxes, found)
        return super().detect(images, boxes)

    def __repr__(self) -> str:
        return (f"OnnxDetector({self.settings.name!r}, {len(self.joint_names)} joints, "
                f"{self.output}, input {self.settings.input_size})")

    def _forward(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = crops.transpose(0, 3, 1, 2).astype(np.float32)
        if self.settings.channel_order == "rgb":
            batch = batch[:, ::-1]
        batch = np.ascontiguousarray(batch * self._gain - self._offset, dtype=np.float32)
        outputs = self.session.run(None, {self._input_name: batch})
        J = len(self.joint_names)
        if self.output == "heatmap":
            heatmaps = outputs[0]
            if heatmaps.ndim != 4 or heatmaps.shape[1] != J:
                raise ValueError(f"the ONNX model returned shape {heatmaps.shape}, expected "
                                 f"(B, {J}, h, w) heatmaps")
            stride = self.settings.input_size[1] / heatmaps.shape[2]
            coords, confidence = decode_heatmaps(torch.from_numpy(heatmaps), self.settings.decode)
            coords = input_from_heatmap(coords, stride)
            return coords.double().numpy(), confidence.double().numpy()
        simcc_x, simcc_y = outputs[0], outputs[1]
        if simcc_x.ndim != 3 or simcc_y.ndim != 3 or simcc_x.shape[1] != J:
            raise ValueError(f"the ONNX model returned shapes {simcc_x.shape} and {simcc_y.shape}, "
                             f"expected SimCC (B, {J}, bins) for x and y")
        x = simcc_x.argmax(axis=2)
        y = simcc_y.argmax(axis=2)
        score = np.minimum(simcc_x.max(axis=2), simcc_y.max(axis=2))
        coords = np.stack([x, y], axis=-1) / self.simcc_split_ratio
        return coords.astype(np.float64), np.clip(score, 0.0, 1.0).astype(np.float64)


def load_onnx_detector(path: str | os.PathLike, *, batch_size: int = 32, threads: int | None = None
                       ) -> OnnxDetector:
    """The ONNX model at ``path`` as a detector (settings as in the module docstring).

    Raises ValueError with one sentence when the file is missing, is not an ONNX model, or its
    settings are incomplete; ValueError("... install rigkit[onnx]") without onnxruntime.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"ONNX model {path} does not exist")
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in ort.get_available_providers()]  # CUDA where present, else the CPU
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own InvalidProtobuf, Fail, ...
        raise ValueError(f"--detector onnx:{path}: the file is not an ONNX model onnxruntime can "
                         f"load ({type(error).__name__})") from None
    settings: dict = dict(_ONNX_DEFAULTS)
    metadata = session.get_modelmeta().custom_metadata_map or {}
    if ONNX_METADATA_KEY in metadata:
        try:
            settings.update(json.loads(metadata[ONNX_METADATA_KEY]))
        except json.JSONDecodeError:
            raise ValueError(f"{path}: its '{ONNX_METADATA_KEY}' metadata is not JSON") from None
    settings.update(_sidecar(path))
    inputs, outputs = session.get_inputs(), session.get_outputs()
    shape = inputs[0].shape
    if len(shape) != 4:
        raise ValueError(f"{path}: its input has shape {shape}, expected (B, 3, H, W)")
    if "input_size" not in settings:
        if not all(isinstance(d, int) for d in shape[2:]):
            raise ValueError(f"{path} has a dynamic input size; give input_size = [width, height] "
                             f"in {path.with_suffix('.toml')}")
        settings["input_size"] = [shape[3], shape[2]]
    output = settings.pop("output", None) or ("simcc" if len(outputs) >= 2 and len(outputs[0].shape) == 3
                                               else "heatmap")
    if output not in ("heatmap", "simcc"):
        raise ValueError(f"{path}: output is {output!r}, expected 'heatmap' or 'simcc'")
    J = outputs[0].shape[1]
    if "joint_names" not in settings:
        if J == 17:
            from geometry.skeletons import COCO_17

            settings["joint_names"] = list(COCO_17.joint_names)
            log.info("%s: no joint names given; its 17 outputs are read as COCO-17", path.name)
        else:
            raise ValueError(f"{path}: give the model's joint_names in {path.with_suffix('.toml')} "
                             f"(it has {J} outputs)")
    box_model = _box_model(path, settings, ort, options, providers)
    ratio = settings.pop("simcc_split_ratio", None)
    if output == "simcc" and ratio is None:
        bins = outputs[0].shape[2]
        ratio = bins / settings["input_size"][0] if isinstance(bins, int) else 2.0
    settings.pop("search_size", None)  # a fixed-size model cannot run a whole-frame search pass
    settings.setdefault("name", f"onnx:{path.name}")
    detector_settings = DetectorSettings.from_dict(settings)
    if isinstance(J, int) and J != len(detector_settings.joint_names):
        raise ValueError(f"{path} outputs {J} joints but names {len(detector_settings.joint_names)}")
    sha256 = file_sha256(path)
    if box_model is not None:  # provenance covers both files
        sha256 = hashlib.sha256((sha256 + box_model.sha256).encode()).hexdigest()
    return OnnxDetector(session, detector_settings, output=output,
                        simcc_split_ratio=float(ratio or 1.0), weights_sha256=sha256,
                        batch_size=batch_size, box_model=box_model)


def _box_model(path: Path, settings: dict, ort, options, providers) -> PersonBoxModel | None:
    """The sidecar's ``box_model`` (its ``box_*`` keys are taken out of ``settings``)."""
    keys = {k: settings.pop(k) for k in [k for k in settings if k.startswith("box_")]
            if k != "box_margin"}
    if "box_model" not in keys:
        return None
    box_path = (path.parent / str(keys["box_model"])).resolve()
    if not box_path.is_file():
        raise ValueError(f"{path}: its box_model {box_path} does not exist")
    try:
        session = ort.InferenceSession(str(box_path), sess_options=options, providers=providers)
    except Exception as error:
        raise ValueError(f"box_model {box_path} is not an ONNX model onnxruntime can load "
                         f"({type(error).__name__})") from None
    shape = session.get_inputs()[0].shape
    size = keys.get("box_input_size")
    if size is None:
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]):
            raise ValueError(f"box_model {box_path} has a dynamic input size; give box_input_size")
        size = (shape[3], shape[2])
    model = PersonBoxModel(session, input_size=(int(size[0]), int(size[1])),
                           mean=keys.get("box_mean", settings.get("mean")),
                           std=keys.get("box_std", settings.get("std")),
                           channel_order=keys.get("box_channel_order", settings.get("channel_order", "rgb")),
                           min_score=float(keys.get("box_min_score", 0.3)), name=box_path.name)
    model.sha256 = file_sha256(box_path)
    return model


def export_onnx(path: str | os.PathLike, detector: FrozenDetector) -> str:
    """Write ``detector``'s network as an ONNX heatmap model (dynamic batch, its crop input size)
    with its settings in the ``rigkit`` metadata; returns the file's sha256. Needs the ``onnx``
    package (``rigkit[onnx]``)."""
    import io
    import warnings

    try:
        import onnx
    except ImportError:
        raise ValueError("exporting to ONNX needs the onnx package: install rigkit[onnx]") from None
    from rigkit_files import write_atomic

    width, height = detector.settings.input_size
    example = torch.zeros(1, 3, height, width)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(detector.module.cpu().eval(), example, buffer, input_names=["input"],
                          output_names=["heatmaps"], dynamic_axes={"input": {0: "batch"}},
                          dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    settings = detector.settings.to_dict()
    settings.update(search_size=None, output="heatmap")
    entry = model.metadata_props.add()
    entry.key, entry.value = ONNX_METADATA_KEY, json.dumps(settings)
    write_atomic(Path(path), model.SerializeToString())
    detector.module.to(detector.device)
    return file_sha256(path)
