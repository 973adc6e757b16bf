"""Cleaning a real detector's keypoints before they calibrate a rig.

Conventions in :mod:`geometry.camera`; points_2d arrays are (V, F, J, 2) pixels, NaN = missing.
Two failure modes of real person detectors (MediaPipe BlazePose, RTMPose, OpenPose) that an
essential-matrix RANSAC alone handles poorly because they are *consistent* within a view:

- **hallucinated or jumping joints**: a hidden joint is guessed, often confidently, and its guess
  jumps from frame to frame. :func:`temporal_outliers` flags a detection that lies far from the
  median of its temporal neighbours (the same joint in the frames around it), measured in the
  person's image height so that near and far cameras are judged alike.
- **left/right swaps**: a person seen from behind is often labelled as if facing the camera, so a
  whole view's left and right joints trade places for many frames. :func:`fix_swaps` triangulates
  every frameset robustly with the current rig and, per view and frame, keeps whichever labelling
  (as detected or mirrored) the other cameras agree with.

And one choice: of MediaPipe BlazePose's 33 landmarks, :func:`body_joints` keeps the 17 body
joints (COCO-17). The other 16 (eyes' corners, mouth, fingers, heels, toes) are placed even where
hidden, and clustered: a face turned away still gets eyes and a mouth, displaced together, and
eleven such points outvote the body. On the Pose2Sim demo (4 lab cameras, 1.7 s) all 33 put a
camera 3.7 deg from the lab's Qualisys calibration, the 17 body joints 1.8 deg (the face points
added to the 17: 4.1 deg; the finger or the foot points added: 1.0 / 1.5 deg).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from geometry import Rig
from geometry.robust_triangulation import triangulate_robust

__all__ = ["swap_permutation", "temporal_outliers", "fix_swaps", "body_joints"]


def swap_permutation(joint_names: Sequence[str] | None) -> np.ndarray | None:
    """(J,) int permutation exchanging every ``left_X`` with ``right_X`` (others map to themselves);
    None when the names have no such pairs."""
    if joint_names is None:
        return None
    names = [str(n) for n in joint_names]
    perm = np.arange(len(names))
    found = False
    for i, name in enumerate(names):
        for a, b in (("left_", "right_"), ("right_", "left_"), ("l_", "r_"), ("r_", "l_")):
            if name.startswith(a) and b + name[len(a):] in names:
                perm[i] = names.index(b + name[len(a):])
                found = True
                break
    return perm if found else None


def temporal_outliers(points_2d: np.ndarray, *, window: int = 2, max_jump: float = 0.12) -> np.ndarray:
    """(V, F, J) bool, True where a detection is far from its temporal neighbours.

    window: frames on each side whose detections of the same joint form the neighbourhood (at
        least 2 of them must exist, else the detection is kept).
    max_jump: the largest distance from the neighbours' median, as a fraction of the person's
        image height in that view (the median over the recording of the keypoints' vertical extent).
    """
    points = np.asarray(points_2d, dtype=np.float64)
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {points.shape}, expected (V, F, J, 2)")
    V, F, J, _ = points.shape
    outliers = np.zeros((V, F, J), dtype=bool)
    for v in range(V):
        with warnings.catch_warnings():  # frames without a person: all-NaN rows, NaN extent
            warnings.simplefilter("ignore", RuntimeWarning)
            extent = np.nanmax(points[v, ..., 1], axis=1) - np.nanmin(points[v, ..., 1], axis=1)
        finite = extent[np.isfinite(extent) & (extent > 0)]
        if finite.size == 0:
            continue
        limit = max_jump * float(np.median(finite))
        neighbours = []
        for k in range(-window, window + 1):
            if k == 0:
                continue
            shifted = np.full((F, J, 2), np.nan)
            if k > 0:
                shifted[:F - k] = points[v, k:]
            else:
                shifted[-k:] = points[v, :F + k]
            neighbours.append(shifted)
        stack = np.stack(neighbours)  # (2w, F, J, 2)
        count = np.all(np.isfinite(stack), axis=-1).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(stack, axis=0)
        distance = np.linalg.norm(points[v] - median, axis=-1)
        outliers[v] = (count >= 2) & np.isfinite(distance) & (distance > limit)
    return outliers


def fix_swaps(rig: Rig, points_2d: np.ndarray, perm: np.ndarray, *, threshold_px: float = 8.0,
              ratio: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Relabel views whose left and right joints are swapped, judged against the other cameras.

    rig: the current calibration. points_2d: (V, F, J, 2). perm: from :func:`swap_permutation`.
    A view's frame is mirrored when the median reprojection error of its joints against the
    robust triangulation of the frameset *without that view* drops below ``ratio`` times that of
    the labelling as detected. Returns ``(points_2d relabelled, swapped (V, F) bool)``.
    """
    points = np.asarray(points_2d, dtype=np.float64).copy()
    V, F, J, _ = points.shape
    swapped = np.zeros((V, F), dtype=bool)
    if V < 3:  # with two views there is no third opinion
        return points, swapped
    for v in range(V):
        others = [u for u in range(V) if u != v]
        sub = rig.subset(others)
        result = triangulate_robust(sub, points[others].reshape(len(others), F * J, 2), threshold_px=threshold_px)
        X = np.where(result.valid[:, None], result.points_3d, np.nan).reshape(F, J, 3)
        projected = rig[v].project(X.reshape(-1, 3)).reshape(F, J, 2)
        mine = points[v]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            as_detected = np.nanmedian(np.linalg.norm(mine - projected, axis=-1), axis=1)
            mirrored = np.nanmedian(np.linalg.norm(mine[:, perm] - projected, axis=-1), axis=1)
        flip = np.isfinite(as_detected) & np.isfinite(mirrored) & (mirrored < ratio * as_detected)
        swapped[v] = flip
        points[v, flip] = points[v, flip][:, perm]
    return points, swapped


def body_joints(joint_names: Sequence[str] | None) -> tuple[int, ...] | None:
    """Indices of the COCO-17 body joints when ``joint_names`` are BlazePose's 33 landmarks
    (``geometry.skeletons.BLAZEPOSE_33``, as ``rigkit label detect --detector mediapipe`` writes
    them); None for any other skeleton (used as it is)."""
    from geometry.skeletons import BLAZEPOSE_33, BLAZEPOSE_33_TO_COCO_17

    if joint_names is None or tuple(str(n) for n in joint_names) != tuple(BLAZEPOSE_33.joint_names):
        return None
    return tuple(BLAZEPOSE_33_TO_COCO_17)
