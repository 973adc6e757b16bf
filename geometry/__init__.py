"""rigkit's geometry core: pure numpy (plus a torch mirror), no I/O, no global state.

Conventions (frames, pixels, distortion order, dimension letters, units) are stated once in
:mod:`geometry.camera`.
"""

from .camera import Camera, DistortionModel, distort_normalized, undistort_normalized
from .epipolar import (FundamentalEstimate, decompose_essential, epipolar_lines, epipolar_residual,
                       essential_8point, essential_from_fundamental, estimate_fundamental,
                       essential_from_pose, fundamental_8point,
                       fundamental_from_essential, project_to_essential, sampson_distance,
                       select_pose_by_cheirality, triangulation_angle_deg, two_view_depths)
from .five_point import essential_5point
from .homography import homography_dlt, homography_sampson_distance, homography_transfer_error
from .ransac import (LocalOptimization, RansacOptions, RansacProblem, RansacReport, RansacResult, ransac,
                     required_iterations)
from .relative_pose import (MinimalSolver, RefineLoss, RelativePose, RelativePoseOptions,
                            relative_pose)
from .rig import Rig
from .transforms import (average_rotations, compose, invert, project_to_rotation,
                         rotation_angle_deg, rotation_from_rvec, rvec_from_rotation, skew)

__all__ = [
    "Camera", "DistortionModel", "distort_normalized", "undistort_normalized",
    "Rig",
    "FundamentalEstimate", "estimate_fundamental", "decompose_essential", "epipolar_lines",
    "epipolar_residual", "essential_8point", "essential_from_fundamental", "essential_from_pose",
    "fundamental_8point",
    "fundamental_from_essential", "project_to_essential", "sampson_distance",
    "select_pose_by_cheirality", "triangulation_angle_deg", "two_view_depths",
    "essential_5point", "homography_dlt", "homography_sampson_distance",
    "homography_transfer_error",
    "LocalOptimization", "RansacOptions", "RansacProblem", "RansacReport", "RansacResult", "ransac",
    "required_iterations",
    "MinimalSolver", "RefineLoss", "RelativePose", "RelativePoseOptions", "relative_pose",
    "average_rotations", "compose", "invert", "project_to_rotation", "rotation_angle_deg",
    "rotation_from_rvec", "rvec_from_rotation", "skew",
]
