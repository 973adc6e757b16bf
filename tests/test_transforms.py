"""Rotation algebra: Rodrigues round trips (incl. near 0 and pi), composition, averaging."""

import cv2
import numpy as np

from geometry import (average_rotations, compose, invert, project_to_rotation, rotation_angle_deg,
                      rotation_from_rvec, rvec_from_rotation)


def _random_rvecs(rng, n):
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return axis * rng.uniform(0, np.pi, (n, 1))


def test_rodrigues_matches_opencv_and_round_trips():
    rng = np.random.default_rng(0)
    rvecs = np.concatenate([_random_rvecs(rng, 200), [[0, 0, 0], [1e-10, 0, 0]],
                            [[np.pi - 1e-9, 0, 0], [0, 0, np.pi]]])
    R = rotation_from_rvec(rvecs)
    for rv, Ri in zip(rvecs, R):
        np.testing.assert_allclose(Ri, cv2.Rodrigues(rv)[0], atol=1e-12)
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(rotation_from_rvec(rvec_from_rotation(R)), R, atol=1e-8)


def test_compose_invert_identity():
    rng = np.random.default_rng(1)
    R = rotation_from_rvec(_random_rvecs(rng, 10))
    t = rng.normal(size=(10, 3))
    Ri, ti = invert(R, t)
    Rc, tc = compose(R, t, Ri, ti)
    np.testing.assert_allclose(Rc, np.broadcast_to(np.eye(3), Rc.shape), atol=1e-12)
    np.testing.assert_allclose(tc, 0, atol=1e-12)


def test_angle_small_and_average():
    rng = np.random.default_rng(2)
    base = rotation_from_rvec(np.array([0.3, -0.2, 0.5]))
    tiny = rotation_from_rvec(np.array([1e-7, 0, 0]))
    np.testing.assert_allclose(rotation_angle_deg(base, base @ tiny), np.degrees(1e-7), rtol=1e-6)
    noisy = base @ rotation_from_rvec(rng.normal(0, 0.01, (500, 3)))
    assert rotation_angle_deg(average_rotations(noisy), base) < 0.1  # 0.57 deg per-sample spread
    M = base + rng.normal(0, 1e-3, (3, 3))
    Rp = project_to_rotation(M)
    np.testing.assert_allclose(Rp @ Rp.T, np.eye(3), atol=1e-12)
