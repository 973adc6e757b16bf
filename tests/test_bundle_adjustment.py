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


def _scene_with_outliers():
    """The 4-camera board scene with 3% of its corners moved 8-40 px away, and a perturbed start."""
    rig, corners, R, t, pixels = board_scene(4, 40, seed=5)
    rng = np.random.default_rng(6)
    cam, frame, corner, px = _observations(pixels)
    bad = rng.random(len(px)) < 0.03
    px = px.copy()
    px[bad] += rng.uniform(8, 40, (bad.sum(), 2)) * rng.choice([-1, 1], (bad.sum(), 2))
    start, Rb, tb = _perturbed(rig, R, t, rng)
    return rig, corners, start, Rb, tb, cam, frame, corner, px, bad


def test_outlier_corners_are_rejected():
    rig, corners, start, Rb, tb, cam, frame, corner, px, bad = _scene_with_outliers()
    result = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px)
    assert np.all(~result.inliers[bad]), "every gross outlier is rejected"
    assert result.num_rejected < bad.sum() + 0.005 * len(px)  # few good corners lost
    errors = compare_rigs(result.rig, rig)
    assert errors.center_error_m.max() < CENTER_TOL_M
    assert errors.rotation_error_deg.max() < ROTATION_TOL_DEG
    assert result.rms_px < RMS_TOL_PX


def test_final_linear_loss_is_the_least_squares_optimum_over_the_inliers():
    _, corners, start, Rb, tb, cam, frame, corner, px, bad = _scene_with_outliers()
    result = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px,
                                 options=BundleAdjustmentOptions(final_loss="linear"))
    assert np.all(~result.inliers[bad])
    keep = result.inliers
    least_squares = bundle_adjust_board(start, corners, Rb, tb, cam[keep], frame[keep], corner[keep], px[keep],
                                        options=BundleAdjustmentOptions(loss="linear", rejection_rounds=0))
    assert compare_rigs(result.rig, least_squares.rig).center_error_m.max() < SAME_OPTIMUM_TOL_M
    robust = bundle_adjust_board(start, corners, Rb, tb, cam, frame, corner, px)  # final_loss None: soft_l1 to the end
    assert compare_rigs(robust.rig, least_squares.rig).center_error_m.max() > SAME_OPTIMUM_TOL_M / 10  # ~0.1 mm apart


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


# -- priors on the freed intrinsics (issue 14) -------------------------------------------------
PRIOR_JACOBIAN_TOL = 1e-5  # relative, as JACOBIAN_TOL
STATIONARY_GRADIENT = 1e-6  # cost gradient at the solution over the one at the start (float64 LM)
PRIOR_PP_GAIN = 0.75  # small far board: mean principal point error with priors <= 0.75 x without
ANCHOR_HOLD_PX = 0.5  # an anchor of 0.01 px sigma keeps fx, cx, cy where it says


def _far_small_board(seed):
    """4 webcams 3.5 m from a 4x5 board of 54 mm squares (25 poses, 0.5 px noise): the board covers
    a small part of each image, so the principal point trades against the camera's rotation."""
    from geometry import Board
    from geometry.synthetic import arc_rig, board_poses, board_visibility

    board = Board(type="charuco", squares=(4, 5), square_length_m=0.054, marker_length_m=0.0405,
                  dictionary="DICT_4X4_1000")
    rng = np.random.default_rng(seed)
    rig = arc_rig(4, arc_deg=90, radius_m=3.5, height_m=1.3, target=(0, 0, 1.0), size=(1280, 720),
                  horizontal_fov_deg=90, lens="pinhole", rng=rng)
    corners = board.corners_in_board()
    R, t = board_poses(rig, 25, board=board, rng=rng, spread_m=0.3, max_tilt_deg=40)
    pixels = rig.project(np.einsum("fij,cj->fci", R, corners) + t[:, None])
    pixels[~board_visibility(rig, R, t, corners)] = np.nan
    pixels += rng.normal(0, 0.5, pixels.shape)
    start = Rig([c.replace(K=np.array([[c.K[0, 0] * 1.05, 0, 639.5], [0, c.K[1, 1] * 1.05, 359.5], [0, 0, 1]]))
                 for c in rig])  # 5% off in focal, principal point at the image centre
    return rig, start, corners, pixels


def test_intrinsics_priors_keep_the_principal_point_where_a_small_board_cannot_see_it():
    from calibration.board_extrinsics import BoardExtrinsicsOptions, board_extrinsics
    from calibration.lens_model import LensPriors

    errors = {None: [], "priors": []}
    for seed in range(4):
        truth, start, corners, pixels = _far_small_board(seed)
        for key, priors in ((None, None), ("priors", LensPriors())):
            options = BoardExtrinsicsOptions(bundle_adjustment=BundleAdjustmentOptions(intrinsics="pinhole",
                                                                                       priors=priors))
            rig = board_extrinsics(start, pixels, corners, options=options).rig
            errors[key].append(max(np.hypot(*(c.K[:2, 2] - g.K[:2, 2])) for c, g in zip(rig, truth)))
    free, held = np.array(errors[None]), np.array(errors["priors"])
    assert np.all(held <= free), (free, held)
    assert held.mean() <= PRIOR_PP_GAIN * free.mean(), (free, held)  # measured 45 vs 76 px


def _prior_problem(priors, anchors=None):
    from calibration.bundle_adjustment import _Observations

    rig, corners, R, t, pixels = board_scene(3, 6, seed=1)
    cam, frame, corner, px = _observations(pixels)
    intr = Intrinsics(rig, "full", 2, priors, anchors)
    x_cams = np.concatenate([rvec_from_rotation(rig.R), rig.t], axis=1)
    problem = ReprojectionProblem(rig, _Observations(cam, frame, px), BoardStructure(corners, corner, frame), intr,
                                  0, 6 * len(R), x_cams[0], None)
    x = problem.pack(x_cams, intr.initial(), np.concatenate([rvec_from_rotation(R), t], axis=1).ravel())
    return rig, problem, x


def test_prior_rows_have_the_right_jacobian():
    from calibration.lens_model import LensPriors

    rig, problem, x = _prior_problem(LensPriors(principal_point_px=5.0, pixel_aspect=0.001, distortion_px=3.0))
    rng = np.random.default_rng(3)
    x = x + rng.normal(0, 1e-3, problem.n) * np.abs(x).clip(1e-2)
    analytic = problem.jacobian(x).toarray()[-problem.V * 23:]
    numeric = np.empty_like(analytic)
    for i in range(problem.n):
        h = 1e-6 * max(1.0, abs(x[i]))
        step = np.zeros(problem.n)
        step[i] = h
        numeric[:, i] = (problem.residuals(x + step) - problem.residuals(x - step))[-problem.V * 23:] / (2 * h)
    # the distortion rows' scale depends on f and the principal point; the Gauss-Newton rows hold it fixed
    distortion = np.zeros(problem.V * 23, dtype=bool)
    distortion.reshape(problem.V, 23)[:, 3:5] = True
    assert np.abs(analytic - numeric)[~distortion].max() < PRIOR_JACOBIAN_TOL * np.abs(numeric).max()


def test_schur_solution_with_priors_and_anchors_is_a_stationary_point():
    """The Schur solver's normal equations carry the prior rows: at its solution the gradient of the
    whole cost (reprojection + priors + anchors, from the flat least-squares interface) vanishes."""
    from calibration.lens_model import IntrinsicsAnchor, LensPriors

    priors = LensPriors(principal_point_px=5.0, pixel_aspect=0.001)
    anchors = tuple(IntrinsicsAnchor(theta=np.r_[c.K[0, 0] * 1.02, c.K[1, 1] * 1.02, c.K[0, 2] + 5, c.K[1, 2] - 5,
                                                 np.zeros(8)], sqrt_information=np.eye(12) / 2.0)
                    for c in board_scene(3, 6, seed=1)[0])  # the rig of _prior_problem
    rig, problem, x0 = _prior_problem(priors, anchors)
    cam, frame = problem.obs.camera, problem.obs.point
    corner = problem.structure.corner_index
    R, t = problem.structure.unpack(x0[problem.num_a:])[:2]
    options = BundleAdjustmentOptions(intrinsics="full", num_free_distortion=2, priors=priors, anchors=anchors,
                                      loss="linear", rejection_rounds=0, tolerance=1e-12, max_evaluations=200)
    result = bundle_adjust_board(rig, problem.structure.corners, R, t, cam, frame, corner, problem.obs.pixels,
                                 options=options)
    from calibration.reprojection_problem import Intrinsics as _Intrinsics

    intr = _Intrinsics(result.rig, "full", 2, priors, anchors)
    x_cams = np.concatenate([rvec_from_rotation(result.rig.R), result.rig.t], axis=1)
    x = problem.pack(x_cams, intr.initial(), np.concatenate(
        [rvec_from_rotation(result.world_from_board_R), result.world_from_board_t], axis=1).ravel())
    gradient = problem.jacobian(x).T @ problem.residuals(x)
    start = problem.jacobian(x0).T @ problem.residuals(x0)
    assert np.linalg.norm(gradient) < STATIONARY_GRADIENT * np.linalg.norm(start)
    assert result.rig[0].K[0, 0] != rig[0].K[0, 0]  # the intrinsics did move


def test_a_tight_anchor_holds_the_intrinsics():
    from calibration.lens_model import IntrinsicsAnchor

    rig, corners, R, t, pixels = board_scene(4, 30, seed=3)
    cam, frame, corner, px = _observations(pixels)
    target = [np.r_[c.K[0, 0] * 1.02, c.K[1, 1] * 1.02, c.K[0, 2] + 20, c.K[1, 2] - 20, c.dist_padded] for c in rig]
    anchors = tuple(IntrinsicsAnchor(theta=theta, sqrt_information=np.eye(12) * 100.0) for theta in target)
    options = BundleAdjustmentOptions(intrinsics="pinhole", anchors=anchors)
    result = bundle_adjust_board(rig, corners, R, t, cam, frame, corner, px, options=options)
    for camera, theta, anchor in zip(result.rig, target, anchors):
        assert np.abs(camera.K[[0, 1, 0, 1], [0, 1, 2, 2]] - theta[:4]).max() < ANCHOR_HOLD_PX
        assert anchor.distance(camera.K, camera.dist) < 100.0 * ANCHOR_HOLD_PX


def test_pose_uncertainty_matches_the_scatter_over_noise_draws():
    """rotation_sigma_deg / center_sigma_m against 24 noise draws on one scene: the RMS angle error
    (all three axes) lies between the largest axis' sigma and sqrt(3) times it (with 35% slack for 24 draws)."""
    rig, corners, R, t, clean = board_scene(4, 20, noise_px=0.0, seed=5)
    rng = np.random.default_rng(6)
    angles, shifts, sigma_rot, sigma_c = [], [], [], []
    for _ in range(24):
        pixels = clean + rng.normal(0, 0.5, clean.shape)
        cam, frame, corner, px = _observations(pixels)
        result = bundle_adjust_board(rig, corners, R, t, cam, frame, corner, px,
                                     options=BundleAdjustmentOptions(rejection_rounds=0))
        angles.append(compare_rigs(result.rig, rig).rotation_error_deg)
        shifts.append(np.linalg.norm(result.rig.centers - rig.centers, axis=1))
        sigma_rot.append(result.rotation_sigma_deg)
        sigma_c.append(result.center_sigma_m)
    rms_angle, rms_shift = np.sqrt(np.mean(np.square(angles), axis=0)), np.sqrt(np.mean(np.square(shifts), axis=0))
    sigma_rot, sigma_c = np.mean(sigma_rot, axis=0), np.mean(sigma_c, axis=0)
    assert sigma_rot[0] == 0 and sigma_c[0] == 0  # the gauge camera
    assert np.all(rms_angle[1:] > sigma_rot[1:] / 1.35) and np.all(rms_angle[1:] < 1.35 * np.sqrt(3) * sigma_rot[1:])
    assert np.all(rms_shift[1:] > sigma_c[1:] / 1.35) and np.all(rms_shift[1:] < 1.35 * np.sqrt(3) * sigma_c[1:])
