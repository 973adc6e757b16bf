"""Calibration: calibration files, boards, intrinsics and extrinsics of a rig.

Uses :mod:`geometry`. Conventions in :mod:`geometry.camera`.
"""
