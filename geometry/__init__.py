"""rigkit's geometry core: pure numpy (plus a torch mirror), no I/O, no global state.

Conventions (frames, pixels, distortion order, dimension letters, units) are stated once in
:mod:`geometry.camera`.
"""

from .camera import Camera, DistortionModel, distort_normalized, undistort_normalized
from .reprojection import reprojection_error
from .rig import Rig
from .robust_triangulation import (DEFAULT_THRESHOLD_PX, RobustTriangulation,
                                   RobustTriangulationOptions, triangulate_robust)
from .transforms import (average_rotations, compose, invert, project_to_rotation,
                         rotation_angle_deg, rotation_from_rvec, rvec_from_rotation, skew)
from .triangulation import TriangulationOptions, triangulate

__all__ = [
    "Camera", "DistortionModel", "distort_normalized", "undistort_normalized",
    "Rig",
    "average_rotations", "compose", "invert", "project_to_rotation", "rotation_angle_deg",
    "rotation_from_rvec", "rvec_from_rotation", "skew",
    "TriangulationOptions", "triangulate", "reprojection_error",
    "DEFAULT_THRESHOLD_PX", "RobustTriangulation", "RobustTriangulationOptions", "triangulate_robust",
]
