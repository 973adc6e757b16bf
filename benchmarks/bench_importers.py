"""Importer speed: a 10,000-frame, 4-camera, 25-joint take in every peer format, read by rigkit's
importer, beside the plain reading of the same files (json / pandas / h5py, no assembly).

    python benchmarks/bench_importers.py [--quick] [--frames 10000] [--formats openpose,dlc-csv,...]

Each take is written the way the peer writes it (OpenPose: one JSON per camera and frame;
DeepLabCut: pandas ``to_csv`` and ``to_hdf(format="table")``; SLEAP: analysis HDF5 in SLEAP's
matlab layout and a ``.slp`` with frames/instances/pred_points tables; COCO: one dataset JSON;
MMPose: one ``--save-predictions`` JSON per camera). ``rigkit s`` is the best of 2 reads through
``labeling.importers.load_candidates`` (the files in the OS cache after a warm-up read),
``plain s`` the best of 2 plain reads, ``ratio`` their quotient; target: rigkit under 2 s per
format at 10,000 frames. ``--quick``: 1,000 frames (the 2 s target then does not apply).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import machine_load, print_table, timeit  # noqa: E402
from labeling.importers import load_candidates  # noqa: E402

V, J = 4, 25
TARGET_S = 2.0
JOINTS = tuple(f"j{j:02d}" for j in range(J))
CAMERAS = tuple(f"cam{v + 1}" for v in range(V))


def _take(F: int, rng) -> np.ndarray:
    """(V, F, J, 3) x, y, score; 5 % of joints missing (NaN)."""
    take = np.concatenate([rng.uniform(0, 1900, (V, F, J, 2)), rng.uniform(0.1, 1, (V, F, J, 1))], -1)
    take[rng.random((V, F, J)) < 0.05] = np.nan
    return take


def write_openpose(root: Path, take) -> Path:
    for v, camera in enumerate(CAMERAS):
        folder = root / f"{camera}_json"
        folder.mkdir(parents=True)
        for f, person in enumerate(take[v]):
            flat = np.nan_to_num(person, nan=0.0).round(3).reshape(-1).tolist()
            (folder / f"{camera}_{f:012d}_keypoints.json").write_text(json.dumps(
                {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": flat}]}))
    return root


def plain_openpose(root: Path):
    return [json.loads(p.read_bytes()) for folder in sorted(root.iterdir()) for p in sorted(folder.glob("*.json"))]


def _dlc_frame(view):
    import pandas as pd

    columns = pd.MultiIndex.from_product([["DLC_resnet50_benchJan1shuffle1_1000"], JOINTS,
                                          ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"])
    return pd.DataFrame(view.reshape(len(view), -1), columns=columns)


def write_dlc_csv(root: Path, take) -> Path:
    root.mkdir(parents=True)
    for v, camera in enumerate(CAMERAS):
        _dlc_frame(take[v]).to_csv(root / f"{camera}DLC_resnet50_benchJan1shuffle1_1000.csv")
    return root


def plain_dlc_csv(root: Path):
    import pandas as pd

    return [pd.read_csv(p, header=[0, 1, 2], index_col=0) for p in sorted(root.glob("*.csv"))]


def write_dlc_h5(root: Path, take) -> Path:
    root.mkdir(parents=True)
    for v, camera in enumerate(CAMERAS):
        _dlc_frame(take[v]).to_hdf(root / f"{camera}DLC_resnet50_benchJan1shuffle1_1000.h5",
                                   key="df_with_missing", format="table", mode="w")
    return root


def plain_dlc_h5(root: Path):
    import pandas as pd

    return [pd.read_hdf(p) for p in sorted(root.glob("*.h5"))]


def write_sleap_analysis(root: Path, take) -> Path:
    root.mkdir(parents=True)
    for v, camera in enumerate(CAMERAS):
        with h5py.File(root / f"{camera}.analysis.h5", "w") as h:
            h["tracks"] = take[v][None, ..., :2].transpose(0, 3, 2, 1)  # (1, 2, J, F)
            h["point_scores"] = take[v][None, ..., 2].transpose(0, 2, 1)
            h["track_occupancy"] = np.ones((take.shape[1], 1), np.uint8)
            h["node_names"] = np.array([n.encode() for n in JOINTS])
            h["track_names"] = np.array([b"subject"])
    return root


def plain_h5(root: Path):
    out = []
    for path in sorted(root.glob("*")):
        with h5py.File(path, "r") as h:
            out.append({k: h[k][()] for k in h if isinstance(h[k], h5py.Dataset)})
    return out


def write_slp(root: Path, take) -> Path:
    """SLEAP's .slp tables, one predicted instance per frame, one file per camera."""
    root.mkdir(parents=True)
    F = take.shape[1]
    metadata = {"version": "2.0.0", "nodes": [{"name": n, "weight": 1.0} for n in JOINTS],
                "skeletons": [{"directed": True, "graph": {"name": "bench"}, "links": [],
                               "multigraph": True, "nodes": [{"id": j} for j in range(J)]}],
                "videos": [], "tracks": [], "suggestions": [], "negative_anchors": {}}
    for v, camera in enumerate(CAMERAS):
        frames = np.zeros(F, dtype=[("frame_id", "<u8"), ("video", "<u4"), ("frame_idx", "<u8"),
                                    ("instance_id_start", "<u8"), ("instance_id_end", "<u8")])
        frames["frame_id"] = frames["frame_idx"] = frames["instance_id_start"] = np.arange(F)
        frames["instance_id_end"] = np.arange(F) + 1
        instances = np.zeros(F, dtype=[("instance_id", "<i8"), ("instance_type", "u1"), ("frame_id", "<u8"),
                                       ("skeleton", "<u4"), ("track", "<i4"), ("from_predicted", "<i8"),
                                       ("score", "<f4"), ("point_id_start", "<u8"), ("point_id_end", "<u8")])
        instances["instance_id"] = instances["frame_id"] = np.arange(F)
        instances["instance_type"], instances["track"], instances["from_predicted"] = 1, -1, -1
        instances["point_id_start"], instances["point_id_end"] = np.arange(F) * J, (np.arange(F) + 1) * J
        points = np.zeros(F * J, dtype=[("x", "<f8"), ("y", "<f8"), ("visible", "?"), ("complete", "?"),
                                        ("score", "<f8")])
        flat = take[v].reshape(-1, 3)
        points["x"], points["y"], points["score"] = flat[:, 0], flat[:, 1], flat[:, 2]
        points["visible"] = np.isfinite(flat[:, 0])
        with h5py.File(root / f"{camera}.predictions.slp", "w") as h:
            h.create_group("metadata").attrs["json"] = json.dumps(metadata)
            h["frames"], h["instances"], h["pred_points"] = frames, instances, points
            h["points"] = np.zeros(0, dtype=[("x", "<f8"), ("y", "<f8"), ("visible", "?"), ("complete", "?")])
            h["tracks_json"] = np.zeros(0, dtype="S1")
            h["videos_json"] = np.array([json.dumps({"backend": {"filename": f"{camera}.mp4"}}).encode()])
    return root


def write_coco(root: Path, take) -> Path:
    root.mkdir(parents=True)
    images, annotations = [], []
    for v, camera in enumerate(CAMERAS):
        for f, person in enumerate(take[v]):
            image_id = v * take.shape[1] + f
            images.append({"id": image_id, "file_name": f"{camera}/{f:06d}.jpg"})
            xyv = np.column_stack([np.nan_to_num(person[:, :2]), np.where(np.isfinite(person[:, 0]), 2, 0)])
            annotations.append({"id": image_id, "image_id": image_id, "category_id": 1,
                                "keypoints": xyv.round(3).reshape(-1).tolist()})
    path = root / "keypoints.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "keypoints": list(JOINTS)}]}))
    return path


def plain_json_file(path: Path):
    return json.loads(path.read_bytes())


def write_mmpose(root: Path, take) -> Path:
    root.mkdir(parents=True)
    meta = {"keypoint_id2name": {str(j): n for j, n in enumerate(JOINTS)}}
    for v, camera in enumerate(CAMERAS):
        info = [{"frame_id": f, "instances": [{"keypoints": np.nan_to_num(p[:, :2]).round(3).tolist(),
                                               "keypoint_scores": np.nan_to_num(p[:, 2]).round(3).tolist()}]}
                for f, p in enumerate(take[v])]
        (root / f"{camera}.json").write_text(json.dumps({"meta_info": meta, "instance_info": info}))
    return root


def plain_json_folder(root: Path):
    return [json.loads(p.read_bytes()) for p in sorted(root.glob("*.json"))]


FORMATS = {  # name -> (importer format, writer, plain reader, reader options)
    "openpose": ("openpose", write_openpose, plain_openpose, {"skeleton": "BODY_25"}),
    "dlc-csv": ("deeplabcut", write_dlc_csv, plain_dlc_csv, {}),
    "dlc-h5": ("deeplabcut", write_dlc_h5, plain_dlc_h5, {}),
    "sleap-h5": ("sleap", write_sleap_analysis, plain_h5, {}),
    "sleap-slp": ("sleap", write_slp, plain_h5, {}),
    "coco": ("coco", write_coco, plain_json_file, {"skeleton": JOINTS}),
    "mmpose": ("mmpose", write_mmpose, plain_json_folder, {"skeleton": JOINTS}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 frames")
    parser.add_argument("--frames", type=int, default=None, help="frames per camera (default 10,000)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    F = args.frames or (1000 if args.quick else 10_000)
    take = _take(F, np.random.default_rng(args.seed))
    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="bench_importers_"))
    try:
        for name in args.formats.split(","):
            fmt, writer, plain, options = FORMATS[name]
            start = time.perf_counter()
            path = writer(scratch / name, take)
            written_s = time.perf_counter() - start
            candidates = load_candidates(fmt, path, **options)
            assert candidates.points_2d.shape[:2] == (V, F), candidates.points_2d.shape
            ours = timeit(lambda: load_candidates(fmt, path, **options), repeat=2, warmup=0)
            baseline = timeit(lambda: plain(path), repeat=2, warmup=0)
            rows.append({"format": name, "frames": F, "rigkit s": ours, "plain s": baseline,
                         "ratio": ours / baseline, "target": "ok" if ours < TARGET_S or F < 10_000 else "SLOW",
                         "write s": written_s})
            print(f"{name}: rigkit {ours:.2f} s, plain {baseline:.2f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"importers: {F} frames x {V} cameras x {J} joints ({machine_load()})")
    print_table(rows, ["format", "frames", "rigkit s", "plain s", "ratio", "target", "write s"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
