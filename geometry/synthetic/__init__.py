"""Seeded scene and rig generators with ground truth, for tests, benchmarks and the demo.

Randomness only through an explicit ``rng: np.random.Generator``. Conventions in
:mod:`geometry.camera`.
"""

from .body import BODY_JOINTS, BodyShape, body_joint_map, forward_kinematics
from .boards import (BoardSpec, board_poses, board_trajectory, board_visibility,
                     charuco_corners_in_board, rig_volume_center)
from .detections import DetectorNoise, SimulatedDetections, in_image, simulate_detections
from .motion import ACTIONS, MotionOptions, PersonMotion, PoseSample, person_motion, random_poses
from .occlusion import self_occlusion
from .rigs import Lens, arc_rig, ceiling_rig, look_at, ring_rig, synthetic_camera
from .two_view import TwoViewScene, person_volume_points, two_view_scene
from .views import person_view_camera

__all__ = [
    "BODY_JOINTS", "BodyShape", "body_joint_map", "forward_kinematics",
    "BoardSpec", "board_poses", "board_trajectory", "board_visibility", "charuco_corners_in_board",
    "rig_volume_center",
    "DetectorNoise", "SimulatedDetections", "in_image", "simulate_detections",
    "ACTIONS", "MotionOptions", "PersonMotion", "PoseSample", "person_motion", "random_poses",
    "Lens", "arc_rig", "ceiling_rig", "look_at", "ring_rig", "synthetic_camera",
    "person_view_camera", "self_occlusion",
    "TwoViewScene", "person_volume_points", "two_view_scene",
]
