"""``index.json`` at the root of a labeling output: the shards that are complete, and provenance.

It is rewritten atomically (temp name, fsync, rename) after every shard, so a run killed at any
moment leaves an index that lists exactly the shards that are whole; ``--resume`` re-verifies
their sha256 and skips them.

Layout::

    {"format": "rigkit-label-index", "schema_version": 2, "rigkit_version": "...", "complete": true,
     "job": {"job_id": <sha256 of the job>, "num_framesets": F, "shard_size": S,
             "num_shards": ..., "provenance": {"calibration": path, "calibration_sha256": ...,
             "detections": ..., "detector": ..., "weights_sha256": ...}, "options": {...},
             "noise": {<schema 2: labeling.gating.NoiseEstimate.to_json(): "mode", "camera_names",
                       "group_names", "joint_group", "sigma_px", "num_samples", "threshold_px",
                       "gate_px" per camera and joint group>}},
     "shards": [{"file": "shard-00000.h5", "shard": 0, "first_position": 0, "num_samples": S,
                 "sha256": ..., "frame_index_first": ..., "frame_index_last": ...,
                 "num_valid_joints": ...}, ...],
     "tracks": [{"person_id": 0, "num_framesets": ..., "frame_index_first": ...,
                 "frame_index_last": ..., "mean_acceptance": ..., "uncertain_framesets": ...},
                ...]}

``tracks`` (schema 2) lists the people labeled, one per track, written when the run completes;
a single-person job lists person 0. ``first_position`` and ``num_samples`` count samples (one
per person per frameset), which are framesets when one person is labeled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from rigkit_files import sha256_of_file, write_json_atomic
from rigkit_version import rigkit_version

from .shards import SCHEMA_VERSION

__all__ = ["INDEX_NAME", "ShardEntry", "LabelIndex", "job_id", "shard_file_name"]

INDEX_NAME = "index.json"
_FORMAT = "rigkit-label-index"
log = logging.getLogger(__name__)


def shard_file_name(shard: int) -> str:
    return f"shard-{shard:05d}.h5"


def job_id(job: dict) -> str:
    """sha256 of the canonical JSON of everything that determines the shards' contents."""
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ShardEntry:
    """One complete shard. first_position: its first frameset's position in the take."""

    file: str
    shard: int
    first_position: int
    num_samples: int
    sha256: str
    frame_index_first: int
    frame_index_last: int
    num_valid_joints: int

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True, kw_only=True)
class LabelIndex:
    """The content of ``index.json``. job: the description whose :func:`job_id` it carries."""

    job: dict
    shards: tuple[ShardEntry, ...] = ()
    tracks: tuple[dict, ...] = ()
    schema_version: int = SCHEMA_VERSION
    rigkit_version: str = field(default_factory=rigkit_version)

    @property
    def job_id(self) -> str:
        return self.job["job_id"]

    @property
    def num_samples(self) -> int:
        return sum(s.num_samples for s in self.shards)

    @property
    def complete(self) -> bool:
        """True when every shard of the job is written (``index.json`` records it as ``"complete"``;
        an interrupted run's index lists only the shards that are whole)."""
        return len(self.shards) == self.job.get("num_shards", -1)

    def incomplete_note(self, root: str | os.PathLike) -> str:
        """One sentence saying how much of an incomplete run ``root`` holds and how to finish it."""
        return (f"{root} is an incomplete labeling run: {len(self.shards)} of {self.job.get('num_shards', '?')} "
                f"shards, {self.num_samples} of {self.job.get('num_framesets', '?')} framesets; finish it with "
                "'rigkit label ... --resume'")

    def with_shard(self, entry: ShardEntry) -> "LabelIndex":
        """A copy with ``entry`` added (replacing an entry of the same shard number), sorted."""
        others = [s for s in self.shards if s.shard != entry.shard]
        return replace(self, shards=tuple(sorted(others + [entry], key=lambda s: s.shard)))

    def to_json(self) -> dict:
        return {"format": _FORMAT, "schema_version": self.schema_version,
                "rigkit_version": self.rigkit_version, "complete": self.complete, "job": self.job,
                "shards": [s.to_json() for s in self.shards], "tracks": list(self.tracks)}

    def write(self, root: str | os.PathLike) -> None:
        """Atomically replace ``root/index.json``."""
        write_json_atomic(Path(root) / INDEX_NAME, self.to_json(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict) -> "LabelIndex":
        if data.get("format") != _FORMAT:
            raise ValueError(f"not a rigkit label index (format {data.get('format')!r})")
        version = int(data["schema_version"])
        if version > SCHEMA_VERSION:
            raise ValueError(f"index schema version {version} is newer than this rigkit reads "
                             f"({SCHEMA_VERSION}); upgrade rigkit")
        return cls(job=data["job"], shards=tuple(ShardEntry(**s) for s in data["shards"]),
                   tracks=tuple(data.get("tracks", ())), schema_version=version, rigkit_version=data.get("rigkit_version", ""))

    @classmethod
    def read(cls, root: str | os.PathLike) -> "LabelIndex":
        """Load ``root/index.json`` (``root`` may also be the index file itself)."""
        path = Path(root)
        if path.is_dir():
            path = path / INDEX_NAME
        if not path.is_file():
            raise ValueError(f"no label index at {path}; run 'rigkit label' first")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from None
        return cls.from_json(data)

    def verified(self, root: str | os.PathLike) -> "LabelIndex":
        """A copy listing only the shards whose file exists with the recorded sha256."""
        root = Path(root)
        kept = []
        for entry in self.shards:
            path = root / entry.file
            if path.is_file() and sha256_of_file(path) == entry.sha256:
                kept.append(entry)
            else:
                log.warning("shard %s is missing or does not match its sha256; it will be rewritten",
                            entry.file)
        return replace(self, shards=tuple(kept))
