"""Draw a synthetic person into an image: depth-ordered limbs, torso and head, coloured joints.

Part of the synthetic renderer (:mod:`capture.render`); conventions in :mod:`geometry.camera`.
The body is a set of parts between 3D points, each projected through the camera's full lens
model: limbs are capsules (thick polylines through 5 points, so distortion bends them), the
torso a filled quadrilateral through shoulders and hips, the head a disc. Parts are painted far
to near. Then every joint that is in the image and not covered by a nearer part gets a disc of
its own colour (:func:`joint_colors`), centred with 1/16 pixel precision on its projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from geometry import Camera, Skeleton, get_skeleton
from geometry.synthetic import BODY_JOINTS, body_joint_map

__all__ = ["joint_colors", "draw_person"]

_SUBPIXEL_BITS = 4  # cv2 drawing with 1/16 pixel positions
_SUBPIXEL = 1 << _SUBPIXEL_BITS
_NEAR_M = 0.05  # parts closer to the camera than this are not drawn
_HEAD_RADIUS_M = 0.1
_NECK_RADIUS_M = 0.045
_GENERIC_RADIUS_M = 0.012  # bones of hands and custom skeletons
_JOINT_RADIUS_M = 0.022
_OCCLUSION_TOL_M = 0.03  # a part hides a joint only when nearer than this
# (joint a, joint b, radius m, side) in BODY_JOINTS names; drawn when both ends are in the skeleton.
_LIMBS = tuple(
    (f"{side}_{a}", f"{side}_{b}", radius, side)
    for side in ("left", "right")
    for a, b, radius in (("shoulder", "elbow", 0.045), ("elbow", "wrist", 0.036), ("hip", "knee", 0.07),
                         ("knee", "ankle", 0.05), ("ankle", "heel", 0.035), ("ankle", "big_toe", 0.035),
                         ("ankle", "small_toe", 0.03)))
_TORSO = ("left_shoulder", "right_shoulder", "right_hip", "left_hip")
_HEAD_PARTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "upper_neck", "neck_nose", "head",
               "head_top", "thorax", "pelvis", "spine")


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
    skeleton = get_skeleton(skeleton)
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
class _Capsule:
    pixels: np.ndarray  # (5, 2) projected points along the part
    depth: np.ndarray  # (5,) metres along the optical axis
    radius_px: np.ndarray  # (5,)
    colour: tuple[int, int, int]
    members: frozenset[int]  # joints this part ends at (it never hides them)


@dataclass(frozen=True)
class _Torso:
    pixels: np.ndarray  # (4, 2)
    depth: float
    colour: tuple[int, int, int]
    members: frozenset[int]


@dataclass(frozen=True)
class _Head:
    pixel: np.ndarray  # (2,)
    depth: float
    radius_px: float
    colour: tuple[int, int, int]


def _bgr(colour) -> tuple[int, int, int]:
    return tuple(int(np.clip(round(float(c)), 0, 255)) for c in colour)


def _capsule(camera: Camera, a: np.ndarray, b: np.ndarray, radius_m: float, colour, members) -> _Capsule | None:
    points = a + np.linspace(0, 1, 5)[:, None] * (b - a)
    depth = points @ camera.R[2] + camera.t[2]
    pixels = camera.project(points)
    if not np.all(np.isfinite(pixels)) or np.any(depth <= _NEAR_M):
        return None
    return _Capsule(pixels, depth, radius_m * camera.K[0, 0] / depth, _bgr(colour), frozenset(members))


def _parts(camera: Camera, joints: np.ndarray, skeleton: Skeleton, appearance_seed: int) -> list:
    """The drawable parts of the person, unsorted."""
    rng = np.random.default_rng(appearance_seed)
    shirt = rng.uniform(40, 200, 3)
    trousers = rng.uniform(20, 110, 3)
    skin = np.array([120, 150, 200]) * rng.uniform(0.6, 1.1)
    shoes = np.array([40, 40, 50])
    tint = {"left": np.array([-30, 10, 40]), "right": np.array([40, 10, -30])}
    try:
        names = [BODY_JOINTS[i] for i in body_joint_map(skeleton)]
    except ValueError:  # a hand or a custom layout: thin bones, no torso or head
        parts = [_capsule(camera, joints[a], joints[b], _GENERIC_RADIUS_M, skin, (a, b)) for a, b in skeleton.bones]
        return [p for p in parts if p is not None]
    index = {n: i for i, n in enumerate(names)}
    parts = []
    for a, b, radius, side in _LIMBS:
        if a in index and b in index:
            if "ankle" in a:
                colour = shoes + 0.5 * tint[side]
            else:
                colour = (shirt if ("shoulder" in a or "elbow" in a) else trousers) + tint[side]
            parts.append(_capsule(camera, joints[index[a]], joints[index[b]], radius, colour, (index[a], index[b])))
    if all(n in index for n in _TORSO):
        torso = [index[n] for n in _TORSO]
        depth = joints[torso] @ camera.R[2] + camera.t[2]
        pixels = camera.project(joints[torso])
        if np.all(np.isfinite(pixels)) and np.all(depth > _NEAR_M):
            parts.append(_Torso(pixels, float(depth.mean()), _bgr(shirt), frozenset(torso)))
        centre = _head_centre(joints, index)
        if centre is not None:
            neck = joints[[index["left_shoulder"], index["right_shoulder"]]].mean(axis=0)
            members = {index[n] for n in _HEAD_PARTS if n in index}
            parts.append(_capsule(camera, neck, centre, _NECK_RADIUS_M, skin * 0.9, members))
            depth = float(centre @ camera.R[2] + camera.t[2])
            pixel = camera.project(centre)
            if depth > _NEAR_M and np.all(np.isfinite(pixel)):
                parts.append(_Head(pixel, depth, _HEAD_RADIUS_M * camera.K[0, 0] / depth, _bgr(skin)))
    return [p for p in parts if p is not None]


def _head_centre(joints: np.ndarray, index: dict[str, int]) -> np.ndarray | None:
    """Centre of the skull from whichever head points the skeleton has."""
    for group in (("left_ear", "right_ear"), ("head",), ("upper_neck", "head_top")):
        if all(n in index for n in group):
            points = joints[[index[n] for n in group]]
            if np.all(np.isfinite(points)):
                return points.mean(axis=0)
    return None


def _depth(part) -> float:
    return float(part.depth.mean()) if isinstance(part, _Capsule) else part.depth


def _paint(image: np.ndarray, parts: list) -> None:
    for part in sorted(parts, key=lambda p: -_depth(p)):
        if isinstance(part, _Capsule):
            thickness = int(np.clip(round(2 * float(part.radius_px.mean())), 1, 400))
            cv2.polylines(image, [np.round(part.pixels * _SUBPIXEL).astype(np.int32)], False, part.colour,
                          thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
        elif isinstance(part, _Torso):
            cv2.fillPoly(image, [np.round(part.pixels * _SUBPIXEL).astype(np.int32)], part.colour,
                         cv2.LINE_AA, _SUBPIXEL_BITS)
        else:
            cv2.circle(image, tuple(int(v) for v in np.round(part.pixel * _SUBPIXEL)),
                       int(round(part.radius_px * _SUBPIXEL)), part.colour, -1, cv2.LINE_AA, _SUBPIXEL_BITS)


def _occluded(pixels: np.ndarray, depth: np.ndarray, parts: list) -> np.ndarray:
    """(J,) True where a part nearer than the joint covers the joint's pixel."""
    finite = np.isfinite(pixels).all(axis=-1)
    safe = np.where(finite[:, None], pixels, 0.0)
    occluded = np.zeros(len(pixels), dtype=bool)
    for part in parts:
        if isinstance(part, _Capsule):
            a, b = part.pixels[:-1], part.pixels[1:]  # (4, 2) sub-segments
            ab = b - a
            s = np.einsum("jsk,sk->js", safe[:, None] - a[None], ab) / np.maximum((ab * ab).sum(-1), 1e-12)
            s = np.clip(s, 0, 1)  # (J, 4)
            distance = np.linalg.norm(safe[:, None] - (a[None] + s[..., None] * ab[None]), axis=-1)
            near = part.depth[:-1] + s * np.diff(part.depth)
            radius = part.radius_px[:-1] + s * np.diff(part.radius_px)
            hit = ((distance < radius) & (near < depth[:, None] - _OCCLUSION_TOL_M)).any(axis=1)
        elif isinstance(part, _Torso):
            contour = part.pixels.astype(np.float32).reshape(-1, 1, 2)
            hit = np.array([depth[j] > part.depth + _OCCLUSION_TOL_M
                            and cv2.pointPolygonTest(contour, (float(safe[j, 0]), float(safe[j, 1])), False) > 0
                            for j in range(len(pixels))], dtype=bool)
        else:
            hit = (np.linalg.norm(safe - part.pixel, axis=-1) < part.radius_px) & \
                (depth > part.depth + _OCCLUSION_TOL_M)
        if not isinstance(part, _Head):
            hit[list(part.members)] = False
        occluded |= hit & finite
    return occluded


def draw_person(image: np.ndarray, camera: Camera, joints_in_world: np.ndarray, skeleton: Skeleton, *,
                appearance_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw one person into ``image`` (in place) as ``camera`` sees it.

    image: (H, W, 3) uint8 BGR of the camera's size. joints_in_world: (J, 3) world metres in
    ``skeleton`` order; NaN joints are skipped. appearance_seed: clothing and skin colours.
    Returns ``(joints_2d (J, 2) float64 pixels, NaN behind the camera; joint_visible (J,) bool)``:
    a joint is visible when its disc was drawn (in front, centre in the image, not hidden).
    """
    width, height = camera.size
    pixels = camera.project(joints_in_world)
    depth = joints_in_world @ camera.R[2] + camera.t[2]
    parts = _parts(camera, joints_in_world, skeleton, appearance_seed)
    _paint(image, parts)
    with np.errstate(invalid="ignore"):
        visible = np.isfinite(pixels).all(axis=-1) & (depth > _NEAR_M)
        visible &= (pixels[:, 0] >= -0.5) & (pixels[:, 0] <= width - 0.5)
        visible &= (pixels[:, 1] >= -0.5) & (pixels[:, 1] <= height - 0.5)
    visible &= ~_occluded(pixels, depth, parts)
    colours = joint_colors(skeleton)
    for j in sorted(np.nonzero(visible)[0], key=lambda j: -depth[j]):
        radius_px = float(np.clip(_JOINT_RADIUS_M * camera.K[0, 0] / depth[j], 2.0, 12.0))
        cv2.circle(image, tuple(int(v) for v in np.round(pixels[j] * _SUBPIXEL)), int(round(radius_px * _SUBPIXEL)),
                   tuple(int(c) for c in colours[j]), -1, cv2.LINE_AA, _SUBPIXEL_BITS)
    return pixels, visible
