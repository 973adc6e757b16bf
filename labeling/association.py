"""Single-subject association: in each view, pick the person the other views agree on.

When a view holds several people (an experimenter walking by, a second subject in the corner),
the importer returns every candidate; this module picks, per frameset, one candidate per view so
that the picks are the same physical person:

1. cross-view consistency: for every pair of views and every pair of candidates, the median over
   joints of the symmetric epipolar distance (pixels, undistorted) with the calibrated rig;
2. hypotheses: each candidate (view v, person p) proposes a group -- in every other view the
   candidate closest to it epipolarly, if within ``epipolar_threshold_px`` -- so a frameset has at
   most V*P hypotheses; a hypothesis costs less the more views support it and the tighter they
   agree;
3. continuity over time: a Viterbi pass over framesets chooses one hypothesis per frameset,
   adding the 2D motion (median joint displacement in pixels, per view) between consecutive picks,
   so the subject stays the same person when two people are equally consistent.

Views with no consistent candidate are left empty (NaN) rather than guessed. Conventions in
:mod:`geometry.camera`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from geometry import Rig, skew
from geometry.options import check_range

from .detections import Detections

__all__ = ["PersonCandidates", "AssociationOptions", "AssociationResult", "associate",
           "epipolar_costs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PersonCandidates:
    """Several people per view per frameset, as detectors and importers find them.

    points_2d: (V, F, P, J, 2) float64 pixels; NaN where a candidate slot is empty or a joint
        is missing. P is the largest number of people in any view and frameset.
    scores: (V, F, P, J) float64 in [0, 1]; NaN where ``points_2d`` is NaN.
    camera_names, joint_names, frame_index, timestamp_s, source: as in :class:`Detections`.
    """

    points_2d: np.ndarray
    scores: np.ndarray
    camera_names: tuple[str, ...]
    joint_names: tuple[str, ...]
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    source: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        points = np.asarray(self.points_2d, dtype=np.float64)
        if points.ndim != 5 or points.shape[-1] != 2:
            raise ValueError(f"points_2d has shape {points.shape}, expected (V, F, P, J, 2)")
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.shape != points.shape[:-1]:
            raise ValueError(f"scores has shape {scores.shape}, expected {points.shape[:-1]}")
        missing = np.isnan(points).any(axis=-1) | np.isnan(scores)
        points = np.where(missing[..., None], np.nan, points)
        scores = np.where(missing, np.nan, scores)
        object.__setattr__(self, "points_2d", points)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "camera_names", tuple(self.camera_names))
        object.__setattr__(self, "joint_names", tuple(self.joint_names))

    @property
    def num_people(self) -> int:
        return self.points_2d.shape[2]

    def present(self) -> np.ndarray:
        """(V, F, P) bool: the candidate slot holds a person (any joint observed)."""
        return np.isfinite(self.points_2d[..., 0]).any(axis=-1)

    def select(self, chosen: np.ndarray, *, source_note: str = "") -> Detections:
        """Detections of the chosen person per view and frameset.

        chosen: (V, F) int64 candidate index, -1 for none (NaN in the result).
        """
        V, F = chosen.shape
        index = np.clip(chosen, 0, None)[..., None, None, None]
        points = np.take_along_axis(self.points_2d, np.broadcast_to(
            index, (V, F, 1) + self.points_2d.shape[3:]), axis=2)[:, :, 0]
        scores = np.take_along_axis(self.scores, np.broadcast_to(
            index[..., 0], (V, F, 1, self.scores.shape[3])), axis=2)[:, :, 0]
        points = np.where((chosen < 0)[..., None, None], np.nan, points)
        scores = np.where((chosen < 0)[..., None], np.nan, scores)
        source = f"{self.source}; {source_note}" if source_note else self.source
        return Detections(points_2d=points, scores=scores, camera_names=self.camera_names,
                          joint_names=self.joint_names, frame_index=self.frame_index,
                          timestamp_s=self.timestamp_s, source=source,
                          metadata=dict(self.metadata))

    def by_score(self) -> Detections:
        """Without a calibration: in each view the candidate with the highest mean score."""
        if self.num_people == 1:
            return self.select(np.zeros(self.points_2d.shape[:2], dtype=np.int64))
        mean_score = _mean_score(self.scores)  # (V, F, P)
        chosen = np.where(self.present().any(axis=-1), np.argmax(mean_score, axis=-1), -1)
        return self.select(chosen.astype(np.int64), source_note="highest-score person per view")


def _mean_score(scores: np.ndarray) -> np.ndarray:
    """(..., J) -> (...) mean over observed joints; -inf where none are observed."""
    observed = np.isfinite(scores)
    count = observed.sum(axis=-1)
    total = np.where(observed, scores, 0.0).sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), -np.inf)


@dataclass(frozen=True, kw_only=True)
class AssociationOptions:
    """Thresholds and weights of :func:`associate`.

    epipolar_threshold_px: two candidates in two views are the same person when the median
        symmetric epipolar distance of their joints is below this (undistorted pixels).
    min_common_joints: joints both candidates must have for the distance to count.
    motion_scale_px: 2D motion between consecutive framesets (per view, median joint
        displacement) that costs as much as one view losing support; larger motion costs no more.
    continuity_weight: weight of the motion term against the cross-view term (0 ignores time).
    frame_chunk: framesets processed at once (bounds memory: V^2 P^2 J floats per frameset).
    """

    epipolar_threshold_px: float = 15.0
    min_common_joints: int = 3
    motion_scale_px: float = 50.0
    continuity_weight: float = 1.0
    frame_chunk: int = 256

    def __post_init__(self) -> None:
        check_range(self, "epipolar_threshold_px", "motion_scale_px", low=0, low_open=True)
        check_range(self, "min_common_joints", "frame_chunk", low=1)
        check_range(self, "continuity_weight", low=0)


@dataclass(frozen=True)
class AssociationResult:
    """detections: (V, F, J) the chosen person per view.
    chosen: (V, F) int64 candidate index per view, -1 where no candidate was consistent.
    support: (F,) int64 number of views in the chosen group.
    epipolar_px: (F,) float64 mean pairwise median epipolar distance inside the chosen group
        (NaN where fewer than two views support it).
    """

    detections: Detections
    chosen: np.ndarray
    support: np.ndarray
    epipolar_px: np.ndarray


def _essentials(rig: Rig) -> np.ndarray:
    """(V, V, 3, 3) E[a, b] with ``x_b^T E x_a = 0`` for normalized coordinates."""
    R_ab = np.einsum("bij,akj->abik", rig.R, rig.R)  # R_b R_a^T
    t_ab = rig.t[None, :, :] - np.einsum("abij,aj->abi", R_ab, rig.t)
    return skew(t_ab) @ R_ab


def epipolar_costs(normalized: np.ndarray, essentials: np.ndarray, focal_px: np.ndarray, *,
                   min_common_joints: int) -> np.ndarray:
    """Median symmetric epipolar distance between every pair of candidates in every pair of views.

    normalized: (V, F, P, J, 2) undistorted normalized coordinates (NaN missing).
    essentials: (V, V, 3, 3) from the rig; focal_px: (V,) mean focal length per view.
    Returns (F, V, V, P, P) float64 pixels; inf on the diagonal (a == b) and where fewer than
    ``min_common_joints`` joints are in both candidates.
    """
    V, F, P, J, _ = normalized.shape
    x = np.concatenate([normalized, np.ones(normalized.shape[:-1] + (1,))], axis=-1)
    lines_b = np.einsum("abij,afpkj->abfpki", essentials, x)  # lines in b of points in a
    dist_b = np.abs(np.einsum("bfqki,abfpki->abfpqk", x, lines_b))
    with np.errstate(invalid="ignore", divide="ignore"):  # a == b: E = 0, masked to inf below
        dist_b /= np.hypot(lines_b[..., 0], lines_b[..., 1])[:, :, :, :, None, :]
    dist_b *= focal_px[None, :, None, None, None, None]
    # Distance of q in b from p's line, and of p in a from q's line.
    symmetric = (dist_b + dist_b.transpose(1, 0, 2, 4, 3, 5)) / 2
    common = np.isfinite(symmetric).sum(axis=-1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices become inf just below
        cost = np.nanmedian(symmetric, axis=-1)
    cost = np.where(common >= min_common_joints, cost, np.inf)
    cost[np.arange(V), np.arange(V)] = np.inf
    return cost.transpose(2, 0, 1, 3, 4)


def associate(candidates: PersonCandidates, rig: Rig,
              options: AssociationOptions = AssociationOptions()) -> AssociationResult:
    """Pick in each view the candidate consistent with the other views and over time.

    candidates: (V, F, P, J) people; their camera names must be in ``rig`` (reordered by name).
    rig: the calibration (intrinsics, distortion and poses).
    """
    rig = rig.subset(list(candidates.camera_names))
    V, F, P, J, _ = candidates.points_2d.shape
    essentials = _essentials(rig)
    focal_px = (rig.K[:, 0, 0] + rig.K[:, 1, 1]) / 2
    present = candidates.present()  # (V, F, P)
    mean_score = np.where(present, _mean_score(candidates.scores), 0.0)
    S = V * P
    group_choice = np.full((F, S, V), -1, dtype=np.int64)  # hypothesis -> chosen candidate per view
    emission = np.full((F, S), np.inf)
    group_epipolar = np.full((F, S), np.nan)
    threshold = options.epipolar_threshold_px
    for start in range(0, F, options.frame_chunk):
        stop = min(start + options.frame_chunk, F)
        normalized = rig.normalize(candidates.points_2d[:, start:stop])
        cost = epipolar_costs(normalized, essentials, focal_px,
                              min_common_joints=options.min_common_joints)  # (f, V, V, P, P)
        best_q = np.argmin(cost, axis=-1)  # (f, a, b, p)
        best_cost = np.min(cost, axis=-1)
        supported = best_cost < threshold  # (f, a, b, p)
        f_count = stop - start
        # Hypothesis (a, p): itself in view a, best_q in every supporting view b.
        choice = np.where(supported, best_q, -1).transpose(0, 1, 3, 2)  # (f, a, p, b)
        a_index = np.arange(V)
        choice[:, a_index, :, a_index] = np.arange(P)[None, None, :]
        exists = present[:, start:stop].transpose(1, 0, 2)  # (f, a, p)
        support = supported.sum(axis=2) + 1  # (f, a, p): views including itself
        support = np.where(exists, support, 0)
        with np.errstate(invalid="ignore"):
            agreement = np.where(supported, best_cost, 0.0).sum(axis=2) / np.maximum(
                supported.sum(axis=2), 1)
        scores_here = mean_score[:, start:stop].transpose(1, 0, 2)  # (f, a, p)
        e = (V - support) + agreement / threshold + 0.1 * (1.0 - np.clip(scores_here, 0, 1))
        e = np.where(exists, e, np.inf)
        group_choice[start:stop] = choice.reshape(f_count, S, V)
        emission[start:stop] = e.reshape(f_count, S)
        group_epipolar[start:stop] = np.where(support > 1, agreement, np.nan).reshape(f_count, S)
    path = _viterbi(emission, group_choice, candidates.points_2d, options)
    frames = np.arange(F)
    chosen = group_choice[frames, path].T.copy()  # (V, F)
    valid = np.isfinite(emission[frames, path])
    chosen[:, ~valid] = -1
    support = (chosen >= 0).sum(axis=0).astype(np.int64)
    epipolar_px = np.where(valid, group_epipolar[frames, path], np.nan)
    crowded = int((present.sum(axis=-1) > 1).sum())
    log.info("association: %d view-framesets held several people; %.1f views per frameset agree "
             "on the subject", crowded, float(support.mean()) if F else 0.0)
    detections = candidates.select(chosen, source_note="single-subject association")
    return AssociationResult(detections, chosen, support, epipolar_px)


def _viterbi(emission: np.ndarray, group_choice: np.ndarray, points: np.ndarray,
             options: AssociationOptions) -> np.ndarray:
    """(F,) hypothesis index per frameset minimizing emission + continuity_weight * motion.

    A frameset after one with no hypothesis at all starts a new chain.
    """
    F, S = emission.shape
    V = points.shape[0]
    if options.continuity_weight == 0 or F == 1:
        return np.argmin(emission, axis=1)
    views = np.arange(V)[None, :]

    def skeletons(f: int) -> np.ndarray:
        """(S, V, J, 2) each hypothesis' 2D skeleton per view at frameset f (NaN: empty view)."""
        choice = group_choice[f]
        picked = points[views, f, np.clip(choice, 0, None)]
        return np.where((choice >= 0)[..., None, None], picked, np.nan)

    totals = np.empty((F, S))
    totals[0] = emission[0]
    back = np.zeros((F, S), dtype=np.int64)
    restart = np.zeros(F, dtype=bool)
    previous = skeletons(0)
    for f in range(1, F):
        current = skeletons(f)
        if not np.isfinite(totals[f - 1]).any():
            restart[f] = True
            totals[f] = emission[f]
            previous = current
            continue
        diff = current[None, :] - previous[:, None]  # (S_prev, S, V, J, 2)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN views: no motion evidence
            per_view = np.nanmedian(np.hypot(diff[..., 0], diff[..., 1]), axis=-1)
            # Capped: a jump beyond the scale is "another person", no worse than a lost view.
            per_view = np.minimum(per_view / options.motion_scale_px, 1.0)
            motion = np.nanmean(per_view, axis=-1)  # (S_prev, S)
        motion = np.where(np.isfinite(motion), motion, 0.0)
        step = totals[f - 1][:, None] + options.continuity_weight * motion
        back[f] = np.argmin(step, axis=0)
        totals[f] = step[back[f], np.arange(S)] + emission[f]
        previous = current
    path = np.empty(F, dtype=np.int64)
    path[-1] = int(np.argmin(totals[-1]))
    for f in range(F - 1, 0, -1):
        path[f - 1] = int(np.argmin(totals[f - 1])) if restart[f] else back[f, path[f]]
    return path
