"""Self-occlusion of a person's joints in each view, from a capsule model of the body.

Conventions in :mod:`geometry.camera`. Every bone of the skeleton is a capsule of
``limb_radius_m``; body skeletons (those :func:`geometry.synthetic.body.body_joint_map` knows)
also get a torso capsule from the middle of the shoulders to the middle of the hips and a head
sphere. A joint is occluded in a view when, in that image, a capsule not attached to the joint
covers the joint's projection and is nearer to the camera there by more than ``tolerance_m``.
This is what makes real detectors uncertain: the far wrist behind the body, the ear behind the
head.
"""

from __future__ import annotations

import numpy as np

from ..arrays import as_float_array
from ..rig import Rig
from ..skeletons import Skeleton, get_skeleton
from .body import BODY_JOINTS, body_joint_map

__all__ = ["self_occlusion"]

_CHUNK = 512  # frames per vectorised block (bounds memory at V x chunk x J x capsules)


def _capsules(skeleton: Skeleton, limb_radius_m: float, torso_radius_m: float, head_radius_m: float):
    """(ends_a (K, 2, 2) joint indices averaged per end, radius (K,), attached (K, J) bool)."""
    J = skeleton.num_joints
    ends, radius, attached = [], [], []
    for a, b in skeleton.bones:
        ends.append(((a, a), (b, b)))
        radius.append(limb_radius_m)
        row = np.zeros(J, dtype=bool)
        row[[a, b]] = True
        attached.append(row)
    try:
        names = [BODY_JOINTS[i] for i in body_joint_map(skeleton)]
    except ValueError:
        names = None
    if names is not None:
        index = {n: i for i, n in enumerate(names)}
        torso = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
        if all(n in index for n in torso):
            ls, rs, lh, rh = (index[n] for n in torso)
            ends.append(((ls, rs), (lh, rh)))
            radius.append(torso_radius_m)
            row = np.zeros(J, dtype=bool)
            for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip", "thorax", "pelvis", "spine"):
                if n in index:
                    row[index[n]] = True
            attached.append(row)
        for group in (("left_ear", "right_ear"), ("head",), ("upper_neck", "head_top")):
            if all(n in index for n in group):
                ids = [index[n] for n in group]
                pair = (ids[0], ids[-1])
                ends.append((pair, pair))
                radius.append(head_radius_m)
                row = np.zeros(J, dtype=bool)
                for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "upper_neck", "neck_nose",
                          "head", "head_top"):
                    if n in index:
                        row[index[n]] = True
                attached.append(row)
                break
    return np.array(ends, dtype=np.int64), np.array(radius), np.array(attached)


def self_occlusion(rig: Rig, joints_in_world: np.ndarray, *, skeleton: str | Skeleton,
                   limb_radius_m: float = 0.05, torso_radius_m: float = 0.13, head_radius_m: float = 0.1,
                   tolerance_m: float = 0.05) -> np.ndarray:
    """Which joints the person's own body hides in each view.

    joints_in_world: (..., J, 3) world metres (NaN joints neither hide nor are hidden).
    skeleton: the joint layout (its bones are the limbs).
    Returns (V, ..., J) bool, True where the joint is hidden in that view.
    """
    skeleton = get_skeleton(skeleton)
    points = as_float_array(joints_in_world, "joints_in_world")
    J = skeleton.num_joints
    if points.ndim < 2 or points.shape[-2:] != (J, 3):
        raise ValueError(f"joints_in_world has shape {points.shape}, expected (..., {J}, 3) for {skeleton.name}")
    leading = points.shape[:-2]
    flat = points.reshape(-1, J, 3)
    ends, radius_m, attached = _capsules(skeleton, limb_radius_m, torso_radius_m, head_radius_m)
    V = len(rig)
    out = np.zeros((V, flat.shape[0], J), dtype=bool)
    fx = rig.K[:, 0, 0]
    for start in range(0, flat.shape[0], _CHUNK):
        block = flat[start:start + _CHUNK]  # (M, J, 3)
        pixels = rig.project(block)  # (V, M, J, 2)
        depth = rig.to_cam(block)[..., 2]  # (V, M, J)
        # Capsule end points: mean of the listed joints, in 3D, then projected.
        a3 = block[:, ends[:, 0]].mean(axis=2)  # (M, K, 3)
        b3 = block[:, ends[:, 1]].mean(axis=2)
        a2, b2 = rig.project(a3), rig.project(b3)  # (V, M, K, 2)
        za, zb = rig.to_cam(a3)[..., 2], rig.to_cam(b3)[..., 2]  # (V, M, K)
        p = pixels[:, :, :, None, :]  # (V, M, J, 1, 2)
        ab = (b2 - a2)[:, :, None]  # (V, M, 1, K, 2)
        length2 = np.maximum((ab * ab).sum(-1), 1e-12)
        with np.errstate(invalid="ignore"):
            s = np.clip(((p - a2[:, :, None]) * ab).sum(-1) / length2, 0.0, 1.0)  # (V, M, J, K)
            closest = a2[:, :, None] + s[..., None] * ab
            distance = np.linalg.norm(p - closest, axis=-1)
            z = za[:, :, None] + s * (zb - za)[:, :, None]
            radius_px = radius_m * fx[:, None, None, None] / np.maximum(z, 1e-6)
            hidden = (distance < radius_px) & (z > 0) & (z < depth[..., None] - tolerance_m)
        hidden &= ~attached.T[None, None]  # a capsule never hides the joints it is made of
        out[:, start:start + len(block)] = hidden.any(axis=-1) & np.isfinite(depth)
    return out.reshape((V,) + leading + (J,))
