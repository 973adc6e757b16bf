"""OpenPose JSON in the Pose2Sim layout: one folder of per-frame JSON files per camera.

``path/`` holds one sub-folder per camera (``cam01_json/``, ``cam02_json/``... as Pose2Sim's
``pose/`` folder), each with one file per frame (``cam01_000000000012_keypoints.json``; the last
number of the name is the frame number). A file is OpenPose's output::

    {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x0, y0, c0, x1, ...]}, ...]}

Several people per file become several candidates. A keypoint with confidence 0 is missing.
The skeleton follows from the keypoint count (25: BODY_25, 26: HALPE_26, 17: COCO_17) unless given.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..association import PersonCandidates
from .common import bad_file, candidates_from_frames, frame_number, match_cameras, resolve_joint_names

__all__ = ["read_openpose", "OPENPOSE_SKELETONS"]

OPENPOSE_SKELETONS = {25: "BODY_25", 26: "HALPE_26", 17: "COCO_17"}


def _read_people(path: Path, key: str) -> np.ndarray:
    """(P, J, 3) x, y, confidence of the people in one OpenPose file; NaN where c == 0."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad_file(path, f"is not readable OpenPose JSON ({error})") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("people"), list):
        raise bad_file(path, "has no 'people' list, so it is not OpenPose JSON")
    people = []
    for person in payload["people"]:
        flat = person.get(key) if isinstance(person, dict) else None
        if not isinstance(flat, list) or len(flat) % 3:
            raise bad_file(path, f"has a person whose '{key}' is not a flat list of x, y, c triples")
        people.append(np.asarray(flat, dtype=np.float64).reshape(-1, 3))
    if not people:
        return np.zeros((0, 0, 3))
    counts = {p.shape[0] for p in people}
    if len(counts) != 1:
        raise bad_file(path, f"has people with different keypoint counts {sorted(counts)}")
    people = np.stack(people)
    missing = people[..., 2] <= 0
    people[missing] = np.nan
    return people


def read_openpose(path: str | Path, *, skeleton=None, camera_names=None, fps: float | None = None,
                  keypoints_key: str = "pose_keypoints_2d") -> PersonCandidates:
    """Candidates from a Pose2Sim-style folder of per-camera OpenPose JSON folders.

    path: the folder holding one sub-folder per camera (or a single camera's folder of JSON).
    skeleton: a skeleton name / Skeleton / joint names; None picks it by the keypoint count.
    camera_names: the calibration's names, matched to the folder names (see
        :func:`~labeling.importers.common.match_cameras`).
    keypoints_key: ``"pose_keypoints_2d"`` (body), or e.g. ``"hand_left_keypoints_2d"``.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder of per-camera OpenPose JSON folders")
    folders = sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("*.json")))
    if not folders and any(path.glob("*.json")):
        folders = [path]
    if not folders:
        raise ValueError(f"{path} has no sub-folders with OpenPose JSON files")
    per_camera: dict[str, dict[int, np.ndarray]] = {}
    count = None
    for folder in folders:
        frames = {}
        for position, file in enumerate(sorted(folder.glob("*.json"))):
            people = _read_people(file, keypoints_key)
            number = frame_number(file.name)
            frames[position if number is None else number] = people
            if people.shape[0]:
                if count is not None and people.shape[1] != count:
                    raise bad_file(file, f"has {people.shape[1]} keypoints per person, other "
                                         f"files have {count}")
                count = people.shape[1]
        per_camera[folder.name] = frames
    if count is None:
        raise ValueError(f"{path}: no file has any person with keypoints")
    joint_names = resolve_joint_names(skeleton, count, source=str(path), by_count=OPENPOSE_SKELETONS)
    for frames in per_camera.values():
        for number, people in frames.items():
            if people.shape[0] == 0:
                frames[number] = np.zeros((0, count, 3))
    pairs = match_cameras(list(per_camera), camera_names, source=str(path))
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=joint_names,
                                  source=f"OpenPose JSON {path}", fps=fps)
