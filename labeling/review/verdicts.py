"""The review file: a person's verdicts on pseudo-labels, kept beside the shards, never in them.

``DIR/review.json`` (written whole or not at all: temp name, fsync, rename, fsync folder)::

    {"format": "rigkit-label-review", "version": 1, "job_id": "<index.json's job_id>",
     "verdicts": [{"sample": 123, "frame_index": 4567, "level": "joint", "person": 0,
                   "joint": "left_knee", "verdict": "reject", "who": "alice",
                   "when": "2026-12-03T10:00:00Z"}, ...]}

``sample`` is the frameset's position in the label set (``ShardDataset`` order, the ``sample``
field), ``frame_index`` repeats the shard's field for people reading the file. ``level`` is
``"joint"`` (one joint of one person), ``"person"`` (every joint of a person) or ``"frameset"``
(every joint of every person). The shards hold one subject per frameset (single-subject
association), so ``person`` is 0 and a person verdict covers the same joints as a frameset one.

How verdicts apply (:meth:`Review.rejected`): for each (sample, joint) the most specific verdict
wins (joint over person over frameset); ``"reject"`` makes the label invalid, ``"accept"`` only
records that someone looked and agreed: it never revives a label the gates rejected (its 3D point
is NaN in the shard). Readers: :class:`labeling.dataset.ShardDataset` applies the review by
default; ``rigkit label export`` calls :func:`apply_review` on each batch.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from rigkit_files import write_atomic

__all__ = ["REVIEW_NAME", "Verdict", "Review", "load_review", "apply_review", "now_utc", "reviewer_name"]

REVIEW_NAME = "review.json"
_FORMAT = "rigkit-label-review"
_VERSION = 1
LEVELS = ("joint", "person", "frameset")
VERDICTS = ("accept", "reject")
_SPECIFICITY = {"frameset": 0, "person": 1, "joint": 2}


def now_utc() -> str:
    """ISO 8601 UTC time to the second, e.g. ``2026-12-03T10:00:00Z``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reviewer_name() -> str:
    """Who is reviewing: ``$RIGKIT_REVIEWER``, else the login name."""
    name = os.environ.get("RIGKIT_REVIEWER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """One decision. sample: position in the label set; joint: a joint name (level "joint")."""

    sample: int
    level: str
    verdict: str
    frame_index: int = -1
    person: int = 0
    joint: str | None = None
    who: str = ""
    when: str = ""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"verdict level is {self.level!r}, expected one of {', '.join(LEVELS)}")
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict is {self.verdict!r}, expected 'accept' or 'reject'")
        if (self.level == "joint") != (self.joint is not None):
            raise ValueError("a joint verdict names its joint, and only a joint verdict does")
        if self.sample < 0 or self.person < 0:
            raise ValueError(f"sample {self.sample} / person {self.person} must be >= 0")

    @property
    def key(self) -> tuple:
        """What the verdict is about: a newer verdict with the same key replaces it."""
        return (self.sample, self.level, self.person if self.level != "frameset" else 0, self.joint)


@dataclass(frozen=True, kw_only=True)
class Review:
    """Every verdict of a label set (the content of ``review.json``), at most one per key."""

    job_id: str = ""
    verdicts: tuple[Verdict, ...] = ()
    _by_sample: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_sample: dict[int, list[Verdict]] = {}
        for v in self.verdicts:
            by_sample.setdefault(v.sample, []).append(v)
        object.__setattr__(self, "_by_sample", by_sample)

    def __len__(self) -> int:
        return len(self.verdicts)

    def of_sample(self, sample: int) -> list[Verdict]:
        return list(self._by_sample.get(int(sample), ()))

    def with_verdict(self, verdict: Verdict) -> "Review":
        """A copy where ``verdict`` replaces any verdict with the same key."""
        kept = tuple(v for v in self.verdicts if v.key != verdict.key)
        return replace(self, verdicts=kept + (verdict,))

    def without(self, key: tuple) -> "Review":
        return replace(self, verdicts=tuple(v for v in self.verdicts if v.key != key))

    def rejected(self, samples: np.ndarray, joint_names) -> np.ndarray:
        """(n, J) bool: the labels of ``samples (n,)`` that a verdict rejects."""
        samples = np.asarray(samples, dtype=np.int64).reshape(-1)
        J = len(joint_names)
        out = np.zeros((samples.size, J), dtype=bool)
        if not self.verdicts:
            return out
        position = {name: j for j, name in enumerate(joint_names)}
        for k, sample in enumerate(samples.tolist()):
            found = self._by_sample.get(sample)
            if found:
                out[k] = self._joint_mask(found, position, J)
        return out

    @staticmethod
    def _joint_mask(verdicts: list[Verdict], position: dict, J: int) -> np.ndarray:
        decided = np.full(J, -1)  # specificity of the verdict deciding each joint so far
        reject = np.zeros(J, dtype=bool)
        for v in verdicts:
            level = _SPECIFICITY[v.level]
            if v.level == "joint":
                j = position.get(v.joint)
                if j is None:
                    continue
                joints = np.array([j])
            else:
                joints = np.arange(J)
            joints = joints[decided[joints] <= level]
            decided[joints] = level
            reject[joints] = v.verdict == "reject"
        return reject

    def to_json(self) -> dict:
        return {"format": _FORMAT, "version": _VERSION, "job_id": self.job_id,
                "verdicts": [asdict(v) for v in self.verdicts]}

    def write(self, root: str | os.PathLike) -> Path:
        """Atomically replace ``root/review.json``; returns its path."""
        path = Path(root) / REVIEW_NAME
        write_atomic(path, (json.dumps(self.to_json(), indent=1) + "\n").encode())
        return path

    @classmethod
    def from_json(cls, data: dict) -> "Review":
        if data.get("format") != _FORMAT:
            raise ValueError(f"not a rigkit review file (format {data.get('format')!r})")
        if int(data.get("version", 0)) > _VERSION:
            raise ValueError(f"review file version {data['version']} is newer than this rigkit "
                             f"reads ({_VERSION}); upgrade rigkit")
        return cls(job_id=str(data.get("job_id", "")),
                   verdicts=tuple(Verdict(**v) for v in data.get("verdicts", ())))


def load_review(root: str | os.PathLike, *, job_id: str | None = None) -> Review:
    """The review of the label set in ``root`` (an empty one when there is no ``review.json``).

    job_id: the label set's (``LabelIndex.job_id``); a review written for other shards is a
    ValueError (its sample positions would point at other framesets).
    """
    path = Path(root) / REVIEW_NAME
    if not path.is_file():
        return Review(job_id=job_id or "")
    try:
        review = Review.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{path} is not a valid review file ({error})") from None
    if job_id is not None and review.job_id and review.job_id != job_id:
        raise ValueError(f"{path} reviews another label set (job {review.job_id[:12]}, these "
                         f"shards are job {job_id[:12]}); move it away")
    return review


def apply_review(valid: np.ndarray, samples: np.ndarray, review: Review, joint_names) -> np.ndarray:
    """``valid (n, J)`` bool with the review's rejections applied (a new array).

    samples: (n,) positions of the rows in the label set (the ``sample`` field).
    """
    valid = np.asarray(valid, dtype=bool)
    if not len(review):
        return valid.copy()
    return valid & ~review.rejected(samples, joint_names)
