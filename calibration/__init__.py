"""Calibration: calibration files, boards, intrinsics and extrinsics of a rig.

Uses :mod:`geometry`. Conventions in :mod:`geometry.camera`.
"""

from .boards import (ARUCO_DICTIONARIES, Board, BoardDetection, BoardType, DetectionEffort,
                     board_from_mapping, detect_board, diagnose_board, load_board, save_board)
from .inputs import (CameraSource, FrameSource, ImageFolderSource, SessionCameraSource, SynchronizedFrames,
                     VideoSource, open_session_sources, open_source, parse_camera_args)
from .intrinsics import (BoardView, IntrinsicsOptions, IntrinsicsResult, LensModel, calibrate_intrinsics,
                         detect_views, image_coverage, select_views, solve_intrinsics)
from .files import (CalibrationFile, CalibrationFormat, check_rig, detect_format, load_rig,
                    merge_cameras, read_calibration, save_rig, write_atomic)

__all__ = [
    "ARUCO_DICTIONARIES", "Board", "BoardDetection", "BoardType", "DetectionEffort",
    "board_from_mapping", "detect_board", "diagnose_board", "load_board", "save_board",
    "CalibrationFile", "CalibrationFormat", "check_rig", "detect_format", "load_rig",
    "merge_cameras", "read_calibration", "save_rig", "write_atomic",
    "CameraSource", "FrameSource", "ImageFolderSource", "SessionCameraSource", "SynchronizedFrames",
    "VideoSource", "open_session_sources", "open_source", "parse_camera_args",
    "BoardView", "IntrinsicsOptions", "IntrinsicsResult", "LensModel", "calibrate_intrinsics",
    "detect_views", "image_coverage", "select_views", "solve_intrinsics",
]
