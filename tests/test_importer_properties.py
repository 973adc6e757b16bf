"""Property tests (hypothesis), one group per importer and calibration reader: a file that parses
gives the data written, and any other bytes -- random content, truncated or corrupted valid
files -- give either data or one ValueError, never another exception.

Derandomized and small (max_examples 15-40, 12 mutations per real file) so the whole file stays fast and repeatable.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration import read_calibration, save_rig
from geometry.synthetic import ring_rig
from labeling.importers import load_candidates
from shared_data import SHARED_DATA

PEERS = (SHARED_DATA or Path("/work/shared/data")) / "peers"
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
EXACT_PX = 1e-9  # JSON repr of float64 reads back exactly

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, width=32)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def _outcome(call):
    """Run a reader: the result, or None for a clean one-sentence ValueError."""
    try:
        return call()
    except ValueError as error:
        message = str(error)
        assert message and "\n" not in message.strip(), f"not one sentence: {message!r}"
        return None


def _mutations():
    """(kind, position fraction, byte) to truncate or corrupt a file."""
    return st.tuples(st.sampled_from(["truncate", "flip", "zero-run"]), st.floats(0, 1), st.integers(0, 255))


def _mutate(data: bytes, mutation) -> bytes:
    kind, where, value = mutation
    cut = int(where * len(data))
    if kind == "truncate":
        return data[:cut]
    if kind == "flip":
        return data[:cut] + bytes([value]) + data[cut + 1:]
    return data[:cut] + bytes(min(64, len(data) - cut)) + data[cut + 64:]


# -- OpenPose -------------------------------------------------------------------------------------
people_strategy = st.lists(st.lists(st.tuples(st.floats(0, 4000), st.floats(0, 4000), st.floats(0.01, 1)),
                                    min_size=25, max_size=25), max_size=3)


@settings(max_examples=15, **SETTINGS)
@given(frames=st.lists(people_strategy, min_size=1, max_size=3))
def test_openpose_written_people_read_back(frames):
    with tempfile.TemporaryDirectory() as folder:
        camera = Path(folder) / "cam1_json"
        camera.mkdir()
        for f, people in enumerate(frames):
            payload = {"version": 1.3, "people": [
                {"person_id": [-1], "pose_keypoints_2d": [v for point in person for v in point]}
                for person in people]}
            (camera / f"cam1_{f:012d}_keypoints.json").write_text(json.dumps(payload))
        result = _outcome(lambda: load_candidates("openpose", folder))
        if not any(frames):
            assert result is None  # nobody in any file: refused in one sentence
            return
        for f, people in enumerate(frames):
            for p, person in enumerate(people):
                np.testing.assert_allclose(result.points_2d[0, f, p], np.array(person)[:, :2], atol=EXACT_PX)


@settings(max_examples=40, **SETTINGS)
@given(payload=json_values)
def test_openpose_any_json_is_data_or_one_error(payload):
    with tempfile.TemporaryDirectory() as folder:
        camera = Path(folder) / "cam1_json"
        camera.mkdir()
        (camera / "cam1_000000000000_keypoints.json").write_text(json.dumps(payload))
        _outcome(lambda: load_candidates("openpose", folder, skeleton="BODY_25"))


@settings(max_examples=25, **SETTINGS)
@given(mutation=_mutations())
def test_openpose_truncated_or_corrupted(mutation):
    rng = np.random.default_rng(0)
    payload = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d":
                                           rng.uniform(0, 1, 75).round(3).tolist()}]}
    with tempfile.TemporaryDirectory() as folder:
        camera = Path(folder) / "cam1_json"
        camera.mkdir()
        (camera / "cam1_000000000000_keypoints.json").write_bytes(
            _mutate(json.dumps(payload).encode(), mutation))
        _outcome(lambda: load_candidates("openpose", folder))


# -- COCO / MMPose ---------------------------------------------------------------------------------
@settings(max_examples=40, **SETTINGS)
@given(payload=json_values, as_results=st.booleans())
def test_coco_and_mmpose_any_json_is_data_or_one_error(payload, as_results):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cam1.json"
        path.write_text(json.dumps(payload))
        images = Path(folder) / "images.json"
        images.write_text(json.dumps({"images": [{"id": 1, "file_name": "cam1/000001.jpg"}]}))
        _outcome(lambda: load_candidates("coco", path, **({"images": images} if as_results else {})))
        _outcome(lambda: load_candidates("mmpose", folder))


@settings(max_examples=20, **SETTINGS)
@given(mutation=_mutations())
def test_coco_real_file_truncated_or_corrupted(mutation):
    source = PEERS / "mmpose" / "posetrack18" / "annotations" / "test_posetrack18_val.json"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "val.json"
        path.write_bytes(_mutate(source.read_bytes(), mutation))
        _outcome(lambda: load_candidates("coco", path))


# -- DeepLabCut --------------------------------------------------------------------------------------
@settings(max_examples=25, **SETTINGS)
@given(values=st.lists(st.lists(st.one_of(st.none(), st.floats(0, 2000)), min_size=6, max_size=6),
                       min_size=1, max_size=5))
def test_deeplabcut_csv_written_values_read_back(values):
    header = ["scorer,s,s,s,s,s,s", "bodyparts,a,a,a,b,b,b", "coords,x,y,likelihood,x,y,likelihood"]
    body = [",".join([str(f)] + ["" if v is None else repr(v) for v in row]) for f, row in enumerate(values)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camDLC_x.csv"
        path.write_text("\n".join(header + body) + "\n")
        result = load_candidates("deeplabcut", path)
        table = np.array([[np.nan if v is None else v for v in row] for row in values]).reshape(-1, 2, 3)
        located = np.isfinite(table[..., :2]).all(-1) & np.isfinite(table[..., 2])
        got = result.points_2d[0, :, 0]
        np.testing.assert_array_equal(np.isfinite(got[..., 0]), located)
        np.testing.assert_allclose(got[located], table[..., :2][located], atol=EXACT_PX)


@pytest.mark.parametrize("source", [
    "deeplabcut/train1_trimmedDLC_resnet50_Top_trackingAug3shuffle1_100.h5",
    "deeplabcut/labeled-examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv",
    "deeplabcut/labeled-examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.h5",
    "sleap/small_robot.000_small_robot_3_frame.analysis.h5",
    "sleap/exported-by-sleap-io/clip_predictions.standard.analysis.h5",
    "sleap/clip.predictions.slp",
])
def test_real_binary_files_truncated_or_corrupted(source, tmp_path):
    """Each real file, cut and overwritten at 12 seeded places: data or one ValueError."""
    data = (PEERS / source).read_bytes()
    fmt = "deeplabcut" if source.startswith("deeplabcut") else "sleap"
    rng = np.random.default_rng(len(source))
    for k in range(12):
        mutation = (("truncate", "flip", "zero-run")[k % 3], float(rng.uniform()), int(rng.integers(256)))
        path = tmp_path / f"{k}{''.join(Path(source).suffixes[-1:])}"
        path.write_bytes(_mutate(data, mutation))
        _outcome(lambda: load_candidates(fmt, path))


@settings(max_examples=25, **SETTINGS)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=5), names=st.integers(0, 4),
       with_scores=st.booleans(), preset=st.sampled_from([None, "matlab", "standard", "other"]))
def test_sleap_any_array_shapes_are_data_or_one_error(shape, names, with_scores, preset):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cam.analysis.h5"
        with h5py.File(path, "w") as h:
            h["tracks"] = np.random.default_rng(0).uniform(0, 100, shape)
            h["node_names"] = np.array([f"n{i}".encode() for i in range(names)], dtype="S4")
            if with_scores:
                h["point_scores"] = np.ones(shape[:3])
            if preset:
                h.attrs["preset"] = preset
        _outcome(lambda: load_candidates("sleap", path))


# -- calibration files ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, suffix", [("toml", ".toml"), ("caliscope", ".toml"),
                                         ("opencv-yaml", ".yml"), ("opencv-xml", ".xml")])
@settings(max_examples=15, **SETTINGS)
@given(mutation=_mutations())
def test_calibration_files_truncated_or_corrupted(fmt, suffix, mutation):
    rig = ring_rig(3, rng=np.random.default_rng(1))
    with tempfile.TemporaryDirectory() as folder:
        path = save_rig(rig, Path(folder) / f"calib{suffix}", format=fmt)
        path.write_bytes(_mutate(path.read_bytes(), mutation))
        result = _outcome(lambda: read_calibration(path))
        if result is not None:
            assert len(result.rig) <= 3 and np.isfinite(result.rig.t).all()


@settings(max_examples=15, **SETTINGS)
@given(mutation=_mutations())
def test_caliscope_real_file_truncated_or_corrupted(mutation):
    source = PEERS / "calibrations" / "caliscope__capture_volume_pre_quality_control__camera_array.toml"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "camera_array.toml"
        path.write_bytes(_mutate(source.read_bytes(), mutation))
        _outcome(lambda: read_calibration(path))


def test_deeplabcut_csv_without_pandas_reads_the_same(monkeypatch):
    """DeepLabCut installs pandas, whose C parser rigkit uses when present; without it numpy's
    parser reads every value the same."""
    import builtins

    path = PEERS / "deeplabcut/labeled-examples/Reaching-Mackenzie-2018-08-30/labeled-data/reachingvideo1/CollectedData_Mackenzie.csv"
    with_pandas = load_candidates("deeplabcut", path)
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("pandas hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    without = load_candidates("deeplabcut", path)
    np.testing.assert_array_equal(with_pandas.points_2d, without.points_2d)
    np.testing.assert_array_equal(with_pandas.frame_index, without.frame_index)
