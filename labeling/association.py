"""Candidates of several people per view and the association's options.

Importers and detectors return every person they find in each view as :class:`PersonCandidates`.
:func:`labeling.people.associate_people` matches them across views and links them over time into
one track per person (the algorithm is described there); :func:`labeling.subject.associate` is
the single-subject mode on top of it: the most-seen (or largest) track. :func:`epipolar_costs` is
the cross-view affinity of every pair of candidates. Views with no consistent candidate are left empty (NaN)
rather than guessed. Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from geometry import Rig, skew
from geometry.options import check_fields, option

from .detections import Detections, _Keypoints2D

__all__ = ["PersonCandidates", "AssociationOptions", "epipolar_costs"]



@dataclass(frozen=True, kw_only=True)
class PersonCandidates(_Keypoints2D):
    """Several people per view per frameset, as detectors and importers find them.

    points_2d: (V, F, P, J, 2) float64 pixels; NaN where a candidate slot is empty or a joint
        is missing. P is the largest number of people in any view and frameset.
    scores: (V, F, P, J) float64 in [0, 1]; NaN where ``points_2d`` is NaN.
    camera_names, joint_names, frame_index, timestamp_s, source: as in :class:`Detections`.
    track_hint: (V, F, P) int64, the source's own track / individual id of each candidate slot
        (SLEAP track index, DeepLabCut individual index, OpenPose ``person_id``, COCO/PoseTrack
        ``track_id``), -1 where the source has none or the slot is empty. Only a hint: ids are
        the source's, per view, and are not checked across views or over time. The names of the
        ids, when the source has names, are in ``metadata["track_names"]`` (id -> name).
        None on construction means "no hints" (all -1).
    metadata: provenance of the import (each decision a reader had to take, as text).
    """

    track_hint: np.ndarray | None = None  # after the shared fields of detections._Keypoints2D

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
        hint = (np.full(points.shape[:3], -1, dtype=np.int64) if self.track_hint is None
                else np.asarray(self.track_hint))
        if hint.shape != points.shape[:3] or not np.issubdtype(hint.dtype, np.integer):
            raise ValueError(f"track_hint has shape {hint.shape} and dtype {hint.dtype}, expected "
                             f"{points.shape[:3]} integers")
        object.__setattr__(self, "track_hint", np.where(
            np.isfinite(points[..., 0]).any(axis=-1), hint, -1).astype(np.int64))
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


Subject = Literal["most_seen", "largest"]


@dataclass(frozen=True, kw_only=True)
class AssociationOptions:
    """Thresholds of the association (:mod:`labeling.people` explains each step).

    epipolar_threshold_px: two candidates in two views can be the same person when the median
        symmetric epipolar distance of their joints is below this (undistorted pixels).
    min_common_joints: joints two candidates (or a candidate and a projection) must share.
    min_views: views a person needs in a frameset to be triangulated and to start a track.
    track_gate_m: a track takes a candidate whose joints lie within this of its predicted
        skeleton (median over joints, measured at the person's depth), metres;
        ``max_speed_m_per_frame`` widens it per frameset the track was not seen.
    ambiguity_m: a match is ambiguous when another candidate or track is within this of it.
    joint_reject_px, view_reject_px: after triangulating a person, joints reprojecting further
        than ``joint_reject_px`` are dropped and views whose candidate lies further than
        ``view_reject_px`` (median over joints) are released (the wrong candidate).
    min_track_frames: triangulated framesets before a new track counts as a person.
    max_gap_frames: framesets a person may go unseen and keep their identity.
    stitch_gap_frames: after the pass, a track that ends and one that starts within this many
        framesets, close enough for the gap, are joined (0: never).
    max_people: at most this many people at once and in the output (0: as many as found).
    subject: the single-subject mode's pick: the ``"most_seen"`` track (views x framesets) or the
        ``"largest"`` (mean 2D size of its detections).
    continuity_weight: 0 links nothing over time (every frameset on its own; the single subject
        is then the best-supported person of each frameset); > 0 tracks people over time.
    frame_chunk: framesets prepared at once (bounds memory: V P J floats per frameset).
    workers: processes that track segments of a long take in parallel (each at least 120
        framesets; consecutive segments share 30 framesets, where their tracks are joined by
        the candidates they both chose); 1 tracks the take in this process.
    """

    epipolar_threshold_px: float = option(15.0, low=0, low_open=True)
    min_common_joints: int = option(3, low=1)
    min_views: int = option(2, low=2, note="one view cannot triangulate")
    track_gate_m: float = option(0.4, low=0, low_open=True)
    max_speed_m_per_frame: float = option(0.1, low=0)
    ambiguity_m: float = option(0.1, low=0)
    joint_reject_px: float = option(30.0, low=0, low_open=True)
    view_reject_px: float = option(20.0, low=0, low_open=True)
    min_track_frames: int = option(5, low=1)
    max_gap_frames: int = option(15, low=0)
    stitch_gap_frames: int = option(60, low=0)
    max_people: int = option(0, low=0)
    subject: Subject = option("most_seen", choices=("most_seen", "largest"))
    continuity_weight: float = option(1.0, low=0)
    frame_chunk: int = option(256, low=1)
    workers: int = option(1, low=1)

    def __post_init__(self) -> None:
        check_fields(self)

    def to_json(self) -> dict:
        return asdict(self)


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
