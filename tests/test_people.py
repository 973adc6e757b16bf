"""Several people: the synthetic crowd, their association across views and over time."""

import numpy as np
import pytest

from geometry.synthetic import (CrowdNoise, CrowdOptions, crowd_motion, ring_rig,
                                simulate_crowd_detections)
from labeling.association import AssociationOptions, PersonCandidates
from labeling.subject import associate
from labeling.people import associate_people, pair_epipolar_px

FRAMES = 120
MIN_SEPARATION_M = 0.6
PURITY = 0.97  # share of a track's candidates from its own person (2 px noise, gross errors,
#                overlapping people at crossings: a few views of a frameset may pick the neighbour)
MAX_SWITCHES = 0  # 120 framesets of 3 people: no identity switch at all
FALSE_SCORE_MEAN_MAX = 0.45  # false detections "low and spread": Beta(2, 4), mean 1/3
TRUE_SCORE_MEAN_MIN = 0.6


def _take(people=3, cameras=4, frames=FRAMES, seed=0, staggered=False, noise=CrowdNoise()):
    rng = np.random.default_rng(seed)
    rig = ring_rig(cameras, rng=rng, size=(1280, 720))
    crowd = crowd_motion(frames, rng=rng, options=CrowdOptions(num_people=people, staggered=staggered))
    detections = simulate_crowd_detections(rig, crowd, noise=noise, rng=rng)
    candidates = PersonCandidates(points_2d=detections.points_2d, scores=detections.scores,
                                  camera_names=rig.names, joint_names=crowd.skeleton.joint_names,
                                  frame_index=np.arange(frames), timestamp_s=np.arange(frames) / 30.0)
    return rig, crowd, detections, candidates


def _held(result, detections):
    """(T, V, F) the true person of each chosen candidate (-1 false detection, -2 none)."""
    T, V, F = result.chosen.shape
    views, frames = np.arange(V)[None, :, None], np.arange(F)[None, None, :]
    return np.where(result.chosen >= 0,
                    detections.identity[views, frames, np.clip(result.chosen, 0, None)], -2)


def test_crowd_is_seeded_separated_and_scored_like_a_detector():
    rig, crowd, detections, _ = _take()
    _, crowd2, detections2, _ = _take()
    np.testing.assert_array_equal(detections.points_2d, detections2.points_2d)
    centre = crowd.joints_in_world[..., :2].mean(axis=2)  # (P, F, 2)
    gaps = [np.linalg.norm(centre[a] - centre[b], axis=-1).min() for a in range(3) for b in range(a)]
    assert min(gaps) > 0.9 * MIN_SEPARATION_M  # pushed apart, still crossing paths
    false = (detections.identity == -1) & np.isfinite(detections.points_2d[..., 0]).any(axis=-1)
    per_view_frame = false.sum() / false.shape[0] / false.shape[1]
    assert 0.8 < per_view_frame < 1.2  # about one false detection per view and frame
    assert np.nanmean(detections.scores[false]) < FALSE_SCORE_MEAN_MAX
    assert np.nanmean(detections.scores[detections.identity >= 0]) > TRUE_SCORE_MEAN_MIN
    # The per-view tracker ids get swapped: slot k is not one person everywhere.
    hint = detections.track_hint
    swapped = (hint >= 0) & (hint != detections.identity)
    assert swapped.any()


def test_every_person_is_found_and_kept_over_the_take():
    rig, crowd, detections, candidates = _take()
    result = associate_people(candidates, rig)
    assert result.num_people == 3
    held = _held(result, detections)
    owners = []
    for t in range(3):
        mine = held[t][held[t] >= -1]
        ids, counts = np.unique(mine, return_counts=True)
        owners.append(ids[np.argmax(counts)])
        assert counts.max() / mine.size >= PURITY
        assert result.tracks[t].num_framesets >= FRAMES - 2
    assert sorted(owners) == [0, 1, 2]
    # False detections are left out of every track.
    assert (held == -1).sum() <= 0.002 * (held >= -1).sum()


def test_people_entering_and_leaving_start_and_end_tracks():
    rig, crowd, detections, candidates = _take(frames=160, seed=3, staggered=True)
    result = associate_people(candidates, rig)
    held = _held(result, detections)
    for p in range(crowd.num_people):
        present = np.flatnonzero(crowd.present[p])
        votes = (held == p).sum(axis=1)  # (T, F)
        track = int(np.argmax(votes.sum(axis=1)))
        seen = np.flatnonzero(votes[track] > 0)
        assert abs(seen[0] - present[0]) <= 3 and abs(seen[-1] - present[-1]) <= 3
    assert result.num_people == crowd.num_people


def test_max_people_caps_the_tracks():
    rig, _, detections, candidates = _take()
    result = associate_people(candidates, rig, AssociationOptions(max_people=2))
    assert result.num_people == 2


def test_a_person_seen_by_one_view_forms_no_track():
    rig, _, detections, candidates = _take(people=2, noise=CrowdNoise(false_per_view=0.0))
    points = candidates.points_2d.copy()
    lonely = detections.identity == 1  # person 1 hidden from every view but view 0
    lonely[0] = False
    points[lonely] = np.nan
    hidden = PersonCandidates(points_2d=points, scores=candidates.scores, camera_names=candidates.camera_names,
                              joint_names=candidates.joint_names, frame_index=candidates.frame_index,
                              timestamp_s=candidates.timestamp_s)
    result = associate_people(hidden, rig)
    assert result.num_people == 1
    assert (_held(result, detections)[0] == 0).sum() >= 0.95 * (_held(result, detections)[0] >= -1).sum()


def test_single_subject_is_the_most_seen_or_the_largest_track():
    rig, _, detections, candidates = _take(people=2, noise=CrowdNoise(false_per_view=0.0))
    people = associate_people(candidates, rig)
    seen = [t.view_framesets for t in people.tracks]
    sizes = [t.mean_size_px for t in people.tracks]
    most_seen = associate(candidates, rig)
    largest = associate(candidates, rig, AssociationOptions(subject="largest"))
    assert most_seen.person == int(np.argmax(seen))
    assert largest.person == int(np.argmax(sizes))
    np.testing.assert_array_equal(most_seen.chosen, people.chosen[most_seen.person])


def test_pair_epipolar_distance_is_zero_for_the_same_noise_free_person():
    rig = ring_rig(3, rng=np.random.default_rng(1))
    body = np.random.default_rng(2).normal([0, 0, 1], 0.3, size=(12, 3))
    normalized = rig.normalize(rig.project(body))  # (V, J, 2)
    from labeling.association import _essentials

    E = _essentials(rig)
    cost = pair_epipolar_px(normalized[[0, 1]], normalized[[1, 2]], E[[0, 1], [1, 2]],
                            rig.K[[0, 1], 0, 0], rig.K[[1, 2], 0, 0], min_common_joints=3)
    assert np.all(cost < 1e-6)


@pytest.mark.parametrize("options, field", [(CrowdOptions, {"num_people": 0}), (CrowdNoise, {"view_swap_rate": 2.0}),
                                            (AssociationOptions, {"min_views": 1})])
def test_bad_crowd_options_raise(options, field):
    with pytest.raises(ValueError, match=next(iter(field))):
        options(**field)


def test_compiled_steps_agree_with_their_numpy_references():
    from labeling import _people_geometry as module

    rig, _, _, candidates = _take(people=3, cameras=4, frames=3)
    geometry = module._Geometry(rig)
    normalized = np.ascontiguousarray(geometry.normalize(candidates.points_2d)[:, 1])  # (V, P, J, 2)
    weights = np.where(np.isfinite(normalized[..., 0]),
                       np.maximum(np.nan_to_num(candidates.scores[:, 1]), 1e-3), 0.0)
    present = (weights > 0).sum(axis=-1) >= 3
    options = AssociationOptions()
    groups = np.array([[0, 1, -1, 2], [1, 0, 2, -1]], dtype=np.int64)  # some right, some wrong
    groups = np.where(groups < candidates.num_people, groups, -1)
    compiled = module._triangulate_groups(groups, weights, normalized, geometry, options)
    reference = module._triangulate_groups_numpy(groups, weights, normalized, geometry, options)
    np.testing.assert_array_equal(compiled[1], reference[1])
    np.testing.assert_allclose(compiled[0], reference[0], atol=1e-9)  # metres, float64
    predicted = compiled[0]
    cost, distance = module._claim_costs(predicted, normalized, weights, present, geometry, 3)
    cost_ref, distance_ref = module._claim_costs_numpy(predicted, normalized, weights, present, geometry, 3)
    np.testing.assert_allclose(cost, cost_ref, atol=1e-12)
    np.testing.assert_allclose(distance, distance_ref, atol=1e-12)
    kept = compiled[1]
    affinity = module._affinities(compiled[0], compiled[0] + 0.01, kept, normalized, geometry)
    reference = module._affinities_numpy(compiled[0], compiled[0] + 0.01, kept, normalized, geometry)
    np.testing.assert_allclose(affinity, reference, atol=1e-9)  # px
    assert np.isfinite(affinity[kept >= 0]).all() and np.isnan(affinity[kept < 0]).all()


def test_parallel_segments_join_into_the_same_people():
    """Two processes, each a half of the take (sharing 30 framesets): the same tracks as one."""
    rig, _, detections, candidates = _take(frames=260, seed=7)
    serial = associate_people(candidates, rig)
    parallel = associate_people(candidates, rig, AssociationOptions(workers=2))
    assert parallel.num_people == serial.num_people == 3
    agree = (parallel.chosen == serial.chosen) | ((parallel.chosen < 0) & (serial.chosen < 0))
    assert agree.mean() >= 0.99  # a few view-framesets near the join may differ
    held = _held(parallel, detections)
    for t in range(3):
        mine = held[t][held[t] >= -1]
        assert np.unique(mine, return_counts=True)[1].max() / mine.size >= PURITY
