"""``rigkit label --max-people`` on a two-person take written as OpenPose JSON; shards with identity;
old single-person shards still read; ``rigkit demo --people``; ``rigkit label report`` per track."""

import json

import h5py
import numpy as np
import pytest

import rigkit_cli
from labeling import LabelIndex, ShardDataset
from labeling.demo.people import crowd_take, evaluate_people, write_crowd_take
from labeling.pseudo_labels import LabelOptions
from labeling.shards import read_shard

FRAMES = 90
PURITY = 0.97  # share of a track's detections that are its participant's (2 px, 10% gross, crossings)
MPJPE_RATIO_MAX = 1.10  # the bar: within 10% of the oracle that knows the assignment
ACCEPTED_TWO_VIEWS_MIN = 0.95  # joints with 2+ correct views that are accepted


@pytest.fixture(scope="module")
def two_people(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_people")
    rig, crowd, detections = crowd_take(2, cameras=4, frames=FRAMES, seed=5)
    calibration, folder = write_crowd_take(root / "take", rig, detections)
    out = root / "labels"
    code = rigkit_cli.main(["--quiet", "label", "--calibration", str(calibration), "--detections",
                            f"openpose:{folder}", "--max-people", "2", "--out", str(out),
                            "--shard-size", "40"])
    assert code == 0
    return rig, crowd, detections, out


def _all_shards(out):
    index = LabelIndex.read(out)
    parts = [read_shard(out / e.file) for e in index.shards]
    return index, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]
                   if k not in ("attributes", "rig")}


def test_one_track_per_participant(two_people):
    rig, crowd, detections, out = two_people
    index, labels = _all_shards(out)
    assert [t["person_id"] for t in index.tracks] == [0, 1]
    assert all(t["num_framesets"] >= FRAMES - 2 for t in index.tracks)
    assert 0 <= index.tracks[0]["mean_acceptance"] <= 1 and "uncertain_frames" in index.tracks[0]
    assert index.job["people"]["num_people"] == 2
    # One sample per person per frameset, sorted by frameset then person.
    order = np.lexsort((labels["person_id"], labels["frame_index"]))
    np.testing.assert_array_equal(order, np.arange(order.size))
    # Each track follows one participant: its chosen candidates are that person's.
    V = len(rig)
    owners = []
    for person in (0, 1):
        mine = labels["person_id"] == person
        cand = labels["association_candidate"][mine]  # (n, V)
        frame = labels["frame_index"][mine]
        views = np.broadcast_to(np.arange(V), cand.shape)
        frames = np.broadcast_to(frame[:, None], cand.shape)
        held = detections.identity[views[cand >= 0], frames[cand >= 0], cand[cand >= 0]]
        ids, counts = np.unique(held, return_counts=True)
        owners.append(int(ids[np.argmax(counts)]))
        assert counts.max() / held.size >= PURITY
        assert np.nanmedian(labels["association_affinity_px"][mine]) < 10.0  # px: 2 px noise
    assert sorted(owners) == [0, 1]


def test_labels_match_the_oracle_and_accept_what_two_views_see(two_people):
    rig, crowd, detections, out = two_people
    index, labels = _all_shards(out)
    T, F = 2, FRAMES
    chosen = np.full((T, len(rig), F), -1, dtype=np.int64)
    chosen[labels["person_id"], :, labels["frame_index"]] = labels["association_candidate"]
    from labeling.cli import bones_from_skeleton

    bones, _ = bones_from_skeleton(crowd.skeleton.joint_names, None)
    evaluation = evaluate_people(rig, crowd, detections, chosen,
                                 {**labels, "position": labels["frame_index"]},
                                 options=LabelOptions(), bones=bones)
    assert evaluation.identity_switches == 0
    assert evaluation.worst_ratio <= MPJPE_RATIO_MAX
    assert evaluation.accepted_two_views >= ACCEPTED_TWO_VIEWS_MIN


def test_shard_dataset_filters_by_person(two_people):
    *_, out = two_people
    everyone = ShardDataset(out)
    first = ShardDataset(out, people=1)
    assert len(first) + len(ShardDataset(out, people=[0])) == len(everyone)
    sample = first[0]
    assert int(sample["person_id"]) == 1 and sample["keypoints_3d"].shape == (17, 3)


def test_label_report_lists_every_track(two_people, capsys, tmp_path):
    *_, out = two_people
    assert rigkit_cli.main(["label", "report", str(out), "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    assert "person" in printed and "uncertain" in printed
    assert printed.count("\n") > 3


def test_version_1_shards_still_read(two_people, tmp_path):
    """A single-person shard written before identity existed: person 0, no evidence."""
    import shutil

    *_, out = two_people
    old = tmp_path / "old"
    shutil.copytree(out, old)
    index = json.loads((old / "index.json").read_text())
    index["schema_version"] = 1
    index.pop("tracks")
    for entry in index["shards"]:
        with h5py.File(old / entry["file"], "r+") as f:
            for name in ("person_id", "association_candidate", "association_affinity_px",
                         "identity_uncertain"):
                del f[name]
            f.attrs["schema_version"] = 1
        entry["sha256"] = ""
    (old / "index.json").write_text(json.dumps(index))
    data = read_shard(old / index["shards"][0]["file"])
    assert data["attributes"]["schema_version"] == 1
    assert (data["person_id"] == 0).all() and (data["association_candidate"] == -1).all()
    dataset = ShardDataset(old)
    assert int(dataset[0]["person_id"]) == 0 and len(ShardDataset(old, people=0)) == len(dataset)
    assert LabelIndex.read(old).tracks == ()


def test_max_people_with_npz_or_session_is_one_sentence(two_people, tmp_path, capsys):
    *_, out = two_people
    calibration = out.parent / "take" / "calibration.toml"
    np.savez(tmp_path / "d.npz", points_2d=np.zeros((4, 1, 17, 2)))
    code = rigkit_cli.main(["label", "--calibration", str(calibration), "--detections",
                            f"npz:{tmp_path / 'd.npz'}", "--max-people", "2", "--out",
                            str(tmp_path / "o")])
    assert code == 2
    error = capsys.readouterr().err
    assert "--max-people" in error and "Traceback" not in error


def test_demo_people_runs_end_to_end(tmp_path, capsys):
    code = rigkit_cli.main(["demo", "--people", "3", "--out", str(tmp_path / "demo"),
                            "--seconds", "3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3 tracks for 3 people" in printed
    assert (tmp_path / "demo" / "report" / "tracks.png").stat().st_size > 10_000


def test_a_second_run_writes_the_same_bytes(two_people, tmp_path):
    """Association and per-person labels are deterministic: shards verify by sha256 on resume
    and a fresh run writes identical shards."""
    *_, out = two_people
    calibration = out.parent / "take" / "calibration.toml"
    folder = out.parent / "take" / "openpose"
    again = tmp_path / "again"
    args = ["--quiet", "label", "--calibration", str(calibration), "--detections", f"openpose:{folder}",
            "--max-people", "2", "--shard-size", "40", "--out"]
    assert rigkit_cli.main(args + [str(again)]) == 0
    first, second = LabelIndex.read(out), LabelIndex.read(again)
    assert [s.sha256 for s in first.shards] == [s.sha256 for s in second.shards]
    assert rigkit_cli.main(args + [str(out), "--resume"]) == 0
    assert [s.sha256 for s in LabelIndex.read(out).shards] == [s.sha256 for s in first.shards]


def test_single_subject_mode_labels_one_person(two_people, tmp_path):
    """Without --max-people: one subject (here the largest in the images), person 0 only."""
    rig, crowd, detections, out = two_people
    calibration = out.parent / "take" / "calibration.toml"
    folder = out.parent / "take" / "openpose"
    single = tmp_path / "single"
    assert rigkit_cli.main(["--quiet", "label", "--calibration", str(calibration), "--detections",
                            f"openpose:{folder}", "--subject", "largest", "--out", str(single)]) == 0
    index, labels = _all_shards(single)
    assert "people" not in index.job and (labels["person_id"] == 0).all()
    assert index.num_samples == FRAMES and len(index.tracks) == 1


def test_iterable_dataset_filters_by_person(two_people):
    from labeling import ShardIterableDataset

    *_, out = two_people
    one = list(ShardIterableDataset(out, people=1, shuffle=False))
    assert len(one) == len(ShardDataset(out, people=1)) > 0
    assert all(int(sample["person_id"]) == 1 for sample in one)
