"""rigkit's geometry core: pure numpy (plus a torch mirror), no I/O, no global state.

Conventions (frames, pixels, distortion order, dimension letters, units) are stated once in
:mod:`geometry.camera`.
"""

from .camera import Camera, DistortionModel, distort_normalized, undistort_normalized
from .reprojection import reprojection_error
from .epipolar import (decompose_essential, epipolar_lines, epipolar_residual, essential_8point,
                       essential_from_fundamental, essential_from_pose, fundamental_8point,
                       fundamental_from_essential, project_to_essential, sampson_distance,
                       select_pose_by_cheirality, triangulation_angle_deg, two_view_depths)
from .homography import homography_dlt, homography_transfer_error
from .ransac import RansacOptions, RansacProblem, RansacReport, RansacResult, ransac
from .relative_pose import RelativePose, RelativePoseOptions, relative_pose
from .rig import Rig
from .skeletons import (BODY_25, BODY_25B, COCO_17, H36M_17, HALPE_26, HAND_21, MPII_16, SKELETONS,
                        Skeleton, get_skeleton)
from .robust_triangulation import (DEFAULT_THRESHOLD_PX, RobustTriangulation,
                                   RobustTriangulationOptions, triangulate_robust)
from .transforms import (average_rotations, compose, invert, project_to_rotation,
                         rotation_angle_deg, rotation_from_rvec, rvec_from_rotation, skew)
from .triangulation import TriangulationOptions, triangulate

__all__ = [
    "Camera", "DistortionModel", "distort_normalized", "undistort_normalized",
    "Rig",
    "Skeleton", "get_skeleton", "SKELETONS", "COCO_17", "HALPE_26", "BODY_25", "BODY_25B", "MPII_16",
    "H36M_17", "HAND_21",
    "decompose_essential", "epipolar_lines", "epipolar_residual", "essential_8point",
    "essential_from_fundamental", "essential_from_pose", "fundamental_8point",
    "fundamental_from_essential", "project_to_essential", "sampson_distance",
    "select_pose_by_cheirality", "triangulation_angle_deg", "two_view_depths",
    "homography_dlt", "homography_transfer_error",
    "RansacOptions", "RansacProblem", "RansacReport", "RansacResult", "ransac",
    "RelativePose", "RelativePoseOptions", "relative_pose",
    "average_rotations", "compose", "invert", "project_to_rotation", "rotation_angle_deg",
    "rotation_from_rvec", "rvec_from_rotation", "skew",
    "TriangulationOptions", "triangulate", "reprojection_error",
    "DEFAULT_THRESHOLD_PX", "RobustTriangulation", "RobustTriangulationOptions", "triangulate_robust",
]
