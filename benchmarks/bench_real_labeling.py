"""Benchmark: the one gating rule on real footage (issue 11 "How well", gating figures).

    /work/main/.venv/bin/python benchmarks/bench_real_labeling.py [--detections-cache FILE.npz]
        [--data DIR]

Data: the Pose2Sim demo (``../shared/data/pose2sim-demo``: 4 portrait cameras, 1088x1920
calibrated by the lab's Qualisys system; cam01/cam02 decode as 1080x1920, 8 columns short: the
detections keep the calibration's pixel grid, as padding the right edge would). Detections:
MediaPipe BlazePose (``mediapipe==0.10.14``) through rigkit's own backend, ``rigkit label detect
--detector mediapipe --videos ...`` (each frame on its own; ``benchmarks/real_detections.py``), on
the 4 videos (100 frames each), 33 landmarks reduced to COCO-17 by name. They are labeled through the pipeline (the ``npz:``
importer, ``LabelJob.create``, ``run_label_job``, shards read back) twice: the adaptive rule
(default) and the fixed 15/10 px thresholds of before (``gating="fixed"``), each with the bone
check and presence test.

Figures (targets from issue 11):
1. acceptance: share of COCO-17 joints accepted where the joint is detected with score >= 0.5
   in 3 or more views (target >= 95%), overall and the lowest joint.
2. leave-one-view-out error: for each view, the labels are recomputed without it (the rule
   estimated again from the other views), projected into it and compared with its detection
   (score >= 0.5); median and p90 px over the joints both rules accept (target: adaptive no worse).
3. long bones (upper arms, forearms, thighs, shanks) of accepted labels: coefficient of variation
   over the take per bone (target <= 5%) and framesets with an accepted long bone more than 20%
   off its median (target <= 1 of 100).
4. the noise estimated per camera and joint group and the thresholds used (as ``label report``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling import LabelJob, LabelOptions, compute_pseudo_labels, run_label_job  # noqa: E402
from labeling.cli import bones_from_skeleton, read_npz_detections  # noqa: E402
from labeling.detections import Detections  # noqa: E402
from labeling.index import LabelIndex  # noqa: E402
from labeling.pseudo_labels import bone_lengths_m, long_bone_mask  # noqa: E402
from labeling.report import noise_table  # noqa: E402
from labeling.shards import read_shard  # noqa: E402

# "fixed": today's pixel thresholds with the rest of today's rules (presence test, bone check);
# the labeling of main before the adaptive rule accepted 58.4% of the eligible joints here.
RULES = {"adaptive (default)": LabelOptions(), "fixed 15/10 px gates": LabelOptions(gating="fixed")}
ELIGIBLE_SCORE, ELIGIBLE_VIEWS = 0.5, 3


def _default_data() -> Path:
    try:
        from tests.shared_data import POSE2SIM

        return POSE2SIM
    except ImportError:
        return Path("/work/shared/data/pose2sim-demo")


def detections_npz(data: Path, cache: Path | None, workdir: Path) -> tuple[Path, float]:
    """The BlazePose detections (COCO-17 joints) as an npz: ``rigkit label detect --detector
    mediapipe`` over the videos, or the cache when it exists; and the seconds spent detecting (NaN
    when cached)."""
    from benchmarks.real_detections import mediapipe_detections
    from geometry.skeletons import COCO_17
    from labeling.detections import write_npz_detections

    videos = {p.stem: p for p in sorted((data / "videos").glob("*.mp4"))}
    raw = cache if cache is not None else workdir / "blazepose33.npz"
    detections, seconds = mediapipe_detections(videos, raw, joints=COCO_17.joint_names)
    return write_npz_detections(workdir / "coco17.npz", detections), seconds


def label_through_pipeline(rig, detections, bones, options, out: Path):
    """run_label_job into ``out``; returns (valid (F, J), keypoints_3d (F, J, 3), noise json, s)."""
    started = time.perf_counter()
    job = LabelJob.create(rig, detections, options=options, bones=bones, shard_size=64)
    run_label_job(job, out, progress=False)
    seconds = time.perf_counter() - started
    index = LabelIndex.read(out)
    shards = [read_shard(out / e.file, fields=("valid", "keypoints_3d")) for e in index.shards]
    valid = np.concatenate([s["valid"] for s in shards])
    points = np.concatenate([s["keypoints_3d"] for s in shards]).astype(np.float64)
    return valid, points, index.job["noise"], seconds


def _bone_name(a: str, b: str) -> str:
    """``"L forearm"`` for ``left_elbow``-``left_wrist`` (COCO-17 names)."""
    parts = {a.split("_")[-1], b.split("_")[-1]}
    segment = {frozenset(("shoulder", "elbow")): "uparm", frozenset(("elbow", "wrist")): "forearm",
               frozenset(("hip", "knee")): "thigh", frozenset(("knee", "ankle")): "shank"}
    return f"{a[0].upper()} {segment.get(frozenset(parts), a + '-' + b)}"


def leave_one_view_out(rig, detections, bones, options) -> tuple[np.ndarray, np.ndarray]:
    """(V, F, J) px distance of view v's detection to the labels made without view v, and (V, F, J)
    whether those labels are valid."""
    V = detections.num_views
    error = np.full(detections.scores.shape, np.nan)
    valid = np.zeros(detections.scores.shape, dtype=bool)
    for v in range(V):
        points = detections.points_2d.copy()
        points[v] = np.nan
        scores = detections.scores.copy()
        scores[v] = np.nan
        without = Detections(points_2d=points, scores=scores, camera_names=detections.camera_names,
                             joint_names=detections.joint_names, frame_index=detections.frame_index,
                             timestamp_s=detections.timestamp_s)
        labels = compute_pseudo_labels(rig, without, options=options, bones=bones)
        projected = rig.project(labels.keypoints_3d.astype(np.float64))[v]  # (F, J, 2)
        error[v] = np.linalg.norm(projected - detections.points_2d[v], axis=-1)
        valid[v] = labels.valid
    return error, valid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="the pose2sim-demo folder")
    parser.add_argument("--detections-cache", type=Path, default=None,
                        help="npz of the BlazePose detections (33 landmarks, as `rigkit label detect` "
                             "writes it): read when it exists, else written")
    args = parser.parse_args()
    data = args.data or _default_data()
    if not (data / "videos").is_dir():
        print(f"no Pose2Sim demo at {data}; pass --data", file=sys.stderr)
        return 2
    from calibration import load_rig

    print(f"load average: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    workdir = Path(tempfile.mkdtemp(prefix="rigkit-bench-real-"))
    try:
        npz, detect_s = detections_npz(data, args.detections_cache, workdir)
        detections = read_npz_detections(npz)  # the npz: importer of `rigkit label`
        rig = load_rig(data / "calibration" / "Calib_qualisys.toml")
        bones, _ = bones_from_skeleton(detections.joint_names, None)
        from labeling.pipeline import match_cameras

        rig, detections = match_cameras(rig, detections)
        F, J = detections.num_frames, detections.num_joints
        names = detections.joint_names
        if np.isfinite(detect_s):
            print(f"BlazePose on {detections.num_views} x {F} frames: {detect_s:.1f} s "
                  f"({detections.num_views * F / detect_s:.1f} images/s)")
        eligible = (detections.scores >= ELIGIBLE_SCORE).sum(axis=0) >= ELIGIBLE_VIEWS  # (F, J)
        results = {}
        for name, options in RULES.items():
            results[name] = label_through_pipeline(rig, detections, bones, options,
                                                   workdir / name.split()[0])

        print(f"\n## 1. acceptance where the joint has score >= {ELIGIBLE_SCORE} in "
              f">= {ELIGIBLE_VIEWS} views ({int(eligible.sum())} of {F * J} joints)")
        print(f"{'rule':<24} {'accepted':>9} {'lowest joint':>26} {'labeling s':>11}")
        for name, (valid, _, _, seconds) in results.items():
            per_joint = np.array([valid[:, j][eligible[:, j]].mean() if eligible[:, j].any() else np.nan
                                  for j in range(J)])
            worst = int(np.nanargmin(per_joint))
            print(f"{name:<24} {valid[eligible].mean():>9.1%} "
                  f"{names[worst] + f' {per_joint[worst]:.0%}':>26} {seconds:>11.2f}")
        print("(target: >= 95% with the adaptive rule)")

        print("\n## 2. leave-one-view-out error (px; labels without the view, projected into it, "
              "against its detection with score >= 0.5; joints both rules accept)")
        loo = {name: leave_one_view_out(rig, detections, bones, options) for name, options in RULES.items()}
        both = np.logical_and.reduce([v for _, v in loo.values()]) & (detections.scores >= ELIGIBLE_SCORE)
        print(f"{'rule':<24} {'median px':>10} {'p90 px':>8} {'n':>6}")
        for name, (error, _) in loo.items():
            e = error[both]
            print(f"{name:<24} {np.median(e):>10.1f} {np.percentile(e, 90):>8.1f} {e.size:>6}")
        print("(target: the adaptive rule no worse than the fixed one)")

        print("\n## 3. long bones of accepted labels over the take")
        long = np.asarray(bones)[long_bone_mask(names, bones)]
        header = " ".join(f"{_bone_name(names[a], names[b]):>8}" for a, b in long)
        print(f"{'rule':<24} CV %: {header}   framesets > 20% off")
        for name, (valid, points, _, _) in results.items():
            lengths = bone_lengths_m(np.where(valid[..., None], points, np.nan), long)  # (F, B)
            cv = np.nanstd(lengths, axis=0) / np.nanmean(lengths, axis=0)
            median = np.nanmedian(lengths, axis=0)
            off = (np.abs(lengths - median) > 0.2 * median).any(axis=1).sum()
            print(f"{name:<24}       " + " ".join(f"{100 * c:>8.1f}" for c in cv)
                  + f"   {int(off)} of {F}")
        print("(targets: CV <= 5% per bone, at most 1 frameset with a long bone > 20% off)")

        print("\n## 4. noise and thresholds per camera (label report)")
        for name, (_, _, noise, _) in results.items():
            print(f"[{name}]")
            print("\n".join(noise_table(noise)[1:]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
