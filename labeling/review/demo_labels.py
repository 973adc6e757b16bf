"""Synthetic label sets over a recorded synthetic session, for the review's tests and benchmark.

The labels are made from the session's ground truth (no detector, no triangulation, so any size
is quick to write): the true joints reprojected through the true rig with pixel noise, a
fraction of gross detector errors (outliers), joints seen by too few views rejected, a bone-length
flag here and there, and optionally one camera that drifts (its detections shifted from a
given point of the take on: what camera health must show). ``frame_index`` points at the
session's person framesets, cycled when more framesets are asked for than the session holds
(the benchmark's 100,000 framesets reuse a short session's frames).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..index import LabelIndex, ShardEntry, shard_file_name
from ..shards import RejectReason, ShardLayout, write_shard

__all__ = ["write_labels_from_session"]


def write_labels_from_session(session_path: str | os.PathLike, out: str | os.PathLike, *,
                              num_framesets: int | None = None, shard_size: int = 1024,
                              noise_px: float = 1.0, outlier_fraction: float = 0.06,
                              drift_camera: int | None = None, drift_from: float = 0.6,
                              drift_px: float = 12.0, seed: int = 0) -> LabelIndex:
    """Write shards + ``index.json`` into ``out`` and return the index.

    num_framesets: framesets of the label set (default: the session's person framesets once).
    drift_camera: a view whose detections move by ``drift_px`` from ``drift_from`` (fraction of
    the take) on; the 3D labels keep following the other views.
    """
    from capture import open_session
    from geometry.skeletons import get_skeleton

    rng = np.random.default_rng(seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open_session(session_path) as session:
        truth = session.truth
        if truth is None:
            raise ValueError(f"{session_path} is not a synthetic session (no ground truth)")
        seq = session.sequence.max(axis=1)
        joints = truth.joints_in_world[np.clip(seq, 0, len(truth.joints_in_world) - 1)]
        present = np.flatnonzero((seq >= 0) & np.isfinite(joints).all(axis=(1, 2)))
        if present.size == 0:
            raise ValueError(f"{session_path} has no frameset with the person in view")
        rig = truth.rig
        joint_names = tuple(truth.description["joints"])
        times = session.frameset_times_s.copy()
        session_resolved = str(Path(session_path).resolve())
    skeleton = get_skeleton(truth.description.get("skeleton", "COCO_17"))
    bones = np.array(skeleton.bones, dtype=np.int64)
    N = int(num_framesets or present.size)
    V, J = len(rig), len(joint_names)
    num_shards = -(-N // shard_size)
    index = LabelIndex(job={"job_id": f"review-demo-{seed}-{N}", "num_framesets": N, "shard_size": shard_size,
                            "num_shards": num_shards, "joint_names": list(joint_names),
                            "camera_names": list(rig.names), "bones": bones.tolist(),
                            "options": {"max_reprojection_error_px": 8.0, "min_inlier_views": 2},
                            "provenance": {"session": session_resolved, "detector": "synthetic truth + noise"}})
    for shard in range(num_shards):
        lo, hi = shard * shard_size, min(N, (shard + 1) * shard_size)
        n = hi - lo
        frame_index = present[np.arange(lo, hi) % present.size]
        points = joints[frame_index]  # (n, J, 3)
        detected_2d = np.moveaxis(rig.project(points), 0, 1)  # (n, V, J, 2)
        detected_2d = detected_2d + rng.normal(0, noise_px, detected_2d.shape)
        if drift_camera is not None:
            drifting = (np.arange(lo, hi) >= drift_from * N)
            detected_2d[drifting, drift_camera] += drift_px * np.array([0.8, 0.6])
        scores = rng.uniform(0.6, 1.0, (n, V, J))
        gross = rng.random((n, V, J)) < outlier_fraction
        angle = rng.uniform(0, 2 * np.pi, gross.sum())
        detected_2d[gross] += np.stack([np.cos(angle), np.sin(angle)], -1) * rng.uniform(25, 80, (gross.sum(), 1))
        scores[gross] = rng.uniform(0.3, 0.7, gross.sum())
        missing = rng.random((n, V, J)) < 0.05
        detected_2d[missing] = np.nan
        scores[missing] = np.nan
        inliers = ~gross & ~missing
        if drift_camera is not None:
            inliers[drifting, drift_camera] = False  # the drifting view disagrees with the others
        num_inliers = inliers.sum(axis=1)
        keypoints_3d = points + rng.normal(0, 0.004, points.shape)
        reprojected = np.moveaxis(rig.project(keypoints_3d), 0, 1)
        residual = np.linalg.norm(detected_2d - reprojected, axis=-1)
        reason = np.zeros((n, J), np.uint8)
        reason[num_inliers < 2] |= np.uint8(RejectReason.TOO_FEW_INLIER_VIEWS)
        high = (np.where(inliers, residual, 0) > 8.0).any(axis=1)
        reason[high] |= np.uint8(RejectReason.REPROJECTION_ERROR)
        bone_flag = rng.random((n, J)) < 0.01
        reason[bone_flag] |= np.uint8(RejectReason.BONE_LENGTH)
        valid = (reason & ~np.uint8(RejectReason.BONE_LENGTH)) == 0
        keypoints_3d[~valid] = np.nan
        residual = np.where(valid[:, None, :] & ~missing, residual, np.nan)
        arrays = {"keypoints_3d": keypoints_3d, "valid": valid, "keypoints_2d": detected_2d,
                  "scores_2d": scores, "inliers": inliers & valid[:, None, :],
                  "reprojection_error_px": residual, "frame_index": frame_index,
                  "timestamp_s": times[frame_index], "num_inlier_views": num_inliers,
                  "reject_reason": reason}
        from ..shards import LABEL_FIELDS

        arrays = {k: np.asarray(v, dtype=LABEL_FIELDS[k][0]) for k, v in arrays.items()}
        name = shard_file_name(shard)
        digest = write_shard(out / name, arrays, rig=rig, joint_names=joint_names, bones=bones,
                             options=index.job["options"], provenance=index.job["provenance"],
                             layout=ShardLayout())
        index = index.with_shard(ShardEntry(
            file=name, shard=shard, first_position=lo, num_samples=n, sha256=digest,
            frame_index_first=int(frame_index[0]), frame_index_last=int(frame_index[-1]),
            num_valid_joints=int(valid.sum())))
    index.write(out)
    return index
