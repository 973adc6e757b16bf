"""What every importer shares: camera matching, frame alignment, joint names, candidates.

Importers read per-camera, per-frame people from a tool's files into :class:`PersonCandidates`
(several people per view allowed); the dispatcher reduces them to single-subject
:class:`labeling.Detections`. Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..association import PersonCandidates

__all__ = ["match_cameras", "candidates_from_frames", "resolve_joint_names", "frame_number",
           "bad_file", "Decisions"]

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

    def note(self, line: str) -> None:
        log.warning("%s", line)
        self.lines.append(line)


def frame_number(name: str) -> int | None:
    """The last integer in a file name (``cam01_000000000012_keypoints.json`` -> 12), else None."""
    match = _LAST_NUMBER.search(Path(name).stem)
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


def candidates_from_frames(per_camera: Mapping[str, Mapping[int, np.ndarray]], *,
                           camera_pairs: Sequence[tuple[str, str]], joint_names: Sequence[str],
                           source: str, fps: float | None = None,
                           hints: Mapping[str, Mapping[int, np.ndarray]] | None = None,
                           track_names: Sequence[str] | None = None,
                           decisions: "Decisions | None" = None) -> PersonCandidates:
    """Assemble per-camera, per-frame people into aligned candidates.

    per_camera: found camera name -> {frame number: (P_f, J, 3) float array of x, y, score}
        (NaN for missing joints).
    camera_pairs: from :func:`match_cameras`.
    Frames are aligned by frame number across cameras (their union); a frame a camera lacks is NaN.
    fps: when given, ``timestamp_s = frame / fps``; else NaN.
    hints: found camera name -> {frame: (P_f,) int64 the source's track id per person, -1 none}
        (see ``PersonCandidates.track_hint``); track_names: the ids' names, when the source has them.
    decisions: the guesses the reader made (kept in ``metadata`` and appended to ``source``).
    """
    J = len(joint_names)
    frames = sorted(set().union(*(per_camera[found].keys() for found, _ in camera_pairs)))
    if not frames:
        raise ValueError(f"{source}: no frames with detections")
    counts = {found: len(per_camera[found]) for found, _ in camera_pairs}
    if len(set(counts.values())) > 1:
        log.warning("%s: the cameras have different frame counts (%s); frames are aligned by number, "
                    "a frame a camera lacks has no detection in that view", source,
                    ", ".join(f"{name} {count}" for name, count in counts.items()))
    P = max([1] + [people.shape[0] for found, _ in camera_pairs
                   for people in per_camera[found].values()])
    V, F = len(camera_pairs), len(frames)
    points = np.full((V, F, P, J, 2), np.nan)
    scores = np.full((V, F, P, J), np.nan)
    track_hint = np.full((V, F, P), -1, dtype=np.int64)
    position = {frame: i for i, frame in enumerate(frames)}
    for v, (found, _) in enumerate(camera_pairs):
        for frame, people in per_camera[found].items():
            if people.shape[1:] != (J, 3):
                raise ValueError(f"{source}: camera {found} frame {frame} has people of shape "
                                 f"{people.shape[1:]}, expected ({J}, 3)")
            f = position[frame]
            points[v, f, : len(people)] = people[..., :2]
            scores[v, f, : len(people)] = people[..., 2]
            hint = (hints or {}).get(found, {}).get(frame)
            if hint is not None:
                track_hint[v, f, : len(people)] = np.asarray(hint, dtype=np.int64).reshape(-1)
    frame_index = np.asarray(frames, dtype=np.int64)
    timestamp_s = frame_index / fps if fps else np.full(F, np.nan)
    metadata: dict = {}
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
