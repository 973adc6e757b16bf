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
from .common import (Decisions, bad_file, candidates_from_frames, frame_number, match_cameras,
                     resolve_joint_names)

__all__ = ["read_openpose", "OPENPOSE_SKELETONS"]

OPENPOSE_SKELETONS = {25: "BODY_25", 26: "HALPE_26", 17: "COCO_17"}


_OLD_KEYS = {"pose_keypoints_2d": "pose_keypoints", "face_keypoints_2d": "face_keypoints",
             "hand_left_keypoints_2d": "hand_left_keypoints",
             "hand_right_keypoints_2d": "hand_right_keypoints"}


def _read_people(path: Path, key: str, seen: dict) -> list[tuple[np.ndarray, int]]:
    """[((J, 3) x, y, confidence with NaN where c == 0, person_id or -1)] of one OpenPose file.

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
        try:
            person_xyc = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
        except (TypeError, ValueError) as error:
            raise bad_file(path, f"has a person whose '{key}' holds non-numbers ({error})") from error
        person_xyc[~(person_xyc[:, 2] > 0) | ~np.isfinite(person_xyc).all(axis=1)] = np.nan
        person_xyc[:, 2] = np.clip(person_xyc[:, 2], 0, 1)
        ident = person.get("person_id", -1)
        ident = ident[0] if isinstance(ident, list) and ident else ident
        people.append((person_xyc, int(ident) if isinstance(ident, (int, float)) and
                       float(ident).is_integer() and ident >= 0 else -1))
    return people


def _json_files(folder: Path) -> list[Path]:
    """The ``*.json`` files of a folder, sorted by name (one directory listing)."""
    return [folder / name for name in sorted(os.listdir(folder)) if name.endswith(".json")]


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
    raw: dict[str, dict[int, tuple[Path, list]]] = {}
    counts: dict[int, int] = {}
    for folder in folders:
        frames = {}
        for position, file in enumerate(listing[folder]):
            people = _read_people(file, keypoints_key, seen)
            number = frame_number(file.name)
            frames[position if number is None else number] = (file, people)
            for person, _ in people:
                counts[person.shape[0]] = counts.get(person.shape[0], 0) + 1
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
    odd = [(file, n) for frames in raw.values() for file, people in frames.values()
           for n in {p.shape[0] for p, _ in people} if n != count]
    if odd:
        decisions.note(f"{path}: {sum(counts.values()) - counts[count]} people with a keypoint count "
                       f"other than {count} (first in {odd[0][0]}: {odd[0][1]}) are left out")
    joint_names = resolve_joint_names(skeleton, count, source=str(path), by_count=OPENPOSE_SKELETONS)
    per_camera: dict[str, dict[int, np.ndarray]] = {}
    hints: dict[str, dict[int, np.ndarray]] = {}
    for name, frames in raw.items():
        per_camera[name], hints[name] = {}, {}
        for number, (_, people) in frames.items():
            kept = [(p, i) for p, i in people if p.shape[0] == count]
            per_camera[name][number] = (np.stack([p for p, _ in kept]) if kept
                                        else np.zeros((0, count, 3)))
            hints[name][number] = np.array([i for _, i in kept], dtype=np.int64)
    pairs = match_cameras(list(per_camera), camera_names, source=str(path), decisions=decisions)
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=joint_names,
                                  source=f"OpenPose JSON {path}", fps=fps, hints=hints,
                                  decisions=decisions)
