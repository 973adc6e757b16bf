"""Several people in the rig: walking, crossing and hiding each other, and what a detector makes of it.

Conventions in :mod:`geometry.camera` (V views, F frames, J joints, P people, S candidate slots;
distorted pixels; NaN where not observed); Z-up synthetic world, floor at ``z = 0``.

- :func:`crowd_motion`: ``P`` people (:func:`person_motion` each) walking in one shared area, so
  their paths cross; a smooth push keeps their pelvises ``min_separation_m`` apart (people step
  aside, they do not walk through each other). With ``staggered`` the people after the first
  enter late and leave early (births and deaths for a tracker).
- :func:`simulate_crowd_detections`: per view and frame, the candidate list a multi-person 2D
  detector reports: every person through :func:`simulate_detections` (noise, gross errors,
  left/right swaps, misses), then
  1. occlusion by the others: a joint behind another person's body (capsules, as
     :func:`self_occlusion`) is missed with ``occluded_missing_rate``, otherwise noisier and less
     confident; a person whose visible joints are at least ``full_occlusion_fraction`` hidden in
     a view is not reported there at all (*fully occluded* in that view);
  2. false detections: a Poisson number (mean ``false_per_view``) of person-like skeletons per
     view and frame, each a random pose at a random place seen by that view only, with low and
     spread confidences (Beta ``score_false``), as a real detector's false positives;
  3. the detector's own track ids (``track_hint``): a 2D tracker per view keeps a slot per
     person, and with ``view_swap_rate`` per view and frame two people trade slots from then on
     (identity switches of a per-view tracker, so "slot k in every view" is not one person);
     the people found are reported in random order per view and frame, empty slots last
     (OpenPose's order means nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..options import check_fields, option
from ..rig import Rig
from ..skeletons import Skeleton, get_skeleton
from .detections import DetectorNoise, in_image, simulate_detections
from .motion import MotionOptions, person_motion, random_poses
from .occlusion import _capsules

__all__ = ["CrowdOptions", "CrowdMotion", "CrowdNoise", "CrowdDetections", "crowd_motion",
           "simulate_crowd_detections", "occlusion_by_others"]


@dataclass(frozen=True, kw_only=True)
class CrowdOptions:
    """How a synthetic crowd moves.

    num_people: P (1..8). area_radius_m: every pelvis stays within about this distance of the
    origin (one shared area: paths cross). min_separation_m: pelvises are pushed apart to this.
    staggered: people after the first are present only for part of the take (at least
    ``min_presence_fraction`` of it), entering and leaving.
    action_probability: chance of an action at a waypoint (lower: more walking, more crossing).
    """

    num_people: int = option(3, low=1, high=8)
    area_radius_m: float = option(1.6, low=0, low_open=True)
    min_separation_m: float = option(0.6, low=0)
    staggered: bool = False
    min_presence_fraction: float = option(0.5, low=0, high=1, low_open=True)
    action_probability: float = option(0.2, low=0, high=1)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class CrowdMotion:
    """P people over F frames.

    joints_in_world: (P, F, J, 3) float64 world metres; NaN where the person is absent.
    present: (P, F) bool. skeleton, fps; height_m: (P,) metres.
    """

    joints_in_world: np.ndarray
    present: np.ndarray
    skeleton: Skeleton
    fps: float
    height_m: np.ndarray

    @property
    def num_people(self) -> int:
        return self.joints_in_world.shape[0]


def _gaussian_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Smooth (P, F, 2) along F with a Gaussian (edges reflected)."""
    half = int(np.ceil(3 * sigma_frames))
    if half < 1 or x.shape[1] < 2:
        return x
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, ((0, 0), (half, half), (0, 0)), mode="reflect")
    out = np.empty_like(x)
    for p in range(x.shape[0]):
        for c in range(x.shape[2]):
            out[p, :, c] = np.convolve(padded[p, :, c], kernel, mode="valid")
    return out


def crowd_motion(num_frames: int, *, rng: np.random.Generator, fps: float = 30.0,
                 skeleton: str | Skeleton = "coco17",
                 options: CrowdOptions = CrowdOptions()) -> CrowdMotion:
    """``options.num_people`` people moving through the capture volume for ``num_frames`` frames.

    The same ``rng`` state gives the same crowd.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames is {num_frames}, expected >= 1")
    skeleton = get_skeleton(skeleton)
    P, F = options.num_people, num_frames
    motion = MotionOptions(area_radius_m=options.area_radius_m,
                           action_probability=options.action_probability)
    people = [person_motion(F, fps=fps, skeleton=skeleton, rng=rng, options=motion) for _ in range(P)]
    joints = np.stack([p.joints_in_world for p in people])  # (P, F, J, 3)
    present = np.ones((P, F), dtype=bool)
    if options.staggered and P > 1:
        for p in range(1, P):
            length = int(round(F * rng.uniform(options.min_presence_fraction, 1.0)))
            start = int(rng.integers(0, F - length + 1))
            present[p] = False
            present[p, start:start + length] = True
    # Push pelvises apart where they come closer than min_separation_m (smoothly over time).
    offset = np.zeros((P, F, 2))
    centre = joints[..., :2].mean(axis=2)  # (P, F, 2)
    for _ in range(30 if P > 1 and options.min_separation_m > 0 else 0):
        where = centre + offset
        diff = where[:, None] - where[None, :]  # (P, P, F, 2)
        distance = np.linalg.norm(diff, axis=-1)
        both = present[:, None] & present[None, :] & ~np.eye(P, dtype=bool)[..., None]
        deficit = np.where(both, np.clip(options.min_separation_m * 1.15 - distance, 0, None), 0.0)
        if not (deficit > 0.05 * options.min_separation_m).any():
            break
        direction = diff / np.maximum(distance, 1e-6)[..., None]
        push = 0.5 * (deficit[..., None] * direction).sum(axis=1)  # (P, F, 2)
        offset = offset + _gaussian_smooth(push, 0.2 * fps) * 1.5
    joints = joints.copy()
    joints[..., :2] += offset[:, :, None, :]
    joints[~present] = np.nan
    return CrowdMotion(joints_in_world=joints, present=present, skeleton=skeleton, fps=float(fps),
                       height_m=np.array([p.height_m for p in people]))


def occlusion_by_others(rig: Rig, joints_in_world: np.ndarray, *, skeleton: str | Skeleton,
                        limb_radius_m: float = 0.06, torso_radius_m: float = 0.15,
                        head_radius_m: float = 0.1, tolerance_m: float = 0.05,
                        chunk: int = 256) -> np.ndarray:
    """Which joints of each person the other people's bodies hide in each view.

    joints_in_world: (P, F, J, 3) world metres (NaN: absent people hide nothing, are not hidden).
    Returns (P, V, F, J) bool.
    """
    skeleton = get_skeleton(skeleton)
    joints = np.asarray(joints_in_world, dtype=np.float64)
    if joints.ndim != 4 or joints.shape[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"joints_in_world has shape {joints.shape}, expected (P, F, "
                         f"{skeleton.num_joints}, 3)")
    P, F, J, _ = joints.shape
    V = len(rig)
    out = np.zeros((P, V, F, J), dtype=bool)
    if P < 2:
        return out
    ends, radius_m, _ = _capsules(skeleton, limb_radius_m, torso_radius_m, head_radius_m)
    fx = rig.K[:, 0, 0]
    for start in range(0, F, chunk):
        block = joints[:, start:start + chunk]  # (P, M, J, 3)
        M = block.shape[1]
        a3 = block[:, :, ends[:, 0]].mean(axis=3)  # (P, M, K, 3)
        b3 = block[:, :, ends[:, 1]].mean(axis=3)
        for p in range(P):
            others = [o for o in range(P) if o != p]
            target = block[p]  # (M, J, 3)
            pixels = rig.project(target)[:, :, :, None, :]  # (V, M, J, 1, 2)
            depth = rig.to_cam(target)[..., 2]  # (V, M, J)
            oa = np.concatenate([a3[o] for o in others], axis=1)  # (M, K', 3)
            ob = np.concatenate([b3[o] for o in others], axis=1)
            radius = np.tile(radius_m, len(others))
            a2, b2 = rig.project(oa)[:, :, None], rig.project(ob)[:, :, None]  # (V, M, 1, K', 2)
            za, zb = rig.to_cam(oa)[..., 2][:, :, None], rig.to_cam(ob)[..., 2][:, :, None]
            ab = b2 - a2
            length2 = np.maximum((ab * ab).sum(-1), 1e-12)
            with np.errstate(invalid="ignore"):
                s = np.clip(((pixels - a2) * ab).sum(-1) / length2, 0.0, 1.0)  # (V, M, J, K')
                distance = np.linalg.norm(pixels - (a2 + s[..., None] * ab), axis=-1)
                z = za + s * (zb - za)
                radius_px = radius * fx[:, None, None, None] / np.maximum(z, 1e-6)
                hidden = (distance < radius_px) & (z > 0) & (z < depth[..., None] - tolerance_m)
            out[p, :, start:start + M] = hidden.any(axis=-1) & np.isfinite(depth)
    return out


@dataclass(frozen=True, kw_only=True)
class CrowdNoise:
    """Parameters of :func:`simulate_crowd_detections` (see the module docstring).

    detector: the per-person noise (:class:`DetectorNoise`).
    occluded_missing_rate, occluded_sigma_scale, occluded_score_scale: joints hidden by others.
    full_occlusion_fraction: a person this much hidden in a view is not reported there.
    false_per_view: mean number of false detections per view and frame (Poisson).
    false_area_radius_m: false skeletons stand within this radius of the origin (random poses).
    score_false: Beta ``(a, b)`` of the false detections' confidences (low and spread).
    view_swap_rate: per view and frame, probability that two people trade tracker slots.
    """

    detector: DetectorNoise = DetectorNoise()
    occluded_missing_rate: float = option(0.5, low=0, high=1)
    occluded_sigma_scale: float = option(2.0, low=1)
    occluded_score_scale: float = option(0.6, low=0, high=1)
    full_occlusion_fraction: float = option(0.7, low=0, high=1)
    false_per_view: float = option(1.0, low=0)
    false_area_radius_m: float = option(3.0, low=0, low_open=True)
    score_false: tuple[float, float] = option((2.0, 4.0), low=0, low_open=True, note="Beta parameters")
    view_swap_rate: float = option(0.05, low=0, high=1)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class CrowdDetections:
    """The candidate lists a multi-person detector reported, with the truth beside them.

    points_2d: (V, F, S, J, 2) float64 distorted pixels; NaN in empty slots and missed joints.
    scores: (V, F, S, J) float64 in (0, 1); NaN where ``points_2d`` is NaN.
    identity: (V, F, S) int64 the true person in each slot; -1 for a false detection or empty.
    track_hint: (V, F, S) int64 the detector's own per-view track id (slot of its 2D tracker,
        swapped at ``view_swap_rate``); -1 for false detections and empty slots.
    correct: (P, V, F, J) bool the person's joint is reported in that view and is neither a gross
        error nor a left/right swap. visible: (P, V, F, J) bool reported at all.
    fully_occluded: (P, V, F) bool the person is present but not reported in that view because
        others hide it. truth_2d: (P, V, F, J, 2) exact projections.
    camera_names; skeleton.
    """

    points_2d: np.ndarray
    scores: np.ndarray
    identity: np.ndarray
    track_hint: np.ndarray
    correct: np.ndarray
    visible: np.ndarray
    fully_occluded: np.ndarray
    truth_2d: np.ndarray
    camera_names: tuple[str, ...]
    skeleton: Skeleton


def simulate_crowd_detections(rig: Rig, crowd: CrowdMotion, *, noise: CrowdNoise = CrowdNoise(),
                              rng: np.random.Generator) -> CrowdDetections:
    """Simulate a multi-person 2D detector on every view of a :class:`CrowdMotion`."""
    skeleton = crowd.skeleton
    joints = crowd.joints_in_world
    P, F, J, _ = joints.shape
    V = len(rig)
    points = np.empty((P, V, F, J, 2))
    scores = np.empty((P, V, F, J))
    correct = np.empty((P, V, F, J), dtype=bool)
    truth = np.empty((P, V, F, J, 2))
    for p in range(P):
        sim = simulate_detections(rig, joints[p], skeleton=skeleton, noise=noise.detector, rng=rng)
        points[p], scores[p], truth[p] = sim.points_2d, sim.scores, sim.truth_2d
        correct[p] = sim.visible & ~sim.is_outlier & ~sim.is_swapped
    hidden = occlusion_by_others(rig, joints, skeleton=skeleton)  # (P, V, F, J)
    detectable = in_image(truth.transpose(1, 0, 2, 3, 4), rig.sizes).transpose(1, 0, 2, 3)
    detectable &= crowd.present[:, None, :, None]
    hidden &= detectable
    visible_before = np.isfinite(points[..., 0])
    missed = hidden & (rng.random(hidden.shape) < noise.occluded_missing_rate)
    extra = noise.detector.pixel_sigma_px * np.sqrt(max(noise.occluded_sigma_scale ** 2 - 1, 0.0))
    points = points + np.where(hidden & ~missed, extra, 0.0)[..., None] * rng.standard_normal(points.shape)
    scores = np.where(hidden, scores * noise.occluded_score_scale, scores)
    share_hidden = hidden.sum(axis=-1) / np.maximum(detectable.sum(axis=-1), 1)
    fully = (share_hidden >= noise.full_occlusion_fraction) & crowd.present[:, None, :]
    drop = missed | fully[..., None]
    points[drop] = np.nan
    scores[drop] = np.nan
    visible = visible_before & ~drop
    correct &= visible
    # The per-view 2D tracker: slot of each person, swapped now and then (persistently).
    slot_of = np.tile(np.arange(P), (V, 1))  # (V, P)
    slots = np.empty((V, F, P), dtype=np.int64)
    for f in range(F):
        if P > 1:
            swap = rng.random(V) < noise.view_swap_rate
            for v in np.flatnonzero(swap):
                a, b = rng.choice(P, size=2, replace=False)
                slot_of[v, [a, b]] = slot_of[v, [b, a]]
        slots[:, f] = slot_of
    # False detections: random poses seen by one view only.
    counts = rng.poisson(noise.false_per_view, size=(V, F))
    K = int(counts.sum())
    S = P + int(counts.max(initial=0))
    out_points = np.full((V, F, S, J, 2), np.nan)
    out_scores = np.full((V, F, S, J), np.nan)
    identity = np.full((V, F, S), -1, dtype=np.int64)
    hint = np.full((V, F, S), -1, dtype=np.int64)
    v_idx, f_idx = np.nonzero(np.ones((V, F), dtype=bool))
    for p in range(P):
        s = slots[:, :, p]  # (V, F)
        reported = np.isfinite(points[p, ..., 0]).any(axis=-1)  # (V, F)
        vv, ff = np.nonzero(reported)
        out_points[vv, ff, s[vv, ff]] = points[p, vv, ff]
        out_scores[vv, ff, s[vv, ff]] = scores[p, vv, ff]
        identity[vv, ff, s[vv, ff]] = p
        hint[vv, ff, s[vv, ff]] = s[vv, ff]
    if K:
        poses = random_poses(K, rng=rng, skeleton=skeleton, area_radius_m=noise.false_area_radius_m)
        owner_v = np.repeat(v_idx, counts.reshape(-1))
        owner_f = np.repeat(f_idx, counts.reshape(-1))
        rank = np.arange(K) - np.repeat(np.cumsum(counts.reshape(-1)) - counts.reshape(-1),
                                        counts.reshape(-1))
        projected = rig.project(poses.joints_in_world)  # (V, K, J, 2)
        fake = projected[owner_v, np.arange(K)]  # (K, J, 2)
        inside = _inside_each(fake, rig.sizes[owner_v])
        fake = fake + noise.detector.pixel_sigma_px * rng.standard_normal(fake.shape)
        fake_scores = rng.beta(*noise.score_false, size=(K, J))
        fake[~inside] = np.nan
        fake_scores[~inside] = np.nan
        out_points[owner_v, owner_f, P + rank] = fake
        out_scores[owner_v, owner_f, P + rank] = fake_scores
    # A detector reports people in no particular order: slots are shuffled per view and frame
    # (the tracker's ids travel in ``track_hint``).
    empty = ~np.isfinite(out_points[..., 0]).any(axis=-1)  # (V, F, S)
    order = (rng.random((V, F, S)) + 2.0 * empty).argsort(axis=-1)  # reported ones first
    out_points = np.take_along_axis(out_points, order[..., None, None], axis=2)
    out_scores = np.take_along_axis(out_scores, order[..., None], axis=2)
    identity = np.take_along_axis(identity, order, axis=2)
    hint = np.take_along_axis(hint, order, axis=2)
    S = max(int((~empty).sum(axis=-1).max(initial=0)), 1)
    out_points, out_scores = out_points[:, :, :S], out_scores[:, :, :S]
    identity, hint = identity[:, :, :S], hint[:, :, :S]
    return CrowdDetections(points_2d=out_points, scores=out_scores, identity=identity,
                           track_hint=hint, correct=correct, visible=visible,
                           fully_occluded=fully, truth_2d=truth, camera_names=rig.names,
                           skeleton=skeleton)


def _inside_each(points_2d: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(K, J, 2) pixels and (K, 2) image sizes -> (K, J) inside that image."""
    size = sizes[:, None, :].astype(np.float64)
    with np.errstate(invalid="ignore"):
        return ((points_2d >= -0.5) & (points_2d <= size - 0.5)).all(axis=-1)
