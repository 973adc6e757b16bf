"""triangulate_robust: gross outliers and left/right swaps rejected, inlier masks, flags."""

import numpy as np
import pytest

from geometry import (DEFAULT_THRESHOLD_PX, Rig, RobustTriangulationOptions, TriangulationOptions,
                      reprojection_error, triangulate, triangulate_robust)
from geometry.synthetic import DetectorNoise, ceiling_rig, random_poses, ring_rig, simulate_detections

NOISE_PX = 1.0
EXACT_TOL_M = 1e-9  # noise-free, no outliers: same as triangulate
ORACLE_RATIO = 1.05  # issue 2: mean 3D error within 5% of an oracle that knows the outliers
RECALL_MIN = 0.995  # 1 px noise vs a 15 px threshold: a true view is essentially never dropped
OUTLIER_MIN_PX, OUTLIER_MAX_PX = 50.0, 400.0  # what a wrong-limb / other-person detection misses by
REALISTIC_MEDIAN_TOL_MM = 8.0  # 2 px detector noise (4 px occluded), 6 views at ~4 m: ~5.7 mm


def _scene(rng, num_points, num_views=6, lens="distorted"):
    rig = ring_rig(num_views, lens=lens, rng=rng)
    truth = rng.normal([0.0, 0.0, 1.0], [0.6, 0.6, 0.5], (num_points, 3))
    observed = rig.project(truth) + rng.normal(0, NOISE_PX, (num_views, num_points, 2))
    return rig, truth, observed


def _add_gross_outliers(rng, observed, fraction):
    """Move a random ``fraction`` of observations 50-400 px away; returns (observed, mask)."""
    mask = rng.random(observed.shape[:-1]) < fraction
    angle = rng.uniform(0, 2 * np.pi, mask.sum())
    length = rng.uniform(OUTLIER_MIN_PX, OUTLIER_MAX_PX, mask.sum())
    out = observed.copy()
    out[mask] += np.stack([np.cos(angle), np.sin(angle)], axis=-1) * length[:, None]
    return out, mask


def test_clean_data_keeps_every_view_and_matches_triangulate():
    rng = np.random.default_rng(0)
    rig, truth, _ = _scene(rng, 500)
    clean = rig.project(truth)
    result = triangulate_robust(rig, clean)
    assert result.valid.all() and result.inliers.all()
    np.testing.assert_array_equal(result.num_inliers, 6)
    np.testing.assert_allclose(result.points_3d, truth, atol=EXACT_TOL_M)
    assert np.nanmax(result.reprojection_error_px) < 1e-6


@pytest.mark.parametrize("lens", ["distorted", "fisheye"])
def test_gross_outliers_are_rejected_and_accuracy_matches_the_oracle(lens):
    rng = np.random.default_rng(1)
    rig, truth, observed = _scene(rng, 3000, lens=lens)
    corrupted, outlier = _add_gross_outliers(rng, observed, 0.10)
    result = triangulate_robust(rig, corrupted)
    observed_true = ~outlier
    # Where the clean views outnumber the outliers, consensus must find them; where 3-4 of 6
    # views are outliers (rare at 10%) a chance-consistent outlier set can win, as for anyone.
    majority = observed_true.sum(axis=0) > outlier.sum(axis=0)
    assert result.valid[majority].mean() > 0.999
    # two clean views against four outliers: an unsupported pair, never kept as a pair
    two_against_more = (observed_true.sum(axis=0) == 2) & (outlier.sum(axis=0) >= 2)
    assert two_against_more.sum() >= 3
    assert not (result.valid & two_against_more & (result.num_inliers == 2)).any()
    assert (result.inliers & outlier)[:, majority].sum() == 0
    assert (result.inliers & outlier).sum() <= 0.005 * outlier.sum()
    recall = (result.inliers & observed_true).sum() / observed_true[:, result.valid].sum()
    assert recall >= RECALL_MIN
    oracle_input = corrupted.copy()
    oracle_input[outlier] = np.nan
    oracle = triangulate(rig, oracle_input)
    both = result.valid & np.isfinite(oracle).all(axis=1) & majority
    ours_mm = np.linalg.norm(result.points_3d[both] - truth[both], axis=1).mean() * 1000
    oracle_mm = np.linalg.norm(oracle[both] - truth[both], axis=1).mean() * 1000
    assert ours_mm <= ORACLE_RATIO * oracle_mm
    # the errors are reported for every observed view, outliers included
    expected = reprojection_error(rig, result.points_3d, corrupted)
    np.testing.assert_allclose(result.reprojection_error_px, expected, atol=1e-9)
    rejected = outlier & ~result.inliers & result.valid[None]
    assert (result.reprojection_error_px[rejected] >= DEFAULT_THRESHOLD_PX).all()


def test_left_right_swaps_are_rejected():
    """Pairs of joints 35 cm apart (left / right wrist) with labels swapped in some views."""
    rng = np.random.default_rng(2)
    rig = ceiling_rig(6, rng=rng)
    centre = rng.normal([0.0, 0.0, 1.0], [0.5, 0.5, 0.3], (400, 3))
    lateral = rng.normal(size=(400, 3))
    lateral[:, 2] = 0
    lateral *= 0.175 / np.linalg.norm(lateral, axis=1, keepdims=True)
    left, right = centre + lateral, centre - lateral
    obs_left = rig.project(left) + rng.normal(0, NOISE_PX, (6, 400, 2))
    obs_right = rig.project(right) + rng.normal(0, NOISE_PX, (6, 400, 2))
    swapped = np.zeros((6, 400), dtype=bool)
    swapped[rng.integers(0, 6, 400), np.arange(400)] = True  # one view per frame
    second = rng.random(400) < 0.3  # and a second one in 30% of frames
    swapped[(rng.integers(1, 6, 400) + np.argmax(swapped, axis=0)) % 6, np.arange(400)] |= second
    seen_left = np.where(swapped[..., None], obs_right, obs_left)
    result = triangulate_robust(rig, seen_left)
    assert result.valid.all()
    assert not (result.inliers & swapped).any()
    assert (result.inliers == ~swapped).mean() > 0.99
    error_mm = np.linalg.norm(result.points_3d - left, axis=1) * 1000
    assert np.percentile(error_mm, 99) < 10.0  # 1 px noise, >= 4 clean views: a few mm


def test_a_pair_outvoted_by_four_views_is_not_valid():
    """Two views agree whenever one is off along the other's epipolar line, so a two-view
    consensus is kept only while it holds more than a third of the usable views' weight."""
    rng = np.random.default_rng(5)
    rig, truth, observed = _scene(rng, 200)
    corrupted = observed.copy()
    corrupted[2:] += rng.choice([-1.0, 1.0], (4, 200, 2)) * rng.uniform(80, 300, (4, 200, 2))
    # views 0, 1 clean, 2..5 gross outliers: a pair against four, never valid
    result = triangulate_robust(rig, corrupted)
    assert not result.valid.any() and not result.inliers.any()
    # a pair against three (view 5 unused) is kept; nearly always the clean pair (an outlier
    # that lies along a clean view's epipolar line can agree with it more tightly)
    weights = np.ones((6, 200))
    weights[5] = 0.0
    result = triangulate_robust(rig, corrupted, weights=weights)
    assert result.valid.mean() > 0.95
    assert (result.inliers[:2].all(axis=0) & ~result.inliers[2:].any(axis=0)).mean() > 0.9
    # confidences count: a confident pair against four near-zero-confidence views is kept
    weights = np.full((6, 200), 0.05)
    weights[:2] = 1.0
    result = triangulate_robust(rig, corrupted, weights=weights)
    assert result.valid.mean() > 0.95 and not result.inliers[2:].any()
    pair = Rig(list(rig)[:2])
    np.testing.assert_allclose(result.points_3d[result.valid],
                               triangulate(pair, observed[:2])[result.valid], atol=1e-9)


def test_a_detection_only_a_bit_off_still_counts():
    rng = np.random.default_rng(3)
    rig, truth, observed = _scene(rng, 200)
    observed[2] += np.array([6.0, -5.0])  # ~8 px off: sloppy, not wrong
    result = triangulate_robust(rig, observed)
    assert result.inliers[2].mean() > 0.98


def test_weights_steer_scoring_and_the_final_estimate():
    rng = np.random.default_rng(4)
    rig, truth, observed = _scene(rng, 300)
    weights = rng.uniform(0.3, 1.0, (6, 300))
    result = triangulate_robust(rig, observed, weights=weights)
    assert result.inliers.all()
    np.testing.assert_allclose(result.points_3d, triangulate(rig, observed, weights=weights), atol=1e-9)
    # A zero-confidence detection is ignored, even if it is wildly wrong.
    bad = observed.copy()
    bad[0] += 300.0
    zero = weights.copy()
    zero[0] = 0.0
    result = triangulate_robust(rig, bad, weights=zero)
    assert not result.inliers[0].any()
    assert np.isfinite(result.reprojection_error_px[0]).sum() == 0  # not observed
    # Three consistent views outvote two consistent-but-wrong ones only by confidence:
    # views 0, 1 see a "ghost" 0.3 m away with high confidence, views 2-5 the truth with low.
    ghost = rig.project(truth + [0.0, 0.0, 0.3])
    two_views = observed.copy()
    two_views[:2] = ghost[:2]
    conf = np.full((6, 300), 0.05)
    conf[:2] = 1.0
    result = triangulate_robust(rig, two_views, weights=conf)
    assert result.inliers[:2].all() and not result.inliers[2:].any()
    result = triangulate_robust(rig, two_views)  # unweighted: the four agreeing views win
    assert result.inliers[2:].all() and not result.inliers[:2].any()


def test_too_few_consistent_views_are_flagged():
    rng = np.random.default_rng(5)
    rig, truth, observed = _scene(rng, 6)
    observed[1:, 0] = np.nan  # seen once
    observed[:, 1] = np.nan  # never seen
    observed[2:, 2] = np.nan  # two views, fine with min_views=2 ...
    result = triangulate_robust(rig, observed)
    np.testing.assert_array_equal(result.valid, [False, False, True, True, True, True])
    assert np.isnan(result.points_3d[:2]).all()
    assert not result.inliers[:, :2].any()
    np.testing.assert_array_equal(result.num_inliers[:2], 0)
    strict = triangulate_robust(rig, observed, min_views=3)  # ... but not with min_views=3
    assert not strict.valid[2] and strict.valid[3:].all()
    assert np.isnan(strict.points_3d[2]).all()
    # Every view disagrees with every other: no consensus.
    scrambled = observed.copy()
    scrambled[:, 5] = rig.project(rng.normal([0, 0, 1], 0.6, (6, 3)))[np.arange(6), np.arange(6)]
    result = triangulate_robust(rig, scrambled, min_views=3)
    assert not result.valid[5]


def test_batch_dimensions_and_threads():
    rng = np.random.default_rng(6)
    rig, truth, observed = _scene(rng, 2 * 1500)
    corrupted, _ = _add_gross_outliers(rng, observed, 0.1)
    flat = triangulate_robust(rig, corrupted)
    batched = triangulate_robust(rig, corrupted.reshape(6, 2, 1500, 2),
                                 options=RobustTriangulationOptions(triangulation=TriangulationOptions(threads=1)))
    assert batched.points_3d.shape == (2, 1500, 3)
    assert batched.inliers.shape == (6, 2, 1500) and batched.reprojection_error_px.shape == (6, 2, 1500)
    assert batched.valid.shape == (2, 1500) and batched.num_inliers.shape == (2, 1500)
    np.testing.assert_array_equal(batched.points_3d.reshape(-1, 3), flat.points_3d)
    np.testing.assert_array_equal(batched.inliers.reshape(6, -1), flat.inliers)


def test_realistic_detector_model():
    """COCO-17 people, the detector model of geometry.synthetic: 2 px noise, 10% outliers (other
    body parts, far displacements, anywhere in the image), 5% left/right swaps, occlusion,
    confidences that are often confidently wrong."""
    rng = np.random.default_rng(8)
    rig = ring_rig(6, rng=rng)
    poses = random_poses(150, rng=rng)
    detections = simulate_detections(rig, poses.joints_in_world, skeleton=poses.skeleton,
                                     noise=DetectorNoise(), rng=rng)
    truth = poses.joints_in_world
    bad = (detections.is_outlier | detections.is_swapped) & detections.visible
    clean = detections.visible & ~bad
    miss_px = np.linalg.norm(detections.points_2d - detections.truth_2d, axis=-1)
    far = bad & (miss_px > 3 * DEFAULT_THRESHOLD_PX)
    majority = clean.sum(axis=0) > bad.sum(axis=0)
    result = triangulate_robust(rig, detections.points_2d, weights=detections.scores)
    assert result.valid[majority].mean() > 0.999
    # Far-off detections are rejected wherever the clean views are the majority; swaps of joints
    # that project within a few pixels of each other (side views) may count: they are only a bit off.
    assert (result.inliers & far)[:, majority].sum() <= 0.005 * far.sum()
    assert (result.inliers & clean).sum() >= 0.99 * clean[:, result.valid].sum()
    error_mm = np.linalg.norm(result.points_3d - truth, axis=-1) * 1000
    assert np.nanmedian(error_mm[majority]) < REALISTIC_MEDIAN_TOL_MM
    soft = triangulate_robust(rig, detections.points_2d, weights=detections.scores,
                              options=RobustTriangulationOptions(soft_scale_px=DEFAULT_THRESHOLD_PX / 3))
    np.testing.assert_array_equal(soft.inliers, result.inliers)  # same consensus, softer estimate
    soft_mm = np.linalg.norm(soft.points_3d - truth, axis=-1) * 1000
    assert np.nanpercentile(soft_mm, 99) < np.nanpercentile(error_mm, 99)


def test_contract_violations_raise():
    rng = np.random.default_rng(7)
    rig, _, observed = _scene(rng, 5)
    with pytest.raises(ValueError, match="threshold_px"):
        triangulate_robust(rig, observed, threshold_px=0.0)
    with pytest.raises(ValueError, match="min_views"):
        triangulate_robust(rig, observed, min_views=1)
    with pytest.raises(ValueError, match="points_2d has shape"):
        triangulate_robust(rig, observed[:3])
    with pytest.raises(ValueError, match="error_weight"):
        RobustTriangulationOptions(error_weight=1.0)
    with pytest.raises(ValueError, match="max_rounds"):
        RobustTriangulationOptions(max_rounds=0)
    with pytest.raises(ValueError, match="soft_scale_px"):
        RobustTriangulationOptions(soft_scale_px=0.0)
