"""Time offsets from keypoint motion and the resampling that applies them (calibration.sync), and
the keypoint cleaning of real detections (calibration.keypoint_cleaning)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.keypoint_cleaning import fix_swaps, swap_permutation, temporal_outliers
from calibration.sync import estimate_time_offsets, shift_frames
from geometry.skeletons import get_skeleton
from geometry.synthetic import DetectorNoise, person_motion, ring_rig, simulate_detections, unsynchronized_detections

OFFSET_TOL_FRAMES = 0.1  # the target: sub-frame, 1 px noise, 2% outliers and swaps (measured 0.06)
SHOWN = np.array([0.0, 2.3, -1.7, 0.45])  # camera v's frame f shows the instant f + SHOWN[v]
OVERSAMPLE = 10
JUMP_FALSE_RATE = 0.01  # detections flagged that are neither the jump nor mirrored (1 px noise, walking)
SWAP_RECALL = 0.8  # mirrored view-frames found; the rest are side-on views where mirroring barely shows


@pytest.fixture(scope="module")
def take():
    rng = np.random.default_rng(3)
    rig = ring_rig(4, lens="pinhole", rng=rng)
    return rig, unsynchronized_detections(rig, SHOWN, 100, rng=rng, oversample=OVERSAMPLE)


def test_sub_frame_offsets_are_recovered(take):
    _, points = take
    found = estimate_time_offsets(points, names=["a", "b", "c", "d"])
    assert np.abs(found.offsets_frames - (-SHOWN)).max() < OFFSET_TOL_FRAMES
    assert found.offsets_frames[0] == 0 and found.as_arguments().startswith("--frame-offset b=-2.")


def test_shift_frames_integer_exact_fraction_linear_and_nan_outside():
    track = np.arange(10, dtype=np.float64)[None, :, None, None] * np.ones((1, 1, 1, 2))  # (1, 10, 1, 2)
    out = shift_frames(track, np.array([2.0]))
    assert np.array_equal(out[0, :8, 0, 0], np.arange(2, 10)) and np.isnan(out[0, 8:]).all()
    half = shift_frames(track, np.array([-0.5]))
    assert np.isnan(half[0, 0]).all() and np.allclose(half[0, 1:, 0, 0], np.arange(9) + 0.5)
    with pytest.raises(ValueError, match="expected"):
        shift_frames(track, np.zeros(2))


def test_shift_frames_reads_the_instant_across_gaps_in_the_framesets():
    # framesets 0..9 without 4 (left out: a camera dropped its frame); values = the frame's instant
    numbers = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9], dtype=np.float64)
    track = numbers[None, :, None, None] * np.ones((1, 1, 1, 2))
    out = shift_frames(track, np.array([0.25]), frame_numbers=numbers)[0, :, 0, 0]
    # 3.25 lies between framesets 3 and 5, two steps apart: not read; 2.25 and 5.25 are
    np.testing.assert_allclose(out, [0.25, 1.25, 2.25, np.nan, 5.25, 6.25, 7.25, 8.25, np.nan])
    whole = shift_frames(track, np.array([1.0]), frame_numbers=numbers)[0, :, 0, 0]
    np.testing.assert_allclose(whole, [1, 2, 3, np.nan, 6, 7, 8, 9, np.nan])  # frame 4 is not there
    # positions alone would have put 3.25 at 3 + 0.25 * (5 - 3) = 3.5 and 3 + 1 at 5
    assert shift_frames(track, np.array([1.0]))[0, 3, 0, 0] == 5
    strided = np.arange(0, 20, 2, dtype=np.float64)  # every 2nd frame (a stride): the step is 2
    values = strided[None, :, None, None] * np.ones((1, 1, 1, 2))
    np.testing.assert_allclose(shift_frames(values, np.array([1.0]), frame_numbers=strided)[0, :-1, 0, 0],
                               strided[:-1] + 1)
    with pytest.raises(ValueError, match="increasing"):
        shift_frames(track, np.array([0.5]), frame_numbers=numbers[::-1])


def test_swaps_and_jumps_are_cleaned(take):
    rig, _ = take
    rng = np.random.default_rng(5)
    motion = person_motion(60, rng=rng)
    clean = simulate_detections(rig, motion.joints_in_world, skeleton="coco17",
                                noise=DetectorNoise(pixel_sigma_px=1.0, outlier_rate=0.0, swap_rate=0.0,
                                                    missing_rate=0.0, missing_view_rate=0.0), rng=rng).points_2d
    names = get_skeleton("coco17").joint_names
    perm = swap_permutation(names)
    assert names[perm[names.index("left_wrist")]] == "right_wrist" and perm[names.index("nose")] == names.index("nose")
    points = clean.copy()
    swapped = np.zeros(points.shape[:2], dtype=bool)
    # whole views mirrored, as a detector does from behind; one view per frame (two of four mirrored
    # at once leave the others split two against two)
    swapped[1, ::8] = swapped[3, 3::8] = True
    points[swapped] = points[swapped][:, perm]
    points[2, 30, 9] += 250.0  # a hallucinated wrist jumps away for one frame
    jumping = temporal_outliers(points)
    assert jumping[2, 30, 9]
    # mirrored frames jump too (their left and right joints); little else is flagged
    assert (jumping & ~swapped[..., None]).mean() < JUMP_FALSE_RATE
    fixed, found = fix_swaps(rig, points, perm)
    assert not (found & ~swapped).any()  # nothing relabelled that was right
    assert found.sum() >= SWAP_RECALL * swapped.sum()
    assert np.allclose(fixed[found], clean[found], equal_nan=True)
    assert swap_permutation(["a", "b"]) is None


MISCALIBRATION_DEG = 3.0  # one camera's rotation off by this: its epipolar distances grow several-fold


def test_a_calibration_that_does_not_fit_a_camera_leaves_its_offset_to_the_keypoints(take):
    """With the true rig the offsets come from its epipolar geometry; with one camera's rotation
    3 deg off, that camera's keypoints fit the rig far worse than they fit themselves, so its
    offset is estimated from the keypoints alone (and said): still recovered, not bent to hide the
    misfit (the Pose2Sim demo's lab calibration put a synchronized camera 3-5 frames off)."""
    from geometry import rotation_from_rvec

    rig, points = take
    names = ["a", "b", "c", "d"]
    found = estimate_time_offsets(points, names=names, rig=rig)
    assert np.abs(found.offsets_frames - (-SHOWN)).max() < OFFSET_TOL_FRAMES and found.misfit_names() == []
    R = rig.R.copy()
    R[2] = rotation_from_rvec(np.array([0.0, np.deg2rad(MISCALIBRATION_DEG), 0.0])) @ R[2]
    wrong = rig.with_poses(R, rig.t)
    found = estimate_time_offsets(points, names=names, rig=wrong)
    assert found.misfit_names() == ["c"]
    assert np.abs(found.offsets_frames - (-SHOWN)).max() < OFFSET_TOL_FRAMES
