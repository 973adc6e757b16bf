"""Every real peer file in shared/data/peers, read by rigkit and checked value for value against a
plain reading of the same file (h5py, json, pandas + PyTables), never against rigkit's own reader.

Where shared/ has no file of a row of issue 12, the fixtures in tests/test_peer_fixtures.py are
written the way the peer's own writer writes them (and say so).
"""

from __future__ import annotations

import json
import logging
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from labeling.importers import load_candidates, read_coco, read_deeplabcut, read_sleap
from shared_data import SHARED_DATA

PEERS = (SHARED_DATA or __import__("pathlib").Path("/work/shared/data")) / "peers"
SLEAP = PEERS / "sleap"
EXPORTS = SLEAP / "exported-by-sleap-io"
DLC = PEERS / "deeplabcut"
EXACT_PX = 1e-9  # the file's float64 values, copied: only representation can differ


def _need(path):
    if not path.exists():
        pytest.fail(f"shared peer data missing: {path} (see shared/data/peers/README.md)")
    return path


def _text(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


# -- SLEAP analysis files --------------------------------------------------------------------------
def _plain_matlab(path):
    """(F, T, N, 3) x, y, score as SLEAP documents the matlab layout: tracks (T, 2, N, F)."""
    with h5py.File(path, "r") as h:
        tracks = h["tracks"][()]
        scores = h["point_scores"][()]
        occupancy = h["track_occupancy"][()].astype(bool)  # (F, T)
        nodes = _text(h["node_names"][()])
    people = np.concatenate([tracks.transpose(3, 0, 2, 1), scores.transpose(2, 0, 1)[..., None]], -1)
    people[~occupancy] = np.nan
    return people, nodes


@pytest.mark.parametrize("name", ["clip_predictions.matlab.analysis.h5",
                                  "clip_predictions.matlab.notallframes.analysis.h5",
                                  "centered_pair.matlab.analysis.h5",
                                  "centered_pair.matlab.notallframes.analysis.h5"])
def test_sleap_io_matlab_exports_read_value_for_value(name):
    path = _need(EXPORTS / name)
    plain, nodes = _plain_matlab(path)
    candidates = read_sleap(path)
    assert candidates.joint_names == tuple(nodes)
    got = candidates.points_2d[0]  # (F, T, N, 2)
    located = np.isfinite(plain[..., :2]).all(-1)
    np.testing.assert_array_equal(np.isfinite(got[..., 0]), located)
    np.testing.assert_allclose(got[located], plain[..., :2][located], atol=EXACT_PX)
    np.testing.assert_allclose(candidates.scores[0][located], np.clip(plain[..., 2][located], 0, 1),
                               atol=EXACT_PX)
    with h5py.File(path, "r") as h:
        names = _text(h["track_names"][()])
    assert candidates.metadata["track_names"] == names
    occupied = candidates.present()[0]
    np.testing.assert_array_equal(candidates.track_hint[0][occupied],
                                  np.broadcast_to(np.arange(len(names)), occupied.shape)[occupied])


@pytest.mark.parametrize("stem", ["clip_predictions", "centered_pair"])
def test_sleap_io_standard_layout_reads_like_the_matlab_one(stem):
    """sleap-io preset="standard": tracks (frames, tracks, nodes, xy); read by its 'dims'."""
    standard = _need(EXPORTS / f"{stem}.standard.analysis.h5")
    with h5py.File(standard, "r") as h:
        tracks = h["tracks"][()]  # (F, T, N, 2), plain
        F, T = tracks.shape[:2]
    candidates = read_sleap(standard)
    assert candidates.points_2d.shape[1:3] == (F, T)  # 1,500 frames x 2 people, not 2 x 1,500
    located = np.isfinite(tracks).all(-1)
    np.testing.assert_allclose(candidates.points_2d[0][located], tracks[located], atol=EXACT_PX)
    matlab = read_sleap(EXPORTS / f"{stem}.matlab.analysis.h5")
    np.testing.assert_allclose(candidates.points_2d, matlab.points_2d, atol=EXACT_PX)


def _strip_layout_metadata(source, target):
    shutil.copy(source, target)
    with h5py.File(target, "r+") as h:
        for name in list(h.attrs):
            del h.attrs[name]
        for dataset in h.values():
            if "dims" in dataset.attrs:
                del dataset.attrs["dims"]


def test_sleap_standard_layout_without_metadata_is_refused_naming_the_option(tmp_path):
    """clip_predictions.standard: 2 nodes, 2 coordinates, 2 tracks -- the shape fits both orders."""
    stripped = tmp_path / "clip.analysis.h5"
    _strip_layout_metadata(_need(EXPORTS / "clip_predictions.standard.analysis.h5"), stripped)
    with pytest.raises(ValueError, match="layout=matlab or layout=standard"):
        read_sleap(stripped)
    told = read_sleap(stripped, layout="standard")
    np.testing.assert_allclose(told.points_2d, read_sleap(
        EXPORTS / "clip_predictions.matlab.analysis.h5").points_2d, atol=EXACT_PX)


def test_sleap_user_labelled_points_are_kept_with_a_warning(caplog):
    """small_robot: a person placed the points of 2 of 3 frames (point_scores NaN); all 9 stay."""
    path = _need(SLEAP / "small_robot.000_small_robot_3_frame.analysis.h5")
    with h5py.File(path, "r") as h:
        tracks = h["tracks"][()]  # (1, 2, 3, 3): SLEAP's own writer, no layout metadata
        point_scores = h["point_scores"][()][0].T  # (F, N)
    assert np.isnan(point_scores).sum() == 6
    with caplog.at_level(logging.WARNING):
        candidates = read_sleap(path)
    assert np.isfinite(candidates.points_2d[..., 0]).sum() == np.isfinite(tracks[:, 0]).sum() == 9
    np.testing.assert_allclose(candidates.points_2d[0, :, 0], tracks[0].transpose(2, 1, 0), atol=EXACT_PX)
    np.testing.assert_allclose(candidates.scores[0, :, 0],
                               np.where(np.isnan(point_scores), 1.0, np.clip(point_scores, 0, 1)),
                               atol=EXACT_PX)
    decisions = candidates.metadata["import_decisions"]
    assert any("user-labelled" in line for line in decisions)
    assert any("matlab" in line for line in decisions)  # the order, decided by the shape alone
    assert "user-labelled" in caplog.text and "user-labelled" in candidates.source


# -- SLEAP .slp ------------------------------------------------------------------------------------
@pytest.mark.parametrize("slp, export", [
    ("clip.predictions.slp", "clip_predictions.matlab.analysis.h5"),
    ("centered_pair_predictions.h5", "centered_pair.matlab.analysis.h5"),  # .slp content, .h5 name
])
def test_slp_reads_like_the_analysis_export_of_the_same_file(slp, export):
    path = _need(SLEAP / slp)
    plain, _ = _plain_matlab(_need(EXPORTS / export))  # (F, T, N, 3)
    candidates = read_sleap(path)
    got, hint = candidates.points_2d[0], candidates.track_hint[0]  # (F, P, N, 2), (F, P)
    compared = 0
    for f, p in zip(*np.nonzero(hint >= 0)):
        np.testing.assert_allclose(got[f, p], plain[f, hint[f, p], :, :2], atol=EXACT_PX)
        compared += 1
    assert compared == int(np.isfinite(plain[..., 0]).any(-1).sum())
    with h5py.File(path, "r") as h:  # plain: every predicted point that is visible and located
        points = h["pred_points"][()]
    located = points["visible"] & np.isfinite(points["x"]) & np.isfinite(points["y"])
    assert np.isfinite(candidates.points_2d[..., 0]).sum() == located.sum()


def test_sleap_session_one_folder_per_camera(tmp_path):
    """sleap-anipose's session layout: session/<camera>/<one SLEAP file> (files copied from shared)."""
    for camera, source in (("back", EXPORTS / "clip_predictions.matlab.analysis.h5"),
                           ("side", SLEAP / "clip.predictions.slp")):
        (tmp_path / camera).mkdir()
        shutil.copy(_need(source), tmp_path / camera / source.name)
    candidates = read_sleap(tmp_path)
    assert candidates.camera_names == ("back", "side")
    assert candidates.points_2d.shape[1] == 1500
    extra = tmp_path / "side" / "clip.analysis.h5"
    shutil.copy(EXPORTS / "clip_predictions.matlab.analysis.h5", extra)
    with pytest.raises(ValueError, match=r"holds 2 SLEAP files.*sleap:"):
        read_sleap(tmp_path)
    chosen = read_sleap(tmp_path / "*" / "*.analysis.h5")  # a pattern names the files
    assert chosen.camera_names == ("back", "side")


# -- DeepLabCut --------------------------------------------------------------------------------------
def test_deeplabcut_predictions_h5_matches_pandas():
    path = _need(DLC / "train1_trimmedDLC_resnet50_Top_trackingAug3shuffle1_100.h5")
    frame = pd.read_hdf(path)
    candidates = read_deeplabcut(path)
    bodyparts = list(dict.fromkeys(frame.columns.get_level_values("bodyparts")))
    assert candidates.joint_names == tuple(bodyparts)
    np.testing.assert_array_equal(candidates.frame_index, frame.index.to_numpy())
    scorer = frame.columns.get_level_values(0)[0]
    for j, part in enumerate(bodyparts):
        np.testing.assert_allclose(candidates.points_2d[0, :, 0, j, 0], frame[(scorer, part, "x")], atol=EXACT_PX)
        np.testing.assert_allclose(candidates.points_2d[0, :, 0, j, 1], frame[(scorer, part, "y")], atol=EXACT_PX)
        np.testing.assert_allclose(candidates.scores[0, :, 0, j],
                                   np.clip(frame[(scorer, part, "likelihood")], 0, 1), atol=EXACT_PX)


@pytest.mark.parametrize("project", ["Reaching-Mackenzie-2018-08-30", "openfield-Pranav-2018-10-30"])
@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_deeplabcut_2018_labelled_data_matches_pandas(project, suffix):
    folder = _need(DLC / "labeled-examples" / project / "labeled-data")
    path = next(folder.glob(f"*/CollectedData_*{suffix}"))
    frame = pd.read_hdf(path) if suffix == ".h5" else pd.read_csv(path, header=[0, 1, 2], index_col=0)
    candidates = read_deeplabcut(path)
    scorer = frame.columns.get_level_values(0)[0]
    for j, part in enumerate(candidates.joint_names):
        for c, coord in enumerate("xy"):
            np.testing.assert_allclose(candidates.points_2d[0, :, 0, j, c],
                                       frame[(scorer, part, coord)].to_numpy(float), atol=EXACT_PX)
    numbers = [int("".join(ch for ch in str(label).rsplit("/", 1)[-1] if ch.isdigit()))
               for label in frame.index]
    np.testing.assert_array_equal(candidates.frame_index, numbers)
    labelled = np.isfinite(candidates.points_2d[..., 0])
    assert np.all(candidates.scores[labelled] == 1.0)  # labels carry no likelihood: certain


def test_deeplabcut_labelled_data_folder_says_which_twin_it_read(caplog):
    """labeled-data/<video>/ holds CollectedData_*.csv and .h5 of one table: the .h5, said once."""
    folder = _need(DLC / "labeled-examples" / "Reaching-Mackenzie-2018-08-30" / "labeled-data")
    with caplog.at_level(logging.WARNING):
        candidates = read_deeplabcut(folder)
    assert candidates.camera_names == ("reachingvideo1",)
    assert "reading the .h5" in " ".join(candidates.metadata["import_decisions"])
    assert caplog.text.count("reading the .h5") == 1


# -- MMPose's COCO / PoseTrack test annotations ----------------------------------------------------
def test_posetrack18_annotations_read_value_for_value():
    path = _need(PEERS / "mmpose" / "posetrack18" / "annotations" / "test_posetrack18_val.json")
    payload = json.loads(path.read_text())
    candidates = read_coco(path)
    where = {i["id"]: i["file_name"].split("/") for i in payload["images"]}
    compared = 0
    for annotation in payload["annotations"]:
        folder, image = where[annotation["image_id"]][-2:]
        v = candidates.camera_names.index(folder)
        f = list(candidates.frame_index).index(int(image.split(".")[0]))
        hint = candidates.track_hint[v, f]
        p = int(np.flatnonzero(hint == annotation["track_id"])[0])
        xyv = np.asarray(annotation["keypoints"], float).reshape(-1, 3)
        seen = xyv[:, 2] > 0
        np.testing.assert_allclose(candidates.points_2d[v, f, p][seen], xyv[seen, :2], atol=EXACT_PX)
        assert np.isnan(candidates.points_2d[v, f, p][~seen]).all()
        compared += 1
    assert compared == len(payload["annotations"])


@pytest.mark.parametrize("name", ["coco/test_coco.json", "halpe/test_halpe.json"])
def test_coco_single_images_are_refused_naming_the_option(name):
    """COCO's own images (000000000785.jpg) name no camera: refused, naming name_pattern."""
    path = _need(PEERS / "mmpose" / name)
    with pytest.raises(ValueError, match="--detections-option name_pattern="):
        read_coco(path)


def test_coco_with_a_name_pattern_reads_value_for_value():
    path = _need(PEERS / "mmpose" / "coco" / "test_coco.json")
    payload = json.loads(path.read_text())
    candidates = load_candidates("coco", path, name_pattern=r"(?P<camera>\d{6})(?P<frame>\d{6})\.jpg$")
    frames = {i["id"]: int(i["file_name"][6:12]) for i in payload["images"]}
    for annotation in payload["annotations"]:
        f = list(candidates.frame_index).index(frames[annotation["image_id"]])
        xyv = np.asarray(annotation["keypoints"], float).reshape(-1, 3)
        seen = xyv[:, 2] > 0
        present = candidates.points_2d[0, f]  # (P, J, 2): the annotation is one of them
        assert any(np.allclose(person[seen], xyv[seen, :2], atol=EXACT_PX) and
                   np.isnan(person[~seen]).all() for person in present)
