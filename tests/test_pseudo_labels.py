"""Pseudo-labels: triangulation + gating + gap-aware smoothing + bone-length check, with ground truth."""

import numpy as np
import pytest

from labeling import Detections, LabelOptions, RejectReason, compute_pseudo_labels
from labeling.pseudo_labels import _smooth, bone_lengths_m, reference_bone_lengths
from tests.label_fixtures import BONES, synthetic_take

CLEAN_MPJPE_TOL_MM = 6.0   # 1 px noise, 4 views 4 m away, f ~ 1370 px: ~3 mm expected
GROSS_MPJPE_TOL_MM = 8.0   # same noise, 10% detections 40-120 px off: outliers must not leak in
REPROJ_TOL_PX = 3.0        # median over inlier views with 1 px noise
GROSS_LEAK_MAX_SHARE = 0.005  # accepted labels that use a gross view (2 of 1080 measured)


def _mpjpe_mm(labels, truth):
    err = np.linalg.norm(labels.keypoints_3d - truth, axis=-1)
    return 1000 * np.mean(err[labels.valid])


def test_clean_take_is_accepted_and_accurate():
    rig, truth, detections = synthetic_take(60, noise_px=1.0, seed=1)
    labels = compute_pseudo_labels(rig, detections, options=LabelOptions(), bones=BONES)
    assert labels.valid.mean() > 0.99
    assert _mpjpe_mm(labels, truth) < CLEAN_MPJPE_TOL_MM
    assert np.median(labels.reprojection_error_px[labels.inliers]) < REPROJ_TOL_PX
    assert (labels.num_inlier_views[labels.valid] >= 2).all()
    assert np.isnan(labels.keypoints_3d[~labels.valid]).all()
    assert labels.keypoints_2d.shape == (60, 4, 9, 2) and labels.inliers.dtype == bool
    np.testing.assert_array_equal(labels.frame_index, detections.frame_index)


def test_gross_errors_are_outvoted_and_recorded():
    rig, truth, detections = synthetic_take(120, noise_px=1.0, gross_fraction=0.1, seed=2)
    labels = compute_pseudo_labels(rig, detections, options=LabelOptions(), bones=BONES)
    assert _mpjpe_mm(labels, truth) < GROSS_MPJPE_TOL_MM
    # Views with a gross error are (almost) never inliers of accepted labels: with two of four
    # views gross, three views can still agree within the thresholds on a wrong point.
    offset = np.linalg.norm(np.moveaxis(rig.project(truth), 0, 1) - labels.keypoints_2d, axis=-1)
    gross = offset > 30
    leaked = (labels.inliers & gross).any(axis=1) & labels.valid
    assert leaked.sum() <= GROSS_LEAK_MAX_SHARE * labels.valid.sum()
    # Joints with >= 3 good views (so one gross view cannot win) are nearly all accepted.
    good_views = (~gross).sum(axis=1)
    assert labels.valid[good_views >= 3].mean() > 0.97


def test_gates_reject_with_their_reason():
    rig, truth, detections = synthetic_take(20, noise_px=1.0, seed=3)
    points = detections.points_2d.copy()
    points[0, :, 0] = np.nan  # the head unseen by view 0: 3 views left
    scores = detections.scores.copy()
    scores[:, :, 1] = 0.05    # the neck detected with a very low confidence everywhere
    detections = Detections(points_2d=points, scores=scores, camera_names=detections.camera_names,
                            joint_names=detections.joint_names, frame_index=detections.frame_index,
                            timestamp_s=detections.timestamp_s)
    labels = compute_pseudo_labels(rig, detections, options=LabelOptions(min_inlier_views=4))
    assert not labels.valid[:, 0].any()
    assert (labels.reject_reason[:, 0] & RejectReason.TOO_FEW_INLIER_VIEWS).all()
    assert (labels.reject_reason[:, 1] & RejectReason.NOT_TRIANGULATED).all()
    assert labels.valid[:, 2:].mean() > 0.95
    strict = compute_pseudo_labels(rig, detections,
                                   options=LabelOptions(gating="fixed", max_reprojection_error_px=0.05))
    assert (strict.reject_reason[:, 2:] & RejectReason.REPROJECTION_ERROR).any(axis=0).all()
    assert not strict.valid[:, 2:].all()


def test_nothing_detected_is_flagged_not_crashing():
    rig, _, detections = synthetic_take(5, seed=4)
    empty = Detections(points_2d=np.full(detections.points_2d.shape, np.nan),
                       scores=np.full(detections.scores.shape, np.nan),
                       camera_names=detections.camera_names, joint_names=detections.joint_names,
                       frame_index=detections.frame_index, timestamp_s=detections.timestamp_s)
    labels = compute_pseudo_labels(rig, empty, options=LabelOptions(smoothing="savgol"), bones=BONES)
    assert not labels.valid.any() and np.isnan(labels.keypoints_3d).all()
    assert (labels.reject_reason & RejectReason.NOT_TRIANGULATED).all()
    assert np.isnan(labels.reprojection_error_px).all()


def _polyfit_reference(series, window, order):
    """Savitzky-Golay of one run by direct least squares (the edges fit the run's own ends)."""
    half, n = window // 2, len(series)
    out = np.empty_like(series)
    for i in range(n):
        c = min(max(i, half), n - 1 - half)
        x = np.arange(c - half, c + half + 1)
        for k in range(series.shape[1]):
            out[i, k] = np.polyval(np.polyfit(x - c, series[x, k], order), i - c)
    return out


def test_savgol_is_gap_aware_and_matches_least_squares():
    rng = np.random.default_rng(5)
    F = 40
    points = np.cumsum(rng.normal(0, 0.01, (F, 2, 3)), axis=0)
    ok = np.ones((F, 2), dtype=bool)
    ok[17, 0] = False          # joint 0: a one-frame gap -> runs 0..16 and 18..39
    ok[30:35, 1] = False       # joint 1: frames 30..34 rejected
    frame_index = np.arange(F)
    frame_index[25:] += 3      # a jump in the recording: every run splits at 25
    options = LabelOptions(smoothing="savgol", smoothing_window_frames=7, smoothing_polyorder=2)
    smoothed = _smooth(points, ok, frame_index, options)
    for joint, runs in ((0, [(0, 17), (18, 25), (25, 40)]), (1, [(0, 25)])):
        for a, b in runs:
            expected = _polyfit_reference(points[a:b, joint], 7, 2)
            np.testing.assert_allclose(smoothed[a:b, joint], expected, atol=1e-12)
    np.testing.assert_array_equal(smoothed[25:, 1], points[25:, 1])  # runs of 5 < 7: untouched
    np.testing.assert_array_equal(smoothed[17, 0], points[17, 0])


def test_smoothing_reduces_noise():
    rig, truth, detections = synthetic_take(90, noise_px=3.0, seed=6)
    raw = compute_pseudo_labels(rig, detections, options=LabelOptions(max_reprojection_error_px=20))
    smooth = compute_pseudo_labels(rig, detections, options=LabelOptions(
        smoothing="savgol", smoothing_window_frames=9, max_reprojection_error_px=20))
    assert _mpjpe_mm(smooth, truth) < 0.8 * _mpjpe_mm(raw, truth)


def test_bone_check_blames_the_joint_that_jumps():
    rig, truth, detections = synthetic_take(80, noise_px=0.5, seed=7)
    # Stretch the left thigh by 40% (the knee, joint 7, a leaf on the hip, moves ~18 cm) in frames
    # 30..39, consistently in every view: triangulation agrees, only the bone length can tell.
    moved = truth.copy()
    moved[30:40, 7] = truth[30:40, 5] + 1.4 * (truth[30:40, 7] - truth[30:40, 5])
    points = detections.points_2d.copy()
    points[:, 30:40, 7] = rig.project(moved[30:40, 7])
    detections = Detections(points_2d=points, scores=detections.scores,
                            camera_names=detections.camera_names, joint_names=detections.joint_names,
                            frame_index=detections.frame_index, timestamp_s=detections.timestamp_s)
    reference = reference_bone_lengths(rig, detections, BONES, options=LabelOptions())
    np.testing.assert_allclose(reference[:, 0], bone_lengths_m(truth[0], BONES), atol=0.01)
    assert (reference[:, 1] < 0.01).all()  # rigid bones, 0.5 px noise: millimetres of spread
    labels = compute_pseudo_labels(rig, detections, options=LabelOptions(), bones=BONES,
                                   reference_bone_lengths_m=reference)
    flagged = (labels.reject_reason & RejectReason.BONE_LENGTH) != 0
    assert flagged[30:40, 7].all() and not labels.valid[30:40, 7].any()
    assert not flagged[:, :7].any() and not flagged[:, 8].any()  # the hip is not blamed
    assert not flagged[:30].any() and not flagged[40:].any()
    kept = compute_pseudo_labels(rig, detections, options=LabelOptions(bone_check="flag"),
                                 bones=BONES, reference_bone_lengths_m=reference)
    assert kept.valid[30:40, 7].all()
    assert (kept.reject_reason[30:40, 7] & RejectReason.BONE_LENGTH).all()


@pytest.mark.parametrize("bad", [dict(min_inlier_views=1), dict(smoothing="kalman"),
                                 dict(smoothing="savgol", smoothing_window_frames=4),
                                 dict(min_score=2.0), dict(threshold_px=0.0),
                                 dict(bone_check="maybe")])
def test_options_validate_themselves(bad):
    with pytest.raises(ValueError):
        LabelOptions(**bad)
