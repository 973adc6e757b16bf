"""OpenPose JSON in the Pose2Sim layout: one folder of per-frame JSON files per camera.

``path/`` holds one sub-folder per camera (``cam01_json/``, ``cam02_json/``... as Pose2Sim's
``pose/`` folder), each with one file per frame (``cam01_000000000012_keypoints.json``; the last
number of the name is the frame number). A file is OpenPose's output::

    {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x0, y0, c0, x1, ...]}, ...]}

Several people per file become several candidates. A keypoint with confidence 0 is missing. A
person entry that is ``{}`` or has no keypoints is no detection; OpenPose <= 1.1 key names
(``pose_keypoints``) are read as their ``_2d`` successors.
The skeleton follows from the keypoint count (25: BODY_25, 26: HALPE_26, 17: COCO_17) unless given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..association import PersonCandidates
from .common import (Decisions, DenseFrames, bad_file, candidates_from_frames, frame_number,
                     match_cameras, resolve_joint_names)

__all__ = ["read_openpose", "OPENPOSE_SKELETONS"]

OPENPOSE_SKELETONS = {25: "BODY_25", 26: "HALPE_26", 17: "COCO_17"}


_OLD_KEYS = {"pose_keypoints_2d": "pose_keypoints", "face_keypoints_2d": "face_keypoints",
             "hand_left_keypoints_2d": "hand_left_keypoints",
             "hand_right_keypoints_2d": "hand_right_keypoints"}


def _read_people(path: str, key: str, seen: dict) -> list[tuple[list, int]]:
    """[(flat [x0, y0, c0, x1, ...] list, person_id or -1)] of one OpenPose file (checked to be a
    list of triples; the numbers are converted for a whole camera at once).

    A person entry that is ``{}``, lacks the keypoints or has an empty list is no detection
    (Pose2Sim's association writes such entries); ``seen`` counts them and the old key names.
    """
    try:
        with open(path, "rb") as handle:
            payload = json.loads(handle.read())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise bad_file(path, f"is not readable OpenPose JSON ({error})") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("people"), list):
        raise bad_file(path, "has no 'people' list, so it is not OpenPose JSON")
    people = []
    for person in payload["people"]:
        if not isinstance(person, dict):
            raise bad_file(path, f"has a person entry that is a {type(person).__name__}, not an object")
        flat = person.get(key)
        if flat is None and _OLD_KEYS.get(key) in person:
            flat = person[_OLD_KEYS[key]]
            seen["old_keys"] = seen.get("old_keys", 0) + 1
        if flat is None or (isinstance(flat, list) and not flat):
            seen["empty"] = seen.get("empty", 0) + 1
            continue
        if not isinstance(flat, list) or len(flat) % 3:
            raise bad_file(path, f"has a person whose '{key}' is not a flat list of x, y, c triples")
        ident = person.get("person_id", -1)
        ident = ident[0] if isinstance(ident, list) and ident else ident
        people.append((flat, int(ident) if isinstance(ident, (int, float)) and not isinstance(ident, bool)
                       and float(ident).is_integer() and ident >= 0 else -1))
    return people


def _to_people(flats: list[list], files: list[str], key: str) -> np.ndarray:
    """(P, J, 3) x, y, confidence of equally long flat lists; NaN where c <= 0 (OpenPose's
    "not detected") or a value is not finite. A non-number is refused naming its file."""
    try:
        xyc = np.array(flats, dtype=np.float64)
    except (TypeError, ValueError):
        for flat, file in zip(flats, files):
            try:
                np.array(flat, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise bad_file(file, f"has a person whose '{key}' holds non-numbers ({error})") from error
        raise
    xyc = xyc.reshape(len(flats), -1, 3)
    xyc[~(xyc[..., 2] > 0) | ~np.isfinite(xyc).all(axis=-1)] = np.nan
    xyc[..., 2] = np.clip(xyc[..., 2], 0, 1)
    return xyc


def _json_files(folder: Path) -> list[str]:
    """The ``*.json`` files of a folder, sorted by name (one directory listing; plain strings,
    which cost a tenth of Path objects at 40,000 files)."""
    base = str(folder)
    return [os.path.join(base, name) for name in sorted(os.listdir(base)) if name.endswith(".json")]


def read_openpose(path: str | Path, *, skeleton=None, camera_names=None, fps: float | None = None,
                  keypoints_key: str = "pose_keypoints_2d") -> PersonCandidates:
    """Candidates from a Pose2Sim-style folder of per-camera OpenPose JSON folders.

    path: the folder holding one sub-folder per camera (or a single camera's folder of JSON).
    skeleton: a skeleton name / Skeleton / joint names; None picks it by the keypoint count.
    camera_names: the calibration's names, matched to the folder names (see
        :func:`~labeling.importers.common.match_cameras`).
    keypoints_key: ``"pose_keypoints_2d"`` (body), or e.g. ``"hand_left_keypoints_2d"``; files of
        OpenPose <= 1.1 name it without ``_2d`` (``pose_keypoints``) and are read the same.
    Person entries without keypoints are no detection; a person whose keypoint count differs from
    the rest of the take is left out with one warning naming the first such file. The
    ``person_id`` of each entry (-1 when OpenPose has none) is kept as ``track_hint``.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder of per-camera OpenPose JSON folders")
    listing = {folder: _json_files(folder) for folder in sorted(p for p in path.iterdir() if p.is_dir())}
    folders = [folder for folder, files in listing.items() if files]
    if not folders and _json_files(path):
        folders, listing = [path], {path: _json_files(path)}
    if not folders:
        raise ValueError(f"{path} has no sub-folders with OpenPose JSON files")
    decisions, seen = Decisions(), {}
    raw: dict[str, list[tuple[int, str, list]]] = {}  # camera -> [(frame, file, people)]
    counts: dict[int, int] = {}
    for folder in folders:
        frames = []
        for position, file in enumerate(listing[folder]):
            people = _read_people(file, keypoints_key, seen)
            number = frame_number(file)
            frames.append((position if number is None else number, file, people))
            for flat, _ in people:
                counts[len(flat) // 3] = counts.get(len(flat) // 3, 0) + 1
        numbers = [f for f, _, _ in frames]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"{folder}: two JSON files carry the same frame number")
        raw[folder.name] = frames
    if not counts:
        raise ValueError(f"{path}: no file has any person with keypoints")
    count = max(counts, key=lambda c: (counts[c], c))
    if seen.get("old_keys"):
        decisions.note(f"{path}: {seen['old_keys']} people use OpenPose <= 1.1 key names "
                       f"({_OLD_KEYS.get(keypoints_key)}); read as {keypoints_key}")
    if seen.get("empty"):
        decisions.note(f"{path}: {seen['empty']} person entries have no keypoints (empty or "
                       "{}); counted as no detection")
    if len(counts) > 1:
        first = next(file for frames in raw.values() for _, file, people in frames
                     if any(len(flat) != 3 * count for flat, _ in people))
        decisions.note(f"{path}: {sum(counts.values()) - counts[count]} people with a keypoint count "
                       f"other than {count} (first in {first}) are left out")
    joint_names = resolve_joint_names(skeleton, count, source=str(path), by_count=OPENPOSE_SKELETONS)
    per_camera: dict[str, DenseFrames] = {}
    for name, frames in raw.items():
        kept = [[(flat, ident) for flat, ident in people if len(flat) == 3 * count]
                for _, _, people in frames]
        sizes = np.array([len(k) for k in kept], dtype=np.int64)
        P = max(1, int(sizes.max()) if len(sizes) else 1)
        people = np.full((len(frames), P, count, 3), np.nan)
        hints = np.full((len(frames), P), -1, dtype=np.int64)
        if sizes.sum():
            flats = [flat for k in kept for flat, _ in k]
            files = [file for (_, file, _), k in zip(frames, kept) for _ in k]
            row = np.repeat(np.arange(len(frames)), sizes)
            slot = np.arange(len(row)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            people[row, slot] = _to_people(flats, files, keypoints_key)
            hints[row, slot] = [ident for k in kept for _, ident in k]
        per_camera[name] = DenseFrames(frames=np.array([f for f, _, _ in frames], dtype=np.int64),
                                       people=people, hints=hints)
    pairs = match_cameras(list(per_camera), camera_names, source=str(path), decisions=decisions)
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=joint_names,
                                  source=f"OpenPose JSON {path}", fps=fps, decisions=decisions)
