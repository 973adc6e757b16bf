"""A rigid-segment human body: proportions for a given height and forward kinematics.

Conventions in :mod:`geometry.camera`; the synthetic world is Z-up, metres, floor at ``z = 0``
(:mod:`geometry.synthetic.rigs`). The body frame is x forward, y to the person's left, z up.

The body is a chain of rigid segments so that every bone of every built-in skeleton keeps its
length over time: a rigid trunk (both hip joints, spine, thorax and both shoulder joints) that
leans, bends sideways and twists about the pelvis; a head that turns about the thorax; upper arm,
forearm, thigh, shank and a foot per side. Proportions follow anthropometric tables (Drillis &
Contini, Winter: hip joint 0.53 H, shoulder 0.82 H, thigh 0.245 H, upper arm 0.186 H, ...).

Joint angles are in degrees in a :class:`BodyAngles` mapping of ``(F,)`` arrays:

- ``heading``: yaw of the body about world +z (0 faces world +x).
- ``trunk_lean`` (forward), ``trunk_side`` (to the right), ``trunk_twist`` (to the left).
- ``head_yaw`` (to the left), ``head_pitch`` (nodding down), ``head_roll``.
- per side ``{l,r}_shoulder_flex`` (arm forward/up), ``_shoulder_abd`` (arm out sideways),
  ``_shoulder_twist``, ``_elbow_flex``; ``_hip_flex`` (thigh forward), ``_hip_abd`` (outwards),
  ``_hip_twist``, ``_knee_flex``; ``_foot_pitch`` (toes up, relative to the floor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeletons import Skeleton, get_skeleton

__all__ = ["BodyShape", "ANGLE_NAMES", "ANGLE_LIMITS_DEG", "forward_kinematics", "body_joint_map",
           "BODY_JOINTS"]

_SIDES = ("l", "r")
ANGLE_NAMES: tuple[str, ...] = (
    ("heading", "trunk_lean", "trunk_side", "trunk_twist", "head_yaw", "head_pitch", "head_roll")
    + tuple(f"{s}_{n}" for s in _SIDES for n in ("shoulder_flex", "shoulder_abd", "shoulder_twist",
                                                    "elbow_flex", "hip_flex", "hip_abd", "hip_twist",
                                                    "knee_flex", "foot_pitch")))

# Range of motion used to clip generated poses (degrees); heading is unbounded.
_LIMITS = {
    "trunk_lean": (-20, 95), "trunk_side": (-30, 30), "trunk_twist": (-40, 40),
    "head_yaw": (-75, 75), "head_pitch": (-40, 50), "head_roll": (-30, 30),
    "shoulder_flex": (-60, 180), "shoulder_abd": (-30, 175), "shoulder_twist": (-80, 80),
    "elbow_flex": (0, 150), "hip_flex": (-30, 120), "hip_abd": (-20, 50), "hip_twist": (-35, 35),
    "knee_flex": (0, 145), "foot_pitch": (-40, 40),
}
ANGLE_LIMITS_DEG: dict[str, tuple[float, float]] = {
    name: _LIMITS[name.split("_", 1)[1] if name[:2] in ("l_", "r_") else name]
    for name in ANGLE_NAMES if name != "heading"}

# Segment lengths as fractions of the standing height.
_FRACTIONS = {
    "hip_half_width": 0.058, "shoulder_half_width": 0.105, "torso": 0.288, "spine": 0.13,
    "thigh": 0.245, "shank": 0.246, "ankle_height": 0.039, "upper_arm": 0.186, "forearm": 0.146,
    "head": 1.0,  # scale of the head offsets below
}
# Points on the head relative to the thorax, head frame, fractions of the height.
_HEAD_POINTS = {
    "upper_neck": (-0.004, 0.0, 0.058), "neck_nose": (0.030, 0.0, 0.088), "nose": (0.058, 0.0, 0.100),
    "left_eye": (0.044, 0.018, 0.118), "right_eye": (0.044, -0.018, 0.118),
    "left_ear": (-0.008, 0.043, 0.110), "right_ear": (-0.008, -0.043, 0.110),
    "head": (0.004, 0.0, 0.145), "head_top": (-0.006, 0.0, 0.182),
}
# Points on the foot relative to the ankle, foot frame of the left foot (mirror y for the right).
_FOOT_POINTS = {"heel": (-0.028, 0.004, -0.036), "big_toe": (0.110, -0.014, -0.032),
                "small_toe": (0.094, 0.022, -0.034)}

BODY_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine", "thorax", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_knee", "right_knee",
    "left_ankle", "right_ankle")
BODY_JOINTS = BODY_JOINTS + tuple(_HEAD_POINTS) + tuple(
    f"{side}_{name}" for side in ("left", "right") for name in _FOOT_POINTS)

_MAPS = {
    "COCO_17": ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    "HALPE_26": ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                 "head_top", "thorax", "pelvis", "left_big_toe", "right_big_toe", "left_small_toe",
                 "right_small_toe", "left_heel", "right_heel"),
    "BODY_25": ("nose", "thorax", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                "left_elbow", "left_wrist", "pelvis", "right_hip", "right_knee", "right_ankle",
                "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear",
                "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
                "right_small_toe", "right_heel"),
    "BODY_25B": ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
                 "upper_neck", "head_top", "left_big_toe", "left_small_toe", "left_heel",
                 "right_big_toe", "right_small_toe", "right_heel"),
    "MPII_16": ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
                "pelvis", "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow",
                "right_shoulder", "left_shoulder", "left_elbow", "left_wrist"),
    "H36M_17": ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
                "left_ankle", "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow",
                "left_wrist", "right_shoulder", "right_elbow", "right_wrist"),
}


def body_joint_map(skeleton: str | Skeleton) -> tuple[int, ...]:
    """Indices into :data:`BODY_JOINTS` giving each joint of ``skeleton``.

    Built-in body skeletons map through their format's anatomy; a custom skeleton maps when its
    joint names are names of :data:`BODY_JOINTS`. ValueError otherwise (e.g. ``HAND_21``).
    """
    skeleton = get_skeleton(skeleton)
    names = _MAPS.get(skeleton.name)
    if names is None and all(n in BODY_JOINTS for n in skeleton.joint_names):
        names = skeleton.joint_names
    if names is None:
        raise ValueError(f"the synthetic body has no joints for skeleton {skeleton.name}; expected "
                         f"one of {', '.join(_MAPS)} or a custom skeleton whose joint names are in "
                         f"{', '.join(BODY_JOINTS)}")
    return tuple(BODY_JOINTS.index(n) for n in names)


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths of one or several bodies (metres).

    height_m: () or (N,) standing heights. jitter: None or (..., len(_FRACTIONS)) multiplicative
    factors on each proportion (individual variation), broadcasting with ``height_m``.
    """

    height_m: np.ndarray
    jitter: np.ndarray | None = None

    @staticmethod
    def random(height_m, *, rng: np.random.Generator, variation: float = 0.03) -> "BodyShape":
        """Proportions varied by a factor ``1 +- variation`` (uniform) per segment."""
        height_m = np.asarray(height_m, dtype=np.float64)
        jitter = rng.uniform(1 - variation, 1 + variation, size=height_m.shape + (len(_FRACTIONS),))
        return BodyShape(height_m, jitter)

    def length(self, name: str) -> np.ndarray:
        """Length of segment ``name`` in metres, shaped like ``height_m``."""
        value = np.asarray(self.height_m, dtype=np.float64) * _FRACTIONS[name]
        if self.jitter is not None:
            value = value * np.asarray(self.jitter)[..., list(_FRACTIONS).index(name)]
        return value


def _rot(axis: int, angle_deg: np.ndarray) -> np.ndarray:
    """Rotations about a coordinate axis: (F,) degrees -> (F, 3, 3)."""
    a = np.radians(np.asarray(angle_deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def _apply(R: np.ndarray, v) -> np.ndarray:
    """(F, 3, 3) @ (F, 3) or (3,) -> (F, 3)."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 1:
        return R @ v
    return np.einsum("fij,fj->fi", R, v)


def _col(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)[..., None]


def forward_kinematics(angles_deg: dict[str, np.ndarray], root_xy_m: np.ndarray,
                       shape: BodyShape) -> np.ndarray:
    """World positions of every :data:`BODY_JOINTS` point, feet resting on the floor.

    angles_deg: :data:`ANGLE_NAMES` -> (F,) degrees (see the module docstring).
    root_xy_m: (F, 2) pelvis position on the floor plane, world metres.
    shape: segment lengths, height () or (F,).
    Returns (F, len(BODY_JOINTS), 3) float64 world metres. The pelvis height is set each frame so
    that the lowest point of either foot touches ``z = 0``.
    """
    missing = [n for n in ANGLE_NAMES if n not in angles_deg]
    if missing:
        raise ValueError(f"angles_deg lacks {', '.join(missing)}")
    root_xy_m = np.asarray(root_xy_m, dtype=np.float64)
    F = root_xy_m.shape[0]
    a = {n: np.broadcast_to(np.asarray(angles_deg[n], dtype=np.float64), (F,)) for n in ANGLE_NAMES}
    L = {n: shape.length(n) for n in _FRACTIONS}
    R_heading = _rot(2, a["heading"])
    R_trunk = R_heading @ _rot(2, a["trunk_twist"]) @ _rot(1, a["trunk_lean"]) @ _rot(0, a["trunk_side"])
    zero = np.zeros(F)
    one = np.ones(F)
    points: dict[str, np.ndarray] = {"pelvis": np.zeros((F, 3))}
    points["spine"] = _apply(R_trunk, np.stack([zero, zero, one], -1) * _col(L["spine"]))
    points["thorax"] = _apply(R_trunk, np.stack([zero, zero, one], -1) * _col(L["torso"]))
    R_head = R_trunk @ _rot(2, a["head_yaw"]) @ _rot(1, a["head_pitch"]) @ _rot(0, a["head_roll"])
    for name, offset in _HEAD_POINTS.items():
        points[name] = points["thorax"] + _apply(R_head, np.asarray(offset) * _col(L["head"]))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        s = side[0]
        hip = _apply(R_trunk, np.stack([zero, sign * one, zero], -1) * _col(L["hip_half_width"]))
        shoulder = _apply(R_trunk, np.stack([zero, sign * one, zero], -1) * _col(L["shoulder_half_width"])
                          + np.stack([zero, zero, one], -1) * _col(L["torso"]))
        R_upper = (R_trunk @ _rot(0, sign * a[f"{s}_shoulder_abd"]) @ _rot(1, -a[f"{s}_shoulder_flex"])
                   @ _rot(2, -sign * a[f"{s}_shoulder_twist"]))
        elbow = shoulder + _apply(R_upper, np.stack([zero, zero, -one], -1) * _col(L["upper_arm"]))
        R_fore = R_upper @ _rot(1, -a[f"{s}_elbow_flex"])
        wrist = elbow + _apply(R_fore, np.stack([zero, zero, -one], -1) * _col(L["forearm"]))
        R_yaw = R_heading @ _rot(2, sign * a[f"{s}_hip_twist"])
        R_thigh = R_yaw @ _rot(0, sign * a[f"{s}_hip_abd"]) @ _rot(1, -a[f"{s}_hip_flex"])
        knee = hip + _apply(R_thigh, np.stack([zero, zero, -one], -1) * _col(L["thigh"]))
        R_shank = R_thigh @ _rot(1, a[f"{s}_knee_flex"])
        ankle = knee + _apply(R_shank, np.stack([zero, zero, -one], -1) * _col(L["shank"]))
        R_foot = R_yaw @ _rot(1, -a[f"{s}_foot_pitch"])
        foot_scale = _col(L["ankle_height"] / _FRACTIONS["ankle_height"])
        for name, offset in _FOOT_POINTS.items():
            offset = np.array([offset[0], sign * offset[1], offset[2]])
            points[f"{side}_{name}"] = ankle + _apply(R_foot, offset * foot_scale)
        points.update({f"{side}_hip": hip, f"{side}_shoulder": shoulder, f"{side}_elbow": elbow,
                       f"{side}_wrist": wrist, f"{side}_knee": knee, f"{side}_ankle": ankle})
    joints = np.stack([points[n] for n in BODY_JOINTS], axis=1)
    foot = [BODY_JOINTS.index(f"{side}_{name}") for side in ("left", "right") for name in _FOOT_POINTS]
    lowest = joints[:, foot, 2].min(axis=1)
    joints[..., 0] += root_xy_m[:, None, 0]
    joints[..., 1] += root_xy_m[:, None, 1]
    joints[..., 2] -= lowest[:, None]
    return joints
