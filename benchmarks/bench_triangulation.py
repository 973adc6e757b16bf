"""Triangulation speed and accuracy: rigkit against aniposelib, measured in the same run.

    /work/venv/bin/python benchmarks/bench_triangulation.py [--quick] [--points N]

Scene (issue 2): 6 cameras 1920x1080 in a ring (lens distortion), points in the capture volume,
1 px Gaussian pixel noise; observations outside an image are missing (NaN). For the robust rows,
10% of the observations are replaced by gross outliers (moved 50-400 px in a random direction:
a wrist on the wrong arm, a joint of another person).

Columns: points/s (best of a few runs, wall clock, all threads) and its ratio to the peer;
points per CPU-second (all threads of the process; the fair measure when other jobs share the
cores, as they do on the 2-core build machine) and its ratio to the peer; mean / median 3D error against the ground truth, the mean error relative to the
pixel-space nonlinear least-squares optimum (scipy ``least_squares`` per point, on a subset) and
to an oracle that knows which observations are outliers (rigkit's triangulate on the clean ones),
outlier observations kept among the inliers, and the mean number of views used per point.
aniposelib's ``triangulate_ransac`` runs one Python loop per point over all view subsets, so it
is timed on a small subset of the points.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_load, print_table, timeit  # noqa: E402
from geometry import (Rig, RobustTriangulationOptions, TriangulationOptions, rvec_from_rotation,  # noqa: E402
                      triangulate, triangulate_robust)
from geometry.synthetic import DetectorNoise, random_poses, ring_rig, simulate_detections  # noqa: E402

NOISE_PX = 1.0
OUTLIER_FRACTION = 0.10
OUTLIER_MIN_PX, OUTLIER_MAX_PX = 50.0, 400.0


def aniposelib_group(rig: Rig):
    """The same rig as an aniposelib CameraGroup (OpenCV model; rigkit's k4..k6 are 0 here)."""
    from aniposelib.cameras import Camera, CameraGroup

    cameras = []
    for cam in rig:
        if cam.model != "opencv" or np.any(cam.dist_padded[5:] != 0):
            raise ValueError("the aniposelib comparison needs the 5-coefficient OpenCV model")
        cameras.append(Camera(name=cam.name, size=cam.size, matrix=np.array(cam.K),
                              dist=np.array(cam.dist_padded[:5]), rvec=rvec_from_rotation(cam.R),
                              tvec=np.array(cam.t)))
    return CameraGroup(cameras)


def make_scene(num_points: int, rng: np.random.Generator):
    rig = ring_rig(6, lens="distorted", rng=rng)
    truth = rng.normal([0.0, 0.0, 1.0], [0.5, 0.5, 0.4], (num_points, 3))
    observed = rig.project(truth) + rng.normal(0, NOISE_PX, (6, num_points, 2))
    sizes = rig.sizes[:, None, :]
    outside = ((observed < -0.5) | (observed > sizes - 0.5)).any(axis=-1)
    observed[outside] = np.nan
    outlier = (rng.random((6, num_points)) < OUTLIER_FRACTION) & ~outside
    angle = rng.uniform(0, 2 * np.pi, outlier.sum())
    length = rng.uniform(OUTLIER_MIN_PX, OUTLIER_MAX_PX, outlier.sum())
    corrupted = observed.copy()
    corrupted[outlier] += np.stack([np.cos(angle), np.sin(angle)], axis=-1) * length[:, None]
    return rig, truth, observed, corrupted, outlier


def nlls_optimum(rig: Rig, observed: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Per-point scipy least_squares on the pixel reprojection error (the reference optimum)."""
    out = np.empty_like(start)
    for n in range(start.shape[0]):
        seen = np.isfinite(observed[:, n, 0])

        def residual(X, n=n, seen=seen):
            return (rig.project(X)[seen] - observed[seen, n]).ravel()

        out[n] = least_squares(residual, start[n], method="lm", xtol=1e-14, ftol=1e-14).x
    return out


def _speed(num_points: int, timing: tuple[float, float], peer: tuple[int, tuple[float, float]] | None):
    """Throughput columns from (wall s, CPU s), with ratios to the peer's (points, timing)."""
    row = {"points/s": num_points / timing[0], "points/CPU-s": num_points / timing[1]}
    if peer is not None:
        peer_points, (peer_wall, peer_cpu) = peer
        row["x peer"] = row["points/s"] / (peer_points / peer_wall)
        row["x peer CPU"] = row["points/CPU-s"] / (peer_points / peer_cpu)
    return row


def _robust_accuracy(e_mm, e_oracle_mm, inliers, outlier, valid) -> dict:
    """Accuracy columns of a robust row: errors (N,) mm, inliers / outlier masks (V, N)."""
    views = inliers.sum(axis=0) if valid is None else inliers.sum(axis=0)[valid]
    return {"mean mm": np.nanmean(e_mm), "median mm": np.nanmedian(e_mm),
            "vs oracle %": 100 * (np.nanmean(e_mm) / np.nanmean(e_oracle_mm) - 1),
            "outliers kept": int((inliers & outlier).sum()), "inlier views": float(views.mean())}


def error_mm(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points - truth, axis=-1) * 1000


def detector_model_rows(rig: Rig, group, quick: bool, repeat: int, ransac_subset: int) -> list[dict]:
    """Robust rows on COCO-17 people seen through geometry.synthetic's detector model.

    2 px noise (4 px occluded), 10% outliers (another body part, far displacement, anywhere),
    5% left/right swaps, self-occlusion, Beta confidences (used as weights by rigkit; aniposelib's
    triangulate_ransac takes none). "outliers kept" counts outliers and swaps among the inliers,
    including swaps of joints that project within a few pixels of each other.
    """
    rng = np.random.default_rng(7)
    poses = random_poses(300 if quick else 1200, rng=rng)
    detections = simulate_detections(rig, poses.joints_in_world, skeleton=poses.skeleton,
                                     noise=DetectorNoise(), rng=rng)
    V = len(rig)
    points_2d = detections.points_2d.reshape(V, -1, 2)
    scores = detections.scores.reshape(V, -1)
    truth = poses.joints_in_world.reshape(-1, 3)
    bad = ((detections.is_outlier | detections.is_swapped) & detections.visible).reshape(V, -1)
    clean = detections.visible.reshape(V, -1) & ~bad
    oracle = triangulate(rig, np.where(clean[..., None], points_2d, np.nan), weights=np.where(clean, scores, 0))
    e_oracle = error_mm(oracle, truth)
    num_points = truth.shape[0]
    rows = []
    part = slice(0, ransac_subset)
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    ransac_points, picked, _, _ = group.triangulate_ransac(points_2d[:, part], progress=False)
    ransac_timing = (time.perf_counter() - start_wall, time.process_time() - start_cpu)
    for name, options in (("rigkit", None), ("rigkit soft 5 px", RobustTriangulationOptions(soft_scale_px=5.0))):
        result = triangulate_robust(rig, points_2d, weights=scores, options=options)
        timing = (timeit(lambda: triangulate_robust(rig, points_2d, weights=scores, options=options), repeat),
                  timeit(lambda: triangulate_robust(rig, points_2d, weights=scores, options=options), repeat,
                         clock=time.process_time))
        e = error_mm(result.points_3d, truth)
        rows.append({"method": "robust, detector model", "impl": name, "points": num_points,
                     **_speed(num_points, timing, (ransac_subset, ransac_timing)),
                     **_robust_accuracy(e, e_oracle, result.inliers, bad, result.valid)})
    picked = picked[..., 0]
    e = error_mm(ransac_points, truth[part])
    rows.append({"method": "robust, detector model", "impl": "aniposelib ransac", "points": ransac_subset,
                 **_speed(ransac_subset, ransac_timing, None),
                 **_robust_accuracy(e, e_oracle[part], picked, bad[:, part], None)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer points and repeats (~20 s)")
    parser.add_argument("--points", type=int, default=None, help="points (default 20000, quick 5000)")
    args = parser.parse_args(argv)
    logging.getLogger("jax").setLevel(logging.ERROR)
    num_points = args.points or (5000 if args.quick else 20000)
    repeat = 3 if args.quick else 5
    nlls_subset = 100 if args.quick else 400
    ransac_subset = 20 if args.quick else 60
    rng = np.random.default_rng(2024)
    rig, truth, observed, corrupted, outlier = make_scene(num_points, rng)
    group = aniposelib_group(rig)
    print(f"# {num_points} points, 6 cameras 1920x1080 ring, {NOISE_PX:g} px noise, "
          f"{OUTLIER_FRACTION:.0%} gross outliers for the robust rows; {machine_load()}")

    rows = []
    # -- plain triangulation ------------------------------------------------------------------
    ours = triangulate(rig, observed)
    cpu = time.process_time

    def run_ours():
        return triangulate(rig, observed)

    def run_ours_one_thread():
        return triangulate(rig, observed, options=TriangulationOptions(threads=1))

    def run_peer():
        return group.triangulate(observed, progress=False)

    group.triangulate(observed[:, :100], progress=False)  # jax compilation outside the timing
    peer = run_peer()
    timings = {name: (timeit(fn, repeat), timeit(fn, repeat, clock=cpu))
               for name, fn in (("rigkit", run_ours), ("rigkit 1 thread", run_ours_one_thread))}
    timings["aniposelib"] = (timeit(run_peer, max(1, repeat // 2), warmup=0),
                             timeit(run_peer, max(1, repeat // 2), warmup=0, clock=cpu))
    sub = slice(0, nlls_subset)
    nlls = nlls_optimum(rig, observed[:, sub], truth[sub])
    nlls_mean = error_mm(nlls, truth[sub]).mean()
    for name, points in (("rigkit", ours), ("rigkit 1 thread", ours), ("aniposelib", peer)):
        e = error_mm(points, truth)
        rows.append({"method": "triangulate", "impl": name, "points": num_points,
                     **_speed(num_points, timings[name], None if name == "aniposelib"
                              else (num_points, timings["aniposelib"])),
                     "mean mm": np.nanmean(e), "median mm": np.nanmedian(e),
                     "vs NLLS %": 100 * (np.nanmean(e[sub]) / nlls_mean - 1),
                     "inlier views": float(np.isfinite(observed[..., 0]).sum(0).mean())})

    # -- robust triangulation -----------------------------------------------------------------
    robust = triangulate_robust(rig, corrupted)
    robust_one_thread = RobustTriangulationOptions(triangulation=TriangulationOptions(threads=1))
    robust_timings = {
        name: (timeit(fn, repeat), timeit(fn, repeat, clock=cpu))
        for name, fn in (("rigkit", lambda: triangulate_robust(rig, corrupted)),
                         ("rigkit 1 thread", lambda: triangulate_robust(rig, corrupted, options=robust_one_thread)))}
    oracle_input = corrupted.copy()
    oracle_input[outlier] = np.nan
    oracle = triangulate(rig, oracle_input)
    ransac_part = slice(0, ransac_subset)
    ransac_points, picked, _, _ = group.triangulate_ransac(corrupted[:, ransac_part], progress=False)
    start_wall, start_cpu = time.perf_counter(), cpu()
    group.triangulate_ransac(corrupted[:, ransac_part], progress=False)
    ransac_timing = (time.perf_counter() - start_wall, cpu() - start_cpu)
    picked = picked[..., 0]
    e = error_mm(robust.points_3d, truth)
    e_oracle = error_mm(oracle, truth)
    for name, timing in robust_timings.items():
        rows.append({"method": "triangulate_robust", "impl": name, "points": num_points,
                     **_speed(num_points, timing, (ransac_subset, ransac_timing)),
                     **_robust_accuracy(e, e_oracle, robust.inliers, outlier, robust.valid)})
    e = error_mm(ransac_points, truth[ransac_part])
    rows.append({"method": "triangulate_robust", "impl": "aniposelib ransac", "points": ransac_subset,
                 **_speed(ransac_subset, ransac_timing, None),
                 **_robust_accuracy(e, e_oracle[ransac_part], picked, outlier[:, ransac_part], None)})
    rows += detector_model_rows(rig, group, args.quick, repeat, ransac_subset)
    print_table(rows, ["method", "impl", "points", "points/s", "x peer", "points/CPU-s", "x peer CPU",
                       "mean mm", "median mm",
                       "vs NLLS %", "vs oracle %", "outliers kept", "inlier views"])
    clean_majority = (~outlier & np.isfinite(observed[..., 0])).sum(0) > outlier.sum(0)
    kept_in_majority = int((robust.inliers & outlier)[:, clean_majority].sum())
    e_majority = error_mm(robust.points_3d, truth)[clean_majority]
    vs_oracle = 100 * (np.nanmean(e_majority) / np.nanmean(e_oracle[clean_majority]) - 1)
    print(f"# robust: {robust.valid.mean():.2%} valid; {outlier.sum()} outlier observations; where "
          f"the clean views are the majority ({clean_majority.mean():.2%} of the points): "
          f"{kept_in_majority} outliers kept, mean error vs oracle {vs_oracle:+.3f}%; {machine_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
