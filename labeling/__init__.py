"""Labeling: frozen 2D detector output -> robust triangulated pseudo-labels -> HDF5 shards.

Uses :mod:`geometry` (and reads sessions through :mod:`capture`, calibrations through
:mod:`calibration`). Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

from rigkit_lazy import lazy_attributes

# public name -> the submodule that defines it. Nothing is imported until a name is asked for, so
# that a trainer's DataLoader worker importing ShardDataset loads numpy, h5py and torch and
# nothing else heavy (no numba, scipy, cv2, importers or pipeline).
_SUBMODULES = {
    "AssociationOptions": "association", "AssociationResult": "subject",
    "PersonCandidates": "association", "associate": "subject",
    "associate_people": "people", "PeopleAssociation": "people", "PeopleSamples": "people", "Track": "people",
    "SampleIdentity": "pipeline", "label_people": "pipeline",
    "Detections": "detections", "read_npz_detections": "detections",
    "write_npz_detections": "detections",
    "IMPORT_FORMATS": "importers", "load_candidates": "importers", "load_detections": "importers",
    "LabelIndex": "index", "ShardEntry": "index",
    "LabelJob": "pipeline", "LabelSummary": "pipeline", "match_cameras": "pipeline", "run_label_job": "pipeline",
    "NoiseEstimate": "gating", "estimate_noise": "gating",
    "LabelOptions": "pseudo_labels", "PseudoLabels": "pseudo_labels", "compute_pseudo_labels": "pseudo_labels",
    "SCHEMA_VERSION": "shards", "RejectReason": "shards", "ShardLayout": "shards", "read_shard": "shards",
    "write_shard": "shards",
    "read_skeleton_toml": "skeleton_file",
    "ShardDataset": "dataset", "ShardIterableDataset": "dataset", "collate_samples": "dataset",
    "FrozenDetector": "detector", "load_detector": "detector", "builtin_detector": "detector",
    "Labels": "export", "export_labels": "export", "read_labels": "export",
}
__all__ = list(_SUBMODULES)
__getattr__, __dir__ = lazy_attributes(__name__, _SUBMODULES)
