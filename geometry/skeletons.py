"""Keypoint skeletons: joint names and order, bones, and left/right pairs of the common formats.

Pure data. Every array with a ``J`` axis in rigkit (see :mod:`geometry.camera` for the dimension
letters) is ordered like the ``joint_names`` of one :class:`Skeleton`. Joint names and orders are
those of each format's own reference, so files written by that format's tools load index for
index:

- ``COCO_17``: COCO keypoints (``person_keypoints``), as written by COCO, MMPose, Detectron2.
- ``HALPE_26``: Halpe-FullBody body part (AlphaPose ``halpe26``); the reference's ``"Rknee"``
  typo is spelled ``"RKnee"`` (as Pose2Sim does).
- ``BODY_25``: OpenPose ``POSE_BODY_25_BODY_PARTS``.
- ``BODY_25B``: OpenPose's experimental ``BODY_25B`` model.
- ``MPII_16``: MPII Human Pose.
- ``H36M_17``: Human3.6M's 17 joints in the order used by VideoPose3D and most lifters.
- ``HAND_21``: OpenPose / MediaPipe hand (wrist, then thumb, index, middle, ring, little finger,
  each from the base to the tip).
- ``BLAZEPOSE_33``: MediaPipe BlazePose's 33 pose landmarks (``mediapipe.solutions.pose.PoseLandmark``
  order and names, bones of its ``POSE_CONNECTIONS``); its COCO-17 joints carry COCO's names, and
  :data:`BLAZEPOSE_33_TO_COCO_17` / :func:`joint_mapping` map one onto the other.

Bones follow the format's reference drawing order. ``symmetric_pairs`` are ``(left, right)``
pairs: what a left/right swap of a detector exchanges, and what a horizontal image flip permutes;
the built-in skeletons read them from their joint names (:func:`mirrored_pairs`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Skeleton", "COCO_17", "HALPE_26", "BODY_25", "BODY_25B", "MPII_16", "H36M_17", "HAND_21",
           "BLAZEPOSE_33", "BLAZEPOSE_33_TO_COCO_17", "SKELETONS", "get_skeleton", "joint_mapping",
           "mirrored_pairs"]


@dataclass(frozen=True, kw_only=True)
class Skeleton:
    """A keypoint layout.

    name: canonical name, e.g. ``"COCO_17"``.
    joint_names: J unique names, in the order of the ``J`` axis.
    bones: ``(i, j)`` joint index pairs (i != j), each joining two joints of one rigid segment or
        drawn as one limb.
    symmetric_pairs: ``(left, right)`` joint index pairs; each joint is in at most one pair.
    """

    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    symmetric_pairs: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"skeleton name must be a non-empty string, got {self.name!r}")
        joint_names = tuple(str(n) for n in self.joint_names)
        if not joint_names:
            raise ValueError(f"skeleton {self.name!r} has no joints")
        repeated = sorted({n for n in joint_names if joint_names.count(n) > 1})
        if repeated:
            raise ValueError(f"skeleton {self.name!r}: joint names must be unique, repeated: "
                             f"{', '.join(repeated)}")
        J = len(joint_names)
        bones = tuple(_index_pair(self.name, "bone", pair, J) for pair in self.bones)
        if len(set(frozenset(b) for b in bones)) != len(bones):
            raise ValueError(f"skeleton {self.name!r}: a bone is listed twice")
        pairs = tuple(_index_pair(self.name, "symmetric pair", pair, J) for pair in self.symmetric_pairs)
        paired = [j for pair in pairs for j in pair]
        if len(set(paired)) != len(paired):
            raise ValueError(f"skeleton {self.name!r}: a joint is in more than one symmetric pair")
        object.__setattr__(self, "joint_names", joint_names)
        object.__setattr__(self, "bones", bones)
        object.__setattr__(self, "symmetric_pairs", pairs)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint_name: str) -> int:
        """Position of ``joint_name`` on the J axis; ValueError listing the names otherwise."""
        try:
            return self.joint_names.index(joint_name)
        except ValueError:
            raise ValueError(f"skeleton {self.name} has no joint {joint_name!r} "
                             f"(joints: {', '.join(self.joint_names)})") from None

    @property
    def flip_permutation(self) -> tuple[int, ...]:
        """J indices that exchange every symmetric pair: ``points[..., perm, :]`` after a mirror
        flip of the image relabels left and right correctly."""
        perm = list(range(self.num_joints))
        for left, right in self.symmetric_pairs:
            perm[left], perm[right] = right, left
        return tuple(perm)

    @classmethod
    def mirrored(cls, *, name: str, joint_names, bones) -> "Skeleton":
        """A skeleton whose symmetric pairs are read from its joint names (:func:`mirrored_pairs`)."""
        joint_names = tuple(str(n) for n in joint_names)
        return cls(name=name, joint_names=joint_names, bones=bones, symmetric_pairs=mirrored_pairs(joint_names))

    @classmethod
    def from_names(cls, name: str, joint_names, bones_by_name, symmetric_pairs_by_name=()) -> "Skeleton":
        """A custom skeleton from joint names, with bones and pairs given as name pairs."""
        joint_names = tuple(str(n) for n in joint_names)
        lookup = {n: i for i, n in enumerate(joint_names)}

        def to_index(pairs, what):
            out = []
            for a, b in pairs:
                if a not in lookup or b not in lookup:
                    raise ValueError(f"skeleton {name!r}: {what} ({a!r}, {b!r}) names a joint that "
                                     f"is not in joint_names")
                out.append((lookup[a], lookup[b]))
            return tuple(out)

        return cls(name=name, joint_names=joint_names, bones=to_index(bones_by_name, "bone"),
                   symmetric_pairs=to_index(symmetric_pairs_by_name, "symmetric pair"))


# How a left joint's name maps onto its right twin's: (pattern of the left name, the right name).
_MIRRORED_NAMES = ((re.compile(r"^left_(.+)$"), r"right_\1"), (re.compile(r"^(.+)_left$"), r"\1_right"),
                   (re.compile(r"^l_(.+)$"), r"r_\1"), (re.compile(r"^L([A-Z].*)$"), r"R\1"))


def mirrored_pairs(joint_names) -> tuple[tuple[int, int], ...]:
    """``(left, right)`` index pairs of the joints whose names say left and right of the same
    thing (``left_wrist``/``right_wrist``, ``mouth_left``/``mouth_right``, ``l_hip``/``r_hip``,
    ``LHip``/``RHip``), in the order of the left joints."""
    position = {n: j for j, n in enumerate(joint_names)}
    pairs = []
    for j, joint in enumerate(joint_names):
        for pattern, right in _MIRRORED_NAMES:
            twin = pattern.sub(right, joint) if pattern.match(joint) else None
            if twin in position:
                pairs.append((j, position[twin]))
                break
    return tuple(pairs)


def _index_pair(skeleton: str, what: str, pair, num_joints: int) -> tuple[int, int]:
    try:
        i, j = (int(k) for k in pair)
    except (TypeError, ValueError):
        raise ValueError(f"skeleton {skeleton!r}: {what} {pair!r} is not a pair of joint indices") from None
    if not (0 <= i < num_joints and 0 <= j < num_joints) or i == j:
        raise ValueError(f"skeleton {skeleton!r}: {what} {pair!r} must join two different joints "
                         f"in [0, {num_joints})")
    return i, j


COCO_17 = Skeleton.mirrored(
    name="COCO_17",
    joint_names=("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                 "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                 "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    bones=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
           (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
)

HALPE_26 = Skeleton.mirrored(
    name="HALPE_26",
    joint_names=("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
                 "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
                 "Head", "Neck", "Hip", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel",
                 "RHeel"),
    bones=((0, 1), (0, 2), (1, 3), (2, 4), (5, 18), (6, 18), (5, 7), (7, 9), (6, 8), (8, 10),
           (17, 18), (18, 19), (19, 11), (19, 12), (11, 13), (12, 14), (13, 15), (14, 16),
           (20, 24), (21, 25), (23, 25), (22, 24), (15, 24), (16, 25)),
)

BODY_25 = Skeleton.mirrored(
    name="BODY_25",
    joint_names=("Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
                 "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
                 "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"),
    bones=((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
           (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19),
           (19, 20), (14, 21), (11, 22), (22, 23), (11, 24)),
)

BODY_25B = Skeleton.mirrored(
    name="BODY_25B",
    joint_names=("Nose", "LEye", "REye", "LEar", "REar", "LShoulder", "RShoulder", "LElbow",
                 "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle",
                 "UpperNeck", "HeadTop", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
                 "RHeel"),
    bones=((0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (0, 6), (5, 7), (6, 8), (7, 9), (8, 10),
           (5, 11), (6, 12), (11, 13), (12, 14), (13, 15), (14, 16), (15, 19), (19, 20), (15, 21),
           (16, 22), (22, 23), (16, 24), (5, 17), (6, 17), (17, 18), (11, 12)),
)

MPII_16 = Skeleton.mirrored(
    name="MPII_16",
    joint_names=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
                 "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder",
                 "l_elbow", "l_wrist"),
    bones=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (10, 11),
           (11, 12), (12, 7), (7, 13), (13, 14), (14, 15)),
)

H36M_17 = Skeleton.mirrored(
    name="H36M_17",
    joint_names=("Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
                 "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow",
                 "RWrist"),
    bones=((0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
           (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16)),
)

_FINGERS = ("thumb", "index_finger", "middle_finger", "ring_finger", "pinky")
_FINGER_JOINTS = {"thumb": ("cmc", "mcp", "ip", "tip")}
HAND_21 = Skeleton(
    name="HAND_21",
    joint_names=("wrist",) + tuple(f"{finger}_{part}" for finger in _FINGERS
                                   for part in _FINGER_JOINTS.get(finger, ("mcp", "pip", "dip", "tip"))),
    bones=tuple((0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4)),
)

BLAZEPOSE_33 = Skeleton.mirrored(
    name="BLAZEPOSE_33",
    joint_names=("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
                 "right_eye", "right_eye_outer", "left_ear", "right_ear", "mouth_left",
                 "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                 "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index",
                 "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
                 "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
                 "left_foot_index", "right_foot_index"),
    bones=((0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10), (11, 12),
           (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19), (12, 14), (14, 16),
           (16, 18), (16, 20), (16, 22), (18, 20), (11, 23), (12, 24), (23, 24), (23, 25),
           (24, 26), (25, 27), (26, 28), (27, 29), (28, 30), (29, 31), (30, 32), (27, 31),
           (28, 32)),
)

# COCO-17 joint j is BlazePose landmark BLAZEPOSE_33_TO_COCO_17[j] (same names).
BLAZEPOSE_33_TO_COCO_17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in
                                  (COCO_17, HALPE_26, BODY_25, BODY_25B, MPII_16, H36M_17, HAND_21,
                                   BLAZEPOSE_33)}


def joint_mapping(source: str | Skeleton, target: str | Skeleton) -> tuple[int, ...]:
    """Indices into ``source``'s joints giving ``target``'s joints, matched by joint name:
    ``points_target = points_source[..., mapping, :]``. ValueError naming the target joints that
    ``source`` lacks (e.g. ``joint_mapping("BLAZEPOSE_33", "COCO_17")`` is
    :data:`BLAZEPOSE_33_TO_COCO_17`)."""
    source, target = get_skeleton(source), get_skeleton(target)
    lookup = {n: i for i, n in enumerate(source.joint_names)}
    missing = [n for n in target.joint_names if n not in lookup]
    if missing:
        raise ValueError(f"skeleton {source.name} lacks {', '.join(missing)} of {target.name}")
    return tuple(lookup[n] for n in target.joint_names)

_ALIASES = {
    "coco": "COCO_17", "coco17": "COCO_17", "cocobody": "COCO_17",
    "halpe": "HALPE_26", "halpe26": "HALPE_26",
    "body25": "BODY_25", "openpose": "BODY_25", "openposebody25": "BODY_25",
    "body25b": "BODY_25B",
    "mpii": "MPII_16", "mpii16": "MPII_16",
    "h36m": "H36M_17", "h36m17": "H36M_17", "human36m": "H36M_17", "human36m17": "H36M_17",
    "hand": "HAND_21", "hand21": "HAND_21",
    "blazepose": "BLAZEPOSE_33", "blazepose33": "BLAZEPOSE_33", "mediapipe": "BLAZEPOSE_33",
    "mediapipepose": "BLAZEPOSE_33",
}


def _normalize(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """The built-in skeleton called ``name`` (case-insensitive; ``"coco"``, ``"coco17"``,
    ``"COCO_17"``, ``"body25"``, ``"h36m"``, ``"hand21"``, ...). A :class:`Skeleton` passes through.
    """
    if isinstance(name, Skeleton):
        return name
    key = _normalize(str(name))
    canonical = _ALIASES.get(key)
    if canonical is None:
        canonical = next((s for s in SKELETONS if _normalize(s) == key), None)
    if canonical is None:
        raise ValueError(f"unknown skeleton {name!r}, expected one of {', '.join(SKELETONS)} "
                         "(or a custom geometry.Skeleton)")
    return SKELETONS[canonical]
