"""Importers: tiny files written exactly in each tool's format, read back against the truth."""

import csv
import json
import logging
import pickle

import h5py
import numpy as np
import pytest

from geometry.synthetic import ring_rig
from labeling.importers import load_candidates, load_detections

COORD_TOL_PX = 1e-9  # text and float64 round trips
J = 5
JOINTS = tuple(f"joint{j}" for j in range(J))
CAMERAS = ("cam01", "cam02", "cam03")
F = 4


def _truth(seed: int = 0):
    """(V, F, P=2, J, 3) x, y, score; person 1 absent in some frames; one joint missing."""
    rng = np.random.default_rng(seed)
    people = np.concatenate([rng.uniform(10, 600, (3, F, 2, J, 2)),
                             rng.uniform(0.2, 1.0, (3, F, 2, J, 1))], axis=-1)
    people[:, ::2, 1] = np.nan  # the second person only in odd frames
    people[1, 2, 0, 3] = np.nan  # camera 2, frame 2, joint 3 not detected
    return people


def _check(candidates, truth, *, frames=range(F), scores=True):
    assert candidates.camera_names == CAMERAS
    np.testing.assert_array_equal(candidates.frame_index, list(frames))
    np.testing.assert_allclose(candidates.points_2d, truth[..., :2], atol=COORD_TOL_PX)
    if scores:
        np.testing.assert_allclose(candidates.scores, truth[..., 2], atol=COORD_TOL_PX)


# -- OpenPose (Pose2Sim layout) ------------------------------------------------------------------
def _write_openpose(root, truth, *, skip=None):
    for v, camera in enumerate(CAMERAS):
        folder = root / f"{camera}_json"
        folder.mkdir(parents=True)
        for f in range(F):
            if skip == (v, f):
                continue
            people = []
            for person in truth[v, f]:
                if np.isnan(person).all():
                    continue
                flat = np.nan_to_num(person, nan=0.0).reshape(-1).tolist()  # missing: 0, 0, 0
                people.append({"person_id": [-1], "pose_keypoints_2d": flat,
                               "face_keypoints_2d": [], "hand_left_keypoints_2d": [],
                               "hand_right_keypoints_2d": [], "pose_keypoints_3d": []})
            (folder / f"{camera}_{f:012d}_keypoints.json").write_text(
                json.dumps({"version": 1.3, "people": people}))


def test_openpose_pose2sim_layout(tmp_path):
    truth = _truth()
    _write_openpose(tmp_path, truth, skip=(2, 1))
    candidates = load_candidates("openpose", tmp_path, camera_names=CAMERAS, skeleton=JOINTS)
    truth[2, 1] = np.nan  # camera 3 lacks frame 1's file: NaN there
    _check(candidates, truth)
    assert candidates.joint_names == JOINTS


def test_openpose_unknown_names_match_in_sorted_order_with_warning(tmp_path, caplog):
    truth = _truth()
    _write_openpose(tmp_path, truth)
    with caplog.at_level(logging.WARNING):
        candidates = load_candidates("openpose", tmp_path, camera_names=("left", "mid", "right"),
                                     skeleton=JOINTS)
    assert "sorted order" in caplog.text
    np.testing.assert_allclose(candidates.points_2d, truth[..., :2], atol=COORD_TOL_PX)
    assert candidates.camera_names == ("left", "mid", "right")


def test_openpose_bad_file_names_the_file(tmp_path):
    _write_openpose(tmp_path, _truth())
    bad = tmp_path / "cam02_json" / "cam02_000000000001_keypoints.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="cam02_000000000001_keypoints.json"):
        load_candidates("openpose", tmp_path, skeleton=JOINTS)


def test_openpose_needs_a_skeleton_for_an_unknown_count(tmp_path):
    _write_openpose(tmp_path, _truth())
    with pytest.raises(ValueError, match="5 keypoints per person"):
        load_candidates("openpose", tmp_path)


def test_load_detections_associates_with_a_rig(tmp_path):
    """The target seen by all views, a bystander per view; the rig tells which is the subject."""
    rng = np.random.default_rng(3)
    rig = ring_rig(3, rng=rng, size=(1280, 720))
    target = rng.normal([0, 0, 1], 0.3, (F, J, 3))
    truth = np.full((3, F, 2, J, 3), np.nan)
    truth[..., 2] = 0.9
    for v in range(3):  # a different bystander in each view, listed first
        other = rng.normal([1.5 * np.cos(2 * v), 1.5 * np.sin(2 * v), 1], 0.3, (F, J, 3))
        truth[v, :, 0, :, :2] = rig.project(other)[v]
    truth[:, :, 1, :, :2] = rig.project(target)
    truth[:, :, 0, :, 2] = 0.95  # and scores higher
    _write_openpose(tmp_path, truth)
    detections = load_detections("openpose", tmp_path, rig=rig,
                                 skeleton=JOINTS)
    np.testing.assert_allclose(detections.points_2d, truth[:, :, 1, :, :2], atol=COORD_TOL_PX)
    by_score = load_detections("openpose", tmp_path, skeleton=JOINTS, camera_names=rig.names)
    np.testing.assert_allclose(by_score.points_2d, truth[:, :, 0, :, :2], atol=COORD_TOL_PX)


# -- DeepLabCut -----------------------------------------------------------------------------------
SCORER = "DLC_resnet50_rigkitMay1shuffle1_100000"


def _dlc_columns(multi: bool):
    columns = []
    for individual in (["ind1", "ind2"] if multi else [None]):
        for joint in JOINTS:
            for coord in ("x", "y", "likelihood"):
                columns.append((SCORER,) + ((individual,) if multi else ()) + (joint, coord))
    return columns


def _dlc_values(truth_view, multi: bool):
    people = truth_view if multi else truth_view[:, :1]
    return people.reshape(F, -1)  # (F, P * J * 3) in individual, bodypart, coord order


def _write_dlc_csv(path, columns, values):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        levels = ["scorer"] + (["individuals"] if len(columns[0]) == 4 else []) + ["bodyparts", "coords"]
        for level, name in enumerate(levels):
            writer.writerow([name] + [c[level] for c in columns])
        for f, row in enumerate(values):
            writer.writerow([f] + ["" if np.isnan(v) else repr(float(v)) for v in row])


def _write_dlc_h5(path, columns, values):
    """pandas' 'table' layout exactly as DataFrame.to_hdf(key='df_with_missing', format='table')."""
    with h5py.File(path, "w") as handle:
        group = handle.create_group("df_with_missing")
        group.attrs["pandas_type"] = np.bytes_(b"frame_table")
        group.attrs["table_type"] = np.bytes_(b"appendable_frame")
        group.attrs["non_index_axes"] = np.bytes_(pickle.dumps([(1, columns)], protocol=0))
        dtype = np.dtype([("index", "<i8"), ("values_block_0", "<f8", (len(columns),))])
        table = np.zeros(len(values), dtype=dtype)
        table["index"] = np.arange(len(values))
        table["values_block_0"] = values
        dataset = group.create_dataset("table", data=table)
        dataset.attrs["CLASS"] = np.bytes_(b"TABLE")
        dataset.attrs["FIELD_0_NAME"] = np.bytes_(b"index")
        dataset.attrs["FIELD_1_NAME"] = np.bytes_(b"values_block_0")
        dataset.attrs["values_block_0_kind"] = np.bytes_(pickle.dumps(columns, protocol=0))
        dataset.attrs["values_block_0_dtype"] = np.bytes_(b"float64")


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
@pytest.mark.parametrize("multi", [False, True])
def test_deeplabcut_files(tmp_path, suffix, multi):
    truth = _truth()
    if not multi:
        truth = truth[:, :, :1]
    columns = _dlc_columns(multi)
    for v, camera in enumerate(CAMERAS):
        path = tmp_path / f"{camera}{SCORER}{suffix}"
        values = _dlc_values(truth[v], multi)
        (_write_dlc_csv if suffix == ".csv" else _write_dlc_h5)(path, columns, values)
    candidates = load_candidates("deeplabcut", tmp_path, camera_names=CAMERAS)
    _check(candidates, truth)
    assert candidates.joint_names == JOINTS
    subset = load_candidates("deeplabcut", tmp_path, camera_names=CAMERAS,
                             skeleton=("joint3", "joint0"))
    np.testing.assert_allclose(subset.points_2d, truth[..., [3, 0], :2], atol=COORD_TOL_PX)


def test_deeplabcut_h5_refuses_pickled_code(tmp_path):
    columns = _dlc_columns(False)
    path = tmp_path / f"cam01{SCORER}.h5"
    _write_dlc_h5(path, columns, np.zeros((2, len(columns))))
    with h5py.File(path, "r+") as handle:
        handle["df_with_missing/table"].attrs["values_block_0_kind"] = np.bytes_(
            pickle.dumps(logging.Logger, protocol=0))
    with pytest.raises(ValueError, match=f"cam01{SCORER}.h5"):
        load_candidates("deeplabcut", path)


def test_deeplabcut_bad_csv_names_the_file(tmp_path):
    path = tmp_path / "cam01.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match="cam01.csv"):
        load_candidates("deeplabcut", path)


# -- SLEAP ----------------------------------------------------------------------------------------
def test_sleap_analysis_files(tmp_path):
    truth = _truth()
    for v, camera in enumerate(CAMERAS):
        people = truth[v]  # (F, P, J, 3)
        with h5py.File(tmp_path / f"{camera}.analysis.h5", "w") as handle:
            # SLEAP writes its arrays transposed (MATLAB order): read raw by h5py as below.
            handle["tracks"] = people[..., :2].transpose(1, 3, 2, 0)  # (tracks, 2, nodes, frames)
            handle["point_scores"] = people[..., 2].transpose(1, 2, 0)  # (tracks, nodes, frames)
            handle["track_occupancy"] = np.isfinite(people[..., 0]).any(-1).astype(np.uint8)
            handle["node_names"] = np.array([n.encode() for n in JOINTS], dtype="S")
            handle["track_names"] = np.array([b"track_0", b"track_1"], dtype="S")
            handle["instance_scores"] = np.ones((2, F))
    _check(load_candidates("sleap", tmp_path, camera_names=CAMERAS), truth)


def test_sleap_bad_file_names_the_file(tmp_path):
    with h5py.File(tmp_path / "cam01.analysis.h5", "w") as handle:
        handle["something"] = np.zeros(3)
    with pytest.raises(ValueError, match="cam01.analysis.h5"):
        load_candidates("sleap", tmp_path)


# -- COCO / MMPose --------------------------------------------------------------------------------
def _coco_images():
    return [{"id": 100 * v + f, "file_name": f"{camera}/{f:06d}.jpg", "width": 640, "height": 480}
            for v, camera in enumerate(CAMERAS) for f in range(F)]


def _coco_keypoints(person):
    return np.where(np.isnan(person), 0.0, person).reshape(-1).tolist()


def test_coco_results_with_images_file(tmp_path):
    truth = _truth()
    results = [{"image_id": 100 * v + f, "category_id": 1, "keypoints": _coco_keypoints(p),
                "score": 0.9}
               for v in range(3) for f in range(F) for p in truth[v, f] if not np.isnan(p).all()]
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "images.json").write_text(json.dumps({"images": _coco_images()}))
    candidates = load_candidates("coco", tmp_path / "results.json", images=tmp_path / "images.json",
                                 camera_names=CAMERAS, skeleton=JOINTS)
    _check(candidates, truth)


def test_coco_dataset_with_keypoint_names(tmp_path):
    truth = _truth()
    annotations = [{"id": k, "image_id": 100 * v + f, "category_id": 1, "num_keypoints": J,
                    "keypoints": _coco_keypoints(np.concatenate(
                        [p[:, :2], np.where(np.isnan(p[:, 2:]), 0, 2)], axis=1))}
                   for k, (v, f, p) in enumerate((v, f, p) for v in range(3) for f in range(F)
                                                 for p in truth[v, f] if not np.isnan(p).all())]
    dataset = {"images": _coco_images(), "annotations": annotations,
               "categories": [{"id": 1, "name": "person", "keypoints": list(JOINTS)}]}
    (tmp_path / "coco.json").write_text(json.dumps(dataset))
    candidates = load_candidates("coco", tmp_path / "coco.json", camera_names=CAMERAS)
    _check(candidates, truth, scores=False)
    assert candidates.joint_names == JOINTS
    np.testing.assert_array_equal(candidates.scores[np.isfinite(candidates.scores)], 1.0)


def test_mmpose_video_predictions(tmp_path):
    truth = _truth()
    for v, camera in enumerate(CAMERAS):
        instance_info = [{"frame_id": f, "instances": [
            {"keypoints": np.nan_to_num(p[:, :2]).tolist(),
             "keypoint_scores": np.nan_to_num(p[:, 2]).tolist(), "bbox": [[0, 0, 10, 10]],
             "bbox_score": 0.9} for p in truth[v, f] if not np.isnan(p).all()]}
            for f in range(F)]
        (tmp_path / f"{camera}.json").write_text(json.dumps(
            {"meta_info": {"dataset_name": "custom",
                           "keypoint_id2name": {str(j): n for j, n in enumerate(JOINTS)}},
             "instance_info": instance_info}))
    candidates = load_candidates("mmpose", tmp_path, camera_names=CAMERAS)
    assert candidates.joint_names == JOINTS
    # MMPose has no "missing" marker: the joint the truth lacks comes back with score 0.
    truth[1, 2, 0, 3] = [0.0, 0.0, 0.0]
    _check(candidates, truth)


def test_unknown_format_raises():
    with pytest.raises(ValueError, match="unknown detections format"):
        load_candidates("vicon", "/nonexistent")
