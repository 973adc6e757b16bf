"""rigkit's geometry core: numpy (the triangulators' kernels compiled with numba, see
:mod:`geometry._kernels`; plus a torch mirror), no I/O of its own, no global state.

Conventions (frames, pixels, distortion order, dimension letters, units) are stated once in
:mod:`geometry.camera`; the one lens model (distortion, its inverse and Jacobians, ``K``, the "in
front of the camera" rule) is :mod:`geometry.lens`; options validate through :mod:`geometry.options`.
The torch mirror lives in :mod:`geometry.differentiable` and is not imported here (torch is slow to
import); numba loads with the first triangulation, not here. Scene generators:
:mod:`geometry.synthetic` (not imported here either).
"""

from .board import ARUCO_DICTIONARY_SIZES, Board, BoardType, board_from_mapping
from .camera import Camera, DistortionModel, distort_normalized, undistort_normalized
from .epipolar import (FundamentalEstimate, decompose_essential, epipolar_lines, epipolar_residual,
                       essential_8point, essential_from_fundamental, essential_from_pose,
                       estimate_fundamental, fundamental_8point, fundamental_from_essential,
                       project_to_essential, sampson_distance, select_pose_by_cheirality,
                       triangulation_angle_deg, two_view_depths)
from .five_point import essential_5point
from .homography import homography_dlt, homography_sampson_distance, homography_transfer_error
from .kernel_warmup import compile_kernels
from .ransac import (LocalOptimization, RansacOptions, RansacProblem, RansacReport, RansacResult,
                     ransac, required_iterations)
from .relative_pose import (MinimalSolver, RefineLoss, RelativePose, RelativePoseOptions,
                            relative_pose)
from .reprojection import reprojection_error
from .rig import Rig
from .robust_triangulation import (DEFAULT_THRESHOLD_PX, RobustTriangulation,
                                   RobustTriangulationOptions, triangulate_robust)
from .skeletons import (BODY_25, BODY_25B, COCO_17, H36M_17, HALPE_26, HAND_21, MPII_16, SKELETONS,
                        Skeleton, get_skeleton)
from .transforms import (average_rotations, compose, invert, project_to_rotation,
                         rotation_angle_deg, rotation_from_rvec, rvec_from_rotation, skew)
from .triangulation import TriangulationOptions, normalized_from_distorted, triangulate

__all__ = [
    # cameras and rigs
    "Camera", "DistortionModel", "distort_normalized", "undistort_normalized", "Rig",
    # calibration boards
    "Board", "BoardType", "ARUCO_DICTIONARY_SIZES", "board_from_mapping",
    # rotations and poses
    "average_rotations", "compose", "invert", "project_to_rotation", "rotation_angle_deg",
    "rotation_from_rvec", "rvec_from_rotation", "skew",
    # triangulation and reprojection
    "TriangulationOptions", "triangulate", "normalized_from_distorted", "reprojection_error",
    "DEFAULT_THRESHOLD_PX", "RobustTriangulation", "RobustTriangulationOptions", "triangulate_robust",
    "compile_kernels",
    # epipolar geometry and relative pose
    "FundamentalEstimate", "decompose_essential", "epipolar_lines", "epipolar_residual",
    "essential_8point", "essential_from_fundamental", "essential_from_pose", "estimate_fundamental",
    "fundamental_8point", "fundamental_from_essential", "project_to_essential", "sampson_distance",
    "select_pose_by_cheirality", "triangulation_angle_deg", "two_view_depths",
    "essential_5point", "homography_dlt", "homography_sampson_distance", "homography_transfer_error",
    "LocalOptimization", "RansacOptions", "RansacProblem", "RansacReport", "RansacResult", "ransac",
    "required_iterations",
    "MinimalSolver", "RefineLoss", "RelativePose", "RelativePoseOptions", "relative_pose",
    # skeletons
    "Skeleton", "get_skeleton", "SKELETONS", "COCO_17", "HALPE_26", "BODY_25", "BODY_25B",
    "MPII_16", "H36M_17", "HAND_21",
]
