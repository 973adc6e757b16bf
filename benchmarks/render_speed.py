"""Frames per second of the synthetic renderer (capture/render.py) on one core.

Run from the repository root: ``python -m benchmarks.render_speed``. Prints one table: scene,
image size, frames/s, the target from the brief, and the ChArUco corner accuracy of the board
renders (median / max px between OpenCV's detection and ``camera.project``). No peer renders
this scene; the reference column is the brief's target. Note the machine load (``uptime``).
"""

from __future__ import annotations

import os
import time

import cv2
import numpy as np

from capture.render import SceneRenderer
from geometry import Board
from geometry.synthetic import board_trajectory, person_motion, ring_rig


def _fps(render, frames: int) -> float:
    render(0)  # warm caches
    start = time.perf_counter()
    for i in range(frames):
        render(i)
    return frames / (time.perf_counter() - start)


def main() -> None:
    cv2.setNumThreads(1)
    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    rows = []
    for size in ((640, 480), (1280, 720)):
        rig = ring_rig(4, size=size, rng=np.random.default_rng(0))
        start = time.perf_counter()
        renderer = SceneRenderer(rig[0])
        setup_s = time.perf_counter() - start
        motion = person_motion(200, rng=np.random.default_rng(1))
        person = _fps(lambda i: renderer.render(joints_in_world=motion.joints_in_world[i % 200],
                                                skeleton="coco17", noise_seed=i), 200)
        rows.append(("person + room + noise", size, person, 60 if size == (640, 480) else None, setup_s, ""))
        board = Board(type="charuco", squares=(7, 5), square_length_m=0.12, marker_length_m=0.09,
                      dictionary="DICT_5X5_100", margin_m=0.04)  # 0.84 x 0.6 m
        R, t = board_trajectory(rig, 120, board=board, rng=np.random.default_rng(2))
        # Board carried through the volume, near the camera: a large, slanted board.
        dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_5X5_100)
        detector = cv2.aruco.CharucoDetector(cv2.aruco.CharucoBoard(board.squares, board.square_length_m,
                                                                    board.marker_length_m, dictionary))
        boards = _fps(lambda i: renderer.render(board=board, world_from_board=(R[i % 120], t[i % 120]),
                                                noise_seed=i), 120)
        errors = []
        for i in range(0, 120, 10):
            image = renderer.render(board=board, world_from_board=(R[i], t[i]), noise_seed=i).image
            corners, ids, _, _ = detector.detectBoard(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
            if ids is not None:
                truth = rig[0].project(board.corners_in_board()[ids.ravel()] @ R[i].T + t[i])
                errors.append(np.hypot(*(corners.reshape(-1, 2) - truth).T))
        errors = np.concatenate(errors) if errors else np.array([np.nan])
        accuracy = f"median {np.median(errors):.3f} / max {errors.max():.3f} px ({errors.size} corners)"
        rows.append(("board + room + noise", size, boards, 15 if size == (1280, 720) else None, setup_s, accuracy))
    print(f"{'scene':24} {'size':>10} {'frames/s':>9} {'target':>7} {'setup s':>8}  board corners vs project")
    for scene, size, fps, target, setup_s, accuracy in rows:
        print(f"{scene:24} {size[0]:>5}x{size[1]:<4} {fps:9.1f} {target or '':>7} {setup_s:8.2f}  {accuracy}")


if __name__ == "__main__":
    main()
