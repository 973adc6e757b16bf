"""The single subject: one of the people the association finds (the most-seen or the largest
track, or per frameset the best-supported person). Conventions in :mod:`geometry.camera`."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, replace

import numpy as np

from geometry import Rig

from .association import AssociationOptions, PersonCandidates
from .detections import Detections
from .people import associate_people

__all__ = ["AssociationResult", "associate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AssociationResult:
    """detections: (V, F, J) the chosen person per view.
    chosen: (V, F) int64 candidate index per view, -1 where no candidate was consistent.
    support: (F,) int64 number of views in the chosen group.
    epipolar_px: (F,) float64 median reprojection distance (pixels) of the chosen candidates to
        the subject's triangulated skeleton, mean over views (NaN where not triangulated).
    person: which track of the multi-person association is the subject (-1: per frameset).
    """

    detections: Detections
    chosen: np.ndarray
    support: np.ndarray
    epipolar_px: np.ndarray
    person: int = -1



def associate(candidates: PersonCandidates, rig: Rig,
              options: AssociationOptions = AssociationOptions()) -> AssociationResult:
    """The single subject: one of the people :func:`labeling.people.associate_people` finds.

    candidates: (V, F, P, J) people; their camera names must be in ``rig`` (reordered by name).
    rig: the calibration (intrinsics, distortion and poses).
    With ``options.continuity_weight > 0`` the subject is the track picked by ``options.subject``;
    with 0, each frameset on its own picks its best-supported person (most views, then the
    closest agreement).
    """
    V, F = candidates.points_2d.shape[:2]
    if options.continuity_weight == 0:
        per_frame = replace(options, min_track_frames=1, max_gap_frames=0, stitch_gap_frames=0,
                            max_people=0)
        people = associate_people(candidates, rig, per_frame)
        support = (people.chosen >= 0).sum(axis=1)  # (T, F)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            agreement = np.nanmean(people.affinity_px, axis=1)  # (T, F)
        key = support * 1e6 - np.nan_to_num(agreement, nan=1e5)
        if people.num_people:
            best = np.argmax(np.where(support > 0, key, -np.inf), axis=0)  # (F,)
            chosen = people.chosen[best, :, np.arange(F)].T
            chosen[:, support.max(axis=0) == 0] = -1
            epipolar = agreement[best, np.arange(F)]
        else:
            chosen, epipolar = np.full((V, F), -1, dtype=np.int64), np.full(F, np.nan)
        person = -1
    else:
        people = associate_people(candidates, rig, options)
        if people.num_people == 0:
            chosen, epipolar, person = np.full((V, F), -1, dtype=np.int64), np.full(F, np.nan), -1
        else:
            if options.subject == "largest":
                person = int(np.argmax([t.mean_size_px for t in people.tracks]))
            else:
                person = int(np.argmax([t.view_framesets for t in people.tracks]))
            chosen = people.chosen[person]
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                epipolar = np.nanmean(people.affinity_px[person], axis=0)
    support = (chosen >= 0).sum(axis=0).astype(np.int64)
    epipolar = np.where(support > 1, epipolar, np.nan)
    crowded = int((candidates.present().sum(axis=-1) > 1).sum())
    log.info("association: %d view-framesets held several people, %d people found; %.1f views "
             "per frameset see the subject", crowded, people.num_people,
             float(support.mean()) if F else 0.0)
    detections = candidates.select(chosen, source_note="single-subject association")
    return AssociationResult(detections, chosen, support, epipolar, person)
