"""Seeded board scenes with ground truth for the extrinsics and bundle adjustment tests."""

from __future__ import annotations

import numpy as np

from geometry import Board, Rig
from geometry.synthetic import board_poses, board_visibility, ring_rig

BOARD = Board(type="charuco", squares=(8, 6), square_length_m=0.08, marker_length_m=0.06,
              dictionary="DICT_5X5_100", margin_m=0.04)


def board_scene(num_cameras: int = 5, num_poses: int = 40, *, noise_px: float = 0.3, seed: int = 0,
                rig: Rig | None = None, **pose_options):
    """A ring rig, hand-held board poses and the noisy corners every camera sees.

    Returns ``(rig, corners_in_board (C, 3), R (F, 3, 3), t (F, 3), corners_px (V, F, C, 2))``:
    world_from_board poses and distorted pixels with NaN where a corner is not seen.
    """
    rng = np.random.default_rng(seed)
    rig = ring_rig(num_cameras, rng=rng) if rig is None else rig
    corners = BOARD.corners_in_board()
    R, t = board_poses(rig, num_poses, board=BOARD, rng=rng, **pose_options)
    pixels = rig.project(np.einsum("fij,cj->fci", R, corners) + t[:, None])
    pixels[~board_visibility(rig, R, t, corners)] = np.nan
    return rig, corners, R, t, pixels + rng.normal(0.0, noise_px, pixels.shape)


def keypoint_take(num_cameras: int = 3, num_frames: int = 120, *, seed: int = 43):
    """A person walking in a ring rig, seen by a COCO-17 detector (2 px noise, 10% gross errors),
    for the keypoint calibration tests.

    Returns ``(rig, motion, detections)``: the true rig, ``geometry.synthetic.PersonMotion`` and
    ``labeling.detections.Detections`` (cameras named as the rig, 30 fps timestamps).
    """
    from geometry.skeletons import get_skeleton
    from geometry.synthetic import DetectorNoise, person_motion, simulate_detections
    from labeling.detections import Detections

    rng = np.random.default_rng(seed)
    rig = ring_rig(num_cameras, rng=rng)
    motion = person_motion(num_frames, rng=rng, skeleton="coco17")
    simulated = simulate_detections(rig, motion.joints_in_world, skeleton="coco17",
                                    noise=DetectorNoise(pixel_sigma_px=2.0, outlier_rate=0.1), rng=rng)
    detections = Detections(points_2d=simulated.points_2d, scores=simulated.scores, camera_names=rig.names,
                            joint_names=get_skeleton("coco17").joint_names, frame_index=np.arange(num_frames),
                            timestamp_s=np.arange(num_frames) / 30)
    return rig, motion, detections


def jittered_board_take(jitter_ms: float, *, num_framesets: int = 60, seed: int = 0, noise_px: float = 0.2,
                        latency_ms: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)):
    """A board carried through a 4-camera ring, filmed at 6 framesets per second by free-running
    cameras: each view exposed at its own offset (a per-camera constant of jitter_ms / 2 plus
    jitter_ms per view, Gaussian, 1 sigma), plus each camera's ``latency_ms`` (later positive).

    Returns ``(rig, corners_in_board (C, 3), corners_px (V, F, C, 2), true offsets (V, F) in frames
    of the 6 fps video)``.
    """
    from geometry.synthetic import board_trajectory, unsynchronized_board_observations

    rng = np.random.default_rng(seed)
    rig = ring_rig(4, rng=rng)
    fine_fps, step = 300.0, 50  # trajectory frames per second, per frameset
    R, t = board_trajectory(rig, num_framesets * step + 200, fps=fine_fps, rng=rng, board=BOARD,
                            seconds_per_pose=1.5, hold_share=0.1)
    offsets_ms = (rng.normal(0, jitter_ms / 2, (4, 1)) + rng.normal(0, jitter_ms, (4, num_framesets))
                  + np.asarray(latency_ms, dtype=np.float64)[:, None])
    frames = 100 + step * np.arange(num_framesets)
    corners = BOARD.corners_in_board()
    pixels = unsynchronized_board_observations(rig, R, t, corners, frames, offsets_ms * fine_fps / 1000,
                                               pixel_sigma_px=noise_px, rng=rng)
    return rig, corners, pixels, offsets_ms * (fine_fps / step) / 1000
