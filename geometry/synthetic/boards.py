"""Seeded hand-held calibration-board poses, and what cameras see of them.

The board is a :class:`geometry.Board`; its frame and corner order are stated in
:mod:`geometry.board` (OpenCV's ChArUco object frame, the board in ``z = 0``).

Poses are ``world_from_board``: ``X_world = R @ X_board + t``.
"""

from __future__ import annotations

import numpy as np

from ..arrays import as_float_array
from ..board import SYNTHETIC_BOARD, Board
from ..camera import Camera
from ..rig import Rig
from ..transforms import rotation_from_rvec, rvec_from_rotation
from .detections import in_image

__all__ = ["SYNTHETIC_BOARD", "board_poses", "board_visibility",
           "board_observations", "board_trajectory", "camera_board_poses", "interpolate_key_poses",
           "rig_volume_center", "unsynchronized_board_observations"]



def rig_volume_center(rig: Rig) -> np.ndarray:
    """(3,) world point closest (least squares) to every camera's optical axis, metres."""
    axes = rig.R[:, 2, :]  # optical axis of each camera in the world (third row of R)
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for center, axis in zip(rig.centers, axes):
        P = np.eye(3) - np.outer(axis, axis)
        A += P
        b += P @ center
    if np.linalg.matrix_rank(A) < 3:
        return rig.centers.mean(axis=0) + axes.mean(axis=0)
    return np.linalg.solve(A, b)


def board_visibility(rig: Rig, R: np.ndarray, t: np.ndarray, corners_in_board: np.ndarray, *,
                     max_view_angle_deg: float = 75.0, margin_px: float = 2.0) -> np.ndarray:
    """Which corners each camera sees: in its image, in front of it, on the board's printed side.

    R: (P, 3, 3), t: (P, 3) world_from_board. corners_in_board: (C, 3) metres.
    max_view_angle_deg: a corner is not seen when the ray to it meets the board more obliquely
        than this (angle from the board's normal).
    Returns (V, P, C) bool.
    """
    R = as_float_array(R, "R").reshape(-1, 3, 3)
    t = as_float_array(t, "t").reshape(-1, 3)
    corners = as_float_array(corners_in_board, "corners_in_board")
    if corners.ndim != 2 or corners.shape[1] != 3:
        raise ValueError(f"corners_in_board has shape {corners.shape}, expected (C, 3)")
    corners_in_world = np.einsum("pij,cj->pci", R, corners) + t[:, None, :]  # (P, C, 3)
    pixels = rig.project(corners_in_world)  # (V, P, C, 2)
    visible = in_image(pixels, rig.sizes, margin_px=margin_px)
    to_camera = rig.centers[:, None, None, :] - corners_in_world[None]  # (V, P, C, 3)
    front_normal = -R[:, :, 2]  # (P, 3) points from the printed side towards the viewer
    cos = np.einsum("vpci,pi->vpc", to_camera, front_normal) / np.linalg.norm(to_camera, axis=-1)
    return visible & (cos > np.cos(np.radians(max_view_angle_deg)))


def board_observations(rig: Rig, R: np.ndarray, t: np.ndarray, corners_in_board: np.ndarray, *,
                       pixel_sigma_px: float = 0.0, rng: np.random.Generator | None = None,
                       max_view_angle_deg: float = 75.0, margin_px: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """What a corner detector reports: the seen corners' pixels with Gaussian noise.

    R: (P, 3, 3), t: (P, 3) world_from_board. corners_in_board: (C, 3) metres.
    pixel_sigma_px: noise per coordinate (needs ``rng`` when > 0).
    Returns ``(points_2d (V, P, C, 2) float64 distorted pixels, NaN where not seen;
    visible (V, P, C) bool)`` with visibility as in :func:`board_visibility`.
    """
    if pixel_sigma_px < 0 or (pixel_sigma_px > 0 and rng is None):
        raise ValueError("pixel_sigma_px must be >= 0, and an rng is needed when it is > 0")
    R = as_float_array(R, "R").reshape(-1, 3, 3)
    t = as_float_array(t, "t").reshape(-1, 3)
    corners = as_float_array(corners_in_board, "corners_in_board")
    visible = board_visibility(rig, R, t, corners, max_view_angle_deg=max_view_angle_deg, margin_px=margin_px)
    points = rig.project(np.einsum("pij,cj->pci", R, corners) + t[:, None, :])
    if pixel_sigma_px > 0:
        points = points + pixel_sigma_px * rng.standard_normal(points.shape)
    points[~visible] = np.nan
    return points, visible


def camera_board_poses(camera: Camera, num_poses: int, *, rng: np.random.Generator,
                       board: Board | None = None, board_size_m: tuple[float, float] | None = None,
                       distance_m: tuple[float, float] = (0.6, 2.0),
                       centre_range: tuple[float, float] = (0.1, 0.9),
                       max_tilt_deg: float = 45.0, max_roll_deg: float = 30.0, min_visible_share: float = 1.0,
                       max_attempts: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Poses of a board shown to one camera, as for an intrinsic calibration.

    The board centre lies on the ray of a pixel drawn uniformly in ``centre_range`` (shares of
    the image width and height, so boards reach into the corners of the image where distortion
    is strongest) at a distance drawn from ``distance_m``; its printed side faces the camera,
    tilted by up to ``max_tilt_deg`` and rolled (about its normal, relative to the image) by up
    to ``max_roll_deg``. A pose is drawn again (up to ``max_attempts``) until at least
    ``min_visible_share`` of its corners are seen (:func:`board_visibility`).

    Returns ``(R (P, 3, 3), t (P, 3))`` world_from_board, metres.
    """
    if num_poses < 1:
        raise ValueError(f"num_poses is {num_poses}, expected >= 1")
    lo, hi = distance_m
    if not 0 < lo <= hi:
        raise ValueError(f"distance_m is {distance_m}, expected 0 < near <= far metres")
    if not 0 <= max_tilt_deg < 90:
        raise ValueError(f"max_tilt_deg is {max_tilt_deg}, expected in [0, 90)")
    size_m, corners = _board_extent(board, board_size_m)
    half = np.array([size_m[0] / 2, size_m[1] / 2, 0.0])
    single = Rig([camera])
    image_up = -camera.R[1]  # the camera's -y axis in the world
    size = np.asarray(camera.size, dtype=np.float64)
    Rs, ts = np.empty((num_poses, 3, 3)), np.empty((num_poses, 3))
    for p in range(num_poses):
        for _ in range(max_attempts):
            pixel = rng.uniform(*centre_range, 2) * (size - 1)
            ray = camera.rays(pixel)
            if not np.all(np.isfinite(ray)):
                continue
            centre = camera.center + rng.uniform(lo, hi) * ray
            axis = np.cross(ray, rng.standard_normal(3))
            axis /= np.linalg.norm(axis)
            facing = rotation_from_rvec(axis * np.radians(max_tilt_deg) * np.sqrt(rng.uniform(0, 1))) @ -ray
            R = _board_rotation(facing, np.radians(rng.uniform(-max_roll_deg, max_roll_deg)), image_up)
            t = centre - R @ half
            if board_visibility(single, R[None], t[None], corners)[0, 0].mean() >= min_visible_share:
                break
        Rs[p], ts[p] = R, t
    return Rs, ts


def _board_rotation(facing: np.ndarray, roll: float, up: np.ndarray) -> np.ndarray:
    """world_from_board rotation whose printed side faces ``facing`` with ``roll`` about it."""
    z = -facing / np.linalg.norm(facing)
    down = -up - np.dot(-up, z) * z
    if np.linalg.norm(down) < 1e-6:  # looking straight down/up: any in-plane direction
        down = np.cross(z, [1.0, 0.0, 0.0])
        if np.linalg.norm(down) < 1e-6:
            down = np.cross(z, [0.0, 1.0, 0.0])
    y = down / np.linalg.norm(down)
    x = np.cross(y, z)
    R = np.stack([x, y, z], axis=1)
    return R @ rotation_from_rvec(np.array([0.0, 0.0, roll]))


def board_poses(rig: Rig, num_poses: int, *, rng: np.random.Generator, board: Board | None = None,
                board_size_m: tuple[float, float] | None = None,
                center: np.ndarray | None = None, spread_m: float | None = None,
                max_tilt_deg: float = 60.0, max_roll_deg: float = 30.0, two_view_share: float = 0.75,
                min_height_m: float = 0.3, max_attempts: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Poses of a board held by hand and moved through the rig's common view.

    The board centre is drawn uniformly in a box of half-width ``spread_m`` (half that
    vertically) around ``center`` (default: :func:`rig_volume_center`, spread a quarter of the
    median camera distance), at least ``min_height_m`` above the floor. Its printed side faces
    the bisector of two neighbouring cameras (share ``two_view_share``) or one camera, tilted by
    up to ``max_tilt_deg`` (half of it for two cameras) and rolled in its plane by up to
    ``max_roll_deg``. Poses no camera sees completely are drawn again (up to ``max_attempts``).

    board: the :class:`geometry.Board` (default :data:`SYNTHETIC_BOARD`); or
        ``board_size_m = (width, height)`` of any board, whose four outer corners must then be
        seen.

    Returns ``(R (P, 3, 3), t (P, 3))`` world_from_board, metres.
    """
    size_m, corners = _board_extent(board, board_size_m)
    if num_poses < 1:
        raise ValueError(f"num_poses is {num_poses}, expected >= 1")
    if not 0 <= max_tilt_deg < 90:
        raise ValueError(f"max_tilt_deg is {max_tilt_deg}, expected in [0, 90)")
    center = rig_volume_center(rig) if center is None else as_float_array(center, "center").reshape(3)
    distances = np.linalg.norm(rig.centers - center, axis=1)
    spread = 0.25 * float(np.median(distances)) if spread_m is None else float(spread_m)
    up = np.array([0.0, 0.0, 1.0])
    half = np.array([size_m[0] / 2, size_m[1] / 2, 0.0])
    Rs, ts = np.empty((num_poses, 3, 3)), np.empty((num_poses, 3))
    for p in range(num_poses):
        for _ in range(max_attempts):
            position = center + rng.uniform(-1, 1, 3) * np.array([spread, spread, spread / 2])
            position[2] = max(position[2], min_height_m + max(size_m) / 2)
            to_cameras = rig.centers - position
            to_cameras /= np.linalg.norm(to_cameras, axis=1, keepdims=True)
            a = rng.integers(len(rig))
            if len(rig) > 1 and rng.random() < two_view_share:
                closeness = to_cameras @ to_cameras[a]
                closeness[a] = -np.inf
                facing = to_cameras[a] + to_cameras[int(np.argmax(closeness))]
                tilt_limit = max_tilt_deg / 2
            else:
                facing, tilt_limit = to_cameras[a], max_tilt_deg
            facing /= np.linalg.norm(facing)
            axis = np.cross(facing, rng.standard_normal(3))
            axis /= np.linalg.norm(axis)
            tilt = np.radians(tilt_limit) * np.sqrt(rng.uniform(0, 1))
            facing = rotation_from_rvec(axis * tilt) @ facing
            R = _board_rotation(facing, np.radians(rng.uniform(-max_roll_deg, max_roll_deg)), up)
            t = position - R @ half
            seen = board_visibility(rig, R[None], t[None], corners)[:, 0].all(axis=-1)
            if seen.any():
                break
        Rs[p], ts[p] = R, t
    return Rs, ts


def _board_extent(board: Board | None, board_size_m) -> tuple[tuple[float, float], np.ndarray]:
    """(width, height) metres and the (C, 3) points that must be seen, from either description."""
    if board is not None and board_size_m is not None:
        raise ValueError("give board or board_size_m, not both")
    if board_size_m is None:
        board = SYNTHETIC_BOARD if board is None else board
        if not isinstance(board, Board):
            raise ValueError(f"board is {type(board).__name__}, expected a geometry.Board")
        return board.size_m, board.corners_in_board()
    width, height = (float(x) for x in board_size_m)
    if not (width > 0 and height > 0):
        raise ValueError(f"board_size_m is {board_size_m}, expected (width, height) > 0 in metres")
    return (width, height), np.array([[0, 0, 0], [width, 0, 0], [width, height, 0], [0, height, 0]], float)


def board_trajectory(rig: Rig, num_frames: int, *, fps: float = 30.0, rng: np.random.Generator,
                     board: Board | None = None, board_size_m: tuple[float, float] | None = None,
                     seconds_per_pose: float = 2.0, hold_share: float = 0.4,
                     **pose_options) -> tuple[np.ndarray, np.ndarray]:
    """A board carried smoothly through the volume from pose to pose, held still at each.

    Key poses come from :func:`board_poses` (``board``, ``board_size_m`` and ``pose_options``
    pass through), one every ``seconds_per_pose``, visited in a greedy order that keeps each turn
    small; the board rests at each for ``hold_share`` of that time and moves between them with
    eased linear (position) and geodesic (rotation) interpolation.
    Returns ``(R (F, 3, 3), t (F, 3))`` world_from_board, one per frame.
    """
    if num_frames < 1 or not fps > 0 or not seconds_per_pose > 0 or not 0 <= hold_share < 1:
        raise ValueError("board_trajectory needs num_frames >= 1, fps > 0, seconds_per_pose > 0 "
                         "and hold_share in [0, 1)")
    frames_per_pose = seconds_per_pose * fps
    num_keys = int(np.ceil(num_frames / frames_per_pose)) + 1
    size_m, _ = _board_extent(board, board_size_m)
    key_R, key_t = board_poses(rig, num_keys, board=board, board_size_m=board_size_m, rng=rng, **pose_options)
    order = _gentle_order(key_R, key_t)
    key_R, key_t = key_R[order], key_t[order]
    # Interpolate the board centre (not the corner origin) so the motion looks held by hand.
    half = np.array([size_m[0] / 2, size_m[1] / 2, 0.0])
    key_center = key_t + key_R @ half
    R, center = interpolate_key_poses(key_R, key_center, num_frames, frames_per_pose=frames_per_pose,
                                      hold_share=hold_share)
    return R, center - R @ half


def interpolate_key_poses(key_R: np.ndarray, key_center: np.ndarray, num_frames: int, *,
                          frames_per_pose: float, hold_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Hand-held motion through key poses: each key held for ``hold_share`` of its
    ``frames_per_pose`` frames, then an eased (smoothstep) move to the next, linear in position
    and geodesic in rotation.

    key_R: (K, 3, 3) rotations, key_center: (K, 3) positions, K >= 2 and K >= num_frames /
    frames_per_pose + 1. Returns ``(R (F, 3, 3), center (F, 3))``, F = num_frames.
    """
    position = np.arange(num_frames) / frames_per_pose
    k = np.minimum(position.astype(int), len(key_R) - 2)
    s = np.clip((position - k - hold_share) / (1 - hold_share), 0.0, 1.0)
    s = s * s * (3 - 2 * s)
    delta = rvec_from_rotation(np.swapaxes(key_R[k], 1, 2) @ key_R[k + 1])
    R = key_R[k] @ rotation_from_rvec(delta * s[:, None])
    center = key_center[k] + s[:, None] * (key_center[k + 1] - key_center[k])
    return R, center


def _gentle_order(R: np.ndarray, t: np.ndarray) -> list[int]:
    """Greedy order of poses, each next one the closest (turn in degrees + 50 x metres moved)."""
    remaining = list(range(1, len(R)))
    order = [0]
    while remaining:
        last = order[-1]
        angle = np.degrees(np.linalg.norm(
            rvec_from_rotation(np.swapaxes(R[remaining], 1, 2) @ R[last]), axis=-1))
        cost = angle + 50.0 * np.linalg.norm(t[remaining] - t[last], axis=-1)
        order.append(remaining.pop(int(np.argmin(cost))))
    return order


def unsynchronized_board_observations(rig: Rig, R: np.ndarray, t: np.ndarray, corners_in_board: np.ndarray,
                                      frameset_frames: np.ndarray, capture_offsets_frames: np.ndarray, *,
                                      pixel_sigma_px: float = 0.0, rng: np.random.Generator | None = None
                                      ) -> np.ndarray:
    """What free-running cameras see of a moving board: camera ``v``'s view of frameset ``f`` exposed
    ``capture_offsets_frames[v, f]`` frames after frame ``frameset_frames[f]`` of the trajectory.

    R: (T, 3, 3), t: (T, 3) world_from_board, one pose per trajectory frame (interpolated between
    frames: geodesic rotation, linear translation). frameset_frames: (F,) trajectory frames of the
    framesets; capture_offsets_frames: (V, F) their exposure offsets (fractional frames).
    Returns (V, F, C, 2) distorted pixels with Gaussian noise, NaN where not seen
    (:func:`board_visibility`).
    """
    R = as_float_array(R, "R").reshape(-1, 3, 3)
    t = as_float_array(t, "t").reshape(-1, 3)
    corners = as_float_array(corners_in_board, "corners_in_board")
    frames = np.asarray(frameset_frames, dtype=np.float64)
    offsets = np.asarray(capture_offsets_frames, dtype=np.float64)
    if offsets.shape != (len(rig), frames.size):
        raise ValueError(f"capture_offsets_frames has shape {offsets.shape}, expected ({len(rig)}, {frames.size})")
    if pixel_sigma_px < 0 or (pixel_sigma_px > 0 and rng is None):
        raise ValueError("pixel_sigma_px must be >= 0, and an rng is needed when it is > 0")
    out = np.full((len(rig), frames.size, len(corners), 2), np.nan)
    for v in range(len(rig)):
        when = np.clip(frames + offsets[v], 0, len(R) - 1)
        k = np.minimum(np.floor(when).astype(int), len(R) - 2)
        s = (when - k)[:, None]
        step = rvec_from_rotation(np.swapaxes(R[k], 1, 2) @ R[k + 1])
        Rv = R[k] @ rotation_from_rvec(step * s)
        tv = (1 - s) * t[k] + s * t[k + 1]
        single = Rig([rig.cameras[v]])
        pixels = single.project(np.einsum("fij,cj->fci", Rv, corners) + tv[:, None])[0]
        if pixel_sigma_px > 0:
            pixels = pixels + pixel_sigma_px * rng.standard_normal(pixels.shape)
        pixels[~board_visibility(single, Rv, tv, corners)[0]] = np.nan
        out[v] = pixels
    return out
