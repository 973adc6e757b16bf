"""Seeded scene and rig generators with ground truth, for tests, benchmarks and the demo.

Randomness only through an explicit ``rng: np.random.Generator``. Conventions in
:mod:`geometry.camera`; the synthetic world is Z-up, metres, floor at ``z = 0``, capture volume
centred on the origin.

- :mod:`.rigs`: ring, arc and ceiling rigs with plausible intrinsics and lens distortion.
- :mod:`.body`, :mod:`.motion`: a rigid-segment human body (constant bone lengths) and its
  motion (:func:`person_motion`) or independent poses (:func:`random_poses`), in any body
  skeleton of :mod:`geometry.skeletons`.
- :mod:`.crowd`: several people walking, crossing and hiding each other, and the candidate
  lists of a multi-person detector (false detections, per-view tracker swaps).
- :mod:`.detections`, :mod:`.occlusion`: what a real 2D detector reports (noise, outliers,
  left/right swaps, misses, self-occlusion, confidences).
- :mod:`.clutter`: false detections of an empty scene (a static structure, low confidences).
- :mod:`.boards`: hand-held poses of a :class:`geometry.Board` (ChArUco / checkerboard) and
  what each camera sees of its corners.
- :mod:`.views`: cameras framing one person (training crops for detectors).

Images of these scenes are rendered by :mod:`capture.render` (OpenCV lives outside geometry).
"""

from .body import BODY_JOINTS, BodyShape, body_joint_map, forward_kinematics
from .boards import (SYNTHETIC_BOARD, board_observations, board_poses, board_trajectory, board_visibility,
                     camera_board_poses, interpolate_key_poses, rig_volume_center,
                     unsynchronized_board_observations)
from .clutter import ClutterNoise, clutter_detections
from .crowd import (CrowdDetections, CrowdMotion, CrowdNoise, CrowdOptions, crowd_motion,
                    occlusion_by_others, simulate_crowd_detections)
from .detections import DetectorNoise, SimulatedDetections, in_image, simulate_detections
from .motion import ACTIONS, MotionOptions, PersonMotion, PoseSample, person_motion, random_poses
from .occlusion import self_occlusion
from .rigs import Lens, arc_rig, ceiling_rig, look_at, ring_rig, synthetic_camera
from .two_view import TwoViewScene, person_volume_points, two_view_scene
from .unsynchronized import unsynchronized_detections
from .views import person_view_camera

__all__ = [
    "BODY_JOINTS", "BodyShape", "body_joint_map", "forward_kinematics",
    "SYNTHETIC_BOARD", "board_observations", "board_poses", "board_trajectory", "board_visibility",
    "camera_board_poses", "interpolate_key_poses", "rig_volume_center", "unsynchronized_board_observations",
    "ClutterNoise", "clutter_detections",
    "CrowdDetections", "CrowdMotion", "CrowdNoise", "CrowdOptions", "crowd_motion",
    "occlusion_by_others", "simulate_crowd_detections",
    "DetectorNoise", "SimulatedDetections", "in_image", "simulate_detections",
    "ACTIONS", "MotionOptions", "PersonMotion", "PoseSample", "person_motion", "random_poses",
    "Lens", "arc_rig", "ceiling_rig", "look_at", "ring_rig", "synthetic_camera",
    "person_view_camera", "self_occlusion",
    "TwoViewScene", "person_volume_points", "two_view_scene", "unsynchronized_detections",
]
