"""Calibration: calibration files, boards, intrinsics and extrinsics of a rig.

Uses :mod:`geometry`. Conventions in :mod:`geometry.camera`.
"""

from .files import (CalibrationFile, CalibrationFormat, check_rig, detect_format, load_rig,
                    merge_cameras, read_calibration, save_rig, write_atomic)

__all__ = [
    "CalibrationFile", "CalibrationFormat", "check_rig", "detect_format", "load_rig",
    "merge_cameras", "read_calibration", "save_rig", "write_atomic",
]
