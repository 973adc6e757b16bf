"""The one frame source for video files and image folders (and a recorded session's cameras).

Used by calibration (``--camera NAME=PATH``), labeling (``--videos NAME=PATH``) and the recorder's
file/folder replay (:mod:`capture.sources`). Pairing the frames of several cameras into framesets
(by timestamps, by index, with offsets) is :mod:`capture.pairing`.

``NAME=PATH`` on the command line becomes a :class:`CameraSource`; :func:`open_source`
reads one camera's frames and :class:`capture.pairing.SynchronizedFrames` walks several cameras together
(frameset ``i`` is frame ``i`` of every camera). A recorded session (``--session DIR``, read with
``capture.open_session``) gives one :class:`SessionCameraSource` per camera through
:func:`open_session_sources`: frame ``i`` is the camera's image in frameset ``i``. Every source has
the same interface: ``name``, ``path``, ``num_frames``, ``size`` and ``frames(indices)``.

Frames are BGR uint8 ``(H, W, 3)`` arrays exactly as decoded (OpenCV). Skipped frames of a video are
``grab()``-ed, not converted, and never kept in memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "CameraSource",
    "FrameSource",
    "VideoSource",
    "ImageFolderSource",
    "parse_camera_args",
    "open_source",
    "source_identity",
    "list_images",
    "frame_indices",
    "SessionCameraSource",
    "open_session_sources",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
SourceKind = Literal["video", "images"]


@dataclass(frozen=True)
class CameraSource:
    """One camera's input: its name and a video file or a folder of images."""

    name: str
    path: Path

    @property
    def kind(self) -> SourceKind:
        return "images" if self.path.is_dir() else "video"


def parse_camera_args(values: Sequence[str], *, flag: str = "--camera") -> list[CameraSource]:
    """``["cam01=videos/cam01.mp4", ...]`` -> sources, checked: ``NAME=PATH``, unique names, paths exist.

    flag: the option's name, for the error sentences (``--camera``, ``--videos``).
    """
    sources: list[CameraSource] = []
    for value in values:
        name, sep, path = str(value).partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ValueError(f"{flag} {value!r} is not NAME=PATH (e.g. cam01=videos/cam01.mp4)")
        if any(s.name == name for s in sources):
            raise ValueError(f"{flag} {name} is given twice; camera names must be unique")
        source = CameraSource(name=name, path=Path(path).expanduser())
        if not source.path.exists():
            raise FileNotFoundError(f"camera {name}: {source.path} does not exist")
        sources.append(source)
    if not sources:
        raise ValueError(f"no cameras given; use {flag} NAME=PATH (repeatable)")
    return sources


def frame_indices(num_frames: int, *, start: int = 0, stride: int = 1, limit: int | None = None) -> np.ndarray:
    """(K,) int64 frame indices ``start, start + stride, ...`` below ``num_frames``, at most ``limit``."""
    if stride < 1 or start < 0 or (limit is not None and limit < 0):
        raise ValueError(f"stride must be >= 1 and start, limit >= 0; got stride={stride}, "
                         f"start={start}, limit={limit}")
    indices = np.arange(start, max(start, num_frames), stride, dtype=np.int64)
    return indices if limit is None else indices[:limit]


class FrameSource:
    """The frames of one camera. Subclasses: :class:`VideoSource`, :class:`ImageFolderSource`."""

    name: str
    path: Path
    num_frames: int
    size: tuple[int, int]  # (width, height) pixels
    fps: float | None = None  # frames per second where the file says, else None
    timestamps_s: np.ndarray | None = None  # (num_frames,) seconds where the recording has them

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, image)`` for ascending ``indices``; stops early at a frame that cannot
        be decoded (logged), as a truncated video does."""
        raise NotImplementedError

    def read(self, index: int) -> np.ndarray:
        """One frame (random access)."""
        for _, image in self.frames([index]):
            return image
        raise ValueError(f"camera {self.name}: frame {index} of {self.path} cannot be read "
                         f"({self.num_frames} frames)")

    def describe(self) -> str:
        return f"{self.num_frames} frames of {self.path}"


class VideoSource(FrameSource):
    """A video file read with OpenCV; frames between the wanted ones are grabbed, not decoded to BGR."""

    def __init__(self, name: str, path: str | os.PathLike):
        self.name, self.path = name, Path(path)
        capture = self._open()
        try:
            self.num_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            self.fps = float(capture.get(cv2.CAP_PROP_FPS))
        finally:
            capture.release()
        if self.num_frames <= 0 or min(self.size) <= 0:
            raise ValueError(f"camera {name}: {self.path} is not a readable video (no frames)")

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise ValueError(f"camera {self.name}: {self.path} is neither an image folder nor a video "
                             "OpenCV can open")
        return capture

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = np.asarray(list(indices), dtype=np.int64)
        if wanted.size == 0:
            return
        if np.any(np.diff(wanted) <= 0):
            raise ValueError("frame indices must be strictly ascending")
        capture = self._open()
        try:
            position = 0
            if wanted[0] > 0:  # one seek to the first frame; sequential grabs from there on
                capture.set(cv2.CAP_PROP_POS_FRAMES, float(wanted[0]))
                position = int(capture.get(cv2.CAP_PROP_POS_FRAMES))
                if position != wanted[0]:  # an inexact seek would mislabel frames: grab from 0
                    capture.release()
                    capture = self._open()
                    position = 0
            for index in wanted:
                while position < index:
                    if not capture.grab():
                        logger.warning("camera %s: %s ends at frame %d", self.name, self.path, position)
                        return
                    position += 1
                ok, image = capture.read()
                position += 1
                if not ok:
                    logger.warning("camera %s: %s ends at frame %d", self.name, self.path, index)
                    return
                yield int(index), image
        finally:
            capture.release()


class ImageFolderSource(FrameSource):
    """A folder of images (sorted by name); frame ``i`` is the ``i``-th image."""

    def __init__(self, name: str, path: str | os.PathLike):
        self.name, self.path = name, Path(path)
        self.files = list_images(self.path)
        if not self.files:
            raise ValueError(f"camera {name}: {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        self.num_frames = len(self.files)
        first = cv2.imread(str(self.files[0]), cv2.IMREAD_UNCHANGED)
        if first is None:
            raise ValueError(f"camera {name}: {self.files[0]} is not an image OpenCV can read")
        self.size = (first.shape[1], first.shape[0])

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        for index in indices:
            path = self.files[int(index)]
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                logger.warning("camera %s: %s cannot be read; skipped", self.name, path)
                continue
            if (image.shape[1], image.shape[0]) != self.size:
                raise ValueError(f"camera {self.name}: {path.name} is {image.shape[1]}x{image.shape[0]} "
                                 f"but {self.files[0].name} is {self.size[0]}x{self.size[1]}; "
                                 "one camera's images must all have the same size")
            yield int(index), image

    def describe(self) -> str:
        return f"{self.num_frames} images in {self.path}"


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The images of a folder (suffixes :data:`IMAGE_SUFFIXES`), sorted by name: frame order."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def source_identity(source: FrameSource) -> str:
    """One line that names where a camera's frames come from, to recognize the same recording later
    (a calibration records it; ``rigkit label`` compares): kind, resolved path, frame count and, for a
    video, its size in bytes; a session camera is its session's path and the camera's name."""
    path = Path(source.path).resolve()
    if getattr(source, "session", None) is not None:
        return f"session {path} camera {source.name} ({source.num_frames} framesets)"
    if path.is_dir():
        return f"images {path} ({source.num_frames} frames)"
    size = path.stat().st_size if path.exists() else -1
    return f"video {path} ({source.num_frames} frames, {size} bytes)"


def open_source(source: CameraSource) -> FrameSource:
    """The frame reader for one ``NAME=PATH``: a video file or an image folder.

    Raises ValueError with one sentence naming the camera and file when it cannot be read.
    """
    if source.kind == "images":
        return ImageFolderSource(source.name, source.path)
    return VideoSource(source.name, source.path)


class SessionCameraSource(FrameSource):
    """One camera of a recorded session (``capture.open_session``): frame ``i`` is its image in
    frameset ``i``; framesets where this camera is missing are skipped (logged at debug level).

    The recorder grouped the framesets by the cameras' timestamps, so every camera's frame ``i``
    belongs to the same instant; ``timestamps_s`` are the framesets' times.
    """

    def __init__(self, session, name: str):
        self.session, self.name = session, name
        self.path = Path(session.path)
        self._view = session.names.index(name)
        self.num_frames = len(session)
        self.fps = float(session.fps) if session.fps else None
        self.timestamps_s = np.asarray(session.frameset_times_s, dtype=np.float64)
        index = session.camera_index(name)
        if index.seq.size == 0:
            raise ValueError(f"camera {name}: session {self.path} holds no frames of it")
        self.size = (int(index.width[0]), int(index.height[0]))

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        for index in indices:
            seq = int(self.session.sequence[int(index), self._view])
            if seq < 0:
                logger.debug("camera %s is missing from frameset %d", self.name, index)
                continue
            yield int(index), self.session.frame(self.name, seq)

    def describe(self) -> str:
        return f"{self.num_frames} framesets of session {self.path}"


def open_session_sources(path: str | os.PathLike, cameras: Sequence[str] | None = None) -> list[SessionCameraSource]:
    """One source per camera of the recorded session at ``path`` (all cameras, or ``cameras``)."""
    from capture.session import open_session  # only sessions need capture

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"session folder {path} does not exist")
    session = open_session(path)
    names = list(session.names) if not cameras else list(cameras)
    unknown = [n for n in names if n not in session.names]
    if unknown:
        raise ValueError(f"session {path} has no camera {unknown[0]!r} (cameras: {', '.join(session.names)})")
    return [SessionCameraSource(session, name) for name in names]
