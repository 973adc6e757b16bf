"""Caliscope's own calibration of a recording, through its scripting API (``caliscope.api``), for
``benchmarks/bench_real_calibration.py``. Runs under a Python that has ``caliscope`` installed
(its ``opencv-python`` cannot share an environment with rigkit's ``opencv-contrib-python``):

    python benchmarks/peers/caliscope_calibrate.py --folder DIR --holdout-every 5 \\
        --intrinsics given|refined|videos --out camera_array.toml

folder: ``cam_<i>.mp4`` per camera, ``charuco.toml`` (Caliscope's board description) and, for
``--intrinsics given|refined``, ``camera_array.toml`` (its intrinsics are used). Frames are paired by
index (sync index = frame number), as rigkit pairs them. Every ``holdout-every``-th sync index
(positions every-1, 2*every-1, ...) is dropped before the extrinsic solve, so the caller can judge
the result on corners the solve did not see. ``given``: the file's intrinsics held fixed
(``refine_intrinsics=False``); ``refined``: Caliscope's production pipeline
(``calibrate_extrinsics``, intrinsics refined jointly); ``videos``: intrinsics calibrated by
Caliscope from the same videos (every frame of each camera), then its production pipeline.
Prints one line: the seconds each stage took.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--holdout-every", type=int, default=5)
    parser.add_argument("--intrinsics", choices=("given", "refined", "videos"), required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    from caliscope.api import (CameraArray, CameraData, Charuco, CharucoTracker, ImagePoints, calibrate_extrinsics,
                               calibrate_intrinsics, extract_image_points_multicam)

    board = tomllib.loads((args.folder / "charuco.toml").read_text())
    charuco = Charuco(**board)
    videos = {int(p.stem.split("_")[1]): p for p in sorted(args.folder.glob("cam_*.mp4"))}
    start = time.perf_counter()
    points = extract_image_points_multicam(videos, CharucoTracker(charuco), progress=None)
    detected = time.perf_counter() - start
    df = points.df
    first = int(df["sync_index"].min())
    held = ((df["sync_index"] - first) % args.holdout_every == args.holdout_every - 1
            if args.holdout_every else df["sync_index"] < -1)
    train = ImagePoints(df[~held].reset_index(drop=True))
    start = time.perf_counter()
    if args.intrinsics == "videos":
        cameras = {}
        for cam_id, video in videos.items():
            camera = CameraData.from_video(cam_id, video)
            mine = ImagePoints(df[df["cam_id"] == cam_id].reset_index(drop=True))
            cameras[cam_id] = calibrate_intrinsics(mine, camera).camera
        array = CameraArray(cameras)
    else:
        given = CameraArray.from_toml(args.folder / "camera_array.toml")
        array = CameraArray({cam_id: CameraData(cam_id=cam_id, size=cam.size, matrix=cam.matrix,
                                                distortions=cam.distortions, fisheye=cam.fisheye)
                             for cam_id, cam in given.cameras.items()})
    intrinsics = time.perf_counter() - start
    start = time.perf_counter()
    run = calibrate_extrinsics(train, array, None, refine_intrinsics=args.intrinsics != "given")
    extrinsics = time.perf_counter() - start
    run.capture_volume.camera_array.to_toml(args.out)
    print(f"caliscope: detection {detected:.1f} s, intrinsics {intrinsics:.1f} s, extrinsics {extrinsics:.1f} s; "
          f"{int(held.sum())} of {len(df)} observations held out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
