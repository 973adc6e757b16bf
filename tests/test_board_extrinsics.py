"""Board extrinsics: a ring rig recovered from simultaneous board views, outlier views rejected by the
pair averaging, the disconnected graph named, the floor-board world frame, input checks."""

import numpy as np
import pytest

from calibration.board_extrinsics import (BoardExtrinsicsOptions, board_extrinsics, board_poses_by_pnp,
                                          robust_average_pose)
from calibration.rig_comparison import compare_rigs
from geometry import rotation_angle_deg, rotation_from_rvec
from tests.calibration_scenes import board_scene

CENTER_TOL_M = 0.003  # 0.3 px noise, 60 board poses, 5 cameras (~30 views each), after BA
ROTATION_TOL_DEG = 0.03  # same scene
INITIAL_CENTER_TOL_M = 0.05  # the spanning-tree initialization alone (no BA)
PNP_ROTATION_TOL_DEG = 1.0  # one 35-corner, 0.56 m board at ~4 m, 0.3 px: tilt is weakly seen
FLOOR_TOL_M = 1e-6  # the chosen board's corners land on z = 0 exactly (up to round-off)


@pytest.fixture(scope="module")
def scene():
    return board_scene(5, 60, seed=21)


@pytest.fixture(scope="module")
def calibrated(scene):
    rig, corners, _, _, pixels = scene
    return board_extrinsics(rig.with_poses(np.broadcast_to(np.eye(3), rig.R.shape), np.zeros((len(rig), 3))),
                            pixels, corners)


def test_ring_rig_recovered_within_tolerance(scene, calibrated):
    rig = scene[0]
    errors = compare_rigs(calibrated.rig, rig)
    assert errors.center_error_m.max() < CENTER_TOL_M
    assert errors.rotation_error_deg.max() < ROTATION_TOL_DEG
    initial = compare_rigs(calibrated.initial_rig, rig)
    assert initial.center_error_m.max() < INITIAL_CENTER_TOL_M
    assert calibrated.bundle.rms_px < 0.3 * np.sqrt(2) * 1.1
    assert np.all(calibrated.views_used > 10)
    tree = [p for p in calibrated.pairs if p.in_tree]
    assert len(tree) == len(rig) - 1 and all(p.inlier_views >= 2 for p in tree)
    assert len(calibrated.pairs) == len(rig) * (len(rig) - 1) // 2


def test_pnp_poses_match_truth(scene):
    rig, corners, R, t, pixels = scene
    R_cb, t_cb, valid, rms = board_poses_by_pnp(rig, pixels, corners)
    v, f = np.nonzero(valid)
    truth_R = rig.R[v] @ R[f]
    assert np.percentile(rotation_angle_deg(R_cb[v, f], truth_R), 95) < PNP_ROTATION_TOL_DEG
    assert np.all(rms[valid] < 3.0) and np.all(np.isnan(rms[~np.isfinite(pixels).any(axis=(2, 3))]))


def test_robust_average_rejects_flipped_views():
    rng = np.random.default_rng(3)
    truth = rotation_from_rvec(np.array([0.2, -0.4, 0.1]))
    R = truth @ rotation_from_rvec(rng.normal(0, 0.002, (30, 3)))
    t = np.array([1.0, 0.2, 3.0]) + rng.normal(0, 0.003, (30, 3))
    R[:5] = truth @ rotation_from_rvec(np.array([0.0, 0.6, 0.0]))  # IPPE-style flips
    t[:5] += 0.4
    R_mean, t_mean, inliers, spread_deg, spread_m = robust_average_pose(R, t)
    assert not inliers[:5].any() and inliers[5:].all()
    assert rotation_angle_deg(R_mean, truth) < 0.1
    assert np.linalg.norm(t_mean - [1.0, 0.2, 3.0]) < 0.003


def test_corrupted_views_do_not_spoil_the_rig(scene):
    rig, corners, _, _, pixels = scene
    rng = np.random.default_rng(5)
    pixels = pixels.copy()
    seen = np.argwhere(np.isfinite(pixels[..., 0]).sum(axis=-1) > 20)
    for v, f in seen[rng.choice(len(seen), 8, replace=False)]:
        pixels[v, f] = pixels[v, f, ::-1]  # corner ids reversed: a 180-degree board flip
    result = board_extrinsics(rig, pixels, corners)
    errors = compare_rigs(result.rig, rig)
    assert errors.center_error_m.max() < CENTER_TOL_M
    assert errors.rotation_error_deg.max() < ROTATION_TOL_DEG


def test_disconnected_graph_names_the_groups(scene):
    rig, corners, _, _, pixels = scene
    pixels = pixels.copy()
    # cam04 and cam05 only ever see the board in frames where cam01-cam03 do not.
    frames = np.arange(pixels.shape[1])
    pixels[3:, frames % 2 == 0] = np.nan
    pixels[:3, frames % 2 == 1] = np.nan
    with pytest.raises(ValueError) as error:
        board_extrinsics(rig, pixels, corners)
    message = str(error.value)
    assert "cameras cam04, cam05 never saw the board at the same time as cam01, cam02, cam03" in message
    assert "record a board pass visible to both groups" in message


def test_camera_without_board_views_is_named(scene):
    rig, corners, _, _, pixels = scene
    pixels = pixels.copy()
    pixels[2] = np.nan
    with pytest.raises(ValueError, match="camera cam03 never had a usable board view"):
        board_extrinsics(rig, pixels, corners)


def test_floor_board_world_frame(scene, calibrated):
    rig, corners, _, _, pixels = scene
    frame = int(np.flatnonzero(calibrated.frame_used)[0])
    result = board_extrinsics(rig, pixels, corners,
                              options=BoardExtrinsicsOptions(world="board", world_board_frame=frame))
    board_in_world = corners @ result.world_from_board_R[frame].T + result.world_from_board_t[frame]
    np.testing.assert_allclose(board_in_world[:, 2], 0.0, atol=FLOOR_TOL_M)
    np.testing.assert_allclose(board_in_world[0, :2], [corners[0, 0], -corners[0, 1]], atol=FLOOR_TOL_M)
    # the cameras look at the printed side, which faces up (+z) in the floor frame
    assert np.all(result.rig.centers[np.isfinite(pixels[:, frame, :, 0]).any(axis=-1), 2] > 0)
    # same relative geometry as the camera-frame calibration
    assert compare_rigs(result.rig, calibrated.rig).center_error_m.max() < 1e-6


def test_bad_inputs_raise(scene):
    rig, corners, _, _, pixels = scene
    with pytest.raises(ValueError, match="corners_px has shape"):
        board_extrinsics(rig, pixels[:3], corners)
    with pytest.raises(ValueError, match="min_corners"):
        BoardExtrinsicsOptions(min_corners=3)
    with pytest.raises(ValueError, match="no camera named"):
        board_extrinsics(rig, pixels, corners, options=BoardExtrinsicsOptions(reference_camera="cam9"))
