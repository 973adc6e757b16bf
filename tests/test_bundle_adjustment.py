"""Bundle adjustment: analytic Jacobian vs finite differences, recovery of perturbed cameras, board
poses and intrinsics, outlier rejection, the points case with its scale gauge, both solvers."""

import numpy as np
import pytest

from calibration.bundle_adjustment import BundleAdjustmentOptions, bundle_adjust_board, bundle_adjust_points
from calibration.reprojection_problem import BoardStructure, Intrinsics, PointStructure, ReprojectionProblem
from calibration.rig_comparison import compare_rigs
from geometry import Rig, rotation_from_rvec, rvec_from_rotation
from tests.calibration_scenes import board_scene

JACOBIAN_TOL = 1e-5  # relative to the largest entry; central differences with h = 1e-6
CENTER_TOL_M = 0.008  # 0.3 px noise, 40 board poses, ~20 views per camera, 4 cameras
ROTATION_TOL_DEG = 0.08  # same scene
SAME_OPTIMUM_TOL_M = 1e-4  # perturbed start and truth start reach one optimum (scipy's ftol stop: ~10 um)
INTRINSICS_FOCAL_TOL = 0.008  # relative focal error after a 3% perturbation; 60 poses, 4 cameras, full model
POINTS_ROTATION_TOL_DEG = 0.2  # free 3D points (no board rigidity), 30 poses, 1 cm initial point noise
RMS_TOL_PX = 0.3 * np.sqrt(2) * 1.1  # 2D residual RMS of 0.3 px per-axis noise, 10% slack


def _observations(pixels):
    cam, frame, corner = np.nonzero(np.all(np.isfinite(pixels), axis=-1))
    return cam, frame, corner, pixels[cam, frame, corner]


def _perturbed(rig, R, t, rng, *, rotation=0.01, translation_m=0.03):
    Rp = rig.R @ rotation_from_rvec(rng.normal(0, rotation, (len(rig), 3)))
    tp = rig.t + rng.normal(0, translation_m, (len(rig), 3))
    Rp[0], tp[0] = rig.R[0], rig.t[0]  # the gauge camera stays put
    Rb = R @ rotation_from_rvec(rng.normal(0, rotation, (len(R), 3)))
    return rig.with_poses(Rp, tp), Rb, t + rng.normal(0, translation_m, t.shape)


@pytest.mark.parametrize("kind", ["board", "points"])
@pytest.mark.parametrize("mode", ["fixed", "full"])
def test_analytic_jacobian_matches_finite_differences(kind, mode):
    rig, corners, R, t, pixels = board_scene(3, 6, seed=1)
    cam, frame, corner, px = _observations(pixels)
    from calibration.bundle_adjustment import _Observations
    intr = Intrinsics(rig, mode, None)
    x_cams = np.concatenate([rvec_from_rotation(rig.R), rig.t], axis=1)
    if kind == "board":
        obs = _Observations(cam, frame, px)
        structure, x_struct, gauge = BoardStructure(corners, corner, frame), \
            np.concatenate([rvec_from_rotation(R), t], axis=1).ravel(), None
    else:
        points = (np.einsum("fij,cj->fci", R, corners) + t[:, None]).reshape(-1, 3)
        obs = _Observations(cam, frame * len(corners) + corner, px)
        structure, x_struct = PointStructure(obs.point), points.ravel()
        gauge = (2, float(np.linalg.norm(rig.centers[2] - rig.centers[0])))
    problem = ReprojectionProblem(rig, obs, structure, intr, 0, x_struct.size, x_cams[0], gauge)
    rng = np.random.default_rng(2)
    x = problem.pack(x_cams, intr.initial(), x_struct) + rng.normal(0, 1e-3, problem.n)
    analytic = problem.jacobian(x).toarray()
    numeric = np.empty_like(analytic)
    for i in range(problem.n):
        h = 1e-6 * max(1.0, abs(x[i]))
        step = np.zeros(problem.n)
        step[i] = h
        numeric[:, i] = (problem.residuals(x + step) - problem.residuals(x - step)) / (2 * h)
    assert np.abs(analytic - numeric).max() < JACOBIAN_TOL * np.abs(numeric).max()


@pytest.mark.parametrize("solver", ["schur", "scipy"])
def test_board_bundle_adjustment_recovers_cameras(solver):
    rig, corners, R, t, pixels = board_scene(4, 40, seed=3)
    rng = np.random.default_rng(4)
    start, Rb, tb = _perturbed(rig, R, t, rng)
    cam, frame, corner, px = _observations(pixels)
    result = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px,
                                 options=BundleAdjustmentOptions(solver=solver))
    errors = compare_rigs(result.rig, rig)
    assert errors.center_error_m.max() < CENTER_TOL_M
    assert errors.rotation_error_deg.max() < ROTATION_TOL_DEG
    assert result.rms_px < RMS_TOL_PX
    from_truth = bundle_adjust_board(rig, corners, R, t, cam, frame, corner, px,
                                     options=BundleAdjustmentOptions(solver=solver))
    assert compare_rigs(result.rig, from_truth.rig).center_error_m.max() < SAME_OPTIMUM_TOL_M
    assert result.success and result.num_observations == result.inliers.sum()
    np.testing.assert_allclose(result.rig.R[0], rig.R[0], atol=1e-12)  # gauge held


def test_outlier_corners_are_rejected():
    rig, corners, R, t, pixels = board_scene(4, 40, seed=5)
    rng = np.random.default_rng(6)
    cam, frame, corner, px = _observations(pixels)
    bad = rng.random(len(px)) < 0.03
    px = px.copy()
    px[bad] += rng.uniform(8, 40, (bad.sum(), 2)) * rng.choice([-1, 1], (bad.sum(), 2))
    start, Rb, tb = _perturbed(rig, R, t, rng)
    result = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px)
    assert np.all(~result.inliers[bad]), "every gross outlier is rejected"
    assert result.num_rejected < bad.sum() + 0.005 * len(px)  # few good corners lost
    errors = compare_rigs(result.rig, rig)
    assert errors.center_error_m.max() < CENTER_TOL_M
    assert errors.rotation_error_deg.max() < ROTATION_TOL_DEG
    assert result.rms_px < RMS_TOL_PX


@pytest.mark.parametrize("mode", ["focal", "full"])
def test_free_intrinsics_recover_perturbed_focal_lengths(mode):
    # Closer, more tilted board poses constrain the focal length against the camera distance. In
    # "full" mode the lens terms are free as well and are started from the truth: a board a few
    # metres away covers the image centre only and cannot pin the principal point or the outer
    # distortion (intrinsics calibration with close-up views measures those).
    rig, corners, R, t, pixels = board_scene(4, 60, seed=7, spread_m=0.8, max_tilt_deg=70.0)
    rng = np.random.default_rng(8)
    start, Rb, tb = _perturbed(rig, R, t, rng, rotation=0.003, translation_m=0.01)
    cams = []
    for cam in start:
        K = cam.K.copy()
        K[0, 0] *= 1.03
        K[1, 1] *= 0.97
        cams.append(cam.replace(K=K))
    start = Rig(cams)
    cam, frame, corner, px = _observations(pixels)
    result = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px,
                                 options=BundleAdjustmentOptions(intrinsics=mode))
    for est, true in zip(result.rig, rig):
        assert abs(est.K[0, 0] / true.K[0, 0] - 1) < INTRINSICS_FOCAL_TOL
        assert abs(est.K[1, 1] / true.K[1, 1] - 1) < INTRINSICS_FOCAL_TOL
    assert result.rms_px < RMS_TOL_PX
    fixed = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px)
    assert fixed.rms_px > 2 * RMS_TOL_PX, "with the wrong focal lengths held, the residuals show it"


def test_points_bundle_adjustment_keeps_scale_and_recovers_rotations():
    rig, corners, R, t, pixels = board_scene(4, 30, seed=9)
    points = (np.einsum("fij,cj->fci", R, corners) + t[:, None]).reshape(-1, 3)
    cam, frame, corner, px = _observations(pixels)
    rng = np.random.default_rng(10)
    start, _, _ = _perturbed(rig, R, t, rng, rotation=0.005, translation_m=0.02)
    noisy_points = points + rng.normal(0, 0.01, points.shape)
    result = bundle_adjust_points(start, noisy_points, cam, frame * len(corners) + corner, px)
    far = np.argmax(np.linalg.norm(start.centers - start.centers[0], axis=1))
    before = np.linalg.norm(start.centers[far] - start.centers[0])
    after = np.linalg.norm(result.rig.centers[far] - result.rig.centers[0])
    assert abs(after / before - 1) < 1e-3, "the scale gauge holds the fixed-to-farthest distance"
    errors = compare_rigs(result.rig, rig, scale_from_reference=True)
    assert errors.rotation_error_deg.max() < POINTS_ROTATION_TOL_DEG
    assert result.rms_px < RMS_TOL_PX
    assert result.points_in_world.shape == points.shape and result.world_from_board_R.shape == (0, 3, 3)


def test_options_validate_and_bad_inputs_raise():
    with pytest.raises(ValueError, match="loss"):
        BundleAdjustmentOptions(loss="l2")
    with pytest.raises(ValueError, match="intrinsics"):
        BundleAdjustmentOptions(intrinsics="everything")
    rig, corners, R, t, pixels = board_scene(3, 5, seed=11)
    cam, frame, corner, px = _observations(pixels)
    with pytest.raises(ValueError, match="frame_index"):
        bundle_adjust_board(rig, corners, R, t, cam, frame + 100, corner, px)
    with pytest.raises(ValueError, match="pixels"):
        bundle_adjust_board(rig, corners, R, t, cam, frame, corner, px[:, :1])
