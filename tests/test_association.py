"""Single-subject association: the target among distractors, across views and over time."""

import numpy as np
import pytest

from geometry.synthetic import ring_rig
from labeling.association import AssociationOptions, PersonCandidates, epipolar_costs
from labeling.subject import associate

J = 12
F = 30
NOISE_PX = 1.0
EPIPOLAR_TOL_PX = 1e-6  # noise-free epipolar distance, float64


def _people(rng: np.random.Generator, centre: np.ndarray, velocity: np.ndarray) -> np.ndarray:
    """(F, J, 3) a rigid-ish body of J joints walking from ``centre`` at ``velocity`` m/frame."""
    body = rng.normal(0, [0.2, 0.2, 0.45], size=(J, 3)) + [0, 0, 1.0]
    t = np.arange(F)[:, None, None]
    wobble = 0.03 * np.sin(0.3 * t + np.arange(J)[None, :, None])
    return centre + body[None] + velocity * t + wobble


def _scene(seed: int = 0):
    """A 4-camera ring, the target near the centre, two distractors seen by some views."""
    rng = np.random.default_rng(seed)
    rig = ring_rig(4, radius_m=4.0, rng=rng, size=(1280, 720))
    target = _people(rng, np.array([0.0, 0.0, 0.0]), np.array([0.01, 0.005, 0.0]))
    distractor_a = _people(rng, np.array([1.2, -0.8, 0.0]), np.array([-0.01, 0.0, 0.0]))
    distractor_b = _people(rng, np.array([-1.0, 1.1, 0.0]), np.array([0.0, -0.01, 0.0]))
    V, P = len(rig), 3
    points = np.full((V, F, P, J, 2), np.nan)
    truth = np.zeros((V, F), dtype=np.int64)
    for f in range(F):
        for v in range(V):
            people = [rig.project(target[f])[v]]
            if v in (0, 1):  # distractor A seen by two views (consistent between them)
                people.append(rig.project(distractor_a[f])[v])
            if v == 2 and f >= 10:  # distractor B appears later in one view
                people.append(rig.project(distractor_b[f])[v])
            order = rng.permutation(len(people))
            for slot, k in enumerate(order):
                points[v, f, slot] = people[k] + rng.normal(0, NOISE_PX, (J, 2))
            truth[v, f] = int(np.flatnonzero(order == 0)[0])
    scores = np.where(np.isfinite(points[..., 0]), rng.uniform(0.5, 1.0, points.shape[:-1]), np.nan)
    candidates = PersonCandidates(points_2d=points, scores=scores, camera_names=rig.names,
                                  joint_names=tuple(f"j{j}" for j in range(J)),
                                  frame_index=np.arange(F), timestamp_s=np.arange(F) / 30.0)
    return rig, candidates, truth


def test_associate_picks_the_target_in_every_view():
    rig, candidates, truth = _scene()
    result = associate(candidates, rig)
    np.testing.assert_array_equal(result.chosen, truth)
    assert (result.support == 4).all()
    assert np.nanmax(result.epipolar_px) < 5 * NOISE_PX
    assert result.detections.points_2d.shape == (4, F, J, 2)
    chosen_points = np.take_along_axis(candidates.points_2d, truth[..., None, None, None], 2)[:, :, 0]
    np.testing.assert_array_equal(result.detections.points_2d, chosen_points)


def test_scores_alone_would_pick_wrong_people():
    """The scene is not solvable by score: the test above can fail."""
    rig, candidates, truth = _scene()
    by_score = candidates.by_score()
    picked = by_score.points_2d
    truth_points = np.take_along_axis(candidates.points_2d, truth[..., None, None, None], 2)[:, :, 0]
    assert not np.allclose(np.nan_to_num(picked), np.nan_to_num(truth_points))


def test_continuity_keeps_the_subject_when_two_people_are_equally_consistent():
    """Two people in every view after frame 0: only continuity tells which one is the subject."""
    rng = np.random.default_rng(4)
    rig = ring_rig(4, rng=rng, size=(1280, 720))
    target = _people(rng, np.array([0.0, 0.0, 0.0]), np.array([0.005, 0.0, 0.0]))
    other = _people(rng, np.array([1.0, 1.0, 0.0]), np.array([0.0, -0.005, 0.0]))
    points = np.full((4, F, 2, J, 2), np.nan)
    truth = np.zeros((4, F), dtype=np.int64)
    for f in range(F):
        swap = f > 0 and rng.random() < 0.5
        points[:, f, 1 if swap else 0] = rig.project(target[f])
        if f > 0:
            points[:, f, 0 if swap else 1] = rig.project(other[f])
        truth[:, f] = 1 if swap else 0
    scores = np.where(np.isfinite(points[..., 0]), 0.9, np.nan)
    candidates = PersonCandidates(points_2d=points, scores=scores, camera_names=rig.names,
                                  joint_names=tuple(f"j{j}" for j in range(J)),
                                  frame_index=np.arange(F), timestamp_s=np.arange(F) / 30.0)
    np.testing.assert_array_equal(associate(candidates, rig).chosen, truth)
    without_time = associate(candidates, rig, AssociationOptions(continuity_weight=0.0)).chosen
    assert (without_time != truth).any()  # a test that can fail: time is what decides here


def test_epipolar_cost_is_zero_for_the_same_noise_free_person():
    rng = np.random.default_rng(1)
    rig = ring_rig(3, rng=rng)
    body = rng.normal([0, 0, 1], 0.3, size=(J, 3))
    points = rig.project(body)[:, None, None]  # (V, 1, 1, J, 2)
    from labeling.association import _essentials
    cost = epipolar_costs(rig.normalize(points), _essentials(rig), rig.K[:, 0, 0],
                          min_common_joints=3)
    off_diagonal = ~np.eye(3, dtype=bool)
    assert cost.shape == (1, 3, 3, 1, 1)
    assert np.all(cost[0][off_diagonal] < EPIPOLAR_TOL_PX)


def test_views_without_any_person_stay_empty():
    rig, candidates, _ = _scene()
    points = candidates.points_2d.copy()
    points[3, 5] = np.nan  # view 3 sees no one at frameset 5
    emptied = PersonCandidates(points_2d=points, scores=candidates.scores,
                               camera_names=candidates.camera_names,
                               joint_names=candidates.joint_names,
                               frame_index=candidates.frame_index,
                               timestamp_s=candidates.timestamp_s)
    result = associate(emptied, rig)
    assert result.chosen[3, 5] == -1 and result.support[5] == 3
    assert np.isnan(result.detections.points_2d[3, 5]).all()


def test_bad_options_and_shapes_raise():
    with pytest.raises(ValueError, match="epipolar_threshold_px"):
        AssociationOptions(epipolar_threshold_px=0)
    with pytest.raises(ValueError, match="expected \\(V, F, P, J, 2\\)"):
        PersonCandidates(points_2d=np.zeros((2, 3, 4, 2)), scores=np.zeros((2, 3, 4)),
                         camera_names=("a", "b"), joint_names=("x",) * 4,
                         frame_index=np.arange(3), timestamp_s=np.zeros(3))
