"""rigkit's geometry core: pure numpy (plus a torch mirror), no I/O, no global state.

Conventions (frames, pixels, distortion order, dimension letters, units) are stated once in
:mod:`geometry.camera`.
"""

from .camera import Camera, DistortionModel, distort_normalized, undistort_normalized
from .rig import Rig
from .transforms import (average_rotations, compose, invert, project_to_rotation,
                         rotation_angle_deg, rotation_from_rvec, rvec_from_rotation, skew)

__all__ = [
    "Camera", "DistortionModel", "distort_normalized", "undistort_normalized",
    "Rig",
    "average_rotations", "compose", "invert", "project_to_rotation", "rotation_angle_deg",
    "rotation_from_rvec", "rvec_from_rotation", "skew",
]
