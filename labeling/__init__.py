"""Labeling: frozen 2D detector output -> robust triangulated pseudo-labels -> HDF5 shards.

Uses :mod:`geometry` (and reads sessions through :mod:`capture`, calibrations through
:mod:`calibration`). Conventions in :mod:`geometry.camera`.
"""

from .detections import Detections
from .index import LabelIndex, ShardEntry
from .pipeline import LabelJob, LabelSummary, match_cameras, run_label_job
from .pseudo_labels import LabelOptions, PseudoLabels, compute_pseudo_labels
from .shards import SCHEMA_VERSION, RejectReason, ShardLayout, read_shard, write_shard

__all__ = [
    "Detections",
    "LabelIndex", "ShardEntry", "LabelJob", "LabelSummary", "match_cameras", "run_label_job",
    "LabelOptions", "PseudoLabels", "compute_pseudo_labels",
    "SCHEMA_VERSION", "RejectReason", "ShardLayout", "read_shard", "write_shard",
    "ShardDataset", "ShardIterableDataset", "collate_samples",
]


def __getattr__(name: str):
    # The datasets import torch: only when a trainer asks for them.
    if name in ("ShardDataset", "ShardIterableDataset", "collate_samples"):
        from . import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'labeling' has no attribute {name!r}")
