"""Seeded synthetic takes for the labeling tests: a moving stick figure seen by a ring rig.

Small on purpose (fast tests); the benchmark uses ``geometry.synthetic`` scenes at full size.
"""

from __future__ import annotations

import numpy as np

from geometry.synthetic import ring_rig
from labeling import Detections

# A 9-joint stick figure (metres, Z up, standing at the origin); bones as joint-index pairs.
JOINT_NAMES = ("head", "neck", "l_shoulder", "r_shoulder", "pelvis", "l_hip", "r_hip",
               "l_knee", "r_knee")
REST_POSE_M = np.array([
    [0.00, 0.00, 1.70], [0.00, 0.00, 1.50], [0.20, 0.00, 1.45], [-0.20, 0.00, 1.45],
    [0.00, 0.00, 1.00], [0.10, 0.00, 0.95], [-0.10, 0.00, 0.95], [0.12, 0.05, 0.50],
    [-0.12, 0.05, 0.50]])
BONES = np.array([[0, 1], [1, 2], [1, 3], [1, 4], [4, 5], [4, 6], [5, 7], [6, 8]])


def take_points_3d(num_framesets: int, *, rng: np.random.Generator) -> np.ndarray:
    """(F, J, 3) metres: the figure walks a slow circle and turns (rigid: bones keep length)."""
    t = np.arange(num_framesets) / 30.0
    angle = 0.3 * t + rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros((num_framesets, 3, 3))
    R[:, 0, 0], R[:, 0, 1], R[:, 1, 0], R[:, 1, 1], R[:, 2, 2] = c, -s, s, c, 1
    centre = np.stack([0.5 * np.cos(0.2 * t), 0.5 * np.sin(0.2 * t), 0.02 * np.sin(3 * t)], axis=-1)
    return np.einsum("fij,nj->fni", R, REST_POSE_M) + centre[:, None, :]


def synthetic_take(num_framesets: int = 120, *, num_cameras: int = 4, noise_px: float = 1.0,
                   gross_fraction: float = 0.0, missing_fraction: float = 0.0, seed: int = 0,
                   camera_names: tuple[str, ...] | None = None):
    """A rig, ground-truth points (F, J, 3) and noisy :class:`labeling.Detections`.

    gross_fraction of detections are moved 40-120 px away with a low-ish score; missing_fraction
    are dropped (NaN). Frame indices start at 100, timestamps at 30 fps.
    """
    rng = np.random.default_rng(seed)
    rig = ring_rig(num_cameras, rng=rng)
    truth = take_points_3d(num_framesets, rng=rng)
    points = rig.project(truth)  # (V, F, J, 2)
    points = points + rng.normal(0, noise_px, points.shape)
    scores = rng.uniform(0.6, 1.0, points.shape[:-1])
    gross = rng.random(points.shape[:-1]) < gross_fraction
    angle = rng.uniform(0, 2 * np.pi, gross.sum())
    radius = rng.uniform(40, 120, gross.sum())
    points[gross] += np.stack([np.cos(angle), np.sin(angle)], -1) * radius[:, None]
    scores[gross] = rng.uniform(0.3, 0.9, gross.sum())
    missing = rng.random(points.shape[:-1]) < missing_fraction
    points[missing] = np.nan
    detections = Detections(points_2d=points, scores=scores,
                            camera_names=camera_names or rig.names, joint_names=JOINT_NAMES,
                            frame_index=np.arange(100, 100 + num_framesets),
                            timestamp_s=np.arange(num_framesets) / 30.0, source="synthetic test take")
    return rig, truth, detections


def synthetic_label_arrays(num_samples: int, *, num_views: int = 4, num_joints: int = 9,
                           first_frame: int = 0, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Arrays of every shard field with known content: sample n, joint j has
    ``keypoints_3d = (first_frame + n, j, 0.5)`` and ``frame_index = first_frame + n``; about 20%
    of labels are invalid (NaN 3D) and 10% of 2D detections missing (NaN)."""
    from labeling.shards import LABEL_FIELDS

    N, V, J = num_samples, num_views, num_joints
    frames = first_frame + np.arange(N)
    keypoints_3d = np.stack(np.broadcast_arrays(frames[:, None], np.arange(J)[None, :], 0.5), -1)
    valid = rng.random((N, J)) > 0.2
    keypoints_2d = rng.uniform(0, 1000, (N, V, J, 2))
    detected = rng.random((N, V, J)) > 0.1
    keypoints_2d[~detected] = np.nan
    arrays = {
        "keypoints_3d": np.where(valid[..., None], keypoints_3d, np.nan),
        "valid": valid,
        "keypoints_2d": keypoints_2d,
        "scores_2d": np.where(detected, rng.uniform(0, 1, (N, V, J)), np.nan),
        "inliers": detected & (rng.random((N, V, J)) > 0.1),
        "reprojection_error_px": np.where(detected, rng.uniform(0, 5, (N, V, J)), np.nan),
        "frame_index": frames,
        "timestamp_s": frames / 30.0,
        "num_inlier_views": rng.integers(0, V + 1, (N, J)),
        "reject_reason": np.where(valid, 0, 2),
    }
    return {k: np.asarray(v, dtype=LABEL_FIELDS[k][0]) for k, v in arrays.items()}


def write_synthetic_output(root, shard_sizes: list[int], *, num_views: int = 4,
                           num_joints: int = 9, layout=None, seed: int = 0, crop_px: int = 0):
    """An output folder (shards + index.json) of :func:`synthetic_label_arrays`; returns the
    index. Frames run on across shards: shard s starts at sum(shard_sizes[:s]). With
    ``crop_px``, view v of frame n stores a uniform JPEG crop of grey level ``(n + 40 v) % 200``
    (none for view 0 of odd frames)."""
    from pathlib import Path

    from labeling.index import LabelIndex, ShardEntry, shard_file_name
    from labeling.shards import ShardLayout, write_shard

    rng = np.random.default_rng(seed)
    rig = ring_rig(num_views, rng=rng)
    names = tuple(f"joint{j}" for j in range(num_joints))
    index = LabelIndex(job={"job_id": "synthetic", "num_shards": len(shard_sizes),
                            "joint_names": list(names), "camera_names": list(rig.names),
                            "options": {"min_score": 0.2}, "bones": [[0, 1], [1, 2]]})
    first = 0
    for shard, size in enumerate(shard_sizes):
        arrays = synthetic_label_arrays(size, num_views=num_views, num_joints=num_joints,
                                        first_frame=first, rng=rng)
        name = shard_file_name(shard)
        extra = {}
        if crop_px:
            import cv2

            crops = [[b"" if (v == 0 and n % 2) else cv2.imencode(
                ".jpg", np.full((crop_px, crop_px, 3), (n + 40 * v) % 200, np.uint8))[1].tobytes()
                for v in range(num_views)] for n in range(first, first + size)]
            extra = dict(crops_jpeg=crops, crop_box_px=np.zeros((size, num_views, 4)),
                         crop_size_px=crop_px)
        digest = write_shard(Path(root) / name, arrays, rig=rig, joint_names=names,
                             layout=layout or ShardLayout(), **extra)
        index = index.with_shard(ShardEntry(
            file=name, shard=shard, first_position=first, num_samples=size, sha256=digest,
            frame_index_first=first, frame_index_last=first + size - 1,
            num_valid_joints=int(arrays["valid"].sum())))
        first += size
    index.write(root)
    return index


def coco_take(num_framesets: int, *, num_cameras: int = 4, seed: int = 0, noise=None):
    """A COCO-17 person walking through a ring rig, seen by the simulated detector of
    ``geometry.synthetic`` (2 px noise, 10% gross errors, 5% left/right swaps by default).

    Returns ``(rig, truth (F, 17, 3) m, Detections, SimulatedDetections)``.
    """
    from geometry.synthetic import DetectorNoise, person_motion, simulate_detections

    rng = np.random.default_rng(seed)
    rig = ring_rig(num_cameras, rng=rng)
    motion = person_motion(num_framesets, skeleton="COCO_17", rng=rng)
    simulated = simulate_detections(rig, motion.joints_in_world, skeleton=motion.skeleton,
                                    noise=noise or DetectorNoise(), rng=rng)
    detections = Detections(points_2d=simulated.points_2d, scores=simulated.scores,
                            camera_names=rig.names, joint_names=motion.skeleton.joint_names,
                            frame_index=np.arange(num_framesets),
                            timestamp_s=np.arange(num_framesets) / motion.fps,
                            source=f"simulated COCO_17 detector, seed {seed}")
    return rig, motion.joints_in_world, detections, simulated


def save_npz_detections(path, detections) -> None:
    """The ``npz:`` detections format read by ``rigkit label --detections npz:PATH``."""
    np.savez(path, points_2d=detections.points_2d, scores=detections.scores,
             camera_names=np.array(detections.camera_names),
             joint_names=np.array(detections.joint_names), frame_index=detections.frame_index,
             timestamp_s=detections.timestamp_s)
