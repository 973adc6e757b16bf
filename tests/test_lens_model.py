"""The cross-validated lens with priors and its projection uncertainty (calibration.lens_model)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration.lens_model import LensPriors, fit_lens, lens_error_px, projection_uncertainty, select_lens_model
from geometry import Board, Camera, rotation_from_rvec

TRUTH = Camera(name="webcam", size=(1280, 720), K=np.array([[900.0, 0, 645.0], [0, 900.0, 355.0], [0, 0, 1]]),
               dist=np.array([-0.30, 0.10, 0.001, -0.0005, -0.02]))
BOARD = Board(type="charuco", squares=(7, 5), square_length_m=0.03, marker_length_m=0.022, dictionary="DICT_5X5_100")
NOISE_PX = 0.3
# A board only ever in the central third of a webcam's image: OpenCV's 5-coefficient fit
# extrapolates to thousands of px at the image corners (measured 25,000 px with 40 views); the
# cross-validated lens with priors stays within a couple of hundred (measured 163 px max, 17 mean).
CENTRE_ONLY_MAX_PX = 400.0
CENTRE_ONLY_MEAN_PX = 40.0
NOISE_FREE_RMS_PX = 1e-3  # the true model class on exact corners: the fit reaches them


def _centre_only_views(num_views: int, rng, noise_px: float = NOISE_PX):
    corners = BOARD.corners_in_board()
    centre = corners.mean(axis=0)
    views = []
    for _ in range(num_views):
        R = rotation_from_rvec(rng.uniform(-0.6, 0.6, 3) * np.array([1.0, 1.0, 0.4]))
        t = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.03, 0.03), rng.uniform(0.5, 0.8)]) - R @ centre
        px = TRUTH.project_from_cam(corners @ R.T + t) + rng.normal(0, noise_px, (len(corners), 2))
        views.append((np.arange(len(corners)), px))
    return views


@pytest.fixture(scope="module")
def centre_only():
    views = _centre_only_views(24, np.random.default_rng(7))
    return views, select_lens_model(BOARD.corners_in_board(), views, TRUTH.size)


def test_centre_only_board_does_not_invent_distortion_at_the_image_corners(centre_only):
    views, selection = centre_only
    error = lens_error_px(selection.fit.camera, TRUTH)
    assert np.nanmax(error) < CENTRE_ONLY_MAX_PX and np.nanmean(error) < CENTRE_ONLY_MEAN_PX
    obj = [BOARD.corners_in_board().astype(np.float32)] * len(views)
    _, K, dist, _, _ = cv2.calibrateCamera(obj, [p.astype(np.float32) for _, p in views], TRUTH.size, None, None)
    opencv = lens_error_px(Camera(name="cv", size=TRUTH.size, K=K, dist=dist.reshape(-1)[:5]), TRUTH)
    assert np.nanmax(error) < np.nanmax(opencv)  # the measure: below today's
    scores = {s.complexity: s for s in selection.scores}
    assert set(scores) == {"focal", "pinhole", "radial", "standard", "rational"}
    assert scores["focal"].heldout_rms_px > scores[selection.fit.complexity].heldout_rms_px  # distortion is real


def test_uncertainty_is_small_where_the_board_went_and_large_where_it_did_not(centre_only):
    _, selection = centre_only
    u = projection_uncertainty(selection.fit)
    corners = [u.sigma_px[0, 0], u.sigma_px[0, -1], u.sigma_px[-1, 0], u.sigma_px[-1, -1]]
    assert u.centre_px < 1.0 < min(corners)
    assert 0 < u.trusted_fraction < 1 and "of the image under 1 px" in u.sentence()


def test_noise_free_fit_recovers_the_lens_where_the_board_went():
    rng = np.random.default_rng(1)
    exact = _centre_only_views(12, rng, noise_px=0.0)
    fit = fit_lens(BOARD.corners_in_board(), exact, TRUTH.size, complexity="standard",
                   priors=LensPriors(distortion_px=1e6, principal_point_px=1e6, pixel_aspect=1e6))  # priors off
    assert fit.rms_px < NOISE_FREE_RMS_PX
    with pytest.raises(ValueError, match="complexity"):
        fit_lens(BOARD.corners_in_board(), exact, TRUTH.size, complexity="cubic")


ASPECT_TOL = 0.003  # fx / fy - 1 with the square-pixel prior (its spread); truth has square pixels


def test_square_pixel_prior_and_the_anchor_of_a_fit():
    from calibration.lens_model import lens_anchor

    rng = np.random.default_rng(4)
    views = _centre_only_views(15, rng)
    fit = fit_lens(BOARD.corners_in_board(), views, TRUTH.size, complexity="radial")
    assert abs(fit.camera.K[0, 0] / fit.camera.K[1, 1] - 1) < ASPECT_TOL
    anchor = lens_anchor(fit)
    assert anchor.distance(fit.camera.K, fit.camera.dist) == pytest.approx(0.0, abs=1e-9)
    sigma_fx = np.sqrt(fit.covariance[0, 0])
    K = fit.camera.K.copy()
    K[0, 0] += 3 * sigma_fx
    assert anchor.distance(K, fit.camera.dist) >= 3.0 - 1e-6  # 3 sigma in fx alone: at least 3 sigma overall
