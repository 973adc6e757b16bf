"""``rigkit label export DIR --format trc|csv|npz``: the accepted labels in the formats peers read.

Every export reads the labels through ONE function, :func:`read_labels` (shards listed in
``index.json``, in order), which applies an optional ``label_filter`` (e.g. a review file's
verdicts) before anything is written; labels that did not pass the gates (``valid`` False) are
never exported as points.

Formats (metres, world frame; conventions in :mod:`geometry.camera`):

``trc``
    OpenSim / Pose2Sim marker file, one per person (``<out>.trc``, or ``<out>_person<id>.trc``
    when the labels hold several people), laid out as Pose2Sim's ``make_trc`` writes it: a
    ``PathFileType`` line, the ``DataRate ... OrigNumFrames`` header and its values, a
    ``Frame#  Time  joint...`` line, an ``X1 Y1 Z1 ...`` line, then one tab-separated row per
    frameset (``Frame#`` = frame index, ``Time`` in seconds); a missing point is empty fields.
    Units ``m``. DataRate comes from the timestamps (or ``fps``).
``csv``
    Anipose's ``pose-3d`` CSV, one per person: per joint ``<joint>_x, _y, _z`` (metres),
    ``_error`` (mean reprojection error over the views used, px), ``_ncams`` (views used) and
    ``_score`` (mean 2D score of those views), then ``fnum`` (frame index) and ``time_s``.
    A rejected label is NaN with ``_ncams = 0``.
``npz``
    Everything above as arrays: ``keypoints_3d (N, J, 3)``, ``valid (N, J)``, ``error_px``,
    ``ncams``, ``score`` ``(N, J)``, ``frame_index (N,)``, ``timestamp_s (N,)``,
    ``person_id (N,)``, ``joint_names (J,)``, ``camera_names (V,)``.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from rigkit_files import write_atomic

from .index import LabelIndex
from .shards import read_shard

__all__ = ["ExportFormat", "Labels", "LabelFilter", "read_labels", "export_labels",
           "write_trc", "write_anipose_csv", "write_npz", "register_export", "review_filter"]

log = logging.getLogger(__name__)

ExportFormat = Literal["trc", "csv", "npz"]
EXPORT_FORMATS: tuple[str, ...] = ("trc", "csv", "npz")


@dataclass(frozen=True)
class Labels:
    """The labels of a labeling output folder, sample by sample (N samples, V views, J joints).

    keypoints_3d: (N, J, 3) float64 metres, world frame; NaN where not accepted.
    valid: (N, J) bool, the label is accepted (passed every gate and the filter).
    error_px: (N, J) float64 mean reprojection error over the views used; NaN where not accepted.
    ncams: (N, J) int64 views used (0 where not accepted).
    score: (N, J) float64 mean 2D score over the views used; NaN where not accepted.
    frame_index: (N,) int64; timestamp_s: (N,) float64 (NaN when unknown).
    person_id: (N,) int64, the person each sample is (0 for single-person outputs).
    shard: (N,) int64 shard number, row: (N,) int64 row in it (to find a sample again).
    """

    keypoints_3d: np.ndarray
    valid: np.ndarray
    error_px: np.ndarray
    ncams: np.ndarray
    score: np.ndarray
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    person_id: np.ndarray
    shard: np.ndarray
    row: np.ndarray
    joint_names: tuple[str, ...]
    camera_names: tuple[str, ...]

    def masked(self, keep: np.ndarray) -> "Labels":
        """The same labels with only ``keep`` ((N, J) or (N,) bool) accepted."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape == self.valid.shape[:1]:
            keep = np.broadcast_to(keep[:, None], self.valid.shape)
        if keep.shape != self.valid.shape:
            raise ValueError(f"label filter returned shape {keep.shape}, expected "
                             f"{self.valid.shape} or {self.valid.shape[:1]}")
        valid = self.valid & keep
        return replace(self, valid=valid,
                       keypoints_3d=np.where(valid[..., None], self.keypoints_3d, np.nan),
                       error_px=np.where(valid, self.error_px, np.nan),
                       ncams=np.where(valid, self.ncams, 0), score=np.where(valid, self.score, np.nan))


# A filter sees the folder and its labels and says which to keep: (N, J) or (N,) bool.
LabelFilter = Callable[[Path, Labels], np.ndarray]


def read_labels(label_dir: str | os.PathLike, *, label_filter: LabelFilter | None = None) -> Labels:
    """Every sample of a labeling output folder (the shards ``index.json`` lists, in order),
    with only accepted labels as points; ``label_filter`` may reject more (never accept)."""
    root = Path(label_dir)
    index = LabelIndex.read(root)
    if not index.shards:
        raise ValueError(f"{root}/index.json lists no complete shard; nothing to export")
    parts = []
    joint_names = camera_names = None
    for entry in index.shards:
        path = root / entry.file
        if not path.is_file():
            raise ValueError(f"{path} is listed in index.json but missing; run 'rigkit label --resume'")
        shard = read_shard(path, fields=("keypoints_3d", "valid", "inliers", "scores_2d",
                                         "reprojection_error_px", "frame_index", "timestamp_s",
                                         "person_id"))
        attributes = shard["attributes"]
        if joint_names is None:
            joint_names, camera_names = attributes["joint_names"], attributes["camera_names"]
        elif (attributes["joint_names"], attributes["camera_names"]) != (joint_names, camera_names):
            raise ValueError(f"{path} has other joints or cameras than the shards before it")
        shard["shard"] = entry.shard
        parts.append(shard)
    labels = Labels(**_combine(parts), joint_names=tuple(joint_names), camera_names=tuple(camera_names))
    labels = labels.masked(np.ones_like(labels.valid))  # NaN / 0 wherever not valid
    if label_filter is not None:
        labels = labels.masked(label_filter(root, labels))
    return labels


def _combine(parts: list[dict]) -> dict:
    fields = {k: [] for k in ("keypoints_3d", "valid", "error_px", "ncams", "score", "frame_index",
                              "timestamp_s", "person_id", "shard", "row")}
    for part in parts:
        N = len(part["frame_index"])
        reprojection = np.asarray(part["reprojection_error_px"], dtype=np.float64)
        scores = np.asarray(part["scores_2d"], dtype=np.float64)
        used = part["inliers"].astype(bool) & np.isfinite(reprojection)
        count = used.sum(axis=1)  # (N, J)
        with np.errstate(invalid="ignore", divide="ignore"):
            error = np.where(used, reprojection, 0).sum(axis=1) / count
            score = np.where(used & np.isfinite(scores), scores, 0).sum(axis=1) / count
        fields["keypoints_3d"].append(np.asarray(part["keypoints_3d"], dtype=np.float64))
        fields["valid"].append(np.asarray(part["valid"], dtype=bool))
        fields["error_px"].append(np.where(count > 0, error, np.nan))
        fields["ncams"].append(count.astype(np.int64))
        fields["score"].append(np.where(count > 0, score, np.nan))
        fields["frame_index"].append(np.asarray(part["frame_index"], dtype=np.int64))
        fields["timestamp_s"].append(np.asarray(part["timestamp_s"], dtype=np.float64))
        fields["person_id"].append(np.asarray(part.get("person_id", np.zeros(N)), dtype=np.int64))
        fields["shard"].append(np.full(N, part["shard"], dtype=np.int64))
        fields["row"].append(np.arange(N, dtype=np.int64))
    return {k: np.concatenate(v) for k, v in fields.items()}


def _frame_rate(labels: Labels, fps: float | None) -> float:
    if fps is not None:
        if not fps > 0:
            raise ValueError(f"fps is {fps}, expected a positive number")
        return float(fps)
    t, f = labels.timestamp_s, labels.frame_index
    known = np.isfinite(t)
    if known.sum() >= 2:
        order = np.argsort(f[known])
        dt, df = np.diff(t[known][order]), np.diff(f[known][order])
        steps = (df > 0) & (dt > 0)
        if steps.any():
            return float(np.median(df[steps] / dt[steps]))
    raise ValueError("the labels have no timestamps to give the frame rate; pass --fps")


def _per_person(labels: Labels):
    for person in np.unique(labels.person_id):
        rows = np.flatnonzero(labels.person_id == person)
        yield int(person), rows[np.argsort(labels.frame_index[rows], kind="stable")]


def _number(value: float) -> str:
    return "" if not np.isfinite(value) else repr(float(value))


def write_trc(labels: Labels, path: str | os.PathLike, *, rows: np.ndarray, rate_hz: float) -> Path:
    """One person's labels (sample ``rows``) as an OpenSim/Pose2Sim ``.trc`` file."""
    path = Path(path)
    J = len(labels.joint_names)
    frames = labels.frame_index[rows]
    times = labels.timestamp_s[rows]
    times = np.where(np.isfinite(times), times, (frames - frames[0]) / rate_hz if len(frames) else times)
    first, count = (int(frames[0]), len(frames)) if len(frames) else (0, 0)
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             "\t".join(str(v) for v in (_rate_text(rate_hz), _rate_text(rate_hz), count, J, "m",
                                        _rate_text(rate_hz), first, count)),
             "Frame#\tTime\t" + "\t\t\t".join(labels.joint_names) + "\t\t",
             "\t\t" + "\t".join(f"X{j + 1}\tY{j + 1}\tZ{j + 1}" for j in range(J)),
             ""]
    points = labels.keypoints_3d[rows].reshape(len(rows), -1)
    for frame, time, values in zip(frames, times, points):
        lines.append("\t".join([str(int(frame)), _number(time)] + [_number(v) for v in values]))
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    return path


def _rate_text(rate_hz: float) -> str:
    return str(int(rate_hz)) if float(rate_hz).is_integer() else repr(float(rate_hz))


def write_anipose_csv(labels: Labels, path: str | os.PathLike, *, rows: np.ndarray) -> Path:
    """One person's labels as Anipose's ``pose-3d`` CSV (see the module docstring)."""
    path = Path(path)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [f"{joint}_{field}" for joint in labels.joint_names
              for field in ("x", "y", "z", "error", "ncams", "score")] + ["fnum", "time_s"]
    writer.writerow(header)
    for n in rows:
        row = []
        for j in range(len(labels.joint_names)):
            row += [_number(v) or "nan" for v in labels.keypoints_3d[n, j]]
            row += [_number(labels.error_px[n, j]) or "nan", str(int(labels.ncams[n, j])),
                    _number(labels.score[n, j]) or "nan"]
        row += [str(int(labels.frame_index[n])), _number(labels.timestamp_s[n]) or "nan"]
        writer.writerow(row)
    write_atomic(path, out.getvalue().encode())
    return path


def write_npz(labels: Labels, path: str | os.PathLike) -> Path:
    """Every sample's labels as arrays (see the module docstring)."""
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, keypoints_3d=labels.keypoints_3d, valid=labels.valid, error_px=labels.error_px,
             ncams=labels.ncams, score=labels.score, frame_index=labels.frame_index,
             timestamp_s=labels.timestamp_s, person_id=labels.person_id,
             joint_names=np.array(labels.joint_names), camera_names=np.array(labels.camera_names))
    write_atomic(path, buffer.getvalue())
    return path


def export_labels(label_dir: str | os.PathLike, out: str | os.PathLike | None = None, *,
                  format: ExportFormat, fps: float | None = None,
                  label_filter: LabelFilter | None = None) -> list[Path]:
    """Write the accepted labels of ``label_dir`` as ``format``; returns the files written.

    out: the output path without or with its suffix (default ``label_dir/export/labels``); trc
        and csv add ``_person<id>`` when the labels hold several people.
    fps: the frame rate for the trc ``DataRate`` when the labels have no timestamps.
    label_filter: see :func:`read_labels`.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}, expected one of {', '.join(EXPORT_FORMATS)}")
    labels = read_labels(label_dir, label_filter=label_filter)
    base = Path(out) if out is not None else Path(label_dir) / "export" / "labels"
    if base.suffix.lower() == f".{format}":
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    if format == "npz":
        return [write_npz(labels, base.with_name(base.name + ".npz"))]
    people = list(_per_person(labels))
    rate = _frame_rate(labels, fps) if format == "trc" else None
    written = []
    for person, rows in people:
        stem = base.name if len(people) == 1 else f"{base.name}_person{person}"
        path = base.with_name(f"{stem}.{format}")
        written.append(write_trc(labels, path, rows=rows, rate_hz=rate) if format == "trc"
                       else write_anipose_csv(labels, path, rows=rows))
    return written


def review_filter(root: Path, labels: Labels) -> np.ndarray:
    """The label filter of the folder's ``review.json`` (``rigkit label review``): labels a
    reviewer rejected are not exported; an accept never revives a label the gates rejected."""
    from .review.verdicts import apply_review, load_review

    index = LabelIndex.read(root)
    review = load_review(root, job_id=index.job_id)
    first = {entry.shard: entry.first_position for entry in index.shards}
    samples = np.array([first[int(s)] for s in labels.shard], dtype=np.int64) + labels.row
    return apply_review(labels.valid, samples, review, labels.joint_names)


def _run_export(args: argparse.Namespace) -> int:
    written = export_labels(args.dir, args.out, format=args.format, fps=args.fps,
                            label_filter=None if args.no_review else review_filter)
    if not args.quiet:
        for path in written:
            print(f"wrote {path}")
    return 0


EXPORT_HELP = "write the accepted labels as .trc, Anipose CSV or npz"
EXPORT_DESCRIPTION = ("Write the accepted 3D labels of a labeling output folder as OpenSim/Pose2Sim .trc (one "
                      "per person), Anipose-style CSV (x, y, z, error, ncams, score per joint) or npz.")


def register_export(parser) -> None:
    """The arguments of ``rigkit label export`` on its ``parser`` (which already takes DIR)."""
    parser.add_argument("--format", choices=EXPORT_FORMATS, required=True,
                        help="trc: OpenSim/Pose2Sim marker file per person; csv: Anipose pose-3d table; "
                             "npz: every array")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="output path (default DIR/export/labels.<format>)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate for the .trc when the labels have no timestamps")
    parser.add_argument("--no-review", action="store_true",
                        help="ignore DIR/review.json (by default labels a reviewer rejected are left out)")
    parser.set_defaults(func=_run_export)
