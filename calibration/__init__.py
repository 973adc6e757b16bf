"""Calibration: calibration files, boards, intrinsics and extrinsics of a rig.

Uses :mod:`geometry`. Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

from rigkit_lazy import lazy_attributes

# public name -> the submodule that defines it; imported on first use (see rigkit_lazy)
_SUBMODULES = {
    "ARUCO_DICTIONARIES": "boards", "Board": "boards", "BoardDetection": "boards", "BoardType": "boards",
    "DetectionEffort": "boards", "board_from_mapping": "boards", "detect_board": "boards",
    "diagnose_board": "boards", "load_board": "boards", "save_board": "boards", "render_board": "boards",
    "write_board_printable": "boards", "opencv_charuco_board": "boards",
    "BoardRole": "boards", "load_board_with_notice": "boards", "PeerBoard": "peer_boards",
    "read_peer_board": "peer_boards",
    "CalibrationFile": "files", "CalibrationFormat": "files", "check_rig": "files", "detect_format": "files",
    "load_rig": "files", "merge_cameras": "files", "read_calibration": "files", "save_rig": "files",
    "write_atomic": "files",
    "CameraSource": "inputs", "FrameSource": "inputs", "ImageFolderSource": "inputs",
    "SessionCameraSource": "inputs", "SynchronizedFrames": "inputs", "VideoSource": "inputs",
    "open_session_sources": "inputs", "open_source": "inputs", "parse_camera_args": "inputs",
    "BoardView": "intrinsics", "IntrinsicsOptions": "intrinsics", "IntrinsicsResult": "intrinsics",
    "LensModel": "intrinsics", "calibrate_intrinsics": "intrinsics", "detect_views": "intrinsics",
    "image_coverage": "intrinsics", "select_views": "intrinsics", "solve_intrinsics": "intrinsics",
    "BoardExtrinsics": "board_extrinsics", "BoardExtrinsicsOptions": "board_extrinsics",
    "CameraPairLink": "board_extrinsics", "WorldFrame": "board_extrinsics",
    "board_extrinsics": "board_extrinsics", "board_poses_by_pnp": "board_extrinsics",
    "robust_average_pose": "board_extrinsics",
    "BundleAdjustmentOptions": "bundle_adjustment", "BundleAdjustmentResult": "bundle_adjustment",
    "IntrinsicsMode": "bundle_adjustment", "RobustLoss": "bundle_adjustment", "Solver": "bundle_adjustment",
    "bundle_adjust_board": "bundle_adjustment", "bundle_adjust_points": "bundle_adjustment",
    "KeypointExtrinsics": "keypoint_extrinsics", "KeypointExtrinsicsOptions": "keypoint_extrinsics",
    "KeypointPair": "keypoint_extrinsics", "KnownLength": "keypoint_extrinsics",
    "keypoint_extrinsics": "keypoint_extrinsics", "person_height_m": "keypoint_extrinsics",
    "RigComparison": "rig_comparison", "compare_rigs": "rig_comparison",
    "rig_in_camera_frame": "rig_comparison",
    "CalibrationUnits": "files", "convert_calibration": "convert",
    "RigAgreement": "agreement", "Similarity": "agreement", "rig_agreement": "agreement", "umeyama": "agreement",
    "JointDecision": "board_validation", "ValidatedBoardCalibration": "board_validation", "validated_board_extrinsics": "board_validation",
    "fix_swaps": "keypoint_cleaning", "swap_permutation": "keypoint_cleaning", "temporal_outliers": "keypoint_cleaning",
    "COMPLEXITIES": "lens_model", "Complexity": "lens_model", "LensFit": "lens_model", "LensPriors": "lens_model", "LensSelection": "lens_model", "LensUncertainty": "lens_model", "ModelScore": "lens_model", "fit_lens": "lens_model", "lens_error_px": "lens_model", "projection_uncertainty": "lens_model", "select_lens_model": "lens_model",
    "TimeOffsets": "sync", "estimate_time_offsets": "sync", "shift_frames": "sync",
    "CaptureJitter": "capture_jitter", "CaptureJitterOptions": "capture_jitter", "JitterMode": "capture_jitter",
    "heldout_with_capture_times": "capture_jitter", "image_velocity": "capture_jitter",
    "solve_with_capture_jitter": "capture_jitter",
    "HeldOutError": "validation", "Verdict": "validation", "heldout_mask": "validation", "heldout_reprojection": "validation", "heldout_view_errors": "validation", "verdict": "validation",
}
__all__ = list(_SUBMODULES)
__getattr__, __dir__ = lazy_attributes(__name__, _SUBMODULES)
