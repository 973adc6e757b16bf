"""Synthetic scene generators: human motion, detector noise, board poses (seeded ground truth)."""

import numpy as np
import pytest

from geometry import Board, get_skeleton, rotation_angle_deg
from geometry.synthetic import (BODY_JOINTS, SYNTHETIC_BOARD, DetectorNoise, MotionOptions, arc_rig,
                                body_joint_map, board_observations, board_poses,
                                board_trajectory, board_visibility, camera_board_poses, in_image, person_motion,
                                random_poses, ring_rig, self_occlusion, simulate_detections)

BODY_SKELETONS = ("COCO_17", "HALPE_26", "BODY_25", "BODY_25B", "MPII_16", "H36M_17")
BONE_LENGTH_TOL_M = 1e-9  # rigid segments: float64 round-off only
HEIGHT_TOL = 0.07  # head top of a walking person within 7% of the height (nodding, leaning, knees)
MEDIAN_HEIGHT_TOL = 0.03  # ... and within 3% in the median
MAX_WALK_SPEED_MPS = 2.2  # fastest walk option 1.5 m/s plus the body's own sway
HEAD_POINTS = {"nose", "left_eye", "right_eye", "left_ear", "right_ear", "upper_neck", "neck_nose",
               "head", "head_top"}


def _head_to_shoulder(skeleton, bone):
    """Bones from a head point to a shoulder change length when the head turns (as in people)."""
    names = [BODY_JOINTS[body_joint_map(skeleton)[j]] for j in bone]
    return any(n in HEAD_POINTS for n in names) and any(n.endswith("shoulder") for n in names)


def test_motion_is_deterministic_for_a_seed():
    a = person_motion(120, rng=np.random.default_rng(5))
    b = person_motion(120, rng=np.random.default_rng(5))
    c = person_motion(120, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a.joints_in_world, b.joints_in_world)
    assert a.activity == b.activity and a.height_m == b.height_m
    assert not np.allclose(a.joints_in_world, c.joints_in_world)


@pytest.mark.parametrize("name", BODY_SKELETONS)
def test_bone_lengths_are_constant(name):
    motion = person_motion(900, skeleton=name, rng=np.random.default_rng(1))
    skeleton = get_skeleton(name)
    joints = motion.joints_in_world
    assert joints.shape == (900, skeleton.num_joints, 3) and np.all(np.isfinite(joints))
    rigid = [b for b in skeleton.bones if not _head_to_shoulder(skeleton, b)]
    assert len(rigid) >= len(skeleton.bones) - 4
    for i, j in rigid:
        length = np.linalg.norm(joints[:, i] - joints[:, j], axis=-1)
        assert length.max() - length.min() < BONE_LENGTH_TOL_M, (skeleton.joint_names[i], skeleton.joint_names[j])
        assert 0.02 < length.mean() < 0.7


def test_same_seed_gives_the_same_person_in_every_skeleton():
    coco = person_motion(60, skeleton="coco17", rng=np.random.default_rng(3))
    body25 = person_motion(60, skeleton="body25", rng=np.random.default_rng(3))
    h36m = person_motion(60, skeleton="h36m", rng=np.random.default_rng(3))
    for coco_name, body25_name in (("left_wrist", "LWrist"), ("right_ankle", "RAnkle"), ("nose", "Nose")):
        np.testing.assert_allclose(coco.joints_in_world[:, coco.skeleton.index(coco_name)],
                                   body25.joints_in_world[:, body25.skeleton.index(body25_name)])
    # Derived centre joints sit where the formats put them.
    b = body25.skeleton
    np.testing.assert_allclose(body25.joints_in_world[:, b.index("MidHip")],
                               body25.joints_in_world[:, [b.index("LHip"), b.index("RHip")]].mean(1), atol=1e-12)
    np.testing.assert_allclose(body25.joints_in_world[:, b.index("Neck")],
                               body25.joints_in_world[:, [b.index("LShoulder"), b.index("RShoulder")]].mean(1),
                               atol=1e-12)
    h = h36m.skeleton
    np.testing.assert_allclose(h36m.joints_in_world[:, h.index("Hip")],
                               h36m.joints_in_world[:, [h.index("LHip"), h.index("RHip")]].mean(1), atol=1e-12)


def test_motion_is_human():
    options = MotionOptions(area_radius_m=1.2)
    motion = person_motion(1800, skeleton="halpe26", height_m=1.80, rng=np.random.default_rng(2),
                           options=options)
    s, joints = motion.skeleton, motion.joints_in_world
    feet = [s.index(n) for n in ("LHeel", "RHeel", "LBigToe", "RBigToe", "LSmallToe", "RSmallToe")]
    # One foot on the floor every frame, nothing under it.
    np.testing.assert_allclose(joints[:, feet, 2].min(axis=1), 0.0, atol=1e-12)
    assert joints[..., 2].min() > -1e-12
    standing = np.array([a in ("walk", "stand") for a in motion.activity])
    head_top = joints[standing, s.index("Head"), 2]
    assert np.all(np.abs(head_top - 1.80) < HEIGHT_TOL * 1.80)
    assert abs(np.median(head_top) - 1.80) < MEDIAN_HEIGHT_TOL * 1.80
    pelvis = joints[:, s.index("Hip"), :2]
    assert np.linalg.norm(pelvis, axis=1).max() < options.area_radius_m + 0.7
    speed = np.linalg.norm(np.diff(pelvis, axis=0), axis=1) * motion.fps
    assert speed.max() < MAX_WALK_SPEED_MPS
    # Walking and several different actions happen within a minute.
    actions = set(motion.activity) - {"walk", "stand"}
    assert "walk" in motion.activity and len(actions) >= 3
    # Squats/bends lower the head; waves and stretches raise a wrist over it.
    wrist_over_head = np.maximum(joints[:, s.index("LWrist"), 2], joints[:, s.index("RWrist"), 2]) > \
        joints[:, s.index("Head"), 2]
    assert np.all(~wrist_over_head[standing & (np.array([a == "walk" for a in motion.activity]))])
    assert motion.timestamp_s[-1] == pytest.approx(1799 / 30.0)


def test_random_poses_are_diverse_and_valid():
    poses = random_poses(2000, rng=np.random.default_rng(4))
    joints, s = poses.joints_in_world, poses.skeleton
    assert joints.shape == (2000, 17, 3) and np.all(np.isfinite(joints))
    assert poses.height_m.min() >= 1.55 and poses.height_m.max() <= 1.95
    nose_height = joints[:, s.index("nose"), 2] / poses.height_m
    wrist_height = joints[:, s.index("left_wrist"), 2] / poses.height_m
    # Standing upright, bending down and arms overhead all occur.
    assert (nose_height > 0.85).mean() > 0.3 and (nose_height < 0.7).mean() > 0.02
    assert (wrist_height > nose_height).mean() > 0.1
    # Headings cover the circle: the facing direction (nose minus neck) points every way.
    facing = joints[:, s.index("nose"), :2] - joints[:, [5, 6], :2].mean(1)
    counts = np.histogram(np.arctan2(facing[:, 1], facing[:, 0]), bins=8, range=(-np.pi, np.pi))[0]
    assert counts.min() > 100


def test_invalid_motion_requests_raise():
    with pytest.raises(ValueError, match="num_frames"):
        person_motion(0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="no joints for skeleton HAND_21"):
        person_motion(10, skeleton="hand21", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="area_radius_m"):
        MotionOptions(area_radius_m=0)


# -- detector noise ----------------------------------------------------------------------------

SIGMA_REL_TOL = 0.03  # std of ~100k Gaussian samples is within 1% (3 sigma of the estimator)
RATE_ABS_TOL = 0.01  # Bernoulli rates over ~100k trials are within 0.3% (3 sigma); 1% is loose


@pytest.fixture(scope="module")
def scene():
    rig = ring_rig(6, rng=np.random.default_rng(0))
    motion = person_motion(1000, rng=np.random.default_rng(1))
    return rig, motion


def test_detection_statistics_match_the_model(scene):
    rig, motion = scene
    noise = DetectorNoise(pixel_sigma_px=2.0, outlier_rate=0.1, swap_rate=0.05, missing_rate=0.02)
    d = simulate_detections(rig, motion.joints_in_world, skeleton=motion.skeleton, noise=noise,
                            rng=np.random.default_rng(2))
    V, F, J = 6, 1000, 17
    assert d.points_2d.shape == (V, F, J, 2) and d.scores.shape == (V, F, J)
    assert d.camera_names == rig.names
    error = d.points_2d - d.truth_2d
    correct = d.visible & ~d.is_outlier & ~d.is_swapped
    clear, hidden = correct & ~d.is_occluded, correct & d.is_occluded
    assert abs(error[clear].std() / noise.pixel_sigma_px - 1) < SIGMA_REL_TOL
    assert abs(error[hidden].std() / (noise.pixel_sigma_px * noise.occluded_sigma_scale) - 1) < 2 * SIGMA_REL_TOL
    assert abs(error[correct].mean()) < 0.05
    assert 0.05 < d.is_occluded.mean() < 0.4  # a person hides part of itself from every side
    detectable = in_image(d.truth_2d, rig.sizes)
    assert not d.is_occluded[~detectable].any()
    assert abs(d.is_outlier[d.visible].mean() - noise.outlier_rate) < RATE_ABS_TOL
    paired = np.zeros(J, dtype=bool)
    paired[[j for pair in motion.skeleton.symmetric_pairs for j in pair]] = True
    swapped_share = d.is_swapped[:, :, paired][d.visible[:, :, paired]].mean()
    assert abs(swapped_share - noise.swap_rate * (1 - noise.outlier_rate)) < RATE_ABS_TOL
    missed = 1 - d.visible
    assert abs(missed[detectable & ~d.is_occluded].mean() - noise.missing_rate) < RATE_ABS_TOL
    assert abs(missed[detectable & d.is_occluded].mean()
               - (noise.missing_rate + noise.occluded_missing_rate)) < 2 * RATE_ABS_TOL
    # Outliers are gross; swapped joints sit on their partner's truth.
    assert np.hypot(*error[d.is_outlier].T).min() >= noise.min_outlier_distance_px
    v, f, j = np.nonzero(d.is_swapped)
    partner = np.array(motion.skeleton.flip_permutation)[j]
    partner_error = np.hypot(*(d.points_2d[v, f, j] - d.truth_2d[v, f, partner]).T)
    assert np.percentile(partner_error, 99) < 4 * noise.pixel_sigma_px * noise.occluded_sigma_scale
    # Confidences: correct > swapped > outlier on average, overlapping ranges, NaN where missing.
    s = d.scores
    assert np.mean(s[clear]) > np.mean(s[d.is_swapped]) > np.mean(s[d.is_outlier])
    assert np.mean(s[clear]) > np.mean(s[hidden]) > np.mean(s[d.is_outlier])
    assert np.percentile(s[d.is_outlier], 90) > np.percentile(s[correct], 10)
    np.testing.assert_array_equal(np.isnan(s), ~d.visible)
    np.testing.assert_array_equal(np.isnan(d.points_2d).any(-1), ~d.visible)


def test_outside_the_image_is_nan(scene):
    rig, motion = scene
    # Move the person far to one side: parts of it leave some images.
    joints = motion.joints_in_world[:200] + np.array([2.8, 0.0, 0.0])
    d = simulate_detections(rig, joints, skeleton="coco17",
                            noise=DetectorNoise(missing_rate=0.0, occluded_missing_rate=0.0),
                            rng=np.random.default_rng(3))
    sizes = rig.sizes[:, None, None, :]
    outside = ~((d.truth_2d >= -0.5) & (d.truth_2d <= sizes - 0.5)).all(-1)
    assert outside.mean() > 0.05  # the scene really leaves some images
    assert not d.visible[outside].any()
    assert np.isnan(d.points_2d[outside]).all()
    assert d.visible[~outside].all()


def test_detections_are_seeded_and_accept_any_leading_shape(scene):
    rig, motion = scene
    a = simulate_detections(rig, motion.joints_in_world[:10], skeleton="coco17", rng=np.random.default_rng(4))
    b = simulate_detections(rig, motion.joints_in_world[:10], skeleton="coco17", rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a.points_2d, b.points_2d)
    single = simulate_detections(rig, motion.joints_in_world[0], rng=np.random.default_rng(4))
    assert single.points_2d.shape == (6, 17, 2) and not single.is_swapped.any()
    noiseless = simulate_detections(rig, motion.joints_in_world[:10], skeleton="coco17",
                                    noise=DetectorNoise(pixel_sigma_px=0, outlier_rate=0, swap_rate=0,
                                                        missing_rate=0, occluded_missing_rate=0),
                                    rng=np.random.default_rng(4))
    np.testing.assert_allclose(noiseless.points_2d, rig.project(motion.joints_in_world[:10]))
    with pytest.raises(ValueError, match="skeleton BODY_25"):
        simulate_detections(rig, motion.joints_in_world, skeleton="body25", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="outlier_rate"):
        DetectorNoise(outlier_rate=1.5)


# -- boards ------------------------------------------------------------------------------------

TWO_VIEW_SHARE_MIN = 0.8  # "most" poses are seen whole by two or more cameras
MAX_STEP_M = 0.1  # a hand-held board moves < 3 m/s at 30 fps
MAX_STEP_DEG = 6.0  # ... and turns < 180 deg/s


@pytest.mark.parametrize("make_rig", [ring_rig, arc_rig])
def test_board_poses_are_seen_from_the_common_view(make_rig):
    rig = make_rig(rng=np.random.default_rng(0))
    spec = SYNTHETIC_BOARD
    R, t = board_poses(rig, 200, board=spec, rng=np.random.default_rng(1))
    assert R.shape == (200, 3, 3) and t.shape == (200, 3)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    seen_whole = board_visibility(rig, R, t, spec.corners_in_board()).all(axis=-1)  # (V, P)
    views = seen_whole.sum(axis=0)
    assert views.min() >= 1 and (views >= 2).mean() >= TWO_VIEW_SHARE_MIN
    corners_in_world = np.einsum("pij,cj->pci", R, spec.corners_in_board()) + t[:, None]
    assert corners_in_world[..., 2].min() > 0.2  # held above the floor
    # Every camera that sees the board sees its printed side within 75 degrees of face-on.
    centre = corners_in_world.mean(axis=1)
    to_camera = rig.centers[:, None] - centre[None]
    to_camera /= np.linalg.norm(to_camera, axis=-1, keepdims=True)
    cos = np.einsum("vpi,pi->vp", to_camera, -R[:, :, 2])
    assert np.all(cos[seen_whole] > np.cos(np.radians(75)))
    # Tilts vary: some poses face a camera squarely, others obliquely.
    best = np.degrees(np.arccos(np.clip(cos.max(axis=0), -1, 1)))
    assert best.min() < 10 and np.percentile(best, 90) > 25


def test_board_visibility_flags_the_back_side_and_the_image_border():
    rig = ring_rig(4, rng=np.random.default_rng(0))
    spec = SYNTHETIC_BOARD
    R, t = board_poses(rig, 20, board=spec, rng=np.random.default_rng(2))
    seen = board_visibility(rig, R, t, spec.corners_in_board())
    # Flip the board around its vertical axis (printed side away): cameras that saw it now do not.
    flip = np.diag([-1.0, 1.0, -1.0])
    half = np.array([*np.array(spec.size_m) / 2, 0.0])
    R_back = R @ flip
    t_back = t + R @ half - R_back @ half
    seen_back = board_visibility(rig, R_back, t_back, spec.corners_in_board())
    assert not np.any(seen.any(-1) & seen_back.any(-1))
    # Mirrored through a camera's centre the board is behind that camera: it sees no corner.
    for v, camera in enumerate(rig):
        behind = board_visibility(rig, R, 2 * camera.center - t - 2 * (R @ half), spec.corners_in_board())
        assert not behind[v].any()
    # A 400 px margin inside the image border loses the corners near it.
    assert board_visibility(rig, R, t, spec.corners_in_board(), margin_px=400).sum() < seen.sum()


def test_board_trajectory_is_smooth_and_holds_still():
    rig = ring_rig(6, rng=np.random.default_rng(0))
    R, t = board_trajectory(rig, 240, fps=30.0, rng=np.random.default_rng(3))
    assert R.shape == (240, 3, 3)
    half = np.array([0.35, 0.25, 0.0])
    centre = t + R @ half
    step_m = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    step_deg = rotation_angle_deg(R[:-1], R[1:])
    assert step_m.max() < MAX_STEP_M and step_deg.max() < MAX_STEP_DEG
    assert (step_m < 1e-12).mean() > 0.3  # held still while "being photographed"


def test_board_poses_from_a_plain_size():
    rig = ring_rig(4, rng=np.random.default_rng(0))
    R, t = board_poses(rig, 30, board_size_m=(0.6, 0.4), rng=np.random.default_rng(4))
    outline = np.array([[0, 0, 0], [0.6, 0, 0], [0.6, 0.4, 0], [0, 0.4, 0]])
    assert board_visibility(rig, R, t, outline).all(axis=-1).any(axis=0).all()
    with pytest.raises(ValueError, match="not both"):
        board_poses(rig, 3, board=SYNTHETIC_BOARD, board_size_m=(0.6, 0.4), rng=np.random.default_rng(4))
    with pytest.raises(ValueError, match="board_size_m"):
        board_poses(rig, 3, board_size_m=(0.6, -1), rng=np.random.default_rng(4))


def test_self_occlusion_hides_what_is_behind_a_limb():
    rig = ring_rig(4, rng=np.random.default_rng(0))
    camera = rig[0]
    skeleton = get_skeleton("coco17")
    joints = person_motion(1, skeleton=skeleton, rng=np.random.default_rng(1)).joints_in_world[0]
    # Put the left wrist 0.3 m behind the middle of the right forearm, seen from camera 0.
    elbow, wrist = joints[skeleton.index("right_elbow")], joints[skeleton.index("right_wrist")]
    middle = (elbow + wrist) / 2
    away = middle - camera.center
    behind = joints.copy()
    behind[skeleton.index("left_wrist")] = middle + 0.3 * away / np.linalg.norm(away)
    hidden = self_occlusion(rig, behind, skeleton=skeleton)
    assert hidden.shape == (4, 17) and hidden[0, skeleton.index("left_wrist")]
    # In front of the forearm instead: visible; and the forearm never hides its own ends.
    front = behind.copy()
    front[skeleton.index("left_wrist")] = middle - 0.3 * away / np.linalg.norm(away)
    hidden = self_occlusion(rig, front, skeleton=skeleton)
    assert not hidden[0, skeleton.index("left_wrist")]
    assert not hidden[0, skeleton.index("right_elbow")] or not hidden[0, skeleton.index("right_wrist")]
    # Seen from behind (camera 2 faces camera 0 across the ring) the nose hides behind the head
    # for a person facing camera 0.
    many = person_motion(300, skeleton=skeleton, rng=np.random.default_rng(2)).joints_in_world
    occluded = self_occlusion(rig, many, skeleton=skeleton)
    nose = skeleton.index("nose")
    facing = many[:, nose, :2] - many[:, [5, 6], :2].mean(axis=1)
    to_camera = rig.centers[:, None, :2] - many[None, :, nose, :2]
    cos = np.einsum("fi,vfi->vf", facing, to_camera) / (
        np.linalg.norm(facing, axis=-1) * np.linalg.norm(to_camera, axis=-1))
    away, toward = cos < -0.5, cos > 0.5  # camera more than 120 deg behind / within 60 deg in front
    assert occluded[:, :, nose][away].mean() > 0.8 and occluded[:, :, nose][toward].mean() < 0.1


def test_missing_joints_are_never_detected(scene):
    rig, motion = scene
    joints = motion.joints_in_world[:20].copy()
    joints[:, 9] = np.nan  # a joint the scene does not have
    joints[5] = np.nan  # a frame without the person
    d = simulate_detections(rig, joints, skeleton="coco17", rng=np.random.default_rng(5))
    assert not d.visible[:, :, 9].any() and not d.visible[:, 5].any()
    assert np.isnan(d.points_2d[:, :, 9]).all() and np.isnan(d.scores[:, 5]).all()
    assert not self_occlusion(rig, joints, skeleton="coco17")[:, :, 9].any()


def test_camera_board_poses_cover_the_image_and_face_the_camera():
    camera = ring_rig(4, rng=np.random.default_rng(0))[0]
    spec = Board(type="charuco", squares=(9, 6), square_length_m=0.05, marker_length_m=0.035,
                 dictionary="DICT_5X5_100", margin_m=0.04)
    R, t = camera_board_poses(camera, 60, rng=np.random.default_rng(1), board=spec, max_tilt_deg=40)
    points, visible = board_observations(ring_rig(4, rng=np.random.default_rng(0)).subset([0]), R, t,
                                         spec.corners_in_board())
    assert visible.all()  # min_visible_share = 1: every corner of every pose is seen
    # Boards reach all four quadrants and near the image border (where distortion matters).
    centres = points[0].mean(axis=1) / np.array(camera.size)
    quadrants = {(bool(x > 0.5), bool(y > 0.5)) for x, y in centres}
    assert len(quadrants) == 4
    assert points[0, ..., 0].min() < 0.15 * camera.size[0] and points[0, ..., 0].max() > 0.85 * camera.size[0]
    # Printed side towards the camera, within the tilt bound, and the distance range kept.
    centre = t + R @ np.array([*np.array(spec.size_m) / 2, 0.0])
    to_camera = camera.center - centre
    distance = np.linalg.norm(to_camera, axis=1)
    cos = np.einsum("pi,pi->p", to_camera / distance[:, None], -R[:, :, 2])
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() <= 40 + 1e-6
    assert distance.min() >= 0.6 - 1e-9 and distance.max() <= 2.0 + 1e-9


def test_board_observations_add_the_requested_noise():
    rig = ring_rig(6, rng=np.random.default_rng(0))
    spec = SYNTHETIC_BOARD
    R, t = board_poses(rig, 100, board=spec, rng=np.random.default_rng(1))
    exact, visible = board_observations(rig, R, t, spec.corners_in_board())
    noisy, visible_again = board_observations(rig, R, t, spec.corners_in_board(), pixel_sigma_px=0.5,
                                              rng=np.random.default_rng(2))
    np.testing.assert_array_equal(visible, visible_again)
    np.testing.assert_array_equal(np.isnan(exact).any(-1), ~visible)
    error = (noisy - exact)[visible]
    assert abs(error.std() / 0.5 - 1) < SIGMA_REL_TOL
    with pytest.raises(ValueError, match="rng"):
        board_observations(rig, R, t, spec.corners_in_board(), pixel_sigma_px=0.5)
