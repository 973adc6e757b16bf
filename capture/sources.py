"""The recorder's camera sources: OpenCV devices and streams, video files, image folders replayed
as cameras, a synthetic rig camera. (Reading files and folders offline, for calibration and
labeling, is :mod:`capture.frames`; the folder replay here reads through it.)

A source is opened inside its camera's worker process (never at import time) and read there.
Three kinds of timing:

``"live"`` (devices, streams)
    ``read()`` blocks until the camera delivers; the worker stamps the frame on arrival.
``"scheduled"`` (synthetic; files and folders with ``replay = "realtime"``)
    frame ``k`` belongs at ``k / fps`` s after the recording's start; the worker paces itself to
    that schedule on the shared monotonic clock and skips (and counts) a frame it is late for.
``"fast"`` (files and folders with ``replay = "fast"``)
    frames go out as fast as the recorder takes them; frame ``k`` is stamped ``k / fps``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from .counter import burn_timecode
from .frames import IMAGE_SUFFIXES, ImageFolderSource
from .rigfile import CameraSpec, SyntheticSpec
from .scene import PatternPainter, SyntheticScene, light_gain_at

__all__ = ["Timing", "Source", "open_camera", "IMAGE_SUFFIXES"]

log = logging.getLogger(__name__)

Timing = Literal["live", "scheduled", "fast"]
_LOOP_FRAMES = 16  # frames of the "loop" scene, painted once


class Source:
    """Base class. ``fps`` is the rate frames are stamped or paced at; ``applied`` what was applied."""

    timing: Timing = "scheduled"

    def __init__(self, spec: CameraSpec):
        self.spec = spec
        self.fps = spec.fps
        self.applied: dict = {}

    def read(self, k: int) -> np.ndarray | None:
        """Frame ``k`` (H, W, 3) uint8 BGR, or None at the end of the stream."""
        raise NotImplementedError

    def skip(self, k: int) -> bool:
        """Discard frame ``k`` (a scheduled source the worker is late for); False at the end."""
        return True

    def close(self) -> None:
        pass

    def _fit(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        size = self.spec.size
        if size is not None and (image.shape[1], image.shape[0]) != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image


class _CaptureSource(Source):
    """Anything cv2.VideoCapture opens: devices, streams, video files."""

    def __init__(self, spec: CameraSpec):
        super().__init__(spec)
        self.timing = {"device": "live", "stream": "live"}.get(spec.kind, "fast" if spec.replay == "fast" else "scheduled")
        backend = cv2.CAP_FFMPEG if spec.kind in ("file", "stream") else cv2.CAP_ANY
        if spec.kind == "file" and not Path(str(spec.target)).is_file():
            raise OSError(f"camera {spec.name!r}: video file {spec.target} does not exist")
        self.capture = cv2.VideoCapture(spec.target, backend)
        if not self.capture.isOpened():
            raise OSError(f"camera {spec.name!r} ({spec.source}) could not be opened")
        if spec.kind == "device":
            self._apply_device_settings()
        elif spec.kind == "file":
            media_fps = self.capture.get(cv2.CAP_PROP_FPS)
            self.fps = media_fps if media_fps and media_fps > 0 else spec.fps
        self._next = 0
        self.applied = {
            "backend": self.capture.getBackendName(),
            "size": [int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))],
            "fps": float(self.fps if spec.kind == "file" else self.capture.get(cv2.CAP_PROP_FPS)),
            "frame_count": int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)) if spec.kind == "file" else None,
            "exposure": float(self.capture.get(cv2.CAP_PROP_EXPOSURE)) if spec.kind == "device" else None,
            "fourcc": _fourcc_text(self.capture.get(cv2.CAP_PROP_FOURCC)),
            "output_size": list(spec.size) if spec.size else None,
        }
        for key, asked in (("size", list(spec.size) if spec.size else None), ("fps", spec.fps)):
            if spec.kind == "device" and asked is not None and self.applied[key] != asked:
                log.warning("camera %s asked for %s %s, the device applied %s", spec.name, key, asked,
                            self.applied[key])

    def _apply_device_settings(self) -> None:
        spec, cap = self.spec, self.capture
        if spec.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*spec.fourcc[:4].ljust(4)))
        if spec.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, spec.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, spec.size[1])
        cap.set(cv2.CAP_PROP_FPS, spec.fps)
        if spec.auto_exposure is not None:
            # V4L2 convention through OpenCV: 0.25 manual, 0.75 automatic.
            cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 0.75 if spec.auto_exposure else 0.25)
        if spec.exposure is not None:
            cap.set(cv2.CAP_PROP_EXPOSURE, spec.exposure)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _seek(self, k: int) -> None:
        if self.spec.kind == "file" and k != self._next:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, k)
            self._next = k

    def read(self, k: int) -> np.ndarray | None:
        self._seek(k)
        ok, image = self.capture.read()
        self._next += 1
        return self._fit(image) if ok and image is not None else None

    def skip(self, k: int) -> bool:
        self._seek(k)
        self._next += 1
        return bool(self.capture.grab())

    def close(self) -> None:
        self.capture.release()


def _fourcc_text(value: float) -> str | None:
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if code and text.isprintable() else None


class _FolderSource(Source):
    """Images in a folder (:class:`capture.frames.ImageFolderSource`, the one folder reader),
    replayed in name order at ``file_fps`` (default the camera fps)."""

    def __init__(self, spec: CameraSpec):
        super().__init__(spec)
        folder = Path(str(spec.target))
        if not folder.is_dir():
            raise OSError(f"camera {spec.name!r}: image folder {folder} does not exist")
        try:
            self.folder = ImageFolderSource(spec.name, folder)
        except ValueError as error:
            raise OSError(str(error)) from None
        self.files = self.folder.files
        self.timing = "fast" if spec.replay == "fast" else "scheduled"
        self.fps = spec.file_fps or spec.fps
        self.applied = {"frame_count": len(self.files), "fps": self.fps,
                        "output_size": list(spec.size) if spec.size else None}

    def read(self, k: int) -> np.ndarray | None:
        if k >= len(self.files):
            return None
        image = cv2.imread(str(self.files[k]), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"camera {self.spec.name!r}: {self.files[k]} is not a readable image")
        return self._fit(image)

    def skip(self, k: int) -> bool:
        return k < len(self.files)


class SyntheticSource(Source):
    """One camera of a synthetic rig: the scene of :mod:`capture.scene` drawn through it.

    ``index`` is the camera's position in the synthetic rig. Frame ``k`` shows the scene at
    ``k / fps``; the timecode of :mod:`capture.counter` carries that time when enabled.
    """

    def __init__(self, spec: CameraSpec, synthetic: SyntheticSpec, index: int):
        super().__init__(spec)
        self.synthetic, self.index = synthetic, index
        self.timing = "fast" if spec.replay == "fast" else "scheduled"
        self.scene = SyntheticScene(synthetic, spec.fps)
        self.camera = self.scene.rig[index].replace(name=spec.name)
        self.loop: list[np.ndarray] = []
        if synthetic.scene == "rendered":
            from .render import SceneRenderer
            self.renderer = SceneRenderer(self.camera, background_seed=synthetic.seed)
        else:
            self.painter = PatternPainter(self.camera, self.scene)
            if synthetic.scene == "loop":
                self.loop = [self.painter.draw(k) for k in range(_LOOP_FRAMES)]
        self.applied = {"size": list(self.camera.size), "fps": self.fps, "scene": synthetic.scene,
                        "counter": synthetic.counter, "flicker": synthetic.flicker, "pace": spec.replay,
                        "latency_s": synthetic.latency_of(index)}

    def read(self, k: int) -> np.ndarray:
        if self.synthetic.scene == "rendered":
            board = self.scene.board_at(k)
            joints = self.scene.joints_at(k)
            image = self.renderer.render(
                joints_in_world=joints, skeleton=self.scene.skeleton if joints is not None else None,
                board=self.scene.board if board is not None else None, world_from_board=board,
                noise_seed=k * self.synthetic.num_cameras + self.index, appearance_seed=self.synthetic.seed).image
        elif self.loop:
            image = self.loop[k % len(self.loop)].copy()
        else:
            image = self.painter.draw(k)
        time_s = k / self.fps
        gain = light_gain_at(time_s, self.synthetic)
        if gain != 1.0:
            cv2.convertScaleAbs(image, image, alpha=gain)
        if self.synthetic.counter:
            burn_timecode(image, time_s)
        return image


def open_camera(spec: CameraSpec, *, synthetic: SyntheticSpec | None = None, synthetic_index: int = 0) -> Source:
    """Open the recorder's source of ``spec`` (inside its worker); OSError with one sentence when it
    cannot be opened. Offline reading of video files and image folders is :func:`capture.frames.open_source`."""
    if spec.kind == "synthetic":
        if synthetic is None:
            raise ValueError(f"camera {spec.name!r} is synthetic but the rig has no [synthetic] table")
        return SyntheticSource(spec, synthetic, synthetic_index)
    if spec.kind == "images":
        return _FolderSource(spec)
    return _CaptureSource(spec)
