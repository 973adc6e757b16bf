"""Intrinsic calibration from a hand-held board video: rigkit against plain OpenCV.

Run from the repository root: ``python -m benchmarks.bench_intrinsics [--frames 300]``.

A synthetic camera (1280x720, distorted lens) films a ChArUco board waved in front of it the way
staff record an intrinsics video (0.8-1.6 m away, all over the image, tilted up to ~45 degrees,
moving smoothly from pose to pose and held still at each, so most frames are near duplicates),
rendered by ``capture.render`` with sensor noise. Every method gets the same corner
detections; the table shows solver time, views used and the error of the result against the
truth: focal length (%), principal point (px), and the lens model error (px, 95th percentile over
the image, after the small rotation a principal-point shift trades with the board poses).

Methods: rigkit (view selection + outlier views dropped; the auto model, and the standard 5-term
model OpenCV uses, to separate selection from model); OpenCV with every frame
that shows the board (what most scripts do); OpenCV with 40 frames taken at a regular stride.
Note the machine load printed with the table.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from benchmarks.common import machine_load, print_table
from calibration import Board, BoardView, IntrinsicsOptions, detect_board, select_views, solve_intrinsics
from capture.render import SceneRenderer
from geometry import Camera, rotation_from_rvec
from geometry.synthetic import interpolate_key_poses, synthetic_camera

BOARD = Board(type="charuco", squares=(8, 6), square_length_m=0.08, marker_length_m=0.06,
              dictionary="DICT_5X5_100", margin_m=0.04)


def handheld_video(camera: Camera, num_frames: int, *, rng: np.random.Generator, fps: float = 30.0,
                   seconds_per_pose: float = 1.5, hold_share: float = 0.5):
    """cam_from_board poses ``(R (F, 3, 3), t (F, 3))`` of a board waved in front of ``camera``."""
    w, h = camera.size
    half = np.array([BOARD.size_m[0] / 2, BOARD.size_m[1] / 2, 0.0])
    num_keys = int(np.ceil(num_frames / (seconds_per_pose * fps))) + 1
    key_R, key_centre = [], []
    for _ in range(num_keys):
        depth = rng.uniform(0.8, 1.6)
        u, v = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)  # where the centre shows
        ray = np.array([(u - camera.K[0, 2]) / camera.K[0, 0], (v - camera.K[1, 2]) / camera.K[1, 1], 1.0])
        key_centre.append(ray * depth)
        key_R.append(rotation_from_rvec(rng.uniform(-0.75, 0.75, 3) * np.array([1.0, 1.0, 0.4])))
    key_R, key_centre = np.array(key_R), np.array(key_centre)
    R, centre = interpolate_key_poses(key_R, key_centre, num_frames, frames_per_pose=seconds_per_pose * fps,
                                      hold_share=hold_share)
    return R, centre - R @ half


def lens_error_px(truth: Camera, camera: Camera, *, margin: float = 0.1) -> float:
    """95th percentile px between the two lens models over the image (rotation-aligned)."""
    w, h = truth.size
    u, v = np.meshgrid(np.linspace(margin * w, (1 - margin) * w, 24), np.linspace(margin * h, (1 - margin) * h, 14))
    pixels = np.stack([u.ravel(), v.ravel()], axis=-1)
    a = np.concatenate([truth.normalize(pixels), np.ones((len(pixels), 1))], axis=-1)
    b = np.concatenate([camera.normalize(pixels), np.ones((len(pixels), 1))], axis=-1)
    ok = np.all(np.isfinite(a), axis=-1) & np.all(np.isfinite(b), axis=-1)  # NaN: lens not invertible
    if ok.mean() < 0.9:
        return float("inf")
    a, b, pixels = a[ok], b[ok], pixels[ok]
    a /= np.linalg.norm(a, axis=-1, keepdims=True)
    b /= np.linalg.norm(b, axis=-1, keepdims=True)
    U, _, Vt = np.linalg.svd(a.T @ b)
    align = Vt.T @ np.diag([1.0, 1.0, np.linalg.det(Vt.T @ U.T)]) @ U.T
    return float(np.percentile(np.linalg.norm(camera.project_from_cam(a @ align.T) - pixels, axis=-1), 95))


def opencv_solve(views, size):
    corners = BOARD.corners_in_board()
    objects = [corners[v.detection.ids].astype(np.float32) for v in views]
    images = [v.detection.corners_px.astype(np.float32) for v in views]
    rms, K, dist, *_ = cv2.calibrateCameraExtended(objects, images, size, None, None)
    return Camera(name="opencv", size=size, K=K, dist=np.asarray(dist).reshape(-1)[:5]), rms


def row(method, camera: Camera, truth: Camera, seconds: float, views: int, rms: float) -> dict:
    return {
        "method": method, "views": views, "solve s": seconds, "RMS px": rms,
        "fx err %": 100 * abs(camera.K[0, 0] / truth.K[0, 0] - 1),
        "fy err %": 100 * abs(camera.K[1, 1] / truth.K[1, 1] - 1),
        "pp err px": float(np.hypot(*(camera.K[:2, 2] - truth.K[:2, 2]))),
        "lens err p95 px": lens_error_px(truth, camera),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="video length (30 fps)")
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    truth = synthetic_camera("cam", [0, 0, 0], [0, 0, 1], size=(1280, 720), lens="distorted", rng=rng,
                             up=(0, -1, 0)).replace(R=np.eye(3), t=np.zeros(3))
    R, t = handheld_video(truth, args.frames, rng=rng)
    renderer = SceneRenderer(truth, sensor_noise_sigma=2.0)
    start = time.perf_counter()
    views = []
    for i in range(args.frames):
        image = renderer.render(board=BOARD, world_from_board=(R[i], t[i]), noise_seed=i).image
        detection = detect_board(BOARD, image)
        if detection.num_corners >= 8:
            gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            x0, y0 = np.floor(detection.corners_px.min(0)).astype(int).clip(0)
            x1, y1 = np.ceil(detection.corners_px.max(0)).astype(int) + 1
            views.append(BoardView(frame_index=i, detection=detection,
                                   sharpness=float(cv2.Laplacian(gray[y0:y1, x0:x1], cv2.CV_64F).var())))
    render_detect_s = time.perf_counter() - start
    size = truth.size
    rows = []

    for model in ("auto", "standard"):
        start = time.perf_counter()
        selected = select_views(BOARD, views, size, max_views=40)
        result = solve_intrinsics(BOARD, selected, size, name="rigkit", options=IntrinsicsOptions(model=model))
        seconds = time.perf_counter() - start
        rows.append(row(f"rigkit ({model}: {result.model})", result.camera, truth, seconds, result.views_used,
                        result.rms_px))

    start = time.perf_counter()
    camera, rms = opencv_solve(views, size)
    rows.append(row("OpenCV, every frame", camera, truth, time.perf_counter() - start, len(views), rms))

    stride = max(1, len(views) // 40)
    strided = views[::stride][:40]
    start = time.perf_counter()
    camera, rms = opencv_solve(strided, size)
    rows.append(row("OpenCV, 40 strided", camera, truth, time.perf_counter() - start, len(strided), rms))

    print(f"intrinsics: {args.frames} frames of 1280x720, board in {len(views)}; rendering + detection "
          f"{render_detect_s:.1f} s (not in the table); {machine_load()}")
    print_table(rows, ["method", "views", "solve s", "RMS px", "fx err %", "fy err %", "pp err px",
                       "lens err p95 px"])


if __name__ == "__main__":
    main()
