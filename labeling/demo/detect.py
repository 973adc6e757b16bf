"""Stage 3a of the demo: the built-in frozen detector over the person framesets of the session.

Detections are computed in chunks of framesets (:func:`labeling.session_labeling.detect_chunk`,
batched across views and framesets) and each chunk is saved atomically under ``detections/``
with a ``detections.json`` naming the session range and the detector's weights, so a restarted
run detects only the chunks that are missing, and a run with other weights starts afresh.
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass

import numpy as np

from labeling.detections import Detections
from rigkit_files import write_atomic, write_json_atomic

from .config import DemoPaths

__all__ = ["DetectStage", "detect_person_framesets"]

log = logging.getLogger(__name__)
_CHUNK_FRAMESETS = 32


@dataclass(frozen=True, kw_only=True)
class DetectStage:
    """detections: (V, F, J) of the person framesets. images: views run through the detector in
    this run (0 when every chunk was cached); seconds: their time. provenance: detector, weights."""

    detections: Detections
    images: int
    seconds: float
    provenance: dict


def detect_person_framesets(paths: DemoPaths, first: int, *, detector_spec: str = "builtin",
                            progress: bool = True) -> DetectStage:
    """Detect every view of session framesets ``first`` .. end (the person part)."""
    from tqdm import tqdm

    from capture import open_session
    from labeling.detector import open_detector
    from labeling.session_labeling import detect_chunk

    detector = open_detector(detector_spec)
    folder = paths.detections
    folder.mkdir(parents=True, exist_ok=True)
    with open_session(paths.session) as session:
        total = len(session)
        if total - first < 2:
            raise ValueError(f"{paths.session} has {total - first} person framesets; at least 2 are needed")
        description = {"session": str(paths.session.resolve()), "first": first, "stop": total,
                       "cameras": list(session.names), "detector": detector.source,
                       "weights_sha256": detector.weights_sha256, "chunk_framesets": _CHUNK_FRAMESETS}
        meta = folder / "detections.json"
        if meta.is_file() and json.loads(meta.read_text()) != description:
            log.info("the cached detections are of another detector or range: detecting again")
            for stale in folder.glob("chunk-*.npz"):
                stale.unlink()
        write_json_atomic(meta, description, indent=1)
        chunks = [(c, s, min(s + _CHUNK_FRAMESETS, total)) for c, s in enumerate(range(first, total, _CHUNK_FRAMESETS))]
        todo = [c for c in chunks if not (folder / f"chunk-{c[0]:05d}.npz").is_file()]
        bar = tqdm(total=sum(stop - start for _, start, stop in todo), unit="frameset", desc="detecting",
                   disable=not progress, dynamic_ncols=True)
        started = time.perf_counter()
        images = 0
        try:
            for chunk, start, stop in todo:
                arrays = detect_chunk(session, detector, start, stop)
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                write_atomic(folder / f"chunk-{chunk:05d}.npz", buffer.getvalue())
                images += int((~session.missing[start:stop]).sum())
                bar.update(stop - start)
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        names = tuple(session.names)
    parts = []
    for chunk, _, _ in chunks:
        with np.load(folder / f"chunk-{chunk:05d}.npz") as data:
            parts.append({k: data[k] for k in data.files})
    detections = Detections(
        points_2d=np.concatenate([p["points_2d"] for p in parts], axis=1),
        scores=np.concatenate([p["scores"] for p in parts], axis=1), camera_names=names,
        joint_names=detector.joint_names, frame_index=np.concatenate([p["frame_index"] for p in parts]),
        timestamp_s=np.concatenate([p["timestamp_s"] for p in parts]), source=detector.source)
    return DetectStage(detections=detections, images=images, seconds=seconds,
                       provenance={"session": description["session"], "detector": detector.source,
                                   "weights_sha256": detector.weights_sha256})
