"""Frames for calibration: the one frame source lives in :mod:`capture.frames` (video files, image
folders, a session's cameras) and the one pairing of several cameras in :mod:`capture.pairing`;
this module keeps the names calibration has always imported."""

from capture.frames import (IMAGE_SUFFIXES, CameraSource, FrameSource, ImageFolderSource,
                            SessionCameraSource, VideoSource, frame_indices, list_images,
                            open_session_sources, open_source, parse_camera_args)
from capture.pairing import SynchronizedFrames

__all__ = [
    "IMAGE_SUFFIXES", "CameraSource", "FrameSource", "VideoSource", "ImageFolderSource",
    "parse_camera_args", "open_source", "list_images", "frame_indices", "SynchronizedFrames",
    "SessionCameraSource", "open_session_sources",
]
