"""Draw a synthetic person into an image: depth-ordered limbs, torso and head, coloured joints.

Part of the synthetic renderer (:mod:`capture.render`); conventions in :mod:`geometry.camera`.
The body is a set of parts between 3D points, all projected at once through the camera's full
lens model: limbs (and the neck) are capsules (thick polylines through 5 points, so distortion
bends them), the torso a filled quadrilateral through shoulders and hips, the head a disc. Parts
are painted far to near. Then every joint that is in the image and not covered by a nearer part
gets a disc of its own colour (:func:`joint_colors`), centred with 1/16 pixel precision on its
projection.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from geometry import Camera, Skeleton, get_skeleton

__all__ = ["joint_colors", "draw_person"]

_SUBPIXEL_BITS = 4  # cv2 drawing with 1/16 pixel positions
_SUBPIXEL = 1 << _SUBPIXEL_BITS
_SAMPLES = 5  # points per capsule axis
_NEAR_M = 0.05  # parts closer to the camera than this are not drawn
_HEAD_RADIUS_M = 0.1
_NECK_RADIUS_M = 0.045
_GENERIC_RADIUS_M = 0.012  # bones of hands and custom skeletons
_JOINT_RADIUS_M = 0.022
_OCCLUSION_TOL_M = 0.03  # a part hides a joint only when nearer than this
# (joint a, joint b, radius m, clothing) in BODY_JOINTS names, per side; drawn when both ends exist.
_LIMBS = (("shoulder", "elbow", 0.045, "shirt"), ("elbow", "wrist", 0.036, "shirt"),
          ("hip", "knee", 0.07, "trousers"), ("knee", "ankle", 0.05, "trousers"),
          ("ankle", "heel", 0.035, "shoes"), ("ankle", "big_toe", 0.035, "shoes"),
          ("ankle", "small_toe", 0.03, "shoes"))
_TORSO = ("left_shoulder", "right_shoulder", "right_hip", "left_hip")
_HEAD_PARTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "upper_neck", "neck_nose", "head",
               "head_top", "thorax", "pelvis", "spine")
_HEAD_GROUPS = (("left_ear", "right_ear"), ("head",), ("upper_neck", "head_top"))
_TINT = {"left": np.array([-30.0, 10.0, 40.0]), "right": np.array([40.0, 10.0, -30.0]), "centre": np.zeros(3)}


def _side(name: str) -> str:
    lower = name.lower()
    if lower.startswith(("left", "l_")) or (name[:1] == "L" and name[1:2].isupper()):
        return "left"
    if lower.startswith(("right", "r_")) or (name[:1] == "R" and name[1:2].isupper()):
        return "right"
    return "centre"


def joint_colors(skeleton: str | Skeleton) -> np.ndarray:
    """(J, 3) uint8 BGR colour of each joint's disc: fully saturated and all different.

    Left-side joints take hues from red to yellow, right-side joints from cyan to violet, centre
    joints greens (OpenCV hue 0-30, 88-140, 42-80), in skeleton order.
    """
    return _joint_colors(get_skeleton(skeleton)).copy()


@functools.lru_cache(maxsize=32)
def _joint_colors(skeleton: Skeleton) -> np.ndarray:
    sides = [_side(n) for n in skeleton.joint_names]
    hues = np.zeros(skeleton.num_joints)
    for side, (lo, hi) in {"left": (0, 30), "right": (88, 140), "centre": (42, 80)}.items():
        members = [j for j, s in enumerate(sides) if s == side]
        if len(members) == 1:
            hues[members] = (lo + hi) / 2
        elif members:
            hues[members] = np.linspace(lo, hi, len(members))
    hsv = np.stack([hues, np.full_like(hues, 255), np.full_like(hues, 255)], -1).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2BGR)[0]


@dataclass(frozen=True)
class _Layout:
    """How to build the body of one skeleton (cached per skeleton)."""

    limb_a: np.ndarray  # (L,) joint indices of the limb capsules' ends
    limb_b: np.ndarray
    limb_radius_m: np.ndarray  # (L,)
    limb_clothing: tuple[str, ...]  # "shirt" | "trousers" | "shoes" | "skin"
    limb_side: tuple[str, ...]
    torso: np.ndarray | None  # (4,) joint indices: left/right shoulder, right/left hip
    head_groups: tuple[np.ndarray, ...]  # candidates for the skull centre, first complete one wins
    head_members: np.ndarray  # (J,) bool: joints the neck and head never hide
    torso_members: np.ndarray  # (J,) bool


@functools.lru_cache(maxsize=32)
def _layout(skeleton: Skeleton) -> _Layout:
    from geometry.synthetic import BODY_JOINTS, body_joint_map  # the scene's body model, on first draw

    J = skeleton.num_joints
    try:
        names = [BODY_JOINTS[i] for i in body_joint_map(skeleton)]
    except ValueError:  # a hand or a custom layout: thin bones, no torso or head
        a, b = (np.array([bone[k] for bone in skeleton.bones], dtype=np.int64) for k in (0, 1))
        return _Layout(a, b, np.full(len(a), _GENERIC_RADIUS_M), ("skin",) * len(a), ("centre",) * len(a),
                       None, (), np.zeros(J, bool), np.zeros(J, bool))
    index = {n: i for i, n in enumerate(names)}
    a, b, radius, clothing, sides = [], [], [], [], []
    for side in ("left", "right"):
        for start, end, r, cloth in _LIMBS:
            if f"{side}_{start}" in index and f"{side}_{end}" in index:
                a.append(index[f"{side}_{start}"])
                b.append(index[f"{side}_{end}"])
                radius.append(r)
                clothing.append(cloth)
                sides.append(side)
    torso = np.array([index[n] for n in _TORSO]) if all(n in index for n in _TORSO) else None
    groups = tuple(np.array([index[n] for n in g]) for g in _HEAD_GROUPS if all(n in index for n in g))
    head_members = np.zeros(J, bool)
    head_members[[index[n] for n in _HEAD_PARTS if n in index]] = True
    torso_members = np.zeros(J, bool)
    if torso is not None:
        torso_members[torso] = True
    return _Layout(np.array(a, np.int64), np.array(b, np.int64), np.array(radius), tuple(clothing), tuple(sides),
                   torso, groups, head_members, torso_members)


def _bgr(colour) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(round(float(c))))) for c in colour)


def _palette(appearance_seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(appearance_seed)
    return {"shirt": rng.uniform(40, 200, 3), "trousers": rng.uniform(20, 110, 3),
            "skin": np.array([120.0, 150.0, 200.0]) * rng.uniform(0.6, 1.1), "shoes": np.array([40.0, 40.0, 50.0])}


def _point_in_quad(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """(N,) bool: points (N, 2) inside the (possibly non-convex) polygon quad (4, 2), even-odd rule."""
    inside = np.zeros(len(points), dtype=bool)
    x, y = points[:, 0], points[:, 1]
    for i in range(len(quad)):
        (x0, y0), (x1, y1) = quad[i], quad[(i + 1) % len(quad)]
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_at)
    return inside


def draw_person(image: np.ndarray, camera: Camera, joints_in_world: np.ndarray, skeleton: Skeleton, *,
                appearance_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw one person into ``image`` (in place) as ``camera`` sees it.

    image: (H, W, 3) uint8 BGR of the camera's size. joints_in_world: (J, 3) world metres in
    ``skeleton`` order; NaN joints are skipped. appearance_seed: clothing and skin colours.
    Returns ``(joints_2d (J, 2) float64 pixels, NaN behind the camera; joint_visible (J,) bool)``:
    a joint is visible when its disc was drawn (in front, centre in the image, not hidden).
    """
    layout = _layout(skeleton)
    palette = _palette(appearance_seed)
    joints = joints_in_world
    J = len(joints)
    fx = float(camera.K[0, 0])
    # Capsules: the limbs, then the neck (shoulder middle to skull centre) when there is a head.
    starts, ends = joints[layout.limb_a], joints[layout.limb_b]
    radius_m = layout.limb_radius_m
    colours = [palette[c] + (0.5 if c == "shoes" else 1.0) * _TINT[s]
               for c, s in zip(layout.limb_clothing, layout.limb_side)]
    members = np.zeros((len(starts), J), bool)
    members[np.arange(len(starts)), layout.limb_a] = True
    members[np.arange(len(starts)), layout.limb_b] = True
    head_centre = next((joints[g].mean(axis=0) for g in layout.head_groups if np.isfinite(joints[g]).all()), None)
    if layout.torso is not None and head_centre is not None:
        neck = joints[layout.torso[:2]].mean(axis=0)
        starts, ends = np.vstack([starts, neck]), np.vstack([ends, head_centre])
        radius_m = np.append(radius_m, _NECK_RADIUS_M)
        colours.append(palette["skin"] * 0.9)
        members = np.vstack([members, layout.head_members])
    # One projection for every point of the body.
    t = np.linspace(0, 1, _SAMPLES)
    axis_points = starts[:, None] + t[None, :, None] * (ends - starts)[:, None]  # (K, S, 3)
    extra = [joints] + ([head_centre[None]] if head_centre is not None else [])
    everything = np.concatenate([axis_points.reshape(-1, 3)] + extra)
    pixels_all = camera.project(everything)
    depth_all = everything @ camera.R[2] + camera.t[2]
    K = len(starts)
    cap_px = pixels_all[:K * _SAMPLES].reshape(K, _SAMPLES, 2)
    cap_depth = depth_all[:K * _SAMPLES].reshape(K, _SAMPLES)
    pixels = pixels_all[K * _SAMPLES:K * _SAMPLES + J]
    depth = depth_all[K * _SAMPLES:K * _SAMPLES + J]
    cap_ok = np.isfinite(cap_px).all(axis=(1, 2)) & (cap_depth > _NEAR_M).all(axis=1)
    cap_radius_px = radius_m[:, None] * fx / np.where(cap_depth > _NEAR_M, cap_depth, np.inf)

    # Painter's list: (depth, kind, index).
    items = [(float(cap_depth[k].mean()), 0, k) for k in np.nonzero(cap_ok)[0]]
    torso_ok = layout.torso is not None and np.isfinite(pixels[layout.torso]).all() and \
        bool((depth[layout.torso] > _NEAR_M).all())
    if torso_ok:
        torso_depth = float(depth[layout.torso].mean())
        items.append((torso_depth, 1, 0))
    head_ok = head_centre is not None and depth_all[-1] > _NEAR_M and np.isfinite(pixels_all[-1]).all()
    if head_ok:
        head_px, head_depth = pixels_all[-1], float(depth_all[-1])
        head_radius_px = _HEAD_RADIUS_M * fx / head_depth
        items.append((head_depth, 2, 0))
    skin = _bgr(palette["skin"])
    for _, kind, k in sorted(items, key=lambda item: -item[0]):
        if kind == 0:
            thickness = int(min(400, max(1, round(2 * float(cap_radius_px[k].mean())))))
            points = [np.round(cap_px[k] * _SUBPIXEL).astype(np.int32)]
            cv2.polylines(image, points, False, _bgr(colours[k]), thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
            if thickness >= 6:  # a lighter core makes the limb read as a rounded tube
                cv2.polylines(image, points, False, _bgr(colours[k] * 1.2 + 20), max(thickness * 2 // 5, 1),
                              cv2.LINE_AA, _SUBPIXEL_BITS)
        elif kind == 1:
            cv2.fillPoly(image, [np.round(pixels[layout.torso] * _SUBPIXEL).astype(np.int32)],
                         _bgr(palette["shirt"]), cv2.LINE_AA, _SUBPIXEL_BITS)
        else:
            cv2.circle(image, tuple(int(v) for v in np.round(head_px * _SUBPIXEL)),
                       int(round(head_radius_px * _SUBPIXEL)), skin, -1, cv2.LINE_AA, _SUBPIXEL_BITS)

    # Which joints a nearer part covers.
    finite = np.isfinite(pixels).all(axis=-1)
    safe = np.where(finite[:, None], pixels, 0.0)
    occluded = np.zeros(J, dtype=bool)
    if cap_ok.any():
        a, ab = cap_px[cap_ok, :-1], np.diff(cap_px[cap_ok], axis=1)  # (K', S-1, 2)
        rel = safe[:, None, None] - a[None]  # (J, K', S-1, 2)
        s = np.clip((rel * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
        distance = np.linalg.norm(rel - s[..., None] * ab, axis=-1)
        near = cap_depth[cap_ok, :-1] + s * np.diff(cap_depth[cap_ok], axis=1)
        radius = cap_radius_px[cap_ok, :-1] + s * np.diff(cap_radius_px[cap_ok], axis=1)
        hidden = ((distance < radius) & (near < depth[:, None, None] - _OCCLUSION_TOL_M)).any(axis=2)  # (J, K')
        occluded |= (hidden & ~members[cap_ok].T).any(axis=1)
    if torso_ok:
        occluded |= _point_in_quad(safe, pixels[layout.torso]) & (depth > torso_depth + _OCCLUSION_TOL_M) & \
            ~layout.torso_members
    if head_ok:
        occluded |= (np.linalg.norm(safe - head_px, axis=-1) < head_radius_px) & \
            (depth > head_depth + _OCCLUSION_TOL_M)
    width, height = camera.size
    with np.errstate(invalid="ignore"):
        visible = finite & (depth > _NEAR_M) & ~occluded
        visible &= (pixels[:, 0] >= -0.5) & (pixels[:, 0] <= width - 0.5)
        visible &= (pixels[:, 1] >= -0.5) & (pixels[:, 1] <= height - 0.5)

    disc_colours = _joint_colors(skeleton)
    for j in sorted(np.nonzero(visible)[0], key=lambda j: -depth[j]):
        radius_px = min(12.0, max(2.0, _JOINT_RADIUS_M * fx / depth[j]))
        centre = tuple(int(v) for v in np.round(pixels[j] * _SUBPIXEL))
        cv2.circle(image, centre, int(round(radius_px * _SUBPIXEL)), tuple(int(c) for c in disc_colours[j]), -1,
                   cv2.LINE_AA, _SUBPIXEL_BITS)
    return pixels, visible
