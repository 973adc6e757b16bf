"""HDF5 shard schema, atomic writing, determinism, index.json, and a plain h5py client."""

import json
import os

import h5py
import numpy as np
import pytest

from labeling.index import LabelIndex
from labeling.shards import (LABEL_FIELDS, SCHEMA_VERSION, ShardLayout, read_shard, sha256_of_file,
                             write_shard)
from tests.label_fixtures import synthetic_label_arrays, write_synthetic_output

from geometry.synthetic import ring_rig

NAMES = tuple(f"joint{j}" for j in range(9))


def _write(path, arrays, rig, **kwargs):
    return write_shard(path, arrays, rig=rig, joint_names=NAMES, **kwargs)


def test_plain_h5py_reads_the_schema(tmp_path):
    """What a trainer with only h5py sees: every field, dtype, shape, attribute and camera."""
    rig = ring_rig(4, rng=np.random.default_rng(1))
    arrays = synthetic_label_arrays(70, rng=np.random.default_rng(2))
    _write(tmp_path / "s.h5", arrays, rig, bones=np.array([[0, 1]]), options={"min_score": 0.3},
           provenance={"calibration_sha256": "ab"})
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f.attrs["schema_version"] == SCHEMA_VERSION
        assert list(f.attrs["joint_names"]) == list(NAMES)
        assert list(f.attrs["camera_names"]) == list(rig.names)
        assert json.loads(f.attrs["options_json"]) == {"min_score": 0.3}
        N, V, J = 70, 4, 9
        expected = {"keypoints_3d": ((N, J, 3), np.float32), "valid": ((N, J), np.bool_),
                    "keypoints_2d": ((N, V, J, 2), np.float32), "scores_2d": ((N, V, J), np.float32),
                    "inliers": ((N, V, J), np.bool_),
                    "reprojection_error_px": ((N, V, J), np.float32),
                    "frame_index": ((N,), np.int64), "timestamp_s": ((N,), np.float64)}
        for name, (shape, dtype) in expected.items():
            assert f[name].shape == shape and f[name].dtype == dtype, name
            np.testing.assert_array_equal(f[name][()], arrays[name].astype(dtype))
        # NaN exactly where rejected, and metres of the world frame round-trip unchanged.
        assert np.isnan(f["keypoints_3d"][()][~f["valid"][()]]).all()
        np.testing.assert_array_equal(f["cameras/K"][()], rig.K)
        np.testing.assert_array_equal(f["cameras/R"][()], rig.R)
        np.testing.assert_array_equal(f["cameras/t"][()], rig.t)
        np.testing.assert_array_equal(f["cameras/size"][()], rig.sizes)
        assert [n.decode() for n in f["cameras/names"][()]] == list(rig.names)
        assert f["cameras/dist"].shape == (V, 8)
        assert f["keypoints_3d"].chunks[0] == min(N, ShardLayout().chunk_framesets)


def test_read_back_rig_and_attributes(tmp_path):
    rig = ring_rig(3, lens="fisheye", rng=np.random.default_rng(4))
    arrays = synthetic_label_arrays(5, num_views=3, rng=np.random.default_rng(5))
    _write(tmp_path / "s.h5", arrays, rig)
    data = read_shard(tmp_path / "s.h5")
    for cam, back in zip(rig, data["rig"]):
        assert back.model == cam.model
        np.testing.assert_array_equal(back.dist, cam.dist)
    points = np.random.default_rng(0).normal([0, 0, 1], 0.3, (10, 3))
    np.testing.assert_allclose(data["rig"].project(points), rig.project(points), atol=1e-9)
    assert data["attributes"]["joint_names"] == NAMES


@pytest.mark.parametrize("layout", [ShardLayout(), ShardLayout(compression="gzip", chunk_framesets=7),
                                    ShardLayout(compression="gzip", chunk_framesets=16, gzip_level=6),
                                    ShardLayout(compression="none", chunk_framesets=1000)])
def test_identical_inputs_write_identical_bytes(tmp_path, layout):
    """Resume and Ray rely on it: no timestamps, same layout -> same sha256."""
    rig = ring_rig(4)
    arrays = synthetic_label_arrays(50, rng=np.random.default_rng(3))
    first = _write(tmp_path / "a.h5", arrays, rig, layout=layout)
    os.utime(tmp_path / "a.h5", (0, 0))
    second = _write(tmp_path / "b.h5", arrays, rig, layout=layout)
    assert first == second == sha256_of_file(tmp_path / "b.h5")


def _negative_nans(array):
    """``array`` with every NaN as a negative NaN with a payload (what arithmetic can produce)."""
    array = np.array(array)
    bits = array.view(np.uint32 if array.itemsize == 4 else np.uint64)
    sign_and_payload = 0x80000001 if array.itemsize == 4 else 0x8000000000000001
    bits[np.isnan(array)] |= bits.dtype.type(sign_and_payload)
    return array


def _crops(num_samples, num_views, rng):
    """Random JPEG-like byte strings of random lengths (some empty) and boxes, NaN where empty."""
    crops = [[rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
              if (n + v) % 5 else b"" for v in range(num_views)] for n in range(num_samples)]
    boxes = rng.uniform(0, 500, (num_samples, num_views, 4)).astype(np.float32)
    boxes[np.array([[len(c) == 0 for c in row] for row in crops])] = np.nan
    return dict(crops_jpeg=crops, crop_box_px=boxes, crop_size_px=64)


def test_nan_bit_patterns_do_not_change_the_bytes(tmp_path):
    """NaNs from arithmetic carry a sign bit that depends on the SIMD path (alignment): a shard
    must not depend on it, or a resumed run would not match an uninterrupted one. Every float
    array written (labels in float32 and float64, crop boxes) goes through the same canonical NaN."""
    rig = ring_rig(4)
    arrays = synthetic_label_arrays(30, rng=np.random.default_rng(6))
    crops = _crops(30, 4, np.random.default_rng(7))
    floats = [name for name, (dtype, _) in LABEL_FIELDS.items() if dtype.startswith("float")]
    for name in floats:  # NaN where the schema allows it (the fixture has some already)
        arrays[name] = np.array(arrays[name], dtype=LABEL_FIELDS[name][0])
        arrays[name].reshape(-1)[::7] = np.nan
    flipped = {name: _negative_nans(value) if name in floats else value
               for name, value in arrays.items()}
    flipped_crops = {**crops, "crop_box_px": _negative_nans(crops["crop_box_px"])}
    assert (_write(tmp_path / "a.h5", arrays, rig, **crops)
            == _write(tmp_path / "b.h5", flipped, rig, **flipped_crops))


def test_process_wide_h5py_config_does_not_change_the_bytes(tmp_path):
    """``h5py.get_config().track_order`` is process-wide (a trainer's script or another library may
    set it); a shard written in such a process must still match one written elsewhere."""
    rig = ring_rig(4)
    arrays = synthetic_label_arrays(20, rng=np.random.default_rng(10))
    crops = _crops(20, 4, np.random.default_rng(11))
    plain = _write(tmp_path / "a.h5", arrays, rig, **crops)
    config = h5py.get_config()
    before = config.track_order
    config.track_order = True
    try:
        tracked = _write(tmp_path / "b.h5", arrays, rig, **crops)
    finally:
        config.track_order = before
    assert tracked == plain


WRITE_IN_FRESH_PROCESS = """
import sys
import numpy as np
junk = [bytearray(int(n)) for n in np.random.default_rng(int(sys.argv[2])).integers(1, 70000, 300)]
del junk[::2]  # a heap in a different state from the test's process
from tests.test_shards import _crops, _write
from tests.label_fixtures import synthetic_label_arrays
from geometry.synthetic import ring_rig
print(_write(sys.argv[1], synthetic_label_arrays(40, rng=np.random.default_rng(8)), ring_rig(4),
             bones=np.array([[0, 1], [1, 2]]), options={"min_score": 0.3},
             provenance={"job_id": "ab", "shard": 3}, **_crops(40, 4, np.random.default_rng(9))))
"""


def test_a_fresh_process_writes_the_same_bytes(tmp_path):
    """What --resume relies on: a shard written by another process (with other memory contents:
    glibc fills fresh and freed blocks with MALLOC_PERTURB_, the heap is fragmented differently,
    and other shards were written before in this one) has the same sha256, crops included."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for n in (5, 90):  # other shards first, so HDF5's free lists hold other data
        _write(tmp_path / f"other{n}.h5", synthetic_label_arrays(n, rng=np.random.default_rng(n)),
               ring_rig(4), **_crops(n, 4, np.random.default_rng(n)))
    here = _write(tmp_path / "here.h5", synthetic_label_arrays(40, rng=np.random.default_rng(8)),
                  ring_rig(4), bones=np.array([[0, 1], [1, 2]]), options={"min_score": 0.3},
                  provenance={"job_id": "ab", "shard": 3}, **_crops(40, 4, np.random.default_rng(9)))
    env = {**os.environ, "PYTHONPATH": str(root), "MALLOC_PERTURB_": "165"}
    result = subprocess.run([sys.executable, "-c", WRITE_IN_FRESH_PROCESS, str(tmp_path / "there.h5"),
                             "1"], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == here == sha256_of_file(tmp_path / "there.h5")


def test_crops_round_trip_as_jpeg(tmp_path):
    import cv2

    rig = ring_rig(2)
    arrays = synthetic_label_arrays(3, num_views=2, rng=np.random.default_rng(3))
    image = np.zeros((64, 64, 3), np.uint8)
    cv2.circle(image, (32, 32), 20, (0, 200, 255), -1)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    crops = [[jpeg, b""], [jpeg, jpeg], [b"", b""]]
    boxes = np.tile([10, 20, 128, 128], (3, 2, 1))
    _write(tmp_path / "s.h5", arrays, rig, crops_jpeg=crops, crop_box_px=boxes, crop_size_px=64)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        stored = f["crops_jpeg"][()]
        assert stored.shape == (3, 2) and stored[0, 1].size == 0
        decoded = cv2.imdecode(stored[1, 0], cv2.IMREAD_COLOR)
        assert np.abs(decoded.astype(int) - image).mean() < 3  # JPEG quality loss only
        np.testing.assert_array_equal(f["crop_box_px"][()], boxes)


def test_contract_violations_are_one_sentence(tmp_path):
    rig = ring_rig(4)
    arrays = synthetic_label_arrays(5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="keypoints_3d has shape"):
        _write(tmp_path / "s.h5", {**arrays, "keypoints_3d": arrays["keypoints_3d"][:, :3]}, rig)
    with pytest.raises(ValueError, match="lack valid"):
        _write(tmp_path / "s.h5", {k: v for k, v in arrays.items() if k != "valid"}, rig)
    with pytest.raises(ValueError, match="3 cameras"):
        _write(tmp_path / "s.h5", arrays, ring_rig(3))
    with pytest.raises(ValueError, match="compression"):
        ShardLayout(compression="lzf")  # not reproducible byte for byte
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_failed_write_leaves_no_file(tmp_path):
    rig = ring_rig(4)
    arrays = synthetic_label_arrays(5, rng=np.random.default_rng(0))
    with pytest.raises(TypeError):
        _write(tmp_path / "s.h5", arrays, rig, options={"bad": object()})
    assert not list(tmp_path.iterdir())


def test_index_round_trip_and_verification(tmp_path):
    index = write_synthetic_output(tmp_path, [10, 10, 4])
    back = LabelIndex.read(tmp_path)
    assert back == index and back.num_samples == 24 and back.complete
    assert len(back.verified(tmp_path).shards) == 3
    with open(tmp_path / back.shards[1].file, "r+b") as f:  # corrupt one byte of shard 1
        f.seek(-1, os.SEEK_END)
        f.write(b"\x01" if f.read(1) != b"\x01" else b"\x02")
    assert [s.shard for s in back.verified(tmp_path).shards] == [0, 2]
    (tmp_path / back.shards[2].file).unlink()
    assert [s.shard for s in back.verified(tmp_path).shards] == [0]
    with pytest.raises(ValueError, match="no label index"):
        LabelIndex.read(tmp_path / "elsewhere")


def test_schema_fields_are_the_documented_ones():
    issue_fields = {"keypoints_3d", "valid", "keypoints_2d", "scores_2d", "inliers",
                    "reprojection_error_px", "frame_index", "timestamp_s"}
    assert issue_fields <= set(LABEL_FIELDS)
