"""Calibration: calibration files, boards, intrinsics and extrinsics of a rig.

Uses :mod:`geometry`. Conventions in :mod:`geometry.camera`.
"""

from .boards import (ARUCO_DICTIONARIES, Board, BoardDetection, BoardType, DetectionEffort,
                     board_from_mapping, detect_board, diagnose_board, load_board, save_board)
from .files import (CalibrationFile, CalibrationFormat, check_rig, detect_format, load_rig,
                    merge_cameras, read_calibration, save_rig, write_atomic)

__all__ = [
    "ARUCO_DICTIONARIES", "Board", "BoardDetection", "BoardType", "DetectionEffort",
    "board_from_mapping", "detect_board", "diagnose_board", "load_board", "save_board",
    "CalibrationFile", "CalibrationFormat", "check_rig", "detect_format", "load_rig",
    "merge_cameras", "read_calibration", "save_rig", "write_atomic",
]
