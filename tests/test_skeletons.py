"""Skeleton definitions: counts, exact orders of the reference formats, bones, left/right pairs."""

import numpy as np
import pytest

from geometry import (BODY_25, BODY_25B, COCO_17, H36M_17, HALPE_26, HAND_21, MPII_16, SKELETONS,
                      Skeleton, get_skeleton)

EXPECTED_COUNTS = {"COCO_17": 17, "HALPE_26": 26, "BODY_25": 25, "BODY_25B": 25, "MPII_16": 16,
                   "H36M_17": 17, "HAND_21": 21, "BLAZEPOSE_33": 33}


def _side_free(name: str) -> str:
    """A joint name with its side marker removed, in any of the formats' spellings."""
    for token in ("left_", "right_", "l_", "r_"):
        if name.startswith(token):
            return name[len(token):]
    for token in ("_left", "_right"):  # BlazePose's mouth_left / mouth_right
        if name.endswith(token):
            return name[:-len(token)]
    if name[:1] in "LR" and name[1:2].isupper():
        return name[1:]
    return name


def _side(name: str) -> str:
    if name.startswith(("left_", "l_")) or name.endswith("_left") or (name[:1] == "L" and name[1:2].isupper()):
        return "left"
    if name.startswith(("right_", "r_")) or name.endswith("_right") or (name[:1] == "R" and name[1:2].isupper()):
        return "right"
    return "centre"


def test_builtin_counts_and_registry():
    assert {name: s.num_joints for name, s in SKELETONS.items()} == EXPECTED_COUNTS


@pytest.mark.parametrize("skeleton", list(SKELETONS.values()), ids=list(SKELETONS))
def test_bones_and_pairs_are_consistent(skeleton):
    J = skeleton.num_joints
    assert len(set(skeleton.joint_names)) == J
    for i, j in skeleton.bones:
        assert 0 <= i < J and 0 <= j < J and i != j
    for left, right in skeleton.symmetric_pairs:
        left_name, right_name = skeleton.joint_names[left], skeleton.joint_names[right]
        assert _side(left_name) == "left" and _side(right_name) == "right", (left_name, right_name)
        assert _side_free(left_name) == _side_free(right_name)
    # Every sided joint has its partner in a pair (what a swap or a mirror flip needs).
    paired = {j for pair in skeleton.symmetric_pairs for j in pair}
    sided = {j for j, n in enumerate(skeleton.joint_names) if _side(n) != "centre"}
    if skeleton is not HAND_21:
        assert sided == paired
    perm = np.array(skeleton.flip_permutation)
    np.testing.assert_array_equal(perm[perm], np.arange(J))


def test_reference_orders():
    # Spot checks against each format's published order.
    assert COCO_17.joint_names[:3] == ("nose", "left_eye", "right_eye")
    assert COCO_17.joint_names[-1] == "right_ankle"
    assert BODY_25.joint_names[1] == "Neck" and BODY_25.joint_names[8] == "MidHip"
    assert BODY_25.joint_names[19:] == ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel")
    assert BODY_25B.joint_names[17:19] == ("UpperNeck", "HeadTop")
    assert HALPE_26.joint_names[17:20] == ("Head", "Neck", "Hip")
    assert HALPE_26.joint_names[20:] == ("LBigToe", "RBigToe", "LSmallToe", "RSmallToe", "LHeel", "RHeel")
    assert MPII_16.joint_names[6:10] == ("pelvis", "thorax", "upper_neck", "head_top")
    assert H36M_17.joint_names[0] == "Hip" and H36M_17.joint_names[10] == "Head"
    assert HAND_21.joint_names[4] == "thumb_tip" and HAND_21.joint_names[20] == "pinky_tip"
    # HAND_21: every finger chain starts at the wrist.
    assert sum(1 for bone in HAND_21.bones if 0 in bone) == 5
    # The COCO bones are the official 1-based list shifted by one.
    assert (15, 13) in COCO_17.bones and (3, 5) in COCO_17.bones and len(COCO_17.bones) == 19


@pytest.mark.parametrize("alias,expected", [("coco", "COCO_17"), ("COCO17", "COCO_17"),
                                            ("coco_17", "COCO_17"), ("body25", "BODY_25"),
                                            ("BODY_25B", "BODY_25B"), ("openpose", "BODY_25"),
                                            ("halpe", "HALPE_26"), ("Human3.6M", "H36M_17"),
                                            ("h36m", "H36M_17"), ("mpii", "MPII_16"),
                                            ("hand21", "HAND_21")])
def test_get_skeleton_aliases(alias, expected):
    assert get_skeleton(alias).name == expected
    assert get_skeleton(get_skeleton(alias)) is SKELETONS[expected]


def test_get_skeleton_unknown_names_the_choices():
    with pytest.raises(ValueError, match="COCO_17"):
        get_skeleton("coco18")


def test_invalid_skeletons_are_rejected():
    with pytest.raises(ValueError, match="unique"):
        Skeleton(name="x", joint_names=("a", "a"), bones=())
    with pytest.raises(ValueError, match="two different joints"):
        Skeleton(name="x", joint_names=("a", "b"), bones=((0, 2),))
    with pytest.raises(ValueError, match="two different joints"):
        Skeleton(name="x", joint_names=("a", "b"), bones=((1, 1),))
    with pytest.raises(ValueError, match="more than one symmetric pair"):
        Skeleton(name="x", joint_names=("a", "b", "c"), bones=(), symmetric_pairs=((0, 1), (1, 2)))
    with pytest.raises(ValueError, match="listed twice"):
        Skeleton(name="x", joint_names=("a", "b"), bones=((0, 1), (1, 0)))


def test_custom_skeleton_from_names():
    s = Skeleton.from_names("mouse", ["snout", "left_ear", "right_ear", "tail"],
                            [("snout", "left_ear"), ("snout", "right_ear"), ("snout", "tail")],
                            [("left_ear", "right_ear")])
    assert s.bones == ((0, 1), (0, 2), (0, 3)) and s.flip_permutation == (0, 2, 1, 3)
    assert s.index("tail") == 3
    with pytest.raises(ValueError, match="not in joint_names"):
        Skeleton.from_names("mouse", ["a"], [("a", "b")])
    with pytest.raises(ValueError, match="no joint"):
        s.index("whisker")


def test_blazepose_maps_onto_coco17_by_name():
    from geometry.skeletons import BLAZEPOSE_33, BLAZEPOSE_33_TO_COCO_17, joint_mapping

    assert joint_mapping(BLAZEPOSE_33, COCO_17) == BLAZEPOSE_33_TO_COCO_17
    assert [BLAZEPOSE_33.joint_names[m] for m in BLAZEPOSE_33_TO_COCO_17] == list(COCO_17.joint_names)
    # every COCO bone is a path of BlazePose bones between the mapped joints (limbs are bones)
    for limb in ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12)):
        a, b = (BLAZEPOSE_33_TO_COCO_17[j] for j in limb)
        assert (a, b) in BLAZEPOSE_33.bones or (b, a) in BLAZEPOSE_33.bones
    assert get_skeleton("mediapipe") is BLAZEPOSE_33
    with pytest.raises(ValueError, match="lacks"):
        joint_mapping(COCO_17, BLAZEPOSE_33)


def test_symmetric_pairs_read_from_the_joint_names():
    from geometry.skeletons import BLAZEPOSE_33, mirrored_pairs

    assert mirrored_pairs(("nose", "left_eye", "right_eye", "mouth_left", "mouth_right")) == ((1, 2), (3, 4))
    assert mirrored_pairs(("r_hip", "l_hip", "LHip", "RHip", "Lower", "Rower")) == ((1, 0), (2, 3))
    assert mirrored_pairs(("left_hand", "neck")) == ()  # a left joint without its twin pairs with nothing
    # the built-in skeletons' pairs: what their reference drawings pair (spot checks by name)
    for skeleton, left, right in ((COCO_17, "left_wrist", "right_wrist"), (BODY_25, "LBigToe", "RBigToe"),
                                  (MPII_16, "l_ankle", "r_ankle"), (H36M_17, "LShoulder", "RShoulder")):
        assert (skeleton.index(left), skeleton.index(right)) in skeleton.symmetric_pairs
    assert [len(s.symmetric_pairs) for s in (COCO_17, HALPE_26, BODY_25, MPII_16, HAND_21, BLAZEPOSE_33)] == \
        [8, 11, 11, 6, 0, 16]
