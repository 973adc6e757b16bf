"""One camera mapping (Camera.to_mapping / from_mapping) under the three serializers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geometry import Camera, Rig
from geometry.synthetic import ring_rig

EXACT = 0.0  # float64 through JSON / TOML / HDF5 and back: bit for bit


def _rig() -> Rig:
    rng = np.random.default_rng(4)
    cameras = list(ring_rig(2, lens="distorted", rng=rng)) + [ring_rig(2, lens="fisheye", rng=rng)[0].replace(name="fish")]
    cameras.append(Camera("plain", (640, 480), [[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]))
    return Rig(cameras)


def _assert_same(a: Rig, b: Rig) -> None:
    assert a.names == b.names
    for x, y in zip(a, b):
        assert x.to_mapping() == y.to_mapping()


def test_mapping_round_trip_and_json():
    rig = _rig()
    for camera in rig:
        mapping = camera.to_mapping()
        assert set(mapping) == {"name", "size", "K", "dist", "R", "t", "model"}
        json.dumps(mapping)  # plain Python values
        again = Camera.from_mapping(json.loads(json.dumps(mapping)))
        assert again.to_mapping() == mapping
    minimal = Camera.from_mapping({"name": "m", "size": [4, 3], "K": np.eye(3)})
    assert minimal.model == "opencv" and minimal.dist.size == 0 and np.array_equal(minimal.R, np.eye(3))
    with pytest.raises(ValueError, match="cams.json: missing 'K'"):
        Camera.from_mapping({"name": "m", "size": [4, 3]}, where="cams.json")
    with pytest.raises(ValueError, match="unknown 'focal'"):
        Camera.from_mapping({"name": "m", "size": [4, 3], "K": np.eye(3), "focal": 1.0})


def test_the_three_serializers_round_trip_through_the_mapping(tmp_path):
    from calibration.files import load_rig, save_rig
    from capture.layout import read_truth_cameras, write_truth_cameras
    from labeling.shards import rig_from_shard, write_shard

    rig = _rig()
    write_truth_cameras(tmp_path / "session", rig)
    _assert_same(read_truth_cameras(tmp_path / "session"), rig)
    save_rig(rig, tmp_path / "calib.toml")
    loaded = load_rig(tmp_path / "calib.toml")
    # the shared TOML stores R as a Rodrigues vector: equal to rounding, and 0 coefficients as 4 zeros
    for x, y in zip(loaded, rig):
        np.testing.assert_allclose(y.R, x.R, atol=1e-12)
        assert x.to_mapping()["K"] == y.to_mapping()["K"] and x.name == y.name and x.model == y.model

    import h5py

    from labeling.shards import LABEL_FIELDS

    sizes = {"N": 1, "V": len(rig), "J": 2}
    arrays = {}
    for name, (dtype, letters) in LABEL_FIELDS.items():
        shape = tuple(sizes.get(letter, letter) if isinstance(letter, str) else letter for letter in letters)
        arrays[name] = np.zeros(shape, dtype=dtype)
    write_shard(tmp_path / "s.h5", arrays, rig=rig, joint_names=("a", "b"))
    with h5py.File(tmp_path / "s.h5") as f:
        _assert_same(rig_from_shard(f), rig)
