"""Held-out validation, verdicts and frame-free rig agreement (calibration.validation, .agreement)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.agreement import rig_agreement, umeyama
from calibration.validation import heldout_mask, heldout_reprojection, verdict
from geometry import rotation_from_rvec
from geometry.synthetic import ring_rig

EXACT_DEG = 1e-6  # noise-free: frame changes leave the measures at float precision
EXACT_M = 1e-9
NOISE_PX = 0.3
HELDOUT_NOISE_TOL_PX = 0.45  # 0.3 px per coordinate noise, triangulated from 4 views: ~0.35 px RMS
BUMPED_DEG = 1.0  # a camera turned by 1 deg: ~17 px held-out RMS in it, ~6 px in the others
BUMPED_LIMIT_PX = 10.0  # between the two


def _moved(rig, R, t, scale):
    """The same rig in another world frame: X_new = scale * R X + t."""
    R_new = rig.R @ R.T
    t_new = scale * rig.t - np.einsum("vij,j->vi", R_new, t)
    return rig.with_poses(R_new, t_new)


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    R = rotation_from_rvec(np.array([0.3, -0.2, 0.9]))
    sim = umeyama(x, 2.5 * x @ R.T + [1.0, -2.0, 0.5])
    assert np.allclose(sim.R, R) and abs(sim.scale - 2.5) < 1e-12 and np.allclose(sim.t, [1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match="expected the same"):
        umeyama(x, x[:3])


def test_rig_agreement_ignores_the_world_frame_and_scale_and_sees_a_turned_camera():
    rig = ring_rig(4, rng=np.random.default_rng(1))
    other = _moved(rig, rotation_from_rvec(np.array([0.1, 0.5, -0.3])), np.array([1.0, 2.0, 3.0]), 0.7)
    same = rig_agreement(other, rig)
    assert same.relative_rotation_error_deg.max() < EXACT_DEG and same.center_error_m.max() < EXACT_M
    assert abs(same.scale - 1 / 0.7) < 1e-9
    R = rig.R.copy()
    R[2] = rotation_from_rvec(np.radians([0.0, BUMPED_DEG, 0.0])) @ R[2]
    t = -np.einsum("vij,vj->vi", R, rig.centers)  # turned about its own centre
    turned = rig_agreement(rig.with_poses(R, t), rig)
    pairs_with_2 = [i for i, (a, b) in enumerate(turned.pairs) if rig.names[2] in (a, b)]
    assert np.allclose(turned.relative_rotation_error_deg[pairs_with_2], BUMPED_DEG, atol=1e-6)
    assert turned.center_error_m.max() < EXACT_M


def test_heldout_mask_keeps_every_fifth():
    assert np.flatnonzero(heldout_mask(12)).tolist() == [4, 9]
    assert not heldout_mask(12, 0).any()
    with pytest.raises(ValueError, match="every is 1"):
        heldout_mask(12, 1)


def test_heldout_reprojection_and_the_verdict_single_out_a_turned_camera():
    rng = np.random.default_rng(2)
    rig = ring_rig(4, rng=np.random.default_rng(3))
    X = rng.uniform([-1, -1, 0.2], [1, 1, 1.8], size=(300, 3))
    pixels = rig.project(X) + rng.normal(0, NOISE_PX, (4, 300, 2))
    good = heldout_reprojection(rig, pixels)
    assert good.rms_px < HELDOUT_NOISE_TOL_PX and good.num_points == 300
    judged = verdict(good, max_rms_px=1.5)
    assert judged.good and str(judged).startswith("verdict: good (held-out corners:")
    R = rig.R.copy()
    R[1] = rotation_from_rvec(np.radians([BUMPED_DEG, 0.0, 0.0])) @ R[1]
    bad = heldout_reprojection(rig.with_poses(R, -np.einsum("vij,vj->vi", R, rig.centers)), pixels)
    # the turned camera pulls the triangulation, so the others share some of its error (2.5x here)
    assert bad.rms_px_per_camera[1] > 2 * max(np.delete(bad.rms_px_per_camera, 1))
    judged = verdict(bad, max_rms_px=BUMPED_LIMIT_PX)
    assert not judged.good and len(judged.lines) == 1
    assert judged.lines[0].startswith(f"check camera {rig.names[1]}: held-out corners reproject at")
    # a camera without held-out observations cannot be judged
    pixels[3] = np.nan
    assert any(line.startswith(f"check camera {rig.names[3]}: only 0 held-out")
               for line in verdict(heldout_reprojection(rig, pixels), max_rms_px=1.5).lines)
