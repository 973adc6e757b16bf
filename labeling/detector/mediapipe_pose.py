"""``--detector mediapipe``: MediaPipe BlazePose full (33 landmarks), for real people in real video.

Runs the legacy ``mediapipe.solutions.pose`` graph (optional extra ``rigkit[mediapipe]``, pinned
to mediapipe 0.10.14, whose wheel ships the models ``pose_detection.tflite`` and
``pose_landmark_full.tflite``; nothing is downloaded). Each image is processed on its own
(``static_image_mode``): BlazePose's own person detector finds the box in every frame, so results
do not depend on frame order, chunking or the executor. CPU only.

Landmarks are ``geometry.skeletons.BLAZEPOSE_33`` (mapping onto COCO-17:
``BLAZEPOSE_33_TO_COCO_17``). Pixels: MediaPipe's normalized ``x * width`` measures from the
image's left edge; rigkit's pixel origin is the centre of the top-left pixel
(:mod:`geometry.camera`), so ``x_px = x * width - 0.5``. Score: the landmark's ``visibility``.
Landmarks outside the image, and every landmark of an image where no person is found, are NaN.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from .interface import KeypointDetector, _as_image_list

__all__ = ["MediaPipePoseDetector", "MEDIAPIPE_VERSION"]

log = logging.getLogger(__name__)
MEDIAPIPE_VERSION = "0.10.14"
_MODEL_FILES = ("modules/pose_detection/pose_detection.tflite",
                "modules/pose_landmark/pose_landmark_full.tflite")


def _import_mediapipe():
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logs: warnings and up only
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    try:
        import mediapipe
        from mediapipe.python.solutions import pose
    except ImportError:
        raise ValueError("the mediapipe detector needs the optional extra: install "
                         "rigkit[mediapipe]") from None
    return mediapipe, pose


class MediaPipePoseDetector(KeypointDetector):
    """BlazePose full through ``mediapipe.solutions.pose`` (see the module docstring).

    min_detection_confidence: BlazePose's person-detector threshold.
    """

    name = "mediapipe-blazepose-full"
    person_boxes = "BlazePose's own person detector, in every frame"
    tracks_boxes = False

    def __init__(self, *, min_detection_confidence: float = 0.5, batch_size: int = 8):
        from geometry.skeletons import BLAZEPOSE_33

        mediapipe, pose = _import_mediapipe()
        if mediapipe.__version__ != MEDIAPIPE_VERSION:
            log.warning("mediapipe %s is installed; rigkit is tested with %s",
                        mediapipe.__version__, MEDIAPIPE_VERSION)
        root = Path(mediapipe.__file__).parent
        missing = [f for f in _MODEL_FILES if not (root / f).is_file()]
        if missing:
            raise ValueError(f"mediapipe {mediapipe.__version__} lacks its model file {missing[0]} "
                             "(later versions dropped them): install rigkit[mediapipe]")
        digest = hashlib.sha256()
        for name in _MODEL_FILES:  # sha256 over both model files, detector then landmarks
            digest.update((root / name).read_bytes())
        self._weights_sha256 = digest.hexdigest()
        self.joint_names = BLAZEPOSE_33.joint_names
        self.batch_size = batch_size
        self.min_detection_confidence = float(min_detection_confidence)
        self.version = mediapipe.__version__
        self._pose = pose.Pose(static_image_mode=True, model_complexity=1, smooth_landmarks=False,
                               enable_segmentation=False,
                               min_detection_confidence=self.min_detection_confidence)

    def __repr__(self) -> str:
        return f"MediaPipePoseDetector(mediapipe {self.version}, BlazePose full, 33 landmarks)"

    def __getstate__(self):  # the graph is not picklable; a copy builds its own
        raise TypeError("MediaPipePoseDetector is not picklable; build one per process")

    def close(self) -> None:
        self._pose.close()

    def detect(self, images, boxes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(points_px (B, 33, 2), scores (B, 33))`` of B BGR uint8 images; ``boxes`` are
        ignored (BlazePose finds the person itself)."""
        import cv2

        images = _as_image_list(images)
        J = len(self.joint_names)
        points = np.full((len(images), J, 2), np.nan)
        scores = np.full((len(images), J), np.nan)
        for b, image in enumerate(images):
            result = self._pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            if result.pose_landmarks is None:
                continue
            height, width = image.shape[:2]
            values = np.array([(lm.x, lm.y, lm.visibility) for lm in result.pose_landmarks.landmark])
            xy = values[:, :2] * (width, height) - 0.5
            inside = ((xy >= -0.5) & (xy <= (width - 0.5, height - 0.5))).all(axis=1)
            points[b, inside] = xy[inside]
            scores[b, inside] = np.clip(values[inside, 2], 0.0, 1.0)
        return points, scores
