"""COCO-keypoints JSON and MMPose prediction JSON.

COCO (``format="coco"``)
    One JSON file: a COCO dataset dict (``images`` with ``id`` and ``file_name``, ``annotations``
    with ``image_id`` and flat ``keypoints`` ``[x, y, v] * J``, optional ``categories`` naming the
    keypoints), or a COCO *results* list (``[{"image_id", "keypoints", "score"}]``, as detectors
    write them) plus ``images=`` a COCO file whose ``images`` give the file names. Each file name
    is mapped to a camera and a frame by ``name_pattern`` (named groups ``camera`` and ``frame``;
    the default reads ``cam01/000012.jpg``, ``cam01_000012.png`` or ``cam01/frame_12.jpg``). In a
    dataset ``v`` is visibility (0: missing, score 1 otherwise); in results it is the keypoint
    score.
MMPose (``format="mmpose"``)
    A folder of one prediction file per camera (``cam01.json``: MMPose's ``--save-predictions``
    output ``{"meta_info": ..., "instance_info": [{"frame_id", "instances": [...]}]}`` or the
    inferencer's list of ``{"frame_id", "instances"}``), or one sub-folder per camera of
    per-image prediction files (a list of instances; the frame is the last number in the file
    name), each a list of instances or MMPose's single-image output ``{"meta_info",
    "instance_info": [instance, ...]}``; single-image files may also lie in ``path`` itself,
    named ``[results_]<camera>_<frame>.json`` (``name_pattern``). An instance has
    ``keypoints [[x, y], ...]`` and ``keypoint_scores [...]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..association import PersonCandidates
from .common import (DenseFrames, bad_file, candidates_from_frames, dense_from_rows, frame_number, match_cameras,
                     resolve_joint_names)

__all__ = ["read_coco", "read_mmpose", "DEFAULT_NAME_PATTERN", "COCO_SKELETONS"]

DEFAULT_NAME_PATTERN = r"(?P<camera>[^/\\]+?)[/\\_-]+(?:frame[_-]?|img[_-]?)?(?P<frame>\d+)\.\w+$"
COCO_SKELETONS = {17: "COCO_17", 26: "HALPE_26", 25: "BODY_25", 21: "HAND_21", 16: "MPII_16"}


def _load_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise bad_file(path, f"is not readable JSON ({error})") from error


def read_coco(path: str | Path, *, images: str | Path | None = None, camera_names=None,
              skeleton=None, name_pattern: str = DEFAULT_NAME_PATTERN, fps: float | None = None
              ) -> PersonCandidates:
    """Candidates from COCO keypoints JSON (see the module docstring)."""
    path = Path(path)
    payload = _load_json(path)
    if isinstance(payload, list):
        annotations, results = payload, True
        if images is None:
            raise ValueError(f"{path} is a COCO results list (no 'images' block); name the COCO file "
                             "with the images it refers to: --detections-option images=FILE.json "
                             "(images= in Python)")
        catalogue = _load_json(Path(images))
    elif isinstance(payload, dict) and "annotations" in payload:
        annotations, results, catalogue = payload["annotations"], False, payload
        if images is not None:
            catalogue = _load_json(Path(images))
    else:
        raise bad_file(path, "is neither a COCO dataset (with 'annotations') nor a results list")
    if not isinstance(catalogue, dict) or not isinstance(catalogue.get("images"), list):
        raise bad_file(images or path, "has no 'images' list with id and file_name")
    pattern = re.compile(name_pattern)
    where = {}
    for image in catalogue["images"]:
        if not isinstance(image, dict) or not isinstance(image.get("id"), (int, str)):
            raise bad_file(images or path, "has an image entry without an id")
        match = pattern.search(str(image.get("file_name", "")))
        if match is None:
            raise bad_file(images or path, f"has image file name {image.get('file_name')!r}, which "
                                           f"name_pattern {name_pattern!r} does not split into a "
                                           "camera and a frame; pass one that does "
                                           "(--detections-option name_pattern=REGEX with groups "
                                           "camera and frame)")
        where[image["id"]] = (match.group("camera"), int(match.group("frame")))
    flats, cameras, frames, tracks = [], [], [], []
    for annotation in annotations:
        flat = annotation.get("keypoints") if isinstance(annotation, dict) else None
        image_id = annotation.get("image_id") if isinstance(annotation, dict) else None
        if (not isinstance(flat, list) or len(flat) % 3 or not isinstance(image_id, (int, str))
                or image_id not in where):
            raise bad_file(path, "has an annotation without flat keypoints [x, y, v] * J or with an "
                                 "image_id not among the images")
        if flats and len(flat) != len(flats[0]):
            raise bad_file(path, f"has people with {len(flat) // 3} and {len(flats[0]) // 3} keypoints")
        camera, frame = where[image_id]
        track = annotation.get("track_id", -1)
        flats.append(flat)
        cameras.append(camera)
        frames.append(frame)
        tracks.append(int(track) if isinstance(track, int) and not isinstance(track, bool)
                      and track >= 0 else -1)
    if not flats or not flats[0]:
        raise bad_file(path, "has no keypoint annotations")
    count = len(flats[0]) // 3
    try:
        people = np.array(flats, dtype=np.float64).reshape(len(flats), count, 3)
    except (TypeError, ValueError) as error:
        raise bad_file(path, f"has keypoints that are not numbers ({error})") from error
    v = people[..., 2]
    missing = ~(v > 0) | ((people[..., 0] == 0) & (people[..., 1] == 0)) | \
        ~np.isfinite(people).all(axis=-1)
    people[..., 2] = np.clip(v, 0, 1) if results else 1.0
    people[missing] = np.nan
    if skeleton is None and isinstance(catalogue.get("categories"), list):
        named = [c.get("keypoints") for c in catalogue["categories"]
                 if isinstance(c, dict) and c.get("keypoints")]
        if named and isinstance(named[0], list) and len(named[0]) == count:
            skeleton = tuple(str(n) for n in named[0])
    joint_names = resolve_joint_names(skeleton, count, source=str(path), by_count=COCO_SKELETONS)
    cameras, frames, tracks = np.array(cameras), np.array(frames, dtype=np.int64), np.array(tracks, np.int64)
    per_camera = {}
    for camera in sorted({c for c, _ in where.values()}):  # images without anyone count as frames
        numbers = np.unique(np.array([f for c, f in where.values() if c == camera], dtype=np.int64))
        mine = np.flatnonzero(cameras == camera)
        position = np.searchsorted(numbers, frames[mine])
        order = np.lexsort((mine, position))
        mine, position = mine[order], position[order]
        per_camera[camera] = dense_from_rows(numbers, position, people[mine], tracks[mine])
    pairs = match_cameras(list(per_camera), camera_names, source=str(path))
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=joint_names,
                                  source=f"COCO keypoints {path}", fps=fps)


def _instances(instances, source: Path) -> np.ndarray:
    """MMPose instances -> (P, J, 3) x, y, score."""
    if instances and all(type(i) is dict and "keypoint_scores" in i for i in instances):
        try:  # the usual case in one numpy call: equal keypoint counts, scores beside them
            xy = np.array([i["keypoints"] for i in instances], dtype=np.float64)
            score = np.array([i["keypoint_scores"] for i in instances], dtype=np.float64)
            if xy.ndim == 3 and xy.shape[2] == 2 and score.shape == xy.shape[:2]:
                return np.concatenate([xy, np.clip(score, 0, 1)[..., None]], axis=-1)
        except (TypeError, ValueError):
            pass  # ragged or odd: the per-instance path below says what is wrong
    people = []
    for instance in instances:
        try:
            xy = np.asarray(instance["keypoints"], dtype=np.float64).reshape(-1, 2)
            score = np.asarray(instance.get("keypoint_scores", np.ones(len(xy))),
                               dtype=np.float64).reshape(-1)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise bad_file(source, f"has an instance without keypoints [[x, y], ...] ({error})") from error
        if score.shape[0] != xy.shape[0]:
            raise bad_file(source, "has keypoint_scores of a different length than keypoints")
        people.append(np.concatenate([xy, np.clip(score, 0, 1)[:, None]], axis=1))
    if not people:
        return np.zeros((0, 0, 3))
    if len({p.shape[0] for p in people}) != 1:
        raise bad_file(source, "has instances with different keypoint counts")
    return np.stack(people)


def _mmpose_video(path: Path, payload=None) -> tuple["dict[int, np.ndarray] | DenseFrames", list[str] | None]:
    """One camera's MMPose predictions -> its frames (DenseFrames when every instance has the
    same keypoint count: one numpy call for the whole video) and the keypoint names, if given."""
    payload = _load_json(path) if payload is None else payload
    names = None
    if isinstance(payload, dict) and "instance_info" in payload:
        id2name = (payload.get("meta_info") or {}).get("keypoint_id2name")
        if isinstance(id2name, dict):
            try:
                names = [str(id2name[k]) for k in sorted(id2name, key=int)]
            except (TypeError, ValueError):
                names = None
        payload = payload["instance_info"]
    if not isinstance(payload, list) or not all(isinstance(e, dict) and "instances" in e
                                                for e in payload):
        raise bad_file(path, "is not MMPose predictions (a list of {frame_id, instances})")
    try:
        numbers = [int(e.get("frame_id", i)) for i, e in enumerate(payload)]
    except (TypeError, ValueError) as error:
        raise bad_file(path, f"has a frame_id that is not a number ({error})") from error
    if len(set(numbers)) != len(numbers):
        raise bad_file(path, "has two entries for one frame_id")
    instances = [e["instances"] for e in payload]
    if all(isinstance(i, list) for i in instances):
        flat = [i for frame in instances for i in frame]
        stacked = _instances(flat, path) if flat else None
        if stacked is not None and stacked.ndim == 3:
            sizes = np.array([len(frame) for frame in instances], dtype=np.int64)
            P = max(1, int(sizes.max()))
            people = np.full((len(numbers), P) + stacked.shape[1:], np.nan)
            row = np.repeat(np.arange(len(numbers)), sizes)
            slot = np.arange(len(row)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            people[row, slot] = stacked
            return DenseFrames(frames=np.array(numbers, dtype=np.int64), people=people), names
    return {n: _instances(i, path) for n, i in zip(numbers, instances)}, names


def _single_image(payload) -> tuple[list | None, list[str] | None]:
    """MMPose's output for ONE image: ``{"meta_info", "instance_info": [instance, ...]}`` (the
    demo's ``--save-predictions`` on an image) or a bare list of instances; else (None, None)."""
    names = None
    if isinstance(payload, dict) and "instance_info" in payload:
        id2name = (payload.get("meta_info") or {}).get("keypoint_id2name")
        if isinstance(id2name, dict):
            try:
                names = [id2name[k] for k in sorted(id2name, key=int)]
            except (TypeError, ValueError):
                names = None
        payload = payload["instance_info"]
    elif isinstance(payload, dict):
        payload = payload.get("instances", payload.get("predictions"))
    if isinstance(payload, list) and all(isinstance(e, dict) and "keypoints" in e for e in payload):
        return payload, names
    return None, None


def read_mmpose(path: str | Path, *, camera_names=None, skeleton=None, fps: float | None = None,
                name_pattern: str = DEFAULT_NAME_PATTERN) -> PersonCandidates:
    """Candidates from MMPose prediction JSON (see the module docstring)."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder of per-camera MMPose prediction files")
    per_camera, names = {}, None
    pattern = re.compile(name_pattern)
    for entry in sorted(path.iterdir()):
        if entry.is_file() and entry.suffix == ".json":
            payload = _load_json(entry)
            single, found = _single_image(payload)
            if single is None:
                per_camera[entry.stem], found = _mmpose_video(entry, payload)
            else:  # one image: camera and frame from the file name (results_cam01_000012.json)
                match = pattern.search(entry.name.removeprefix("results_"))
                if match is None:
                    raise bad_file(entry, f"is one image's MMPose output whose name name_pattern "
                                          f"{name_pattern!r} does not split into camera and frame")
                per_camera.setdefault(match.group("camera"), {})[int(match.group("frame"))] = \
                    _instances(single, entry)
            names = names or found
        elif entry.is_dir() and any(entry.glob("*.json")):
            frames = {}
            for position, file in enumerate(sorted(entry.glob("*.json"))):
                single, found = _single_image(_load_json(file))
                if single is None:
                    raise bad_file(file, "is not an MMPose per-image prediction (a list of instances "
                                         "or {meta_info, instance_info})")
                names = names or found
                number = frame_number(file.name)
                frames[position if number is None else number] = _instances(single, file)
            per_camera[entry.name] = frames
    if not per_camera:
        raise ValueError(f"{path} has no MMPose prediction files")
    counts = {frames.people.shape[2] if isinstance(frames, DenseFrames) else None
              for frames in per_camera.values()} - {None}
    counts |= {p.shape[1] for frames in per_camera.values() if not isinstance(frames, DenseFrames)
               for p in frames.values() if len(p)}
    if len(counts) != 1:
        raise ValueError(f"{path}: {'no people found' if not counts else f'keypoint counts {sorted(counts)} differ'}")
    count = counts.pop()
    joint_names = resolve_joint_names(skeleton if skeleton is not None else names, count,
                                      source=str(path), by_count=COCO_SKELETONS)
    per_camera = {c: frames if isinstance(frames, DenseFrames) else
                  {f: p if len(p) else np.zeros((0, count, 3)) for f, p in frames.items()}
                  for c, frames in per_camera.items()}
    pairs = match_cameras(list(per_camera), camera_names, source=str(path))
    return candidates_from_frames(per_camera, camera_pairs=pairs, joint_names=joint_names,
                                  source=f"MMPose predictions {path}", fps=fps)
