"""Triangulation speed and accuracy: rigkit against aniposelib, measured in the same run.

    /work/venv/bin/python benchmarks/bench_triangulation.py [--quick] [--points N]

Scene (issue 2): 6 cameras 1920x1080 in a ring (lens distortion), points in the capture volume,
1 px Gaussian pixel noise; observations outside an image are missing (NaN). For the robust rows,
10% of the observations are replaced by gross outliers (moved 50-400 px in a random direction:
a wrist on the wrong arm, a joint of another person).

Columns: points/s (best of a few runs, wall clock, all threads), the ratio to the peer on the same
row pair, mean / median 3D error against the ground truth, the mean error relative to the
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
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_load, print_table, timeit  # noqa: E402
from geometry import Rig, rvec_from_rotation, triangulate, triangulate_robust  # noqa: E402
from geometry.synthetic import ring_rig  # noqa: E402

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


def error_mm(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points - truth, axis=-1) * 1000


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
    ours_s = timeit(lambda: triangulate(rig, observed), repeat)
    group.triangulate(observed[:, :100], progress=False)  # jax compilation outside the timing
    peer = group.triangulate(observed, progress=False)
    peer_s = timeit(lambda: group.triangulate(observed, progress=False), max(1, repeat // 2), warmup=0)
    sub = slice(0, nlls_subset)
    nlls = nlls_optimum(rig, observed[:, sub], truth[sub])
    nlls_mean = error_mm(nlls, truth[sub]).mean()
    for name, points, seconds, ratio in (("rigkit", ours, ours_s, peer_s / ours_s),
                                         ("aniposelib", peer, peer_s, None)):
        e = error_mm(points, truth)
        rows.append({"method": "triangulate", "impl": name, "points": num_points,
                     "points/s": num_points / seconds, "x peer": ratio,
                     "mean mm": np.nanmean(e), "median mm": np.nanmedian(e),
                     "vs NLLS %": 100 * (np.nanmean(e[sub]) / nlls_mean - 1),
                     "inlier views": float(np.isfinite(observed[..., 0]).sum(0).mean())})

    # -- robust triangulation -----------------------------------------------------------------
    robust = triangulate_robust(rig, corrupted)
    robust_s = timeit(lambda: triangulate_robust(rig, corrupted), repeat)
    oracle_input = corrupted.copy()
    oracle_input[outlier] = np.nan
    oracle = triangulate(rig, oracle_input)
    ransac_part = slice(0, ransac_subset)
    ransac_points, picked, _, _ = group.triangulate_ransac(corrupted[:, ransac_part], progress=False)
    ransac_s = timeit(lambda: group.triangulate_ransac(corrupted[:, ransac_part], progress=False), 1, warmup=0)
    picked = picked[..., 0]
    e = error_mm(robust.points_3d, truth)
    e_oracle = error_mm(oracle, truth)
    rows.append({"method": "triangulate_robust", "impl": "rigkit", "points": num_points,
                 "points/s": num_points / robust_s, "x peer": (num_points / robust_s) / (ransac_subset / ransac_s),
                 "mean mm": np.nanmean(e), "median mm": np.nanmedian(e),
                 "vs oracle %": 100 * (np.nanmean(e) / np.nanmean(e_oracle) - 1),
                 "outliers kept": int((robust.inliers & outlier).sum()),
                 "inlier views": float(robust.num_inliers[robust.valid].mean())})
    e = error_mm(ransac_points, truth[ransac_part])
    rows.append({"method": "triangulate_robust", "impl": "aniposelib ransac", "points": ransac_subset,
                 "points/s": ransac_subset / ransac_s,
                 "mean mm": np.nanmean(e), "median mm": np.nanmedian(e),
                 "vs oracle %": 100 * (np.nanmean(e) / np.nanmean(e_oracle[ransac_part]) - 1),
                 "outliers kept": int((picked & outlier[:, ransac_part]).sum()),
                 "inlier views": float(picked.sum(axis=0).mean())})
    print_table(rows, ["method", "impl", "points", "points/s", "x peer", "mean mm", "median mm",
                       "vs NLLS %", "vs oracle %", "outliers kept", "inlier views"])
    clean_majority = (~outlier & np.isfinite(observed[..., 0])).sum(0) > outlier.sum(0)
    kept_in_majority = int((robust.inliers & outlier)[:, clean_majority].sum())
    print(f"# robust: {robust.valid.mean():.2%} valid; outliers kept where clean views are the "
          f"majority: {kept_in_majority}; {outlier.sum()} outlier observations in all; {machine_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
