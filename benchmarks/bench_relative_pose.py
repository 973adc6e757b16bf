"""Benchmark: ``geometry.relative_pose`` against OpenCV's essential-matrix pipelines.

    /work/venv/bin/python benchmarks/bench_relative_pose.py [--quick] [--pairs 100]
        [--threshold-px 2.0] [--seed 0] [--points 200] [--noise-px 1.0] [--outlier-ratio 0.3]
        [--scene person|volume]

Scene (issue 2): random camera pairs of a seeded 6-camera ring (radius 4 m, 1920x1080, 70 deg,
distorted lenses; a new rig per pair), 200 keypoint correspondences of a person-sized volume
(0.5 x 0.5 x 1.8 m) walking through the central 2 x 2 m (``geometry.synthetic.
person_volume_points``), 1 px Gaussian noise on the distorted pixels of both views, 30% outliers
in view b (half the observation of another point of the person, half anywhere in the image;
``geometry.synthetic.two_view_scene``). ``--scene volume``: the points fill the capture volume
instead (normal around (0, 0, 1) m, sigmas (0.5, 0.5, 0.4) m, as in ``bench_triangulation.py``).

Methods, all given the same pixel threshold and the same points:
- ours: ``relative_pose`` (undistortion included);
- OpenCV ``cv2.findEssentialMat`` with ``cv2.RANSAC`` and with ``cv2.USAC_ACCURATE`` on
  ``cv2.undistortPoints`` normalized coordinates (threshold divided by the mean focal length),
  then ``cv2.recoverPose`` (undistortion included in the time).

Prints one table: rotation error (median, 90th percentile), translation direction error
(median), success rate, milliseconds per pair and ratios against ours. The last two rows are
references, not peers: ours with the true outliers removed, and the bound: a two-view bundle
adjustment on the true inliers started at the true pose (the maximum-likelihood estimate, what
the noise allows any estimator; its time is not comparable).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geometry import relative_pose, rotation_angle_deg, rotation_from_rvec, rvec_from_rotation  # noqa: E402
from geometry.synthetic import person_volume_points, ring_rig, two_view_scene  # noqa: E402

NUM_POINTS = 200
NOISE_PX = 1.0
OUTLIER_RATIO = 0.3


def volume_points(num_points: int, *, rng: np.random.Generator) -> np.ndarray:
    """Points throughout the capture volume, as in ``bench_triangulation.py``: normal around
    (0, 0, 1) m with sigmas (0.5, 0.5, 0.4) m (several people, or a wand waved around)."""
    return rng.normal([0.0, 0.0, 1.0], [0.5, 0.5, 0.4], (num_points, 3))


SCENES = {"person": person_volume_points, "volume": volume_points}


def make_pair(seed: int, *, num_points: int = NUM_POINTS, noise_px: float = NOISE_PX,
              outlier_ratio: float = OUTLIER_RATIO, scene: str = "person") -> dict:
    """One random camera pair (a new seeded ring rig) with its scene and seed."""
    rng = np.random.default_rng(seed)
    rig = ring_rig(6, lens="distorted", rng=rng)
    index_a, index_b = rng.choice(6, 2, replace=False)
    points = SCENES[scene](num_points, rng=rng)
    scene = two_view_scene(rig[int(index_a)], rig[int(index_b)], points, rng=rng, noise_px=noise_px,
                           outlier_ratio=outlier_ratio)
    return dict(scene=scene, seed=seed)


def run_ours(pair: dict, threshold_px: float):
    scene = pair["scene"]
    cam_a, cam_b = scene.camera_a, scene.camera_b
    result = relative_pose(scene.pixels_a, scene.pixels_b, cam_a.K, cam_b.K, dist_a=cam_a.dist,
                           dist_b=cam_b.dist, threshold_px=threshold_px,
                           rng=np.random.default_rng(pair["seed"]))
    return result.success, result.R, result.t


def run_known_outliers(pair: dict, threshold_px: float):
    """Reference: ours with the true outliers removed (NaN rows), i.e. the attainable accuracy."""
    scene = pair["scene"]
    pixels_b = scene.pixels_b.copy()
    pixels_b[scene.outliers] = np.nan
    result = relative_pose(scene.pixels_a, pixels_b, scene.camera_a.K, scene.camera_b.K,
                           dist_a=scene.camera_a.dist, dist_b=scene.camera_b.dist,
                           threshold_px=threshold_px, rng=np.random.default_rng(pair["seed"]))
    return result.success, result.R, result.t


def run_bound(pair: dict, threshold_px: float):
    """Bound, not a method: two-view bundle adjustment (R, t, every point; reprojection error in
    undistorted pixels, scipy least_squares) on the true inliers, started at the true pose: the
    maximum-likelihood estimate, i.e. what the noise allows any estimator on this pair."""
    scene = pair["scene"]
    cam_a, cam_b = scene.camera_a, scene.camera_b
    keep = ~scene.outliers & np.isfinite(scene.pixels_a[:, 0]) & np.isfinite(scene.pixels_b[:, 0])
    xy_a = cv2.undistortPoints(scene.pixels_a[keep].reshape(-1, 1, 2), cam_a.K, cam_a.dist).reshape(-1, 2)
    xy_b = cv2.undistortPoints(scene.pixels_b[keep].reshape(-1, 1, 2), cam_b.K, cam_b.dist).reshape(-1, 2)
    t_true = scene.t / np.linalg.norm(scene.t)
    points = cv2.triangulatePoints(np.eye(3, 4), np.hstack([scene.R, t_true[:, None]]), xy_a.T, xy_b.T)
    points = (points[:3] / points[3]).T
    f_a, f_b, n = cam_a.K[0, 0], cam_b.K[0, 0], len(points)

    def residuals(p):
        R, t, X = rotation_from_rvec(p[:3]), p[3:6], p[6:].reshape(-1, 3)
        in_b = X @ R.T + t
        return np.concatenate([((X[:, :2] / X[:, 2:]) - xy_a).ravel() * f_a,
                               ((in_b[:, :2] / in_b[:, 2:]) - xy_b).ravel() * f_b,
                               [1e3 * (t @ t - 1.0)]])  # the scale gauge: |t| = 1

    sparsity = lil_matrix((4 * n + 1, 6 + 3 * n), dtype=int)
    for k in range(n):
        sparsity[2 * k:2 * k + 2, 6 + 3 * k:9 + 3 * k] = 1
        sparsity[2 * n + 2 * k:2 * n + 2 * k + 2, :6] = 1
        sparsity[2 * n + 2 * k:2 * n + 2 * k + 2, 6 + 3 * k:9 + 3 * k] = 1
    sparsity[4 * n, 3:6] = 1
    start = np.concatenate([rvec_from_rotation(scene.R), t_true, points.ravel()])
    fit = least_squares(residuals, start, jac_sparsity=sparsity, method="trf", x_scale="jac")
    return fit.success, rotation_from_rvec(fit.x[:3]), fit.x[3:6] / np.linalg.norm(fit.x[3:6])


def make_opencv(method: int):
    def run(pair: dict, threshold_px: float):
        scene = pair["scene"]
        cam_a, cam_b = scene.camera_a, scene.camera_b
        normalized_a = cv2.undistortPoints(scene.pixels_a.reshape(-1, 1, 2), cam_a.K, cam_a.dist)
        normalized_b = cv2.undistortPoints(scene.pixels_b.reshape(-1, 1, 2), cam_b.K, cam_b.dist)
        focal = np.mean([cam_a.K[0, 0], cam_a.K[1, 1], cam_b.K[0, 0], cam_b.K[1, 1]])
        E, mask = cv2.findEssentialMat(normalized_a, normalized_b, np.eye(3), method=method,
                                       prob=0.999, threshold=threshold_px / focal)
        if E is None or E.shape[0] < 3:
            return False, None, None
        count, R, t, _ = cv2.recoverPose(E[:3], normalized_a, normalized_b, np.eye(3), mask=mask)
        return count > 0, R, t.ravel()
    return run


def evaluate(run, pairs: list[dict], threshold_px: float) -> dict:
    rotation_deg, translation_deg, seconds, successes = [], [], [], 0
    for pair in pairs:
        start = time.perf_counter()
        success, R, t = run(pair, threshold_px)
        seconds.append(time.perf_counter() - start)
        if not success:
            continue
        successes += 1
        rotation_deg.append(float(rotation_angle_deg(R, pair["scene"].R)))
        cos = np.clip(t @ pair["scene"].t / np.linalg.norm(t), -1.0, 1.0)
        translation_deg.append(float(np.degrees(np.arccos(cos))))
    rotation_deg = np.array(rotation_deg) if rotation_deg else np.array([np.nan])
    return dict(rot_median=np.median(rotation_deg), rot_p90=np.percentile(rotation_deg, 90),
                t_median=np.median(translation_deg) if translation_deg else np.nan,
                success=successes / len(pairs), ms=1000 * np.mean(seconds))


def print_table(rows: list[tuple[str, dict]]) -> None:
    ours = rows[0][1]
    header = (f"{'method':<34}{'rot med deg':>12}{'rot p90 deg':>12}{'t dir med deg':>14}"
              f"{'success':>9}{'ms/pair':>9}{'time x ours':>12}{'rot med x ours':>15}")
    print(header)
    print("-" * len(header))
    for name, r in rows:
        print(f"{name:<34}{r['rot_median']:>12.3f}{r['rot_p90']:>12.3f}{r['t_median']:>14.3f}"
              f"{r['success']:>9.0%}{r['ms']:>9.1f}{r['ms'] / ours['ms']:>12.2f}"
              f"{r['rot_median'] / ours['rot_median']:>15.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 pairs instead of 100")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--threshold-px", type=float, default=2.0,
                        help="inlier threshold for every method, pixels (default 2 = 2 sigma)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=NUM_POINTS, help="correspondences per pair")
    parser.add_argument("--noise-px", type=float, default=NOISE_PX, help="keypoint noise sigma")
    parser.add_argument("--outlier-ratio", type=float, default=OUTLIER_RATIO)
    parser.add_argument("--scene", choices=sorted(SCENES), default="person",
                        help="person: keypoints of one person walking (default); volume: points "
                             "throughout the capture volume")
    args = parser.parse_args(argv)
    num_pairs = 20 if args.quick else args.pairs
    cv2.setNumThreads(1)
    pairs = [make_pair(args.seed * 100_003 + i, num_points=args.points, noise_px=args.noise_px,
                       outlier_ratio=args.outlier_ratio, scene=args.scene) for i in range(num_pairs)]
    methods = [("ours relative_pose", run_ours),
               ("cv2 findEssentialMat RANSAC", make_opencv(cv2.RANSAC)),
               ("cv2 findEssentialMat USAC_ACCURATE", make_opencv(cv2.USAC_ACCURATE)),
               ("reference: ours, outliers known", run_known_outliers),
               ("bound: BA on true inliers (MLE)", run_bound)]
    run_ours(pairs[0], args.threshold_px)  # warm-up (imports, caches)
    load = os.getloadavg()[0]
    print(f"relative pose: {num_pairs} pairs of a 6-camera ring, {args.scene} scene, "
          f"{args.points} correspondences, {args.noise_px:g} px noise, {args.outlier_ratio:.0%} outliers, "
          f"threshold {args.threshold_px:g} px, load {load:.2f}, cv2 {cv2.__version__} (1 thread)")
    rows = [(name, evaluate(run, pairs, args.threshold_px)) for name, run in methods]
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
