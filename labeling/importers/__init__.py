"""Importers of precomputed 2D detections: OpenPose (Pose2Sim layout), DeepLabCut, SLEAP, COCO, MMPose.

Each reader returns :class:`labeling.association.PersonCandidates` (every person found);
:func:`load_detections` reduces them to single-subject :class:`labeling.Detections`: with a
calibrated rig by :func:`labeling.subject.associate` (the person consistent across views and
over time), without one by the highest score per view (logged). Cameras are matched to the
calibration by name, otherwise in sorted order with a warning; frames are aligned by their
number across cameras (NaN where a camera lacks a frame).

Never silently wrong: a reader that must guess (which of two files, an axis order, a camera
pairing) decides by evidence it states in ONE warning line, recorded in the result's
``metadata["import_decisions"]`` and ``source`` (hence in every shard's provenance); where the
evidence does not decide it raises ValueError in one sentence naming the option that settles it
(reader options come from ``rigkit label --detections-option KEY=VALUE``). The source's own
track / individual ids are kept in ``PersonCandidates.track_hint``.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Literal

import numpy as np

from geometry import Rig

from ..association import AssociationOptions, PersonCandidates
from ..subject import associate
from ..detections import Detections
from .coco import read_coco, read_mmpose
from .deeplabcut import read_deeplabcut
from .openpose import read_openpose
from .sleap import read_sleap

__all__ = ["ImportFormat", "IMPORT_FORMATS", "load_detections", "load_candidates",
           "read_openpose", "read_deeplabcut", "read_sleap", "read_coco", "read_mmpose"]

log = logging.getLogger(__name__)

ImportFormat = Literal["openpose", "deeplabcut", "sleap", "coco", "mmpose"]
_READERS = {"openpose": read_openpose, "deeplabcut": read_deeplabcut, "sleap": read_sleap,
            "coco": read_coco, "mmpose": read_mmpose}
IMPORT_FORMATS: tuple[str, ...] = tuple(_READERS)


def load_candidates(format: ImportFormat, path: str | Path, *, camera_names=None, **options
                    ) -> PersonCandidates:
    """Every person the files hold, per view and frame (see each reader for ``options``)."""
    if format not in _READERS:
        raise ValueError(f"unknown detections format {format!r}, expected one of "
                         f"{', '.join(IMPORT_FORMATS)}")
    reader = _READERS[format]
    accepted = [n for n in inspect.signature(reader).parameters if n not in ("path", "camera_names")]
    unknown = [n for n in options if n not in accepted]
    if unknown:
        raise ValueError(f"the {format} reader has no option {', '.join(unknown)} (it takes "
                         f"{', '.join(accepted)})")
    return reader(path, camera_names=camera_names, **options)


def load_detections(format: ImportFormat, path: str | Path, *, skeleton=None, camera_names=None,
                    rig: Rig | None = None, association: AssociationOptions = AssociationOptions(),
                    **options) -> Detections:
    """Single-subject detections from a tool's files.

    format: ``"openpose"``, ``"deeplabcut"``, ``"sleap"``, ``"coco"`` or ``"mmpose"``.
    path: the file or folder the reader expects.
    skeleton: skeleton name / Skeleton / joint names (OpenPose, COCO, MMPose pick one by keypoint
        count when None; DeepLabCut and SLEAP use the files' bodypart names).
    camera_names: the calibration's camera names (default: ``rig.names`` when a rig is given).
    rig: the calibration; with several people in a view it drives the association.
    options: reader options (``fps``, ``images``, ``name_pattern``, ``key``, ...).
    """
    if camera_names is None and rig is not None:
        camera_names = rig.names
    if skeleton is not None and format in ("openpose", "coco", "mmpose", "deeplabcut"):
        options["skeleton"] = skeleton
    candidates = load_candidates(format, path, camera_names=camera_names, **options)
    if candidates.num_people == 1:
        return candidates.select(np.zeros(candidates.points_2d.shape[:2], dtype=np.int64))
    if rig is None:
        log.warning("%s: up to %d people per view and no calibration given; keeping the "
                    "highest-score person in each view", path, candidates.num_people)
        return candidates.by_score()
    return associate(candidates, rig, association).detections

