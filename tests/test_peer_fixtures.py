"""Rows of issue 12 that shared/data/peers has no real file for: fixtures written the way each
peer's own writer writes them (named in each test), read back against the values written.

- DeepLabCut >= 2.3 labelled data: napari-deeplabcut / DeepLabCut build a pandas DataFrame with
  rows ``(labeled-data, video, image)`` and write ``df.to_hdf(path, key="keypoints", mode="w")``
  (pandas' default "fixed" format) and ``df.to_csv(path)`` (three index columns).
- DeepLabCut multi-animal predictions: columns ``scorer/individuals/bodyparts/coords``, written
  with ``df.to_hdf(path, "df_with_missing", format="table", mode="w")``; ``filterpredictions``
  writes ``<video>DLC_<scorer>_filtered.h5`` beside it.
- OpenPose / Pose2Sim JSON: ``{"version", "people": [{"person_id", "pose_keypoints_2d", ...}]}``;
  Pose2Sim's association writes ``{}`` and keypoint-less entries; OpenPose <= 1.1 wrote
  ``pose_keypoints``.
- COCO results lists: ``[{"image_id", "category_id", "keypoints", "score"}]`` (mmdet/mmpose's
  ``CocoMetric`` results JSON), with the images in the dataset's annotation file.
- MMPose single-image output: demo/topdown_demo_with_mmdet.py ``--save-predictions`` on an image
  writes ``{"meta_info": ..., "instance_info": [{"keypoints", "keypoint_scores", "bbox", ...}]}``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from labeling.cli import load_detections_arg, parse_detections_options
from labeling.importers import load_candidates, read_deeplabcut, read_mmpose, read_openpose

EXACT_PX = 1e-9  # values written as float64 text / binary: only representation can differ
JOINTS = ("nose", "ear", "tail")
CAMERAS = ("cam1", "cam2")


def _labelled(rng, frames, multi=False):
    individuals = ["mouse1", "mouse2"] if multi else [None]
    columns = pd.MultiIndex.from_tuples(
        [("labeller",) + ((i,) if multi else ()) + (j, c)
         for i in individuals for j in JOINTS for c in ("x", "y")],
        names=["scorer"] + (["individuals"] if multi else []) + ["bodyparts", "coords"])
    return columns, rng.uniform(0, 640, (len(frames), len(columns)))


@pytest.mark.parametrize("multi", [False, True])
def test_deeplabcut_2_3_labelled_data_csv_and_fixed_h5(tmp_path, multi):
    rng = np.random.default_rng(1)
    frames = [3, 17, 40]
    columns, values = _labelled(rng, frames, multi)
    values[1, 2:4] = np.nan  # one bodypart not labelled in the second image
    for camera in CAMERAS:  # DeepLabCut >= 2.3: labeled-data/<video>/CollectedData_<scorer>.*
        index = pd.MultiIndex.from_tuples([("labeled-data", camera, f"img{f:04d}.png") for f in frames])
        frame = pd.DataFrame(values, index=index, columns=columns)
        folder = tmp_path / "labeled-data" / camera
        folder.mkdir(parents=True)
        frame.to_hdf(folder / "CollectedData_labeller.h5", key="keypoints", mode="w")
        frame.to_csv(folder / "CollectedData_labeller.csv")
    P = 2 if multi else 1
    truth = values.reshape(len(frames), P, len(JOINTS), 2)
    for pattern in ("*/CollectedData_labeller.csv", "*/CollectedData_labeller.h5"):
        candidates = read_deeplabcut(tmp_path / "labeled-data" / pattern)
        assert candidates.camera_names == CAMERAS
        np.testing.assert_array_equal(candidates.frame_index, frames)
        for v in range(2):
            np.testing.assert_allclose(candidates.points_2d[v], truth, atol=EXACT_PX)
        if multi:
            assert candidates.metadata["track_names"] == ["mouse1", "mouse2"]
            np.testing.assert_array_equal(candidates.track_hint[0, 0], [0, 1])


def _predictions(path, rng, F=6):
    columns = pd.MultiIndex.from_tuples(
        [("DLC_resnet50_miceJan1shuffle1_1000", i, j, c) for i in ("mouse1", "mouse2")
         for j in JOINTS for c in ("x", "y", "likelihood")],
        names=["scorer", "individuals", "bodyparts", "coords"])
    values = rng.uniform(0, 1, (F, len(columns)))
    values[:, 0::3] *= 640
    values[:, 1::3] *= 480
    pd.DataFrame(values, columns=columns).to_hdf(path, key="df_with_missing", format="table", mode="w")
    return values.reshape(F, 2, len(JOINTS), 3)


def test_deeplabcut_multi_animal_and_filtered_pair(tmp_path, caplog):
    """A folder with *DLC_*.h5 and *DLC_*_filtered.h5 of each video: refused naming a pattern;
    the pattern reads the filtered files, two individuals each as candidates."""
    rng = np.random.default_rng(2)
    truth = {}
    for camera in CAMERAS:
        _predictions(tmp_path / f"{camera}DLC_resnet50_miceJan1shuffle1_1000_el.h5", rng)
        truth[camera] = _predictions(tmp_path / f"{camera}DLC_resnet50_miceJan1shuffle1_1000_el_filtered.h5", rng)
    with pytest.raises(ValueError, match=r"camera cam1 has several DeepLabCut files.*_filtered\.h5"):
        read_deeplabcut(tmp_path)
    candidates = read_deeplabcut(tmp_path / "*_filtered.h5")
    assert candidates.camera_names == CAMERAS and candidates.num_people == 2
    for v, camera in enumerate(CAMERAS):
        np.testing.assert_allclose(candidates.points_2d[v], truth[camera][..., :2], atol=EXACT_PX)
        np.testing.assert_allclose(candidates.scores[v], truth[camera][..., 2], atol=EXACT_PX)
    np.testing.assert_array_equal(candidates.track_hint[:, 0], [[0, 1], [0, 1]])


def _openpose_person(rng, J=25, key="pose_keypoints_2d", person_id=-1):
    xyc = np.column_stack([rng.uniform(0, 1000, (J, 2)), rng.uniform(0.1, 1, J)])
    return {"person_id": [person_id], key: xyc.reshape(-1).tolist()}, xyc


def test_openpose_empty_people_and_old_key_names(tmp_path, caplog):
    """Pose2Sim's association writes {} and keypoint-less entries; OpenPose <= 1.1 wrote
    'pose_keypoints'. Neither refuses the folder: they are no detection / read the same."""
    rng = np.random.default_rng(3)
    truth = {}
    for v, camera in enumerate(CAMERAS):
        folder = tmp_path / f"{camera}_json"
        folder.mkdir()
        for f in range(3):
            key = "pose_keypoints" if v == 1 else "pose_keypoints_2d"
            person, xyc = _openpose_person(rng, key=key, person_id=7)
            people = [{}, {"person_id": [-1], "pose_keypoints_2d": []}, person] if f != 1 else [{}]
            truth[camera, f] = xyc if f != 1 else None
            (folder / f"{camera}_{f:012d}_keypoints.json").write_text(
                json.dumps({"version": 1.0 if v == 1 else 1.3, "people": people}))
    with caplog.at_level(logging.WARNING):
        candidates = read_openpose(tmp_path)
    assert candidates.joint_names[0] == "Nose" or len(candidates.joint_names) == 25
    for v, camera in enumerate(CAMERAS):
        for f in range(3):
            got = candidates.points_2d[v, f, 0]
            if truth[camera, f] is None:
                assert np.isnan(got).all()
            else:
                np.testing.assert_allclose(got, truth[camera, f][:, :2], atol=EXACT_PX)
                assert candidates.track_hint[v, f, 0] == 7
    decisions = " ".join(candidates.metadata["import_decisions"])
    assert "OpenPose <= 1.1" in decisions and "no keypoints" in decisions


def test_openpose_person_with_another_keypoint_count_is_left_out_with_a_warning(tmp_path, caplog):
    rng = np.random.default_rng(4)
    folder = tmp_path / "cam1_json"
    folder.mkdir()
    body, xyc = _openpose_person(rng)
    hand, _ = _openpose_person(rng, J=21)
    (folder / "cam1_000000000000_keypoints.json").write_text(json.dumps({"people": [hand, body]}))
    (folder / "cam1_000000000001_keypoints.json").write_text(json.dumps({"people": [body]}))
    with caplog.at_level(logging.WARNING):
        candidates = read_openpose(tmp_path)
    assert "cam1_000000000000_keypoints.json" in caplog.text
    np.testing.assert_allclose(candidates.points_2d[0, 0, 0], xyc[:, :2], atol=EXACT_PX)


def test_coco_results_list_from_the_command_line(tmp_path):
    """A results list has no images block: --detections-option images=FILE names them."""
    rng = np.random.default_rng(5)
    images = [{"id": 10 * v + f, "file_name": f"{camera}/{f:06d}.jpg"}
              for v, camera in enumerate(CAMERAS) for f in range(3)]
    (tmp_path / "val.json").write_text(json.dumps({"images": images, "annotations": [],
                                                   "categories": [{"id": 1, "keypoints": []}]}))
    results, truth = [], {}
    for image in images:
        xys = np.column_stack([rng.uniform(0, 640, (17, 2)), rng.uniform(0.2, 1, 17)])
        truth[image["id"]] = xys
        results.append({"image_id": image["id"], "category_id": 1, "score": 0.9,
                        "keypoints": xys.reshape(-1).tolist()})
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match="--detections-option images="):
        load_detections_arg(f"coco:{tmp_path / 'results.json'}")
    detections = load_detections_arg(f"coco:{tmp_path / 'results.json'}",
                                     options=parse_detections_options([f"images={tmp_path / 'val.json'}"]))
    assert detections.camera_names == CAMERAS
    for v in range(2):
        for f in range(3):
            np.testing.assert_allclose(detections.points_2d[v, f], truth[10 * v + f][:, :2], atol=EXACT_PX)
            np.testing.assert_allclose(detections.scores[v, f], truth[10 * v + f][:, 2], atol=EXACT_PX)
    with pytest.raises(ValueError, match="has no option"):
        load_detections_arg(f"coco:{tmp_path / 'results.json'}", options={"imagez": "x"})


def test_mmpose_single_image_output(tmp_path):
    """One --save-predictions file per image, in one folder per camera and flat."""
    rng = np.random.default_rng(6)
    meta = {"dataset_name": "coco", "keypoint_id2name": {str(j): f"kp{j}" for j in range(17)}}
    truth = {}
    for layout in ("folders", "flat"):
        root = tmp_path / layout
        for camera in CAMERAS:
            for f in (0, 5):
                instances = []
                for p in range(2):
                    xy, score = rng.uniform(0, 640, (17, 2)), rng.uniform(0, 1, 17)
                    truth[layout, camera, f, p] = np.column_stack([xy, score])
                    instances.append({"keypoints": xy.tolist(), "keypoint_scores": score.tolist(),
                                      "bbox": [[0, 0, 10, 10]], "bbox_score": 0.9})
                name = (f"{camera}/results_img_{f:05d}.json" if layout == "folders"
                        else f"results_{camera}_{f:05d}.json")
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_text(json.dumps({"meta_info": meta, "instance_info": instances}))
        candidates = read_mmpose(root)
        assert candidates.camera_names == CAMERAS
        assert candidates.joint_names == tuple(f"kp{j}" for j in range(17))
        for v, camera in enumerate(CAMERAS):
            for i, f in enumerate((0, 5)):
                for p in range(2):
                    np.testing.assert_allclose(candidates.points_2d[v, i, p],
                                               truth[layout, camera, f, p][:, :2], atol=EXACT_PX)


def test_sleap_option_from_the_command_line_parses():
    assert parse_detections_options(["layout=standard", "fps=30", "x=1.5"]) == {
        "layout": "standard", "fps": 30, "x": 1.5}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_detections_options(["layout"])
    with pytest.raises(ValueError, match="has no option"):
        load_candidates("sleap", "x.h5", nonsense=1)


LABEL_MPJPE_TOL_MM = 30.0  # as tests/test_label_cli.py: 2 px noise + 10% gross, 4 views, default gates


def test_label_end_to_end_mm_toml_and_pose2sim_json_with_empty_people(tmp_path):
    """An aniposelib TOML in mm (no units key) and Pose2Sim-style JSON with {} entries: labelled
    in metres, both decisions in index.json's provenance."""
    import cv2
    from aniposelib.cameras import Camera as AniposeCamera
    from aniposelib.cameras import CameraGroup

    from label_fixtures import coco_take
    from labeling import LabelIndex
    from rigkit_cli import main

    rig, truth, detections, _ = coco_take(60, seed=5)
    assert 0.3 <= np.median(np.linalg.norm(rig.t, axis=1)) <= 10  # mm plausible, cm not
    CameraGroup([AniposeCamera(name=c.name, size=tuple(int(s) for s in c.size), matrix=c.K,
                               dist=c.dist_padded[:5], rvec=cv2.Rodrigues(c.R)[0].ravel(),
                               tvec=c.t * 1000) for c in rig]).dump(str(tmp_path / "calibration.toml"))
    for v, camera in enumerate(detections.camera_names):
        folder = tmp_path / "pose" / f"{camera}_json"
        folder.mkdir(parents=True)
        for f in range(detections.num_frames):
            xyc = np.concatenate([detections.points_2d[v, f], detections.scores[v, f][:, None]], -1)
            flat = np.nan_to_num(xyc, nan=0.0).reshape(-1).tolist()
            (folder / f"{camera}_{f:012d}_keypoints.json").write_text(json.dumps(
                {"version": 1.3, "people": [{}, {"person_id": [-1], "pose_keypoints_2d": flat}]}))
    assert main(["-q", "label", "--calibration", str(tmp_path / "calibration.toml"), "--detections",
                 f"openpose:{tmp_path / 'pose'}", "--out", str(tmp_path / "out")]) == 0
    index = LabelIndex.read(tmp_path / "out")
    provenance = index.job["provenance"]
    assert any("millimetres" in line for line in provenance["calibration_decisions"])
    assert "no keypoints" in json.dumps(index.job)  # the importer's decision, in the provenance
    import h5py

    with h5py.File(tmp_path / "out" / index.shards[0].file, "r") as f:
        points, valid, frames = f["keypoints_3d"][()], f["valid"][()], f["frame_index"][()]
    error_mm = 1000 * np.linalg.norm(points - truth[frames - detections.frame_index[0]], axis=-1)[valid]
    assert valid.mean() > 0.8 and np.mean(error_mm) < LABEL_MPJPE_TOL_MM
