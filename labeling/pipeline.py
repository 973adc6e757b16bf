"""The labeling job: calibration + 2D detections -> HDF5 shards + ``index.json``, resumable.

The take's F framesets are cut into shards of ``shard_size``; shard ``s`` holds positions
``s * shard_size`` to ``(s + 1) * shard_size``. Each shard is computed from its framesets plus
:func:`labeling.pseudo_labels.context_framesets` of context on each side and take-wide bone
lengths fixed before any shard is written, so a shard's bytes do not depend on which other shards
were computed in the same run, in which order, or on which machine (local, resumed, Ray).
Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from rigkit_files import temp_glob

from .detections import Detections
from .gating import NoiseEstimate
from .index import INDEX_NAME, LabelIndex, ShardEntry, job_id, shard_file_name
from .pseudo_labels import (LabelOptions, compute_pseudo_labels, context_framesets, noise_for,
                            reference_bone_lengths)
from .shards import ShardLayout, identity_defaults, write_shard

__all__ = ["LabelJob", "LabelSummary", "ShardTask", "SampleIdentity", "match_cameras", "run_label_job",
           "label_shard", "label_people", "summarize_tracks", "shard_task", "run_shard_task", "prepare_output",
           "summarize_output", "detections_sha256", "Executor"]

Executor = Literal["local", "ray"]
log = logging.getLogger(__name__)


def match_cameras(rig, detections: Detections):
    """Pair the detections' views with the calibration's cameras.

    By name where every detection camera is in the rig (the rig is reduced to those cameras, in
    the rig's order); otherwise, when the counts agree, in sorted order, with a warning naming
    the pairs. Returns ``(rig, detections)`` with the same V cameras in the same order.
    """
    rig_names, det_names = list(rig.names), list(detections.camera_names)
    if set(det_names) <= set(rig_names):
        names = [n for n in rig_names if n in det_names]
        return rig.subset(names), detections.select_cameras(names)
    if len(det_names) != len(rig_names):
        unknown = [n for n in det_names if n not in rig_names]
        raise ValueError(f"the detections have camera(s) {', '.join(unknown)} that the calibration "
                         f"({', '.join(rig_names)}) lacks; calibrate them or leave their detections out")
    pairs = list(zip(sorted(det_names), sorted(rig_names)))
    log.warning("camera names of the detections do not match the calibration; pairing them in "
                "sorted order: %s", ", ".join(f"{d} -> {r}" for d, r in pairs))
    ordered = detections.select_cameras([d for d, _ in pairs])
    renamed = Detections(points_2d=ordered.points_2d, scores=ordered.scores,
                         camera_names=tuple(r for _, r in pairs), joint_names=ordered.joint_names,
                         frame_index=ordered.frame_index, timestamp_s=ordered.timestamp_s,
                         source=ordered.source, metadata=dict(ordered.metadata))
    return rig.subset([r for _, r in pairs]), renamed


def detections_sha256(detections: Detections) -> str:
    """sha256 of the detections' content (arrays and names), for provenance and resume checks."""
    digest = hashlib.sha256()
    for array in (detections.points_2d, detections.scores, detections.frame_index,
                  detections.timestamp_s):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\0".join(detections.camera_names + ("|",) + detections.joint_names).encode())
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True)
class SampleIdentity:
    """Who each sample of a multi-person job is (one sample per person per frameset, sorted by
    frameset then person; see :class:`labeling.people.PeopleSamples`).

    person_id: (N,) int64. position: (N,) int64 frameset position in the take.
    candidate: (V, N) int64 candidate of each view (-1: none). affinity_px: (V, N) float64.
    uncertain: (N,) bool. tracks: the association's track summaries (JSON dicts).
    """

    person_id: np.ndarray
    position: np.ndarray
    candidate: np.ndarray
    affinity_px: np.ndarray
    uncertain: np.ndarray
    tracks: tuple[dict, ...] = ()

    @classmethod
    def from_samples(cls, samples) -> "SampleIdentity":
        """From :class:`labeling.people.PeopleSamples`."""
        return cls(person_id=samples.person_id, position=samples.position,
                   candidate=samples.candidate, affinity_px=samples.affinity_px,
                   uncertain=samples.uncertain, tracks=tuple(t.to_json() for t in samples.tracks))

    def reorder_views(self, order: list[int]) -> "SampleIdentity":
        return SampleIdentity(person_id=self.person_id, position=self.position,
                              candidate=self.candidate[order], affinity_px=self.affinity_px[order],
                              uncertain=self.uncertain, tracks=self.tracks)

    @property
    def people(self) -> np.ndarray:
        """The person ids present, sorted."""
        return np.unique(self.person_id)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for array in (self.person_id, self.position, self.candidate, self.affinity_px, self.uncertain):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def _take_samples(detections: Detections, index: np.ndarray) -> Detections:
    """The samples ``index`` (positions along N) of ``detections``."""
    return Detections(points_2d=detections.points_2d[:, index], scores=detections.scores[:, index],
                      camera_names=detections.camera_names, joint_names=detections.joint_names,
                      frame_index=detections.frame_index[index],
                      timestamp_s=detections.timestamp_s[index], source=detections.source,
                      metadata=dict(detections.metadata))


@dataclass(frozen=True, kw_only=True)
class LabelJob:
    """Everything that determines the shards.

    rig: ``geometry.Rig``; detections: ``labeling.Detections`` (matched to the rig with
    :func:`match_cameras` when the job is built through :meth:`create`).
    shard_size: framesets per shard. bones: (B, 2) joint indices or None (no bone check).
    provenance: calibration file + sha256, detector + weights sha256 or imported files.
    crop_source, crop_px: a session whose frames are cropped around the subject into every
        shard (``crop_px`` square JPEG per view), or None and 0 for labels only.
    crop_offsets: ``((name, N), ...)`` whole frames: camera ``name``'s frame ``k + N`` is
        frameset ``k``'s (the recording's ``--frame-offset``; a sub-frame offset has no image of
        the frameset's instant, so crops refuse it).
    reference_bone_lengths_m: (B, 2) take-wide (median, spread) metres; :meth:`create` fills it.
    noise: the take's noise and thresholds (:class:`labeling.gating.NoiseEstimate`), fixed before
        any shard; estimated from the whole take when None.
        (T, B, 2) per person with ``identity``.
    identity: who each sample is when several people are labeled (``detections`` then hold one
        sample per person per frameset, see :class:`SampleIdentity`); None for one person, whose
        samples are the framesets.
    """

    rig: object
    detections: Detections
    options: LabelOptions = field(default_factory=LabelOptions)
    shard_size: int = 1024
    bones: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    layout: ShardLayout = field(default_factory=ShardLayout)
    reference_bone_lengths_m: np.ndarray | None = None
    crop_source: str | None = None
    crop_px: int = 0
    crop_offsets: tuple[tuple[str, int], ...] = ()
    noise: NoiseEstimate | None = None
    identity: SampleIdentity | None = None

    def __post_init__(self) -> None:
        if self.identity is not None and self.identity.person_id.shape != (self.detections.num_frames,):
            raise ValueError(f"identity has {self.identity.person_id.shape[0]} samples, the "
                             f"detections {self.detections.num_frames}")
        if (self.crop_source is None) != (self.crop_px == 0) or self.crop_px < 0:
            raise ValueError("image crops need both a session (crop_source) and crop_px > 0")
        if any(not float(n).is_integer() for _, n in self.crop_offsets):
            raise ValueError("image crops need whole frame offsets: with a sub-frame --frame-offset no "
                             "frame shows the labels' instant (round the offsets, or label without crops)")
        if self.shard_size < 1:
            raise ValueError(f"shard_size is {self.shard_size}, expected >= 1 framesets")
        if len(self.rig) != self.detections.num_views:
            raise ValueError(f"the rig has {len(self.rig)} cameras but the detections "
                             f"{self.detections.num_views} views")
        if tuple(self.rig.names) != self.detections.camera_names:
            raise ValueError("the detections' cameras must be the rig's, in order; "
                             "build the job with LabelJob.create")
        if self.noise is None:  # fixed once for the take, so no shard depends on another's cut
            object.__setattr__(self, "noise", noise_for(self.rig, self.detections, self.options))

    @classmethod
    def create(cls, rig, detections, **kwargs) -> "LabelJob":
        """Match cameras, then fix the take-wide noise estimate and bone lengths once (before any
        shard).

        detections: :class:`labeling.Detections` of one person, or the
        :class:`labeling.people.PeopleSamples` of several (their identity comes along).
        """
        if not isinstance(detections, Detections):  # PeopleSamples
            kwargs["identity"] = SampleIdentity.from_samples(detections)
            detections = detections.detections
        names = detections.camera_names
        rig, detections = match_cameras(rig, detections)
        if kwargs.get("identity") is not None and detections.camera_names != names:
            # The views as match_cameras reordered them: by name, else paired in sorted order.
            renamed = dict(zip(sorted(rig.names), sorted(names)))
            order = [names.index(n if n in names else renamed[n]) for n in detections.camera_names]
            kwargs["identity"] = kwargs["identity"].reorder_views(order)
        job = cls(rig=rig, detections=detections, **kwargs)
        if job.bones is None or not len(job.bones) or job.options.bone_check == "off" \
                or job.reference_bone_lengths_m is not None:
            return job
        if job.identity is None:
            lengths = reference_bone_lengths(rig, detections, job.bones, options=job.options,
                                             noise=job.noise)
        else:  # every person their own bones
            people = job.identity.people
            lengths = np.full((int(people.max()) + 1 if people.size else 0, len(job.bones), 2), np.nan)
            for person in people:
                mine = np.flatnonzero(job.identity.person_id == person)
                lengths[person] = reference_bone_lengths(rig, _take_samples(detections, mine),
                                                         job.bones, options=job.options,
                                                         noise=job.noise)
        return cls(rig=rig, detections=detections,
                   **{**kwargs, "noise": job.noise, "reference_bone_lengths_m": lengths})

    @property
    def num_shards(self) -> int:
        return -(-self.detections.num_frames // self.shard_size)

    def shard_range(self, shard: int) -> tuple[int, int]:
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.detections.num_frames)

    @cached_property
    def _description(self) -> dict:
        return self._describe()

    def description(self) -> dict:
        """JSON description of the job (recorded in index.json; its hash is the job id)."""
        return dict(self._description)

    def _describe(self) -> dict:
        """JSON description of the job (recorded in index.json; its hash is the job id)."""
        bones = None if self.bones is None else np.asarray(self.bones).tolist()
        def rounded(value):
            value = np.asarray(value)
            if value.ndim:
                return [rounded(v) for v in value]
            return None if not np.isfinite(value) else round(float(value), 9)

        lengths = (None if self.reference_bone_lengths_m is None else
                   rounded(self.reference_bone_lengths_m))
        job = {"num_framesets": self.detections.num_frames, "shard_size": self.shard_size,
               "num_shards": self.num_shards, "options": self.options.to_json(),
               "layout": self.layout.__dict__.copy(), "joint_names": list(self.detections.joint_names),
               "camera_names": list(self.rig.names), "bones": bones,
               "reference_bone_lengths_m": lengths, "crop_px": self.crop_px,
               **({"crop_offsets": dict(self.crop_offsets)} if self.crop_offsets else {}),
               "noise": self.noise.to_json(),
               "provenance": {**self.provenance, "detections_sha256": detections_sha256(self.detections),
                              "detections_source": self.detections.source}}
        if self.identity is not None:
            job["people"] = {"num_people": int(self.identity.people.size),
                             "identity_sha256": self.identity.sha256(),
                             "tracks": list(self.identity.tracks)}
        job["job_id"] = job_id(job)
        return job


@dataclass(frozen=True, kw_only=True)
class ShardTask:
    """What one shard needs, and nothing more (what an executor ships to a worker).

    detections: the shard's framesets plus context; keep: the shard's positions within them.
    """

    shard: int
    first_position: int
    keep: tuple[int, int]
    rig: object
    detections: Detections
    options: LabelOptions
    bones: np.ndarray | None
    reference_bone_lengths_m: np.ndarray | None
    layout: ShardLayout
    description: dict
    crop_source: str | None = None
    crop_px: int = 0
    crop_offsets: tuple[tuple[str, int], ...] = ()
    noise: NoiseEstimate | None = None
    identity: SampleIdentity | None = None


def shard_task(job: LabelJob, shard: int) -> ShardTask:
    """The task of shard ``shard`` of ``job``.

    With several people the context is every sample within the context framesets of the
    shard's first and last framesets (each person is computed on their own samples)."""
    start, stop = job.shard_range(shard)
    margin = context_framesets(job.options)
    identity = job.identity
    if identity is None:
        lo, hi = max(0, start - margin), min(job.detections.num_frames, stop + margin)
    else:
        position = identity.position
        lo = int(np.searchsorted(position, position[start] - margin, side="left"))
        hi = int(np.searchsorted(position, position[stop - 1] + margin, side="right"))
        identity = SampleIdentity(person_id=identity.person_id[lo:hi],
                                  position=identity.position[lo:hi],
                                  candidate=identity.candidate[:, lo:hi],
                                  affinity_px=identity.affinity_px[:, lo:hi],
                                  uncertain=identity.uncertain[lo:hi])
    return ShardTask(shard=shard, first_position=start, keep=(start - lo, stop - lo), rig=job.rig,
                     detections=job.detections.frames(lo, hi), options=job.options,
                     bones=job.bones, reference_bone_lengths_m=job.reference_bone_lengths_m,
                     layout=job.layout, description=job.description(),
                     crop_source=job.crop_source, crop_px=job.crop_px,
                     crop_offsets=job.crop_offsets, noise=job.noise,
                     identity=identity)


def label_people(rig, detections: Detections, person_id: np.ndarray, *, options: LabelOptions,
                 bones: np.ndarray | None = None,
                 reference_bone_lengths_m: np.ndarray | None = None,
                 noise: NoiseEstimate | None = None):
    """Pseudo-labels of samples of several people: each person's samples (``person_id (N,)``)
    through :func:`labeling.pseudo_labels.compute_pseudo_labels` on their own (smoothing and the
    bone check never mix people). reference_bone_lengths_m: (T, B, 2) per person, or None.
    noise: the take's thresholds, the same for everyone (every sample is then triangulated in
    one call, each point on its own as before); None: each person's own estimate.
    Returns a :class:`labeling.pseudo_labels.PseudoLabels` of the N samples, in their order."""
    from .pseudo_labels import PseudoLabels, _labels_from, _take_triangulation, _triangulate
    from .shards import LABEL_FIELDS

    N = detections.num_frames
    triangulated = None if noise is None else _triangulate(rig, detections, options, noise)
    merged: dict[str, np.ndarray] = {}
    for person in np.unique(person_id):
        mine = np.flatnonzero(person_id == person)
        reference = (None if reference_bone_lengths_m is None
                     else np.asarray(reference_bone_lengths_m)[person])
        samples = _take_samples(detections, mine)
        if triangulated is None:
            labels = compute_pseudo_labels(rig, samples, options=options, bones=bones,
                                           reference_bone_lengths_m=reference)
        else:
            labels = _labels_from(rig, samples, _take_triangulation(triangulated, mine),
                                  options=options, bones=bones, reference_bone_lengths_m=reference,
                                  noise=noise)
        for name in LABEL_FIELDS:
            value = getattr(labels, name)
            if name not in merged:
                merged[name] = np.empty((N,) + value.shape[1:], dtype=value.dtype)
            merged[name][mine] = value
    if not merged:
        return compute_pseudo_labels(rig, detections, options=options, noise=noise)
    return PseudoLabels(**merged)


def _label_people(task: ShardTask):
    if task.identity is None:
        return compute_pseudo_labels(task.rig, task.detections, options=task.options,
                                     bones=task.bones,
                                     reference_bone_lengths_m=task.reference_bone_lengths_m,
                                     noise=task.noise)
    return label_people(task.rig, task.detections, task.identity.person_id, options=task.options,
                        bones=task.bones, reference_bone_lengths_m=task.reference_bone_lengths_m,
                        noise=task.noise)


def run_shard_task(task: ShardTask, out_dir: str | os.PathLike) -> ShardEntry:
    """Compute and write one shard (atomically). The unit of work of every executor."""
    labels = _label_people(task).subset(*task.keep)
    lo, hi = task.keep
    if task.identity is None:
        identity = identity_defaults(len(labels), len(task.rig))
    else:
        identity = {"person_id": task.identity.person_id[lo:hi],
                    "association_candidate": task.identity.candidate[:, lo:hi].T,
                    "association_affinity_px": task.identity.affinity_px[:, lo:hi].T,
                    "identity_uncertain": task.identity.uncertain[lo:hi]}
    description = task.description
    name = shard_file_name(task.shard)
    crops = {}
    if task.crop_source is not None:
        from .session_labeling import session_crops

        # Centre the crops on the accepted labels reprojected, else on the inlier detections.
        reprojected = np.moveaxis(task.rig.project(labels.keypoints_3d.astype(np.float64)), 0, 1)
        centre_on = np.where(labels.valid[:, None, :, None], reprojected,
                             np.where(labels.inliers[..., None], labels.keypoints_2d, np.nan))
        jpeg, boxes = session_crops(task.crop_source, tuple(task.rig.names), labels.frame_index,
                                    centre_on, crop_px=task.crop_px, offsets=dict(task.crop_offsets))
        crops = dict(crops_jpeg=jpeg, crop_box_px=boxes, crop_size_px=task.crop_px)
    digest = write_shard(Path(out_dir) / name, {**labels.arrays(), **identity}, rig=task.rig,
                         joint_names=task.detections.joint_names, bones=task.bones,
                         options=description["options"], noise=description["noise"],
                         provenance={**description["provenance"], "job_id": description["job_id"],
                                     "shard": task.shard, "first_position": task.first_position},
                         layout=task.layout, **crops)
    return ShardEntry(file=name, shard=task.shard, first_position=task.first_position,
                      num_samples=len(labels), sha256=digest,
                      frame_index_first=int(labels.frame_index[0]),
                      frame_index_last=int(labels.frame_index[-1]),
                      num_valid_joints=int(labels.valid.sum()))


def label_shard(job: LabelJob, shard: int, out_dir: str | os.PathLike) -> ShardEntry:
    """Compute and write shard ``shard`` of ``job`` into ``out_dir`` in this process (also the task
    function the Ray executor runs on its workers)."""
    return run_shard_task(shard_task(job, shard), out_dir)


@dataclass(frozen=True, kw_only=True)
class LabelSummary:
    """What a labeling run did. accepted_per_joint: joint name -> (accepted, framesets)."""

    out_dir: Path
    num_framesets: int
    framesets_written: int
    num_shards: int
    shards_written: int
    shards_skipped: int
    accepted_per_joint: dict[str, tuple[int, int]]
    median_reprojection_error_px: float
    seconds: float
    noise: NoiseEstimate | None = None
    tracks: tuple[dict, ...] = ()

    @property
    def framesets_per_s(self) -> float:
        """Framesets labeled (written) by this run per second of it."""
        return self.framesets_written / max(self.seconds, 1e-9)

    def table(self) -> str:
        """A one-screen text summary (the CLI prints it)."""
        lines = [f"{self.num_framesets} framesets in {self.num_shards} shards at {self.out_dir} "
                 f"({self.shards_written} written, {self.shards_skipped} already complete) in "
                 f"{self.seconds:.1f} s ({self.framesets_per_s:.0f} framesets/s)",
                 f"median reprojection error of accepted labels (inlier views): "
                 + (f"{self.median_reprojection_error_px:.2f} px" if np.isfinite(self.median_reprojection_error_px)
                    else "none (no label was accepted)"),
                 f"{'joint':<20} {'accepted':>9} {'of':>9} {'share':>7}"]
        for name, (accepted, total) in self.accepted_per_joint.items():
            lines.append(f"{name:<20} {accepted:>9} {total:>9} {accepted / max(total, 1):>7.1%}")
        if self.noise is not None:
            gates = self.noise.gate_px
            lines.append(f"gating: {self.noise.mode}; label gates {np.nanmin(gates):.1f}-"
                         f"{np.nanmax(gates):.1f} px over cameras and joint groups (noise and "
                         "thresholds per camera: rigkit label report)")
        if len(self.tracks) > 1:
            lines.append(f"{len(self.tracks)} people (one track each):")
            lines.append(f"{'person':<8} {'framesets':>10} {'frames':>15} {'accepted':>9} "
                         f"{'uncertain':>10}")
            for track in self.tracks:
                lines.append(f"{track['person_id']:<8} {track['num_framesets']:>10} "
                             f"{track['frame_index_first']:>7}-{track['frame_index_last']:<7} "
                             f"{track['mean_acceptance']:>9.1%} {track['uncertain_framesets']:>10}")
        return "\n".join(lines)


def summarize_output(out_dir: str | os.PathLike) -> tuple[dict[str, tuple[int, int]], float]:
    """Per-joint (accepted, framesets) and the median inlier reprojection error over all shards."""
    import h5py

    index = LabelIndex.read(out_dir)
    names = index.job["joint_names"]
    accepted = np.zeros(len(names), dtype=np.int64)
    total = 0
    errors = []
    for entry in index.shards:
        with h5py.File(Path(out_dir) / entry.file, "r") as f:
            valid = f["valid"][()]
            inliers = f["inliers"][()] & valid[:, None, :]
            errors.append(f["reprojection_error_px"][()][inliers])
        accepted += valid.sum(axis=0)
        total += valid.shape[0]
    errors = np.concatenate(errors) if errors else np.zeros(0)
    median = float(np.median(errors)) if errors.size else float("nan")
    return {n: (int(a), total) for n, a in zip(names, accepted)}, median


def summarize_tracks(out_dir: str | os.PathLike) -> list[dict]:
    """Per person over all shards: framesets, first and last frame, mean acceptance (share of
    joints accepted), framesets with uncertain identity and which ones (frame indices)."""
    from .shards import read_shard

    index = LabelIndex.read(out_dir)
    person, frame, accepted, uncertain = [], [], [], []
    for entry in index.shards:
        data = read_shard(Path(out_dir) / entry.file,
                          fields=("person_id", "frame_index", "valid", "identity_uncertain"))
        person.append(data["person_id"])
        frame.append(data["frame_index"])
        accepted.append(data["valid"].mean(axis=1) if data["valid"].size else np.zeros(0))
        uncertain.append(data["identity_uncertain"])
    if not person:
        return []
    person, frame = np.concatenate(person), np.concatenate(frame)
    accepted, uncertain = np.concatenate(accepted), np.concatenate(uncertain)
    known = {t["person_id"]: t for t in index.job.get("people", {}).get("tracks", [])}
    tracks = []
    for p in np.unique(person):
        mine = person == p
        track = {"person_id": int(p), "num_framesets": int(mine.sum()),
                 "frame_index_first": int(frame[mine].min()), "frame_index_last": int(frame[mine].max()),
                 "mean_acceptance": round(float(accepted[mine].mean()), 6),
                 "uncertain_framesets": int(uncertain[mine].sum()),
                 "uncertain_frames": [int(f) for f in frame[mine & uncertain]]}
        if int(p) in known:
            track["view_framesets"] = known[int(p)].get("view_framesets")
        tracks.append(track)
    return tracks


def _clean_temporaries(out_dir: Path) -> None:
    for stray in [*out_dir.glob(temp_glob("shard-*.h5")), *out_dir.glob(temp_glob(INDEX_NAME))]:
        log.info("removing %s left by an interrupted run", stray.name)
        stray.unlink(missing_ok=True)


def prepare_output(job: LabelJob, out_dir: str | os.PathLike, *, resume: bool) -> tuple[LabelIndex, list[int]]:
    """Create/verify the output folder; returns the index so far and the shards still to do."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clean_temporaries(out_dir)
    description = job.description()
    index = LabelIndex(job=description)
    if (out_dir / INDEX_NAME).exists():
        if not resume:
            raise ValueError(f"{out_dir} already holds labels; pass --resume to finish that run "
                             "or choose an empty --out folder")
        previous = LabelIndex.read(out_dir)
        if previous.job_id != description["job_id"]:
            raise ValueError(f"{out_dir} holds labels of a different job (inputs, options or "
                             "shard size differ); choose another --out folder to start afresh")
        index = previous.verified(out_dir)
    elif resume and any(out_dir.glob("shard-*.h5")):
        raise ValueError(f"{out_dir} has shards but no {INDEX_NAME}; choose an empty --out folder")
    done = {entry.shard for entry in index.shards}
    index.write(out_dir)
    return index, [s for s in range(job.num_shards) if s not in done]


def require_ray() -> None:
    """ValueError (one sentence) unless Ray can be imported."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ValueError("--executor ray needs Ray, which is not installed: pip install 'rigkit[ray]' "
                         "(or use --executor local)")


def run_label_job(job: LabelJob, out_dir: str | os.PathLike, *, resume: bool = False,
                  executor: Executor = "local", progress: bool = True,
                  ray_options: dict | None = None) -> LabelSummary:
    """Run the job: write every missing shard, update ``index.json`` after each, summarise.

    resume: continue a run in ``out_dir`` (complete shards, verified by sha256, are skipped);
    without it ``out_dir`` must not already hold an index.
    executor: ``"local"`` (this process) or ``"ray"`` (:mod:`labeling.ray_executor`).
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    started = time.perf_counter()
    if executor not in ("local", "ray"):
        raise ValueError(f"executor is {executor!r}, expected 'local' or 'ray'")
    if executor == "ray":
        require_ray()  # before anything is written: a run that cannot start leaves no index
    index, todo = prepare_output(job, out_dir, resume=resume)
    skipped = job.num_shards - len(todo)
    total = sum(np.subtract(*job.shard_range(s)[::-1]) for s in todo)
    bar = tqdm(total=int(total), unit="frameset", desc="labeling", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    try:
        if executor == "local":
            entries = (label_shard(job, shard, out_dir) for shard in todo)
        elif executor == "ray":
            from .ray_executor import label_shards_with_ray

            entries = label_shards_with_ray(job, todo, out_dir, compute=label_shard, **(ray_options or {}))
        try:
            for entry in entries:
                index = index.with_shard(entry)
                index.write(out_dir)
                bar.update(entry.num_samples)
        except OSError as error:  # a full disk, a folder gone: the shards listed in the index are whole
            raise OSError(f"writing the labels to {out_dir} failed ({error.strerror or error}); the "
                          f"{len(index.shards)} of {job.num_shards} shards finished before are intact: free "
                          "space and run the same command with --resume") from error
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    accepted, median = summarize_output(out_dir)
    tracks = tuple(summarize_tracks(out_dir))
    if index.complete:
        index = replace(LabelIndex.read(out_dir), tracks=tracks)
        index.write(out_dir)
    summary = LabelSummary(tracks=tracks, out_dir=out_dir, num_framesets=job.detections.num_frames,
                           framesets_written=int(total), num_shards=job.num_shards, shards_written=len(todo),
                           shards_skipped=skipped, accepted_per_joint=accepted,
                           median_reprojection_error_px=median, seconds=seconds, noise=job.noise)
    log.info("labeling done: %d framesets, %d shards written, %d skipped, %.1f s",
             summary.num_framesets, summary.shards_written, summary.shards_skipped, seconds)
    return summary
