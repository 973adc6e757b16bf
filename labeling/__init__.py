"""Labeling: frozen 2D detector output -> robust triangulated pseudo-labels -> HDF5 shards.

Uses :mod:`geometry` (and reads sessions through :mod:`capture`, calibrations through
:mod:`calibration`). Conventions in :mod:`geometry.camera`.
"""

from .association import AssociationOptions, AssociationResult, PersonCandidates, associate
from .detections import Detections
from .importers import IMPORT_FORMATS, load_candidates, load_detections
from .index import LabelIndex, ShardEntry
from .people import PeopleAssociation, PeopleSamples, Track, associate_people
from .pipeline import LabelJob, LabelSummary, SampleIdentity, label_people, match_cameras, run_label_job
from .pseudo_labels import LabelOptions, PseudoLabels, compute_pseudo_labels
from .shards import SCHEMA_VERSION, RejectReason, ShardLayout, read_shard, write_shard
from .skeleton_file import read_skeleton_toml

__all__ = [
    "Detections",
    "LabelIndex", "ShardEntry", "LabelJob", "LabelSummary", "match_cameras", "run_label_job",
    "LabelOptions", "PseudoLabels", "compute_pseudo_labels",
    "SCHEMA_VERSION", "RejectReason", "ShardLayout", "read_shard", "write_shard",
    "ShardDataset", "ShardIterableDataset", "collate_samples",
    "AssociationOptions", "AssociationResult", "PersonCandidates", "associate",
    "associate_people", "PeopleAssociation", "PeopleSamples", "Track", "SampleIdentity", "label_people",
    "IMPORT_FORMATS", "load_candidates", "load_detections", "read_skeleton_toml",
    "FrozenDetector", "load_detector", "builtin_detector",
]
_DETECTOR_NAMES = ("FrozenDetector", "load_detector", "builtin_detector")


def __getattr__(name: str):
    # The datasets import torch: only when a trainer asks for them.
    if name in ("ShardDataset", "ShardIterableDataset", "collate_samples"):
        from . import dataset

        return getattr(dataset, name)
    if name in _DETECTOR_NAMES:  # torch too
        from . import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'labeling' has no attribute {name!r}")
