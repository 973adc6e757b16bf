"""triangulate and reprojection_error against synthetic ground truth and a scipy NLLS reference."""

import numpy as np
import pytest
from scipy.optimize import least_squares

from geometry import (Camera, Rig, TriangulationOptions, normalized_from_distorted,
                      reprojection_error, rotation_from_rvec, triangulate, triangulate_robust)
from geometry._kernels import distort_packed, pack_rig, project_points, undistort_pixels
from geometry.triangulation import map_chunks
from geometry.synthetic import arc_rig, ceiling_rig, ring_rig

EXACT_TOL_M = 1e-9  # noise-free float64: the Gauss-Newton refinement converges to ~1e-12 m
KERNEL_TOL_PX = 1e-9  # the private lens kernels reproduce Rig.project
NLLS_REL_TOL = 0.01  # issue 2: within 1% of the optimum's own error, point by point (default: 1 step)
NLLS_REL_TOL_2 = 1e-4  # with 2 Gauss-Newton steps (quadratic convergence): the optimum itself
NOISY_MEAN_TOL_MM = 4.0  # 1 px noise, 6 views at ~4 m, f ~ 1370 px: expect ~2.5 mm mean
NOISE_PX = 1.0


def _points(rng, n, spread=(0.6, 0.6, 0.5)):
    """(n, 3) points in the capture volume around (0, 0, 1) m."""
    return rng.normal([0.0, 0.0, 1.0], spread, (n, 3))


def _nlls_reference(rig, points_2d, weights, start):
    """scipy.optimize.least_squares on the true pixel reprojection error, one point at a time."""
    out = np.empty_like(start)
    for n in range(start.shape[0]):
        seen = np.isfinite(points_2d[:, n, 0]) & (weights[:, n] > 0)
        sqrt_w = np.sqrt(weights[seen, n])[:, None]

        def residual(X, n=n, seen=seen, sqrt_w=sqrt_w):
            return ((rig.project(X)[seen] - points_2d[seen, n]) * sqrt_w).ravel()

        out[n] = least_squares(residual, start[n], method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    return out


@pytest.mark.parametrize("make_rig", [ring_rig, arc_rig, ceiling_rig])
@pytest.mark.parametrize("lens", ["distorted", "fisheye", "pinhole"])
def test_noise_free_points_are_recovered_exactly(make_rig, lens):
    rig = make_rig(5, lens=lens, rng=np.random.default_rng(1))
    truth = _points(np.random.default_rng(2), 300)
    estimate = triangulate(rig, rig.project(truth))
    np.testing.assert_allclose(estimate, truth, atol=EXACT_TOL_M, rtol=0)


@pytest.mark.parametrize("lens,noise_px", [("distorted", NOISE_PX), ("fisheye", NOISE_PX), ("distorted", 4.0)])
def test_noisy_matches_pixel_space_nonlinear_least_squares(lens, noise_px):
    rng = np.random.default_rng(3)
    rig = ring_rig(6, lens=lens, rng=rng)
    truth = _points(rng, 25)
    observed = rig.project(truth) + rng.normal(0, noise_px, (6, 25, 2))
    observed[0, :5] = np.nan  # some missing views too
    observed[1:4, 5] = np.nan  # and a point seen by 2 views only
    weights = rng.uniform(0.2, 1.0, (6, 25))
    ours = triangulate(rig, observed, weights=weights)
    reference = _nlls_reference(rig, observed, weights, truth)
    reference_error = np.linalg.norm(reference - truth, axis=1)
    assert (np.linalg.norm(ours - reference, axis=1) <= NLLS_REL_TOL * reference_error).all()
    two_steps = triangulate(rig, observed, weights=weights, options=TriangulationOptions(iterations=2))
    assert (np.linalg.norm(two_steps - reference, axis=1) <= NLLS_REL_TOL_2 * reference_error).all()
    # and it is better than the linear solution alone
    linear = triangulate(rig, observed, weights=weights, options=TriangulationOptions(iterations=0))
    cost = lambda X: np.nansum(weights * reprojection_error(rig, X, observed) ** 2)  # noqa: E731
    assert cost(ours) <= cost(linear)


def test_noisy_accuracy():
    rng = np.random.default_rng(4)
    rig = ring_rig(6, rng=rng)
    truth = _points(rng, 2000)
    observed = rig.project(truth) + rng.normal(0, NOISE_PX, (6, 2000, 2))
    error_mm = np.linalg.norm(triangulate(rig, observed) - truth, axis=1) * 1000
    assert np.isfinite(error_mm).all()
    assert error_mm.mean() < NOISY_MEAN_TOL_MM


def test_missing_views_are_the_same_as_zero_weight_and_as_a_smaller_rig():
    rng = np.random.default_rng(5)
    rig = ring_rig(6, rng=rng)
    truth = _points(rng, 200)
    observed = rig.project(truth) + rng.normal(0, NOISE_PX, (6, 200, 2))
    missing = rng.random((6, 200)) < 0.3
    with_nan = observed.copy()
    with_nan[missing] = np.nan
    weights = np.where(missing, 0.0, 1.0)
    a = triangulate(rig, with_nan)
    b = triangulate(rig, observed, weights=weights)
    enough = (~missing).sum(axis=0) >= 2
    np.testing.assert_array_equal(np.isfinite(a).all(axis=1), enough)
    np.testing.assert_allclose(a[enough], b[enough], atol=1e-12)
    # a point seen by views 1 and 4 only equals triangulating with the 2-camera rig
    only = np.ones((6, 1), dtype=bool)
    only[[1, 4]] = False
    sub = observed[:, :1].copy()
    sub[only] = np.nan
    np.testing.assert_allclose(triangulate(rig, sub)[0], triangulate(rig.subset([1, 4]), observed[[1, 4], :1])[0],
                               atol=1e-12)


def test_weights_scale_invariance_and_influence():
    rng = np.random.default_rng(6)
    rig = ring_rig(6, rng=rng)
    truth = _points(rng, 100)
    observed = rig.project(truth) + rng.normal(0, NOISE_PX, (6, 100, 2))
    observed[2] += 20.0  # one bad view
    weights = np.ones((6, 100))
    np.testing.assert_allclose(triangulate(rig, observed, weights=3.7 * weights),
                               triangulate(rig, observed, weights=weights), atol=1e-12)
    low = weights.copy()
    low[2] = 0.01
    err_equal = np.linalg.norm(triangulate(rig, observed) - truth, axis=1).mean()
    err_low = np.linalg.norm(triangulate(rig, observed, weights=low) - truth, axis=1).mean()
    assert err_low < 0.3 * err_equal
    nan_weights = low.copy()
    nan_weights[5, :10] = np.nan  # NaN weight = ignore, like Detections.scores where not detected
    ignored = observed.copy()
    ignored[5, :10] = np.nan
    np.testing.assert_allclose(triangulate(rig, observed, weights=nan_weights),
                               triangulate(rig, ignored, weights=np.nan_to_num(nan_weights)), atol=1e-12)


def test_batch_dimensions():
    rng = np.random.default_rng(7)
    rig = ring_rig(4, rng=rng)
    truth = _points(rng, 3 * 17).reshape(3, 17, 3)
    observed = rig.project(truth) + rng.normal(0, NOISE_PX, (4, 3, 17, 2))
    batched = triangulate(rig, observed, weights=np.ones((4, 3, 17)))
    assert batched.shape == (3, 17, 3)
    flat = triangulate(rig, observed.reshape(4, -1, 2))
    np.testing.assert_allclose(batched.reshape(-1, 3), flat, atol=1e-12)
    single = triangulate(rig, observed[:, 0, 0])  # (V, 2) -> (3,)
    assert single.shape == (3,)
    np.testing.assert_allclose(single, batched[0, 0], atol=1e-12)
    empty = triangulate(rig, np.zeros((4, 0, 2)))
    assert empty.shape == (0, 3)


def test_threads_do_not_change_the_result():
    rng = np.random.default_rng(8)
    rig = ring_rig(6, rng=rng)
    observed = rig.project(_points(rng, 9000)) + rng.normal(0, NOISE_PX, (6, 9000, 2))
    one = triangulate(rig, observed, options=TriangulationOptions(threads=1))
    two = triangulate(rig, observed, options=TriangulationOptions(threads=2))
    np.testing.assert_array_equal(one, two)
    # nor does where a point falls in the kernels' blocks and vector lanes (bit for bit)
    for skip in (1, 3, 257):
        np.testing.assert_array_equal(triangulate(rig, observed[:, skip:]), one[skip:])
    robust = triangulate_robust(rig, observed).points_3d
    np.testing.assert_array_equal(triangulate_robust(rig, observed[:, 5:]).points_3d, robust[5:])


def test_worker_ranges_cover_every_point_once_and_errors_surface():
    for num_points in (0, 1, 8193, 20000):
        for threads in (1, 2, 3):
            seen = np.zeros(num_points, dtype=int)

            def mark(part, seen=seen):
                seen[part] += 1

            map_chunks(mark, num_points, threads, chunk=1000)
            assert (seen == 1).all()

    def fail(part):
        if part.start > 0:
            raise ValueError("a worker failed")

    with pytest.raises(ValueError, match="a worker failed"):
        map_chunks(fail, 5000, 2, chunk=1000)


def test_degenerate_points_come_back_nan():
    rng = np.random.default_rng(9)
    rig = ring_rig(4, rng=rng)
    truth = _points(rng, 4)
    observed = rig.project(truth)
    observed[1:, 0] = np.nan  # seen once
    observed[:, 1] = np.nan  # never seen
    out = triangulate(rig, observed)
    assert np.isnan(out[:2]).all()
    np.testing.assert_allclose(out[2:], truth[2:], atol=EXACT_TOL_M)


def test_coincident_cameras_are_flagged():
    cam = ring_rig(2, rng=np.random.default_rng(10))[0]
    twin = cam.replace(name="twin", R=rotation_from_rvec(np.array([0.0, 0.05, 0.0])) @ cam.R,
                       t=rotation_from_rvec(np.array([0.0, 0.05, 0.0])) @ cam.t)  # same centre
    rig = Rig([cam, twin])
    truth = _points(np.random.default_rng(11), 20)
    assert np.isnan(triangulate(rig, rig.project(truth))).all()
    # nearly parallel rays: 0.5 deg apart is below the default 1 deg, above 0.1 deg
    offset = cam.replace(name="offset", t=cam.t + np.array([0.03, 0.0, 0.0]))
    rig = Rig([cam, offset])
    point = np.array([[0.0, 0.0, 1.0]])
    assert np.isnan(triangulate(rig, rig.project(point))).all()
    kept = triangulate(rig, rig.project(point), options=TriangulationOptions(min_ray_angle_deg=0.1))
    np.testing.assert_allclose(kept, point, atol=1e-6)


def test_point_behind_an_observing_camera_is_flagged():
    rig = ring_rig(6, rng=np.random.default_rng(12))
    a, b = rig[0], rig[3]  # opposite sides of the ring
    # A point between camera b and ... beyond it: behind b, in front of a.
    point = b.center + 0.5 * (b.center - a.center) / np.linalg.norm(b.center - a.center)
    assert (a.R @ point + a.t)[2] > 0 and (b.R @ point + b.t)[2] < 0
    mirrored = 2 * b.center - point  # on the same line through b's centre, in front of b
    observed = np.stack([a.project(point[None]), b.project(mirrored[None])])
    assert np.isfinite(observed).all()
    assert np.isnan(triangulate(Rig([a, b]), observed)).all()


def test_contract_violations_raise():
    rig = ring_rig(3, rng=np.random.default_rng(13))
    good = rig.project(np.zeros((5, 3)) + [0, 0, 1])
    with pytest.raises(ValueError, match=r"expected \(3, \.\.\., 2\)"):
        triangulate(rig, good[:2])
    with pytest.raises(ValueError, match="expected"):
        triangulate(rig, np.zeros((3, 5, 3)))
    with pytest.raises(ValueError, match="weights has shape"):
        triangulate(rig, good, weights=np.ones((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        triangulate(rig, good, weights=-np.ones((3, 5)))
    with pytest.raises(ValueError, match="inf"):
        triangulate(rig, np.full((3, 5, 2), np.inf))
    with pytest.raises(ValueError, match="at least 2 cameras"):
        triangulate(rig.subset([0]), good[:1])
    with pytest.raises(ValueError, match="iterations"):
        TriangulationOptions(iterations=-1)
    with pytest.raises(ValueError, match="threads"):
        TriangulationOptions(threads=0)


def test_reprojection_error_in_pixels():
    rng = np.random.default_rng(14)
    rig = ring_rig(4, rng=rng)
    truth = _points(rng, 50)
    offset = rng.normal(0, 2.0, (4, 50, 2))
    observed = rig.project(truth) + offset
    observed[2, :3] = np.nan
    error = reprojection_error(rig, truth, observed)
    assert error.shape == (4, 50)
    expected = np.linalg.norm(offset, axis=-1)
    expected[2, :3] = np.nan
    np.testing.assert_allclose(error, expected, atol=1e-9)
    behind = rig[0].center - 1.0 * (np.array([0, 0, 1.0]) - rig[0].center)  # behind camera 0
    error = reprojection_error(rig, behind, observed[:, 0])
    assert np.isnan(error[0]) and error.shape == (4,)
    with pytest.raises(ValueError, match="points_2d has shape"):
        reprojection_error(rig, truth, observed[:, :10])
    # A point at a camera's centre, or in its plane, is not seen by it (NaN, no overflow warning).
    in_plane = rig[1].center + 2.0 * rig[1].R[0]  # 2 m along the camera's x axis: z = 0
    error = reprojection_error(rig, np.stack([rig[1].center, in_plane]), observed[:, :2])
    assert np.isnan(error[1]).all() and np.isfinite(error[[0, 3]]).all()  # view 2: not observed


@pytest.mark.parametrize("lens", ["distorted", "fisheye", "pinhole"])
def test_lens_kernels_agree_with_the_camera_model(lens):
    """The private fast kernels reproduce Rig.project, invert it and differentiate it."""
    rng = np.random.default_rng(15)
    # a mixed rig exercises the per-model grouping too
    ring = ring_rig(5, lens=lens, rng=rng)
    fisheye = arc_rig(2, lens="fisheye", rng=rng)[0].replace(name="fisheye")
    skewed = Camera("skewed", (1920, 1080), [[1400.0, 2.0, 960.0], [0, 1390.0, 540.0], [0, 0, 1]],
                    np.array([-0.1, 0.02, 1e-4, -2e-4, 0.0, 0.01, 0.0, 0.001]), ring[4].R, ring[4].t)
    rig = Rig(list(ring)[:3] + [fisheye, skewed])
    params = pack_rig(rig)
    points = _points(rng, 400)
    u, v = project_points(params, points)
    np.testing.assert_allclose(np.stack([u, v], axis=-1), rig.project(points), atol=KERNEL_TOL_PX)
    observed = rig.project(points)
    normalized = rig.normalize(observed)
    for iterations in (2, 3):
        x, y, jacobian = undistort_pixels(params, observed[..., 0], observed[..., 1], iterations)
        np.testing.assert_allclose(np.stack([x, y], axis=-1), normalized, atol=1e-9)
    # the public route to the same inverse keeps the shape and NaN where not observed
    gaps = observed.reshape(len(rig), 20, 20, 2).copy()
    gaps[1, 3, 4] = np.nan
    gaps[3, 0, 0, 1] = np.nan  # one coordinate missing: the point is missing
    public = normalized_from_distorted(rig, gaps)
    expected_normalized = normalized.reshape(gaps.shape).copy()
    expected_normalized[1, 3, 4] = expected_normalized[3, 0, 0] = np.nan
    np.testing.assert_allclose(public, expected_normalized, atol=1e-9)
    # the pixel Jacobian returned by the undistortion linearises the lens there: K2 D
    d00, d01, d11 = distort_packed(params, x, y)[2]
    K = np.stack([cam.K for cam in rig])
    fx, fy, skew = K[:, 0, 0, None], K[:, 1, 1, None], K[:, 0, 1, None]
    expected = np.stack([fx * d00 + skew * d01, fx * d01 + skew * d11, fy * d01, fy * d11])
    np.testing.assert_allclose(np.stack(jacobian), expected, rtol=1e-9, atol=1e-6)
    # distortion Jacobian against central differences
    step = 1e-6
    _, _, (d00, d01, d11) = distort_packed(params, x, y)
    px, py, _ = distort_packed(params, x + step, y)
    mx, my, _ = distort_packed(params, x - step, y)
    np.testing.assert_allclose(d00, (px - mx) / (2 * step), atol=1e-7)
    np.testing.assert_allclose(d01, (py - my) / (2 * step), atol=1e-7)  # symmetric: d10 == d01
    px, py, _ = distort_packed(params, x, y + step)
    mx, my, _ = distort_packed(params, x, y - step)
    np.testing.assert_allclose(d01, (px - mx) / (2 * step), atol=1e-7)
    np.testing.assert_allclose(d11, (py - my) / (2 * step), atol=1e-7)
    # and the triangulation on that mixed rig is exact
    np.testing.assert_allclose(triangulate(rig, observed), points, atol=EXACT_TOL_M)
