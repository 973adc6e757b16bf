"""A recording (a session, or video files / image folders) + a detector -> :class:`labeling.Detections`,
cached for resume; and the JPEG crops of a shard's framesets.

The recording's frames are paired into framesets by :mod:`capture.pairing` (timestamps for a
session, index plus ``--frame-offset`` for files); a sub-frame offset pairs by its whole part and
the camera's keypoints (and scores) are then interpolated to the frameset's instant between the
paired frame and the next (:mod:`capture.subframe`), after detection, so the cached chunks hold
what the detector saw. Detection runs in chunks of framesets (batched
across views and framesets by the detector; a detector that tracks its person box through a
camera's frames is fed one frameset at a time and starts each chunk from the whole frame, so a
chunk's result does not depend on where it runs). Each finished chunk is written atomically to
``<out>/detections/chunk-<n>.npz`` under a ``detections.json`` that names the recording, the
detector and its model's sha256, so an interrupted run resumed with ``--resume`` detects only the
chunks that are missing. With ``executor="ray"`` chunks run in :class:`labeling.ray_executor`
detector actors (the detector is loaded once per actor). Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from rigkit_files import write_atomic, write_json_atomic

from .detections import Detections

__all__ = ["detections_from_recording", "detections_from_session", "detect_chunk", "crop_views",
           "session_crops", "DETECTIONS_DIR"]

log = logging.getLogger(__name__)
DETECTIONS_DIR = "detections"
_MINI_BATCH_FRAMESETS = 8  # framesets decoded and detected at once (bounds memory at 4K)
_TRACK_MIN_SCORE = 0.3  # joints at least this confident define the next frame's person box


def _framesets(source, start: int, stop: int):
    """``(position, frameset_index, timestamp_s, images)`` of a ``capture.Recording`` or an open
    ``capture.Session`` (positions ``start:stop``)."""
    if hasattr(source, "pairing"):
        pairing = source.pairing
        for position, images in source.framesets(start, stop):
            yield (position, int(pairing.frameset_index[position]),
                   float(pairing.timestamp_s[position]), images)
    else:
        for frameset in source.framesets(start, stop):
            yield frameset.index, frameset.index, frameset.timestamp_s, frameset.images


def detect_chunk(source, detector, start: int, stop: int, *, on_progress=None
                 ) -> dict[str, np.ndarray]:
    """Detections of framesets ``start:stop`` of an open ``capture.Recording`` (or ``capture.Session``).

    Returns ``points_2d (V, n, J, 2)`` px (NaN where a view is missing or not detected),
    ``scores (V, n, J)``, ``frame_index (n,)`` int64 (the framesets' numbers) and
    ``timestamp_s (n,)``. on_progress: optional callable, given the number of framesets just
    detected (a progress bar's ``update``).
    """
    from .detector.preprocess import boxes_from_points

    V, J = len(source.names), len(detector.joint_names)
    n = stop - start
    points = np.full((V, n, J, 2), np.nan)
    scores = np.full((V, n, J), np.nan)
    frame_index = np.arange(start, stop, dtype=np.int64)
    timestamp_s = np.full(n, np.nan)
    tracking = bool(getattr(detector, "tracks_boxes", False))
    previous = np.full((V, 4), np.nan)  # each camera's box from its last frame (tracking only)
    pending: list[tuple[int, int, np.ndarray]] = []
    unreported = [0]  # framesets read since the last progress report

    def flush() -> None:
        if pending:
            boxes = np.array([previous[v] for _, v, _ in pending]) if tracking else None
            found, confidence = detector.detect([image for _, _, image in pending], boxes)
            for (k, v, _), p, s in zip(pending, found, confidence):
                points[v, k], scores[v, k] = p, s
            if tracking:
                views = [v for _, v, _ in pending]
                new_boxes, ok = boxes_from_points(found, np.nan_to_num(confidence),
                                                  min_score=_TRACK_MIN_SCORE,
                                                  fallback=np.full((len(views), 4), np.nan))
                previous[views] = np.where(ok[:, None], new_boxes, np.nan)
            pending.clear()
        if on_progress is not None and unreported[0]:
            on_progress(unreported[0])
        unreported[0] = 0

    for position, number, time_s, images in _framesets(source, start, stop):
        k = position - start
        unreported[0] += 1
        frame_index[k] = number
        timestamp_s[k] = time_s
        pending.extend((k, v, image) for v, image in enumerate(images) if image is not None)
        if tracking or len(pending) >= _MINI_BATCH_FRAMESETS * V:
            flush()
    flush()
    return {"points_2d": points, "scores": scores, "frame_index": frame_index,
            "timestamp_s": timestamp_s}


def _chunk_path(folder: Path, chunk: int) -> Path:
    return folder / f"chunk-{chunk:05d}.npz"


def _save_chunk(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def detections_from_session(session_path: str | os.PathLike, detector_spec: str = "builtin", **kwargs
                            ) -> tuple[Detections, dict]:
    """:func:`detections_from_recording` of a session folder."""
    from capture.pairing import RecordingSpec

    return detections_from_recording(RecordingSpec(session=str(Path(session_path).resolve())),
                                     detector_spec, **kwargs)


def detections_from_recording(recording, detector_spec: str = "builtin", *,
                              out_dir: str | os.PathLike, resume: bool = False,
                              chunk_framesets: int = 256, executor: str = "local",
                              progress: bool = True, device: str | None = None,
                              ray_options: dict | None = None) -> tuple[Detections, dict]:
    """Run the detector over every frameset of a recording (or reuse the cached chunks).

    recording: a ``capture.pairing.RecordingSpec`` (session folder, or NAME=PATH cameras, and
        frame offsets).
    detector_spec: a ``--detector`` value (:func:`labeling.detector.open_detector`).
    Returns the detections (cameras named as in the recording) and provenance: the recording,
    detector name, model sha256, how frames were paired, where person boxes come from, the
    decoded frame sizes.
    """
    from tqdm import tqdm

    from .detector import open_detector

    if chunk_framesets < 1:
        raise ValueError(f"chunk_framesets is {chunk_framesets}, expected >= 1")
    with recording.open() as opened:
        names, F = tuple(opened.names), len(opened)
        pairing, sizes = opened.pairing, opened.sizes
    # with Ray the driver's copy only gives names, hash and box source: actors load their own
    detector = open_detector(detector_spec, device=device if executor != "ray" else "cpu")
    folder = Path(out_dir) / DETECTIONS_DIR
    description = {**recording.describe(), "num_framesets": F, "cameras": list(names),
                   "detector": detector.source, "weights_sha256": detector.weights_sha256,
                   "joint_names": list(detector.joint_names), "chunk_framesets": chunk_framesets}
    if "session" in description:
        description["session"] = str(Path(description["session"]).resolve())
    meta_path = folder / "detections.json"
    if meta_path.is_file():
        previous = json.loads(meta_path.read_text())
        if not resume:
            raise ValueError(f"{folder} already holds detections; pass --resume to reuse "
                             "them or choose an empty --out folder")
        if previous != description:
            raise ValueError(f"{folder} holds detections of another recording or detector; "
                             "choose another --out folder")
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(meta_path, description, indent=1)
    chunks = [(c, s, min(s + chunk_framesets, F)) for c, s in enumerate(range(0, F, chunk_framesets))]
    todo = [c for c in chunks if not _chunk_path(folder, c[0]).is_file()]
    log.info("detecting %d of %d chunks of %d framesets (%d cached) with %s; person boxes from %s",
             len(todo), len(chunks), chunk_framesets, len(chunks) - len(todo), detector.name,
             detector.person_boxes)
    bar = tqdm(total=sum(stop - start for _, start, stop in todo), unit="frameset",
               desc="detecting", disable=not progress, dynamic_ncols=True)
    try:
        if executor == "ray" and todo:
            from .ray_executor import detect_chunks_with_ray

            results = detect_chunks_with_ray(recording, str(detector_spec), todo, detect=detect_chunk,
                                             device=device,
                                             **(ray_options or {}))
            for chunk, arrays in results:
                _, start, stop = next(t for t in todo if t[0] == chunk)
                _save_chunk(_chunk_path(folder, chunk), arrays)
                bar.update(stop - start)
        elif todo:
            with recording.open() as opened:
                for chunk, start, stop in todo:
                    arrays = detect_chunk(opened, detector, start, stop, on_progress=bar.update)
                    _save_chunk(_chunk_path(folder, chunk), arrays)
    finally:
        bar.close()
    parts = []
    for chunk, _, _ in chunks:
        with np.load(_chunk_path(folder, chunk)) as data:
            parts.append({k: data[k] for k in data.files})
    points_2d = np.concatenate([p["points_2d"] for p in parts], axis=1)
    scores = np.concatenate([p["scores"] for p in parts], axis=1)
    fractions = recording.fractions
    if fractions:  # sub-frame offsets: each such camera's keypoints moved to the frameset's instant
        from capture.subframe import shift_frames

        shift = np.array([fractions.get(name, 0.0) for name in names])
        numbers = pairing.frameset_index  # framesets left out (dropped frames) are gaps in time
        points_2d = shift_frames(points_2d, shift, frame_numbers=numbers)
        scores = shift_frames(scores, shift, frame_numbers=numbers)
    detections = Detections(
        points_2d=points_2d, scores=scores,
        camera_names=names, joint_names=detector.joint_names,
        frame_index=np.concatenate([p["frame_index"] for p in parts]),
        timestamp_s=np.concatenate([p["timestamp_s"] for p in parts]),
        source=detector.source,
        metadata={"detector": detector.name, "weights_sha256": detector.weights_sha256,
                  "frame_sizes": {n: list(sizes[n]) for n in names}})
    provenance = {**recording.describe(), "detector": detector.source,
                  "weights_sha256": detector.weights_sha256, "paired_by": pairing.paired_by,
                  "person_boxes": detector.person_boxes}
    if "session" in provenance:
        provenance["session"] = description["session"]
    for note in pairing.notes:
        provenance.setdefault("notes", []).append(note)
    if fractions:
        from capture.subframe import describe_fractions

        provenance.setdefault("notes", []).append(describe_fractions(fractions, recording.whole_offsets))
    return detections, provenance


def crop_views(images: list[np.ndarray | None], keypoints_2d: np.ndarray, *, crop_px: int,
               margin: float = 0.25, jpeg_quality: int = 90) -> tuple[list[bytes], np.ndarray]:
    """Square JPEG crops of each view around the subject's keypoints.

    images: V BGR images or None; keypoints_2d: (V, J, 2) px (NaN where missing).
    Returns V JPEG byte strings (b"" where no image or fewer than two keypoints) and boxes
    (V, 4) float32 ``(x0, y0, width, height)`` px (NaN where no crop); the crop is the box
    resized to ``crop_px`` square (content outside the image is black).
    """
    import cv2

    encoded, boxes = [], np.full((len(images), 4), np.nan, dtype=np.float32)
    for v, image in enumerate(images):
        points = keypoints_2d[v][np.isfinite(keypoints_2d[v]).all(axis=1)]
        if image is None or len(points) < 2:
            encoded.append(b"")
            continue
        low, high = points.min(axis=0), points.max(axis=0)
        side = max(float((high - low).max()) * (1 + 2 * margin), 32.0)
        x0, y0 = (low + high) / 2 - side / 2
        scale = crop_px / side
        affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        crop = cv2.warpAffine(image, affine, (crop_px, crop_px), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        encoded.append(data.tobytes() if ok else b"")
        boxes[v] = (x0, y0, side, side)
    return encoded, boxes


def session_crops(session_path: str | os.PathLike, camera_names: tuple[str, ...],
                  frame_index: np.ndarray, keypoints_2d: np.ndarray, *, crop_px: int,
                  offsets: dict[str, int] | None = None) -> tuple[list[list[bytes]], np.ndarray]:
    """Crops of the framesets ``frame_index`` (frameset numbers, increasing) of a session.

    keypoints_2d: (N, V, J, 2) px in ``camera_names`` order. offsets: ``{name: N}`` whole frames
    (the labels' ``--frame-offset``): camera ``name``'s frame ``k + N`` is cropped for frameset
    ``k``, as the detector saw it. Returns N lists of V JPEG byte strings and boxes (N, V, 4)
    float32 for :func:`labeling.shards.write_shard`.
    """
    from capture.pairing import RecordingSpec

    N = len(frame_index)
    crops: list[list[bytes]] = [[] for _ in range(N)]
    boxes = np.full((N, len(camera_names), 4), np.nan, dtype=np.float32)
    spec = RecordingSpec(session=str(session_path), cameras=tuple((name, "") for name in camera_names),
                         offsets=tuple((offsets or {}).items()))
    with spec.open() as recording:
        numbers = recording.pairing.frameset_index
        wanted = np.searchsorted(numbers, np.asarray(frame_index, dtype=np.int64))
        found = (wanted < len(numbers)) & (numbers[np.minimum(wanted, len(numbers) - 1)] == frame_index)
        sample_of = {int(p): k for k, p in enumerate(wanted) if found[k]}
        if sample_of:
            for position, images in recording.framesets(min(sample_of), max(sample_of) + 1):
                k = sample_of.get(int(position))
                if k is not None:
                    crops[k], boxes[k] = crop_views(list(images), keypoints_2d[k], crop_px=crop_px)
    for k in range(N):
        if not crops[k]:
            crops[k] = [b""] * len(camera_names)
    return crops, boxes
