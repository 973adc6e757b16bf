"""Calibration: calibration files, boards, intrinsics and extrinsics of a rig.

Uses :mod:`geometry`. Conventions in :mod:`geometry.camera`.
"""

from .boards import (ARUCO_DICTIONARIES, Board, BoardDetection, BoardType, DetectionEffort,
                     board_from_mapping, detect_board, diagnose_board, load_board, opencv_charuco_board,
                     render_board, save_board, write_board_printable)
from .inputs import (CameraSource, FrameSource, ImageFolderSource, SessionCameraSource, SynchronizedFrames,
                     VideoSource, open_session_sources, open_source, parse_camera_args)
from .intrinsics import (BoardView, IntrinsicsOptions, IntrinsicsResult, LensModel, calibrate_intrinsics,
                         detect_views, image_coverage, select_views, solve_intrinsics)
from .board_extrinsics import (BoardExtrinsics, BoardExtrinsicsOptions, CameraPairLink, WorldFrame,
                               board_extrinsics, board_poses_by_pnp, robust_average_pose)
from .bundle_adjustment import (BundleAdjustmentOptions, BundleAdjustmentResult, IntrinsicsMode, RobustLoss,
                                Solver, bundle_adjust_board, bundle_adjust_points)
from .keypoint_extrinsics import (KeypointExtrinsics, KeypointExtrinsicsOptions, KeypointPair, KnownLength,
                                  keypoint_extrinsics, person_height_m)
from .rig_comparison import RigComparison, compare_rigs, rig_in_camera_frame
from .agreement import RigAgreement, Similarity, rig_agreement, umeyama
from .board_validation import JointDecision, ValidatedBoardCalibration, validated_board_extrinsics
from .keypoint_cleaning import fix_swaps, swap_permutation, temporal_outliers
from .lens_model import (COMPLEXITIES, Complexity, LensFit, LensPriors, LensSelection, LensUncertainty, ModelScore,
                         fit_lens, lens_error_px, projection_uncertainty, select_lens_model)
from .sync import TimeOffsets, estimate_time_offsets, shift_frames
from .validation import HeldOutError, Verdict, heldout_mask, heldout_reprojection, heldout_view_errors, verdict
from .files import (CalibrationFile, CalibrationFormat, check_rig, detect_format, load_rig,
                    merge_cameras, read_calibration, save_rig, write_atomic)

__all__ = [
    "ARUCO_DICTIONARIES", "Board", "BoardDetection", "BoardType", "DetectionEffort",
    "board_from_mapping", "detect_board", "diagnose_board", "load_board", "save_board",
    "render_board", "write_board_printable", "opencv_charuco_board",
    "CalibrationFile", "CalibrationFormat", "check_rig", "detect_format", "load_rig",
    "merge_cameras", "read_calibration", "save_rig", "write_atomic",
    "CameraSource", "FrameSource", "ImageFolderSource", "SessionCameraSource", "SynchronizedFrames",
    "VideoSource", "open_session_sources", "open_source", "parse_camera_args",
    "BoardView", "IntrinsicsOptions", "IntrinsicsResult", "LensModel", "calibrate_intrinsics",
    "detect_views", "image_coverage", "select_views", "solve_intrinsics",
    "BoardExtrinsics", "BoardExtrinsicsOptions", "CameraPairLink", "WorldFrame", "board_extrinsics",
    "board_poses_by_pnp", "robust_average_pose",
    "BundleAdjustmentOptions", "BundleAdjustmentResult", "IntrinsicsMode", "RobustLoss", "Solver",
    "bundle_adjust_board", "bundle_adjust_points",
    "KeypointExtrinsics", "KeypointExtrinsicsOptions", "KeypointPair", "KnownLength", "keypoint_extrinsics",
    "person_height_m",
    "RigComparison", "compare_rigs", "rig_in_camera_frame",
    "RigAgreement", "Similarity", "rig_agreement", "umeyama",
    "JointDecision", "ValidatedBoardCalibration", "validated_board_extrinsics",
    "fix_swaps", "swap_permutation", "temporal_outliers",
    "COMPLEXITIES", "Complexity", "LensFit", "LensPriors", "LensSelection", "LensUncertainty", "ModelScore",
    "fit_lens", "lens_error_px", "projection_uncertainty", "select_lens_model",
    "TimeOffsets", "estimate_time_offsets", "shift_frames",
    "HeldOutError", "Verdict", "heldout_mask", "heldout_reprojection", "heldout_view_errors", "verdict",
]
