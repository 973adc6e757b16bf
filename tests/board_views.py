"""Rendered board views with ground truth for the board and intrinsics tests (``capture.render``
ray-traces a mip-mapped board through the camera's exact lens model)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from calibration import Board
from capture.render import render_scene
from geometry import Camera, rotation_from_rvec


def board_poses_in_view(board: Board, num_poses: int, *, rng: np.random.Generator,
                        distance_m=(0.35, 0.6), max_tilt_rad: float = 0.7, max_offset_m=(0.12, 0.09)):
    """cam_from_board poses ``[(R (3, 3), t (3,)), ...]`` spread over the view: the board centre at
    ``distance_m`` along the axis, shifted by up to ``max_offset_m``, tilted about x and y by up to
    ``max_tilt_rad`` (half that in-plane)."""
    centre = np.array([board.size_m[0] / 2, board.size_m[1] / 2, 0.0])
    poses = []
    for _ in range(num_poses):
        R = rotation_from_rvec(rng.uniform(-max_tilt_rad, max_tilt_rad, 3) * np.array([1.0, 1.0, 0.5]))
        offset = np.array([rng.uniform(-max_offset_m[0], max_offset_m[0]),
                           rng.uniform(-max_offset_m[1], max_offset_m[1]), rng.uniform(*distance_m)])
        poses.append((R, offset - R @ centre))
    return poses


def render_board_views(camera: Camera, board: Board, poses, *, noise_seed: int | None = 0) -> list[np.ndarray]:
    """BGR images of ``board`` at ``poses`` (cam_from_board) seen by ``camera`` (placed at the world
    origin); 2 grey levels of sensor noise unless ``noise_seed`` is None."""
    printed = replace(board, margin_m=board.square_length_m / 2)
    at_origin = camera.replace(R=np.eye(3), t=np.zeros(3))
    return [render_scene(at_origin, board=printed, world_from_board=(R, t),
                         noise_seed=None if noise_seed is None else noise_seed + i)
            for i, (R, t) in enumerate(poses)]


def true_corners_px(camera: Camera, board: Board, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(C, 2) where ``camera`` (at the origin) sees the board's corners at pose cam_from_board."""
    return camera.project_from_cam(board.corners_in_board() @ np.asarray(R).T + np.asarray(t))
