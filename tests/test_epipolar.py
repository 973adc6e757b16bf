"""Epipolar geometry against synthetic ground truth: constraints, solvers, decomposition, cheirality."""

import numpy as np
import pytest
from scipy.optimize import minimize

from geometry import (decompose_essential, estimate_fundamental, homography_sampson_distance, epipolar_lines, epipolar_residual, essential_8point,
                      essential_from_fundamental, essential_from_pose, fundamental_8point,
                      fundamental_from_essential, homography_dlt, homography_transfer_error,
                      project_to_essential, rotation_angle_deg, rotation_from_rvec, sampson_distance,
                      select_pose_by_cheirality, triangulation_angle_deg, two_view_depths)
from geometry.five_point import essential_5point
from geometry.synthetic import person_volume_points, ring_rig, two_view_scene

EXACT_CONSTRAINT_TOL = 1e-12  # normalized units, float64 noise-free
EXACT_MATRIX_TOL = 1e-9  # unit-norm matrices recovered from noise-free points
EXACT_PIXEL_TOL_PX = 1e-6
EXACT_ROTATION_TOL_DEG = 1e-6
SAMPSON_FIRST_ORDER_RTOL = 0.02  # Sampson vs exact geometric distance at 1 px displacement


@pytest.fixture(params=[(0, 1), (0, 3), (2, 5)], ids=["60deg", "180deg", "180deg-b"])
def scene(request):
    """Noise-free person-volume correspondences between two cameras of a distorted 6-ring."""
    rng = np.random.default_rng(3)
    rig = ring_rig(6, lens="distorted", rng=rng)
    a, b = request.param
    return two_view_scene(rig[a], rig[b], person_volume_points(100, rng=rng), rng=rng)


def normalized(scene):
    return scene.camera_a.normalize(scene.pixels_a), scene.camera_b.normalize(scene.pixels_b)


def undistorted(scene):
    return scene.camera_a.undistort_points(scene.pixels_a), scene.camera_b.undistort_points(scene.pixels_b)


def same_up_to_sign(M, N) -> float:
    M = M / np.linalg.norm(M)
    N = N / np.linalg.norm(N)
    return min(np.abs(M - N).max(), np.abs(M + N).max())


def test_true_essential_satisfies_epipolar_constraint(scene):
    xy_a, xy_b = normalized(scene)
    E = essential_from_pose(scene.R, scene.t)
    assert np.abs(epipolar_residual(E, xy_a, xy_b)).max() < EXACT_CONSTRAINT_TOL
    F = fundamental_from_essential(E, scene.camera_a.K, scene.camera_b.K)
    px_a, px_b = undistorted(scene)
    assert sampson_distance(F, px_a, px_b).max() < EXACT_PIXEL_TOL_PX
    # Distorted pixels do not satisfy it: the undistortion matters.
    assert sampson_distance(F, scene.pixels_a, scene.pixels_b).max() > 1e4 * EXACT_PIXEL_TOL_PX


def test_fundamental_8point_recovers_truth(scene):
    px_a, px_b = undistorted(scene)
    F = fundamental_8point(px_a, px_b)
    assert np.linalg.norm(F) == pytest.approx(1.0)
    assert abs(np.linalg.det(F)) < 1e-12
    assert sampson_distance(F, px_a, px_b).max() < EXACT_PIXEL_TOL_PX
    E = essential_from_fundamental(F, scene.camera_a.K, scene.camera_b.K)
    assert same_up_to_sign(E, essential_from_pose(scene.R, scene.t)) < EXACT_MATRIX_TOL


def test_minimal_solvers_are_batched_and_exact(scene):
    xy_a, xy_b = normalized(scene)
    E_true = essential_from_pose(scene.R, scene.t)
    rng = np.random.default_rng(0)
    samples = np.stack([rng.choice(len(xy_a), 8, replace=False) for _ in range(20)])
    E8 = essential_8point(xy_a[samples], xy_b[samples])
    assert E8.shape == (20, 3, 3)
    assert max(same_up_to_sign(E, E_true) for E in E8) < EXACT_MATRIX_TOL
    E5, valid = essential_5point(xy_a[samples[:, :5]], xy_b[samples[:, :5]])
    assert E5.shape == (20, 10, 3, 3) and valid.any(axis=1).all()
    for E, ok in zip(E5, valid):
        assert min(same_up_to_sign(e, E_true) for e in E[ok]) < EXACT_MATRIX_TOL
        # Every real solution is an essential matrix through the 5 points.
        singular = np.linalg.svd(E[ok], compute_uv=False)
        np.testing.assert_allclose(singular[:, 0], singular[:, 1], rtol=1e-5)
        assert np.abs(singular[:, 2]).max() < 1e-6  # spurious roots are less accurate than the true one


def test_weighted_fit_ignores_zero_weight_rows(scene):
    xy_a, xy_b = normalized(scene)
    corrupted_b = xy_b.copy()
    corrupted_b[:10] += 0.05
    weights = np.ones(len(xy_a))
    weights[:10] = 0.0
    E = essential_8point(xy_a, corrupted_b, weights=weights)
    assert same_up_to_sign(E, essential_from_pose(scene.R, scene.t)) < EXACT_MATRIX_TOL


def test_project_to_essential_has_equal_singular_values():
    M = np.random.default_rng(1).normal(size=(5, 3, 3))
    singular = np.linalg.svd(project_to_essential(M), compute_uv=False)
    np.testing.assert_allclose(singular, np.tile([1, 1, 0], (5, 1)) / np.sqrt(2), atol=1e-12)


def test_four_candidates_and_cheirality_pick_the_truth(scene):
    xy_a, xy_b = normalized(scene)
    R4, t4 = decompose_essential(-3.0 * essential_from_pose(scene.R, scene.t))
    assert R4.shape == (4, 3, 3) and t4.shape == (4, 3)
    np.testing.assert_allclose(R4 @ np.swapaxes(R4, 1, 2), np.tile(np.eye(3), (4, 1, 1)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R4), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(t4, axis=1), 1.0, atol=1e-12)
    best, in_front = select_pose_by_cheirality(R4, t4, xy_a, xy_b)
    assert in_front[best].all()
    assert in_front.sum(axis=1).tolist().count(len(xy_a)) == 1  # exactly one candidate
    assert rotation_angle_deg(R4[best], scene.R) < EXACT_ROTATION_TOL_DEG
    np.testing.assert_allclose(t4[best], scene.t, atol=1e-9)


def test_two_view_depths_match_the_scene(scene):
    xy_a, xy_b = normalized(scene)
    cam_a, cam_b = scene.camera_a, scene.camera_b
    baseline_m = np.linalg.norm(cam_a.center - cam_b.center)
    depth_a, depth_b = two_view_depths(scene.R, scene.t, xy_a, xy_b)
    true_a = (scene.points_in_world @ cam_a.R.T + cam_a.t)[:, 2]
    true_b = (scene.points_in_world @ cam_b.R.T + cam_b.t)[:, 2]
    np.testing.assert_allclose(depth_a * baseline_m, true_a, rtol=1e-9)
    np.testing.assert_allclose(depth_b * baseline_m, true_b, rtol=1e-9)
    angles = triangulation_angle_deg(scene.R, xy_a, xy_b)
    assert angles.min() > 5  # ring neighbours and opposite cameras: large angles


def test_pure_rotation_has_zero_triangulation_angle_and_no_depth():
    rng = np.random.default_rng(2)
    xy_a = rng.uniform(-0.5, 0.5, (30, 2))
    R = rotation_from_rvec(np.array([0.1, -0.2, 0.05]))
    rays_b = np.concatenate([xy_a, np.ones((30, 1))], axis=1) @ R.T
    xy_b = rays_b[:, :2] / rays_b[:, 2:]
    assert triangulation_angle_deg(R, xy_a, xy_b).max() < 1e-6
    depth_a, depth_b = two_view_depths(R, np.array([1.0, 0.0, 0.0]), xy_a, xy_b)
    assert np.isfinite(depth_a).all() and np.isfinite(depth_b).all()


def test_sampson_distance_is_first_order_geometric_distance(scene):
    px_a, px_b = undistorted(scene)
    F = fundamental_from_essential(essential_from_pose(scene.R, scene.t), scene.camera_a.K, scene.camera_b.K)
    lines = epipolar_lines(F, px_a[:5])
    normals = lines[:, :2]
    moved_b = px_b[:5] + 1.0 * normals  # 1 px off the epipolar line in image b
    np.testing.assert_allclose(np.sum(lines * np.c_[moved_b, np.ones(5)], axis=1), 1.0, atol=1e-9)
    sampson = sampson_distance(F, px_a[:5], moved_b)
    for k in range(5):
        # Exact distance: the smallest joint displacement of (u_a, u_b) back onto the variety.
        def constraint(d, k=k):
            return np.r_[moved_b[k] + d[2:], 1.0] @ F @ np.r_[px_a[k] + d[:2], 1.0]

        exact = minimize(lambda d: d @ d, np.zeros(4), constraints={"type": "eq", "fun": constraint},
                         method="SLSQP", options={"ftol": 1e-14})
        assert sampson[k] == pytest.approx(np.sqrt(exact.fun), rel=SAMPSON_FIRST_ORDER_RTOL)
        assert sampson[k] <= 1.0 + 1e-9  # moving both points is never longer than moving one


def test_broadcasting_hypotheses_against_points(scene):
    px_a, px_b = undistorted(scene)
    F = fundamental_8point(px_a, px_b)
    stacked = np.stack([F, 2 * F, -F])
    distances = sampson_distance(stacked, px_a, px_b)
    assert distances.shape == (3, len(px_a))
    np.testing.assert_allclose(distances[1], distances[0], atol=1e-12)


def test_homography_of_a_pure_rotation():
    rng = np.random.default_rng(5)
    rig = ring_rig(2, lens="pinhole", rng=rng)
    K, R = rig[0].K, rig[1].R @ rig[0].R.T
    H_true = K @ R @ np.linalg.inv(K)
    px_a = rng.uniform([0, 0], [1920, 1080], (40, 2))
    mapped = np.c_[px_a, np.ones(40)] @ H_true.T
    px_b = mapped[:, :2] / mapped[:, 2:]
    H = homography_dlt(px_a, px_b)
    assert homography_transfer_error(H, px_a, px_b).max() < EXACT_PIXEL_TOL_PX
    assert same_up_to_sign(H, H_true) < EXACT_MATRIX_TOL
    batch = homography_dlt(np.stack([px_a[:4], px_a[4:8]]), np.stack([px_b[:4], px_b[4:8]]))
    assert homography_transfer_error(batch, px_a, px_b).max() < 1e-4


def test_estimate_fundamental_with_noise_and_outliers():
    rng = np.random.default_rng(12)
    rig = ring_rig(6, lens="pinhole", rng=rng)
    scene = two_view_scene(rig[0], rig[2], person_volume_points(300, rng=rng), rng=rng, noise_px=1.0,
                           outlier_ratio=0.3)
    pixels_a = scene.pixels_a.copy()
    pixels_a[:5] = np.nan
    estimate = estimate_fundamental(pixels_a, scene.pixels_b, threshold_px=2.0, rng=rng)
    assert estimate.report.success and not estimate.inliers[:5].any()
    truth = ~scene.outliers
    truth[:5] = False
    assert (estimate.inliers & truth).sum() / estimate.inliers.sum() > 0.97  # precision
    assert (estimate.inliers & truth).sum() / truth.sum() > 0.85  # recall at 2 sigma
    distance = sampson_distance(estimate.F, scene.pixels_a[truth], scene.pixels_b[truth])
    assert np.median(distance) < 1.0  # 1 px noise: median |N(0, 1)| is 0.67 px
    failed = estimate_fundamental(scene.pixels_a[:7], scene.pixels_b[:7])
    assert not failed.report.success and np.isnan(failed.F).all() and not failed.inliers.any()


def test_homography_sampson_distance_is_first_order_geometric_distance():
    rng = np.random.default_rng(6)
    H = np.array([[1.2, 0.1, 30.0], [-0.05, 0.9, -10.0], [2e-4, -1e-4, 1.0]])  # strong perspective
    px_a = rng.uniform([0, 0], [1920, 1080], (6, 2))
    mapped = np.c_[px_a, np.ones(6)] @ H.T
    px_b = mapped[:, :2] / mapped[:, 2:]
    assert homography_sampson_distance(H, px_a, px_b).max() < EXACT_PIXEL_TOL_PX
    moved_b = px_b + rng.normal(0, 1.0, px_b.shape)
    sampson = homography_sampson_distance(np.stack([H, 3 * H]), px_a, moved_b)
    np.testing.assert_allclose(sampson[1], sampson[0], rtol=1e-12)  # scale invariant
    for k in range(6):
        def constraint(d, k=k):
            image = H @ np.r_[px_a[k] + d[:2], 1.0]
            return image[:2] / image[2] - (moved_b[k] + d[2:])

        exact = minimize(lambda d: d @ d, np.zeros(4), constraints={"type": "eq", "fun": constraint},
                         method="SLSQP", options={"ftol": 1e-14})
        assert sampson[0, k] == pytest.approx(np.sqrt(exact.fun), rel=SAMPSON_FIRST_ORDER_RTOL)


def test_contract_violations():
    points = np.zeros((10, 2))
    with pytest.raises(ValueError, match="at least 8"):
        fundamental_8point(points[:7], points[:7])
    with pytest.raises(ValueError, match="points_a"):
        fundamental_8point(points, points[:9])
    with pytest.raises(ValueError, match="weights"):
        fundamental_8point(points, points, weights=-np.ones(10))
    with pytest.raises(ValueError, match="E"):
        decompose_essential(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="K_b"):
        essential_from_fundamental(np.eye(3), np.eye(3), np.eye(2))
    with pytest.raises(ValueError, match="R"):
        select_pose_by_cheirality(np.eye(3), np.zeros(3), points, points)
    with pytest.raises(ValueError, match="at least 4"):
        homography_dlt(points[:3], points[:3])
    with pytest.raises(ValueError, match="B, 5, 2"):
        essential_5point(points[:5], points[:5])
