"""The generic RANSAC on a problem with a known answer: 2D line fitting with gross outliers."""

import dataclasses

import numpy as np
import pytest

from geometry import RansacOptions, ransac
from geometry.ransac import required_iterations

LINE_NOISE_PX = 0.3
LINE_ANGLE_TOL_DEG = 0.2  # 0.3 px noise over 350 inliers spanning 1000 px


class LineProblem:
    """Lines ``n . p = d`` (models (H, 3): unit normal, offset) through 2D points in pixels."""

    sample_size = 2

    def __init__(self, points):
        self.points = points
        self.num_data = len(points)

    def fit_minimal(self, samples):
        p, q = self.points[samples[:, 0]], self.points[samples[:, 1]]
        direction = q - p
        normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)  # coincident points -> NaN, dropped
        return np.concatenate([normal, np.sum(normal * p, axis=1, keepdims=True)], axis=1)

    def fit_weighted(self, weights):
        total = weights.sum(axis=1, keepdims=True)
        mean = weights @ self.points / total
        centered = self.points[None] - mean[:, None]
        scatter = np.einsum("hn,hni,hnj->hij", weights, centered, centered)
        normal = np.linalg.eigh(scatter)[1][:, :, 0]
        return np.concatenate([normal, np.sum(normal * mean, axis=1, keepdims=True)], axis=1)

    def residuals(self, models, index=None):
        points = self.points if index is None else self.points[index]
        return np.abs(models[:, :2] @ points.T - models[:, 2:])


def make_line_data(seed=0, num_inliers=350, num_outliers=150):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0, 1000, num_inliers)
    direction = np.array([np.cos(0.4), np.sin(0.4)])
    inliers = np.array([100.0, 50.0]) + s[:, None] * direction
    inliers += rng.normal(0, LINE_NOISE_PX, inliers.shape)
    outliers = rng.uniform(0, 1000, (num_outliers, 2))
    points = np.concatenate([inliers, outliers])
    truth = np.r_[np.ones(num_inliers, bool), np.zeros(num_outliers, bool)]
    # Outliers that happen to lie on the line are inliers by definition.
    normal = np.array([-direction[1], direction[0]])
    truth |= np.abs((points - [100.0, 50.0]) @ normal) < 3 * LINE_NOISE_PX
    return points, truth, normal


@pytest.mark.parametrize("local_optimization", ["none", "iterative", "inner_ransac"])
@pytest.mark.parametrize("preemptive_points", [0, 40])
def test_line_with_outliers(local_optimization, preemptive_points):
    points, truth, normal = make_line_data()
    options = RansacOptions(threshold_px=3 * LINE_NOISE_PX, local_optimization=local_optimization,
                            preemptive_points=preemptive_points)
    result = ransac(LineProblem(points), options=options, rng=np.random.default_rng(1))
    assert result.report.success
    angle_deg = np.degrees(np.arccos(min(abs(result.model[:2] @ normal), 1.0)))
    assert angle_deg < LINE_ANGLE_TOL_DEG
    recall = (result.inliers & truth).sum() / truth.sum()
    assert recall > 0.98  # 3 sigma threshold
    assert not (result.inliers & ~truth).any()
    assert result.report.num_inliers == result.inliers.sum()
    assert result.report.inlier_ratio == pytest.approx(result.inliers.mean())


def test_iterations_adapt_to_the_inlier_ratio():
    points, _, _ = make_line_data(num_outliers=0)
    clean = ransac(LineProblem(points), options=RansacOptions(threshold_px=1.0, min_iterations=10,
                                                               batch_size=10))
    assert clean.report.num_iterations == 10  # all inliers: the first batch suffices
    points, _, _ = make_line_data(num_inliers=50, num_outliers=450)
    hard = ransac(LineProblem(points), options=RansacOptions(threshold_px=1.0, min_iterations=10,
                                                              batch_size=10))
    assert hard.report.num_iterations >= required_iterations(0.1, 2, 0.9999) * 0.9
    capped = ransac(LineProblem(points), options=RansacOptions(threshold_px=1.0, min_iterations=10,
                                                                max_iterations=50, batch_size=10))
    assert capped.report.num_iterations == 50


def test_required_iterations():
    assert required_iterations(1.0, 5, 0.99) == 0
    assert required_iterations(0.0, 5, 0.99) == np.inf
    assert required_iterations(0.5, 2, 0.99) == pytest.approx(np.log(0.01) / np.log(0.75))


def test_too_few_data_is_not_a_success():
    result = ransac(LineProblem(np.zeros((1, 2))), options=RansacOptions())
    assert not result.report.success and result.model is None
    assert result.inliers.shape == (1,) and not result.inliers.any()


def test_seeded_and_reproducible():
    points, _, _ = make_line_data(seed=4)
    first = ransac(LineProblem(points), rng=np.random.default_rng(9))
    second = ransac(LineProblem(points), rng=np.random.default_rng(9))
    np.testing.assert_array_equal(first.model, second.model)


def test_options_validate_themselves():
    for bad in (dict(threshold_px=0), dict(confidence=1.0), dict(min_iterations=10, max_iterations=5),
                dict(batch_size=0), dict(local_optimization="lo"), dict(lo_threshold_multiplier=0.5),
                dict(preemptive_keep=0.0), dict(preemptive_points=-1)):
        with pytest.raises(ValueError):
            RansacOptions(**bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RansacOptions().threshold_px = 2.0


@pytest.mark.parametrize("num_data", [5, 60, 100_000])
def test_samples_never_repeat_an_index(num_data):
    from geometry.ransac import _draw_samples

    rows = _draw_samples(np.random.default_rng(0), num_data, 5, 200)
    assert rows.shape == (200, 5)
    assert rows.min() >= 0 and rows.max() < num_data
    assert (np.diff(np.sort(rows, axis=1), axis=1) > 0).all()
