"""Keypoint (seed-method) extrinsics: a walking person seen by a ring rig with 2 px noise and 10%
outliers gives the rig's rotations, the scale from a known length, and weak pairs named."""

import numpy as np
import pytest

from calibration.keypoint_extrinsics import (KeypointExtrinsicsOptions, KnownLength, keypoint_extrinsics,
                                             person_height_m)
from calibration.rig_comparison import compare_rigs
from geometry.skeletons import get_skeleton
from geometry.synthetic import DetectorNoise, person_motion, ring_rig, simulate_detections

ROTATION_TOL_DEG = 0.15  # 2 px noise, 10% outliers, 240 framesets of one walking person, 4 cameras
CENTER_TOL_M = 0.02  # same scene, with the scale from the truth
SCALE_TOL = 0.005  # relative scale error from a known 0.3 m forearm (median over frames)
HEIGHT_SCALE_TOL = 0.04  # the height model (segment chain / 0.88) is good to a few percent
JOINTS = get_skeleton("coco17").joint_names
ELBOW, WRIST = JOINTS.index("left_elbow"), JOINTS.index("left_wrist")


@pytest.fixture(scope="module")
def walking():
    rng = np.random.default_rng(31)
    rig = ring_rig(4, rng=rng)
    motion = person_motion(240, rng=rng, skeleton="coco17")
    detections = simulate_detections(rig, motion.joints_in_world, skeleton="coco17",
                                     noise=DetectorNoise(pixel_sigma_px=2.0, outlier_rate=0.1), rng=rng)
    forearm = np.median(np.linalg.norm(motion.joints_in_world[:, ELBOW] - motion.joints_in_world[:, WRIST], axis=-1))
    return rig, motion, detections, float(forearm)


@pytest.fixture(scope="module")
def calibrated(walking):
    rig, _, detections, forearm = walking
    options = KeypointExtrinsicsOptions(known_length=KnownLength(kind="joint_distance", length_m=forearm,
                                                                 joints=(ELBOW, WRIST)))
    return keypoint_extrinsics(rig, detections.points_2d, scores=detections.scores, joint_names=JOINTS,
                               options=options, rng=np.random.default_rng(1))


def test_rotations_and_centres_after_bundle_adjustment(walking, calibrated):
    rig = walking[0]
    errors = compare_rigs(calibrated.rig, rig, scale_from_reference=True)
    assert errors.rotation_error_deg.max() < ROTATION_TOL_DEG
    assert errors.center_error_m.max() < CENTER_TOL_M
    assert calibrated.bundle.num_rejected > 0, "the 10% detector outliers are rejected"
    assert set(calibrated.registration_order) == set(rig.names)
    assert len(calibrated.pairs) == 6 and not calibrated.weak_pairs


def test_metric_scale_from_a_known_length(walking, calibrated):
    rig = walking[0]
    assert abs(compare_rigs(calibrated.rig, rig, scale_from_reference=True).scale - 1) < SCALE_TOL
    motion = walking[1]
    reconstructed = calibrated.points_in_world
    seen = np.isfinite(reconstructed[:, 0, 0])
    # joints in the first camera's frame are metric: compare a rigid length with the truth
    shin = (JOINTS.index("left_knee"), JOINTS.index("left_ankle"))
    true_shin = np.median(np.linalg.norm(np.subtract(*motion.joints_in_world[:, shin].transpose(1, 0, 2)), axis=-1))
    est_shin = np.nanmedian(np.linalg.norm(np.subtract(*reconstructed[seen][:, shin].transpose(1, 0, 2)), axis=-1))
    assert abs(est_shin / true_shin - 1) < 2 * SCALE_TOL


def test_scale_from_person_height(walking, calibrated):
    _, motion, _, _ = walking
    # the height model on the true joints and on the (metric) reconstruction
    assert abs(person_height_m(motion.joints_in_world, JOINTS) / motion.height_m - 1) < HEIGHT_SCALE_TOL
    measured = person_height_m(calibrated.points_in_world, JOINTS)
    assert abs(measured / motion.height_m - 1) < HEIGHT_SCALE_TOL
    # the scale a person_height KnownLength would set, from the unscaled reconstruction
    unscaled = calibrated.points_in_world / calibrated.scale
    scale = motion.height_m / person_height_m(unscaled, JOINTS)
    assert abs(scale / calibrated.scale - 1) < HEIGHT_SCALE_TOL


def test_camera_that_never_sees_the_person_is_reported(walking):
    rig, _, detections, _ = walking
    points = detections.points_2d.copy()
    points[3] = np.nan
    with pytest.raises(ValueError, match="cam04"):
        keypoint_extrinsics(rig, points, scores=detections.scores)


def test_bad_inputs_raise(walking):
    rig, _, detections, _ = walking
    with pytest.raises(ValueError, match="3 views but the rig has 4 cameras"):
        keypoint_extrinsics(rig, detections.points_2d[:3])
    with pytest.raises(ValueError, match="millimetres"):
        KnownLength(kind="person_height", length_m=1750.0)
    with pytest.raises(ValueError, match="joint_names"):
        keypoint_extrinsics(rig, detections.points_2d, options=KeypointExtrinsicsOptions(
            known_length=KnownLength(kind="person_height", length_m=1.75)))


def test_pair_that_rarely_shares_joints_is_reported_weak(walking):
    rig, _, detections, _ = walking
    points = detections.points_2d[:, :120].copy()
    scores = detections.scores[:, :120]
    # cam04 keeps only the joints cam01 does not see, plus a handful: the pair cannot be estimated
    shared = np.all(np.isfinite(points[0]), axis=-1) & np.all(np.isfinite(points[3]), axis=-1)
    keep = np.zeros_like(shared)
    keep.flat[np.flatnonzero(shared)[:10]] = True
    points[3][shared & ~keep] = np.nan
    result = keypoint_extrinsics(rig, points, scores=scores, rng=np.random.default_rng(2),
                                 options=KeypointExtrinsicsOptions(max_jump=None))  # count the 10 exactly
    weak = {(p.a, p.b): p for p in result.weak_pairs}
    assert set(weak) == {("cam01", "cam04")}
    assert weak["cam01", "cam04"].reason == "only 10 joints seen by both"
    assert compare_rigs(result.rig, rig, scale_from_reference=True).rotation_error_deg.max() < 2 * ROTATION_TOL_DEG


def test_blazepose_landmarks_calibrate_from_their_body_joints():
    from calibration.keypoint_cleaning import body_joints
    from geometry.skeletons import BLAZEPOSE_33, COCO_17

    body = body_joints(BLAZEPOSE_33.joint_names)
    assert [BLAZEPOSE_33.joint_names[j] for j in body] == list(COCO_17.joint_names)
    assert body_joints(COCO_17.joint_names) is None and body_joints(None) is None
