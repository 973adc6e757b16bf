"""What every importer shares: camera matching, frame alignment, joint names, candidates.

Importers read per-camera, per-frame people from a tool's files into :class:`PersonCandidates`
(several people per view allowed); the dispatcher reduces them to single-subject
:class:`labeling.Detections`. Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..association import PersonCandidates

__all__ = ["match_cameras", "candidates_from_frames", "resolve_joint_names", "frame_number",
           "bad_file", "Decisions", "DenseFrames"]

log = logging.getLogger(__name__)

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def bad_file(path: Path | str, why: str) -> ValueError:
    """The one-sentence error for a file that is not in the expected format."""
    return ValueError(f"{path}: {why}")


class Decisions:
    """The guesses one import had to make: each is logged as ONE warning line and kept as
    provenance (``metadata["import_decisions"]`` and the ``source`` text of the result).

    Every entry states the evidence it was decided by; where evidence does not decide, the
    reader raises instead (one sentence naming the option that settles it).
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._deferred: dict[str, tuple[str, list[str]]] = {}

    def note(self, line: str) -> None:
        log.warning("%s", line)
        self.lines.append(line)

    def defer(self, key: str, line: str, item: str) -> None:
        """The same decision for several files: one line for all of them, at :meth:`flush`."""
        self._deferred.setdefault(key, (line, []))[1].append(item)

    def flush(self) -> None:
        for line, items in self._deferred.values():
            shown = ", ".join(items[:4]) + (f" and {len(items) - 4} more" if len(items) > 4 else "")
            self.note(f"{line} ({shown})")
        self._deferred.clear()


def frame_number(name: str) -> int | None:
    """The last integer in a file name (``cam01_000000000012_keypoints.json`` -> 12), else None."""
    base = os.path.basename(name)
    dot = base.rfind(".")
    match = _LAST_NUMBER.search(base[:dot] if dot > 0 else base)
    return int(match.group(1)) if match else None


def match_cameras(found: Sequence[str], camera_names: Sequence[str] | None, *,
                  source: str, decisions: "Decisions | None" = None) -> list[tuple[str, str]]:
    """Pair the cameras found in files with the calibration's camera names.

    found: names the files give their cameras (folder names, file stems, ...).
    camera_names: the calibration's names in rig order, or None to keep ``found`` sorted.
    Returns ``[(found_name, camera_name), ...]`` in the order of ``camera_names``. Matching is by
    exact name, then by the calibration name appearing in exactly one found name
    (``cam01`` in ``cam01_json``), otherwise in sorted order with a warning that says so.
    Raises ValueError when the counts differ and names do not match.
    """
    found = sorted(found)
    if not found:
        raise ValueError(f"{source}: found no cameras")
    if camera_names is None:
        return [(name, name) for name in found]
    camera_names = list(camera_names)
    pairs = []
    for name in camera_names:
        if name in found:
            pairs.append((name, name))
            continue
        containing = [f for f in found if re.search(rf"(?<![0-9A-Za-z]){re.escape(name)}(?![0-9])", f)]
        if len(containing) == 1:
            pairs.append((containing[0], name))
    if len(pairs) == len(camera_names) and len({p[0] for p in pairs}) == len(pairs):
        unused = [f for f in found if f not in {p[0] for p in pairs}]
        if unused:
            log.warning("%s: camera(s) %s have no camera in the calibration (%s); their detections "
                        "are not used", source, ", ".join(unused), ", ".join(camera_names))
        return pairs
    if len(found) != len(camera_names):
        raise ValueError(f"{source}: cameras {', '.join(found)} do not match the calibration's "
                         f"{', '.join(camera_names)} by name and their counts differ")
    ordered = sorted(camera_names)
    line = (f"{source}: camera names {', '.join(found)} do not match the calibration's "
            f"{', '.join(camera_names)}; matching them in sorted order: "
            + ", ".join(f"{f} -> {c}" for f, c in zip(found, ordered)))
    if decisions is not None:
        decisions.note(line)
    else:
        log.warning("%s", line)
    by_camera = dict(zip(ordered, found))
    return [(by_camera[name], name) for name in camera_names]


@dataclass(frozen=True)
class DenseFrames:
    """One camera's frames at once (what array-shaped sources hold; no per-frame Python).

    frames: (F_c,) int64 unique frame numbers; people: (F_c, P_c, J, 3) float x, y, score, NaN
    missing; hints: (F_c, P_c) int64 track ids or None (all -1).
    """

    frames: np.ndarray
    people: np.ndarray
    hints: np.ndarray | None = None


def dense_from_rows(frames: np.ndarray, position: np.ndarray, people: np.ndarray,
                    hints: np.ndarray) -> DenseFrames:
    """One camera's person rows packed into DenseFrames, the people of one frame side by side in
    the order the rows come in.

    frames: (F_c,) int64 unique frame numbers; position: (R,) int64 index into ``frames`` of
    each row, non-decreasing; people: (R, J, 3) x, y, score; hints: (R,) int64 track ids (-1:
    none).
    """
    starts = np.searchsorted(position, np.arange(len(frames)))
    slot = np.arange(len(position)) - starts[position] if len(position) else np.zeros(0, np.int64)
    P = int(slot.max()) + 1 if len(slot) else 1
    dense = np.full((len(frames), P) + people.shape[1:], np.nan)
    dense_hints = np.full((len(frames), P), -1, dtype=np.int64)
    dense[position, slot] = people
    dense_hints[position, slot] = hints
    return DenseFrames(frames=frames.astype(np.int64), people=dense, hints=dense_hints)


def _dense(frames_of_camera, hints_of_camera, J: int, where: str) -> DenseFrames:
    """{frame: (P_f, J, 3)} (+ {frame: (P_f,)}) -> DenseFrames, with O(1) numpy calls."""
    if isinstance(frames_of_camera, DenseFrames):
        dense = frames_of_camera
        if dense.people.ndim != 4 or dense.people.shape[2:] != (J, 3) or \
                dense.people.shape[0] != len(dense.frames):
            raise ValueError(f"{where} has people of shape {dense.people.shape}, expected "
                             f"({len(dense.frames)}, P, {J}, 3)")
        return dense
    frames = np.fromiter(frames_of_camera.keys(), dtype=np.int64, count=len(frames_of_camera))
    arrays = list(frames_of_camera.values())
    counts = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    bad = next((a.shape for a in arrays if a.ndim != 3 or (len(a) and a.shape[1:] != (J, 3))), None)
    if bad is not None:
        raise ValueError(f"{where} has people of shape {bad[1:]}, expected ({J}, 3)")
    P = int(counts.max()) if len(counts) else 0
    people = np.full((len(frames), max(P, 1), J, 3), np.nan)
    hints = np.full((len(frames), max(P, 1)), -1, dtype=np.int64)
    if counts.sum():
        stacked = np.concatenate([a for a in arrays if len(a)]).astype(np.float64, copy=False)
        row = np.repeat(np.arange(len(frames)), counts)
        slot = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
        people[row, slot] = stacked
        if hints_of_camera:
            given = [np.asarray(hints_of_camera.get(int(f), np.full(c, -1)), dtype=np.int64).reshape(-1)
                     for f, c in zip(frames, counts) if c]
            if any(len(g) != c for g, c in zip(given, counts[counts > 0])):
                raise ValueError(f"{where} has track hints that do not match its people")
            hints[row, slot] = np.concatenate(given)
    return DenseFrames(frames=frames, people=people, hints=hints)


def candidates_from_frames(per_camera: Mapping[str, "Mapping[int, np.ndarray] | DenseFrames"], *,
                           camera_pairs: Sequence[tuple[str, str]], joint_names: Sequence[str],
                           source: str, fps: float | None = None,
                           hints: Mapping[str, Mapping[int, np.ndarray]] | None = None,
                           track_names: Sequence[str] | None = None,
                           decisions: "Decisions | None" = None) -> PersonCandidates:
    """Assemble per-camera, per-frame people into aligned candidates.

    per_camera: found camera name -> {frame number: (P_f, J, 3) float array of x, y, score}
        (NaN for missing joints), or a :class:`DenseFrames`.
    camera_pairs: from :func:`match_cameras`.
    Frames are aligned by frame number across cameras (their union); a frame a camera lacks is NaN.
    fps: when given, ``timestamp_s = frame / fps``; else NaN.
    hints: found camera name -> {frame: (P_f,) int64 the source's track id per person, -1 none}
        (see ``PersonCandidates.track_hint``; DenseFrames carry their own); track_names: the ids'
        names, when the source has them.
    decisions: the guesses the reader made (kept in ``metadata`` and appended to ``source``).
    """
    J = len(joint_names)
    dense = [_dense(per_camera[found], (hints or {}).get(found), J, f"{source}: camera {found}")
             for found, _ in camera_pairs]
    frames = np.unique(np.concatenate([d.frames for d in dense])) if dense else np.zeros(0, np.int64)
    if not len(frames):
        raise ValueError(f"{source}: no frames with detections")
    counts = {found: len(d.frames) for (found, _), d in zip(camera_pairs, dense)}
    if len(set(counts.values())) > 1:
        log.warning("%s: the cameras have different frame counts (%s); frames are aligned by number, "
                    "a frame a camera lacks has no detection in that view", source,
                    ", ".join(f"{name} {count}" for name, count in counts.items()))
    P = max([1] + [d.people.shape[1] for d in dense])
    V, F = len(camera_pairs), len(frames)
    points = np.full((V, F, P, J, 2), np.nan)
    scores = np.full((V, F, P, J), np.nan)
    track_hint = np.full((V, F, P), -1, dtype=np.int64)
    for v, d in enumerate(dense):
        position = np.searchsorted(frames, d.frames)
        P_c = d.people.shape[1]
        points[v, position, :P_c] = d.people[..., :2]
        scores[v, position, :P_c] = d.people[..., 2]
        if d.hints is not None:
            track_hint[v, position, :P_c] = d.hints
    frame_index = frames.astype(np.int64)
    timestamp_s = frame_index / fps if fps else np.full(F, np.nan)
    metadata: dict = {}
    if decisions is not None:
        decisions.flush()
    if track_names is not None:
        metadata["track_names"] = [str(n) for n in track_names]
    if decisions is not None and decisions.lines:
        metadata["import_decisions"] = list(decisions.lines)
        source = f"{source} (decided: {'; '.join(decisions.lines)})"
    return PersonCandidates(points_2d=points, scores=scores,
                            camera_names=tuple(name for _, name in camera_pairs),
                            joint_names=tuple(joint_names), frame_index=frame_index,
                            timestamp_s=timestamp_s, source=source, metadata=metadata,
                            track_hint=track_hint)


def resolve_joint_names(skeleton, count: int, *, source: str,
                        by_count: Mapping[int, str] | None = None) -> tuple[str, ...]:
    """Joint names for ``count`` joints.

    skeleton: a ``geometry.skeletons.Skeleton``, a skeleton name (``"COCO_17"``...), a sequence
        of joint names, or None to pick a known skeleton by ``count`` from ``by_count``.
    """
    if skeleton is None:
        if by_count is None or count not in by_count:
            known = ", ".join(f"{n} ({c})" for c, n in sorted((by_count or {}).items()))
            raise ValueError(f"{source}: {count} keypoints per person and no skeleton given; "
                             f"pass skeleton= ({known or 'a name or joint names'})")
        skeleton = by_count[count]
    if isinstance(skeleton, str):
        from geometry.skeletons import get_skeleton
        skeleton = get_skeleton(skeleton)
    names = tuple(getattr(skeleton, "joint_names", skeleton))
    if len(names) != count:
        raise ValueError(f"{source}: {count} keypoints per person but the skeleton has "
                         f"{len(names)} joints")
    return names
