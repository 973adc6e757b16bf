"""rigkit label export: .trc (read back with a plain parser, Pose2Sim's layout), Anipose CSV, npz;
round trips against the shards read with plain h5py."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

from label_fixtures import write_synthetic_output
from labeling.export import export_labels, read_labels

EXACT = 0.0  # repr() of a float64 reads back exactly; shards hold float32 -> float64 exactly


def _plain_shards(root, sizes):
    """keypoints_3d (N, J, 3) with NaN where not valid, frames, times: plain h5py, in index order."""
    points, frames, times, valid = [], [], [], []
    for shard in range(len(sizes)):
        with h5py.File(root / f"shard-{shard:05d}.h5", "r") as f:
            ok = f["valid"][()]
            points.append(np.where(ok[..., None], f["keypoints_3d"][()].astype(np.float64), np.nan))
            frames.append(f["frame_index"][()])
            times.append(f["timestamp_s"][()])
            valid.append(ok)
    return np.concatenate(points), np.concatenate(frames), np.concatenate(times), np.concatenate(valid)


def _parse_trc(path):
    """A plain TRC reader: 5 header lines, a blank line, then tab-separated rows."""
    lines = path.read_text().split("\n")
    assert lines[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"]
    keys = lines[1].split("\t")
    values = dict(zip(keys, lines[2].split("\t")))
    markers = [m for m in lines[3].split("\t")[2:] if m]
    assert lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"]
    assert lines[5] == ""
    rows = [line.split("\t") for line in lines[6:] if line]
    frames = np.array([int(r[0]) for r in rows])
    times = np.array([float(r[1]) for r in rows])
    data = np.array([[float(v) if v else np.nan for v in r[2:]] for r in rows]).reshape(len(rows), -1, 3)
    return values, markers, frames, times, data


@pytest.fixture
def labelled(tmp_path):
    sizes = [5, 7]
    (tmp_path / "labels").mkdir()
    write_synthetic_output(tmp_path / "labels", sizes, seed=3)
    return tmp_path / "labels", sizes


def test_trc_reads_back_with_a_plain_parser(labelled):
    root, sizes = labelled
    (path,) = export_labels(root, format="trc")
    assert path == root / "export" / "labels.trc"
    values, markers, frames, times, data = _parse_trc(path)
    points, plain_frames, plain_times, _ = _plain_shards(root, sizes)
    assert values["Units"] == "m" and values["NumMarkers"] == "9" and values["NumFrames"] == "12"
    assert float(values["DataRate"]) == pytest.approx(30.0, rel=1e-9)  # from the timestamps
    assert markers == [f"joint{j}" for j in range(9)]
    np.testing.assert_array_equal(frames, plain_frames)
    np.testing.assert_allclose(times, plain_times, atol=EXACT)
    np.testing.assert_array_equal(np.isnan(data), np.isnan(points))
    np.testing.assert_allclose(data, points, atol=EXACT)


def test_anipose_csv_has_error_ncams_score_per_joint(labelled):
    root, sizes = labelled
    (path,) = export_labels(root, root / "pose3d.csv", format="csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    points, frames, _, valid = _plain_shards(root, sizes)
    with h5py.File(root / "shard-00000.h5", "r") as f:  # the first shard's per-view evidence
        used = f["inliers"][()] & np.isfinite(f["reprojection_error_px"][()])
        error = f["reprojection_error_px"][()]
    for n, row in enumerate(rows):
        assert int(row["fnum"]) == frames[n]
        for j in range(9):
            got = [float(row[f"joint{j}_{axis}"]) for axis in "xyz"]
            np.testing.assert_allclose(got, points[n, j], atol=EXACT)
            if n < sizes[0]:
                ncams = int(used[n, :, j].sum()) if valid[n, j] else 0
                assert int(row[f"joint{j}_ncams"]) == ncams
                if ncams:
                    assert float(row[f"joint{j}_error"]) == pytest.approx(
                        error[n, used[n, :, j], j].astype(np.float64).mean(), rel=1e-12)


def test_npz_round_trip_and_the_filter_hook(labelled, tmp_path):
    root, sizes = labelled
    (path,) = export_labels(root, tmp_path / "out.npz", format="npz")
    labels = read_labels(root)
    with np.load(path) as data:
        np.testing.assert_array_equal(data["keypoints_3d"], labels.keypoints_3d)
        np.testing.assert_array_equal(data["frame_index"], labels.frame_index)
        assert tuple(data["joint_names"]) == labels.joint_names
    points, *_ = _plain_shards(root, sizes)
    np.testing.assert_array_equal(np.isnan(labels.keypoints_3d), np.isnan(points))

    def reject_first_frameset(folder, labels):  # what a review file's verdicts will do
        assert folder == root
        return labels.frame_index != labels.frame_index[0]

    (filtered,) = export_labels(root, tmp_path / "f.npz", format="npz", label_filter=reject_first_frameset)
    with np.load(filtered) as data:
        assert np.isnan(data["keypoints_3d"][0]).all() and not data["valid"][0].any()
        np.testing.assert_array_equal(data["keypoints_3d"][1:], labels.keypoints_3d[1:])


def test_several_people_give_one_trc_each(labelled):
    root, sizes = labelled
    for shard, size in enumerate(sizes):  # the issue-13 schema adds person_id (N,) int64
        with h5py.File(root / f"shard-{shard:05d}.h5", "r+") as f:
            if "person_id" in f:  # written by rigkit (person 0): relabel as two people
                del f["person_id"]
            f.create_dataset("person_id", data=np.arange(size) % 2)
    written = export_labels(root, root / "take.trc", format="trc")
    assert [p.name for p in written] == ["take_person0.trc", "take_person1.trc"]
    labels = read_labels(root)
    for person, path in enumerate(written):
        _, _, frames, _, data = _parse_trc(path)
        rows = labels.person_id == person
        np.testing.assert_array_equal(frames, labels.frame_index[rows])
        np.testing.assert_allclose(data, labels.keypoints_3d[rows], atol=EXACT)


def test_no_timestamps_needs_fps_and_the_cli(labelled, capsys):
    from rigkit_cli import main

    root, sizes = labelled
    for shard in range(len(sizes)):
        with h5py.File(root / f"shard-{shard:05d}.h5", "r+") as f:
            f["timestamp_s"][...] = np.nan
    assert main(["label", "export", str(root), "--format", "trc"]) == 2
    assert "--fps" in capsys.readouterr().err
    assert main(["label", "export", str(root), "--format", "trc", "--fps", "50"]) == 0
    values, _, _, times, _ = _parse_trc(root / "export" / "labels.trc")
    assert values["DataRate"] == "50"
    np.testing.assert_allclose(np.diff(times), 1 / 50, rtol=1e-12)
    assert main(["label", "export", str(root / "nowhere"), "--format", "csv"]) == 2
