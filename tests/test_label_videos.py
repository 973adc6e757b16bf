"""``rigkit label --videos`` / ``label detect`` / ``calibrate keypoints --detections npz:`` on the
real Pose2Sim demo (first frames of its four cameras), with mediapipe; local and Ray alike."""

import json

import numpy as np
import pytest

import rigkit_cli
from labeling import LabelIndex, read_shard
from tests.shared_data import POSE2SIM

pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed "
                                        "(pip install 'rigkit[mediapipe]')")

CALIBRATION = POSE2SIM / "calibration" / "Calib_qualisys.toml"
CAMERAS = ("cam01", "cam02", "cam03", "cam04")
NUM_FRAMES = 4  # frames per camera: 16 BlazePose inferences per run
# BlazePose full on the demo's 1080x1920 frames, today's fixed gates: ~60% of the joints accepted
# over the take (issue 11); on 4 frames at least a third of them, with few-pixel residuals.
MIN_ACCEPTED_SHARE = 0.33
MEDIAN_REPROJECTION_TOL_PX = 15.0  # BlazePose on 1920 px frames: 6-25 px noise per camera, adaptive gates at 4 sigma


@pytest.fixture(scope="module")
def demo_folders(tmp_path_factory):
    """The first NUM_FRAMES frames of each demo video as an image folder (PNG, lossless)."""
    import cv2

    root = tmp_path_factory.mktemp("demo")
    for name in CAMERAS:
        capture = cv2.VideoCapture(str(POSE2SIM / "videos" / f"{name}.mp4"))
        folder = root / name
        folder.mkdir()
        for k in range(NUM_FRAMES):
            ok, image = capture.read()
            assert ok
            cv2.imwrite(str(folder / f"{k:04d}.png"), image)
        capture.release()
    return root


def _videos(root, cameras=CAMERAS):
    return ["--videos", *(f"{n}={root / n}" for n in cameras)]


@pytest.fixture(scope="module")
def labeled(demo_folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("labels") / "out"
    code = rigkit_cli.main(["label", "--calibration", str(CALIBRATION), *_videos(demo_folders),
                            "--detector", "mediapipe", "--out", str(out)])
    assert code == 0
    return out


def test_label_videos_with_mediapipe(labeled, capfd):
    index = LabelIndex.read(labeled)
    assert index.complete and index.num_samples == NUM_FRAMES
    provenance = index.job["provenance"]
    assert len(provenance["weights_sha256"]) == 64 and provenance["paired_by"] == "index"
    assert provenance["frame_fits"] == {"cam01": "pad_crop", "cam02": "pad_crop"}
    data = read_shard(labeled / index.shards[0].file)
    import h5py

    with h5py.File(labeled / index.shards[0].file, "r") as shard:  # the model's sha256 in every shard
        assert json.loads(shard.attrs["provenance_json"])["weights_sha256"] == provenance["weights_sha256"]
    valid = data["valid"]
    assert valid.mean() >= MIN_ACCEPTED_SHARE
    errors = data["reprojection_error_px"][data["inliers"] & valid[:, None, :]]
    assert np.median(errors) < MEDIAN_REPROJECTION_TOL_PX


def test_report_draws_on_the_real_frames(labeled, tmp_path, capsys):
    import cv2

    assert rigkit_cli.main(["label", "report", str(labeled), "--out", str(tmp_path),
                            "--num-overlays", "1"]) == 0
    overlay = cv2.imread(str(next(tmp_path.glob("overlay-*.png"))))
    # a blank canvas is one grey (32) plus marks; a real frame has texture everywhere
    panel = overlay[40:400, 20:440]
    assert panel.std() > 20 and np.mean(panel == 32) < 0.2


def test_detect_npz_is_what_label_and_calibrate_read(demo_folders, labeled, tmp_path, capsys):
    npz = tmp_path / "demo.npz"
    assert rigkit_cli.main(["label", "detect", *_videos(demo_folders), "--detector", "mediapipe",
                            "--out", str(npz)]) == 0
    assert "wrote" in capsys.readouterr().out and not list(tmp_path.glob(".*chunks"))
    with np.load(npz) as data:
        assert data["points_2d"].shape == (4, NUM_FRAMES, 33, 2)
        np.testing.assert_array_equal(data["frame_sizes"][0], [1080, 1920])
    out = tmp_path / "from_npz"
    assert rigkit_cli.main(["label", "--calibration", str(CALIBRATION), "--detections",
                            f"npz:{npz}", "--out", str(out)]) == 0
    assert "cam01: frames decode as 1080x1920" in capsys.readouterr().err
    a = read_shard(out / LabelIndex.read(out).shards[0].file)
    b = read_shard(labeled / LabelIndex.read(labeled).shards[0].file)
    np.testing.assert_array_equal(a["valid"], b["valid"])
    np.testing.assert_allclose(a["keypoints_3d"], b["keypoints_3d"], equal_nan=True)
    from calibration.cli import _detections

    for spec in (f"npz:{npz}", str(npz)):  # calibrate keypoints --detections reads the same file
        detections = _detections(spec, None, None)
        assert detections.camera_names == CAMERAS and detections.num_joints == 33


def test_different_frame_counts_use_the_common_range(demo_folders, tmp_path, capsys):
    import shutil

    short = tmp_path / "cam04"
    shutil.copytree(demo_folders / "cam04", short)
    sorted(short.iterdir())[-1].unlink()
    npz = tmp_path / "d.npz"
    videos = ["--videos", *(f"{n}={demo_folders / n}" for n in CAMERAS[:3]), f"cam04={short}"]
    assert rigkit_cli.main(["label", "detect", *videos, "--detector", "mediapipe",
                            "--frame-offset", "cam04=-1", "--out", str(npz)]) == 0
    out = capsys.readouterr().out
    assert f"cam01: {NUM_FRAMES}, cam02: {NUM_FRAMES}, cam03: {NUM_FRAMES}, cam04: {NUM_FRAMES - 1}" in out
    with np.load(npz) as data:  # frameset k: cam04's frame k-1, so k = 1 .. NUM_FRAMES-1
        np.testing.assert_array_equal(data["frame_index"], np.arange(1, NUM_FRAMES))


@pytest.mark.slow  # a local Ray instance starts (~30-50 s on a loaded 2-core machine)
def test_ray_detects_videos_like_the_local_run(demo_folders, labeled, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is an optional extra (pip install 'rigkit[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = rigkit_cli.main(["label", "--calibration", str(CALIBRATION), *_videos(demo_folders),
                                "--detector", "mediapipe", "--executor", "ray",
                                "--out", str(tmp_path / "ray")])
    finally:
        ray.shutdown()
    assert code == 0
    remote, local = LabelIndex.read(tmp_path / "ray"), LabelIndex.read(labeled)
    assert remote.complete and remote.shards == local.shards  # same bytes: same sha256


DEMO_SYNC_TOL_FRAMES = 0.1  # the demo's cameras were synchronized by the lab's system: the answer is 0


def test_sync_on_the_synchronized_demo_finds_no_offset(tmp_path, capsys):
    """``rigkit label --videos ... --sync`` on the whole real take (100 frames, BlazePose) against the
    lab's calibration, which fits cam03's detections 2x worse than they fit themselves: that camera's
    offset comes from the keypoints alone and is 0, like every other (against the lab's epipolar
    geometry alone the estimator had put it 3-5 frames off)."""
    videos = [f"{n}={POSE2SIM / 'videos' / f'{n}.mp4'}" for n in CAMERAS]
    assert rigkit_cli.main(["label", "--calibration", str(CALIBRATION), "--detector", "mediapipe",
                            "--videos", *videos, "--sync", "--out", str(tmp_path / "out")]) == 0
    found = LabelIndex.read(tmp_path / "out").job["provenance"]["frame_offsets_estimated"]
    assert set(found) == set(CAMERAS)
    assert max(abs(o) for o in found.values()) < DEMO_SYNC_TOL_FRAMES, found
    notice = next(line for line in capsys.readouterr().err.splitlines() if "time offsets from" in line)
    assert "cam03" in notice.split("(")[-1] and "fits these cameras' keypoints poorly" in notice
