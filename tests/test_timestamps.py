"""``--timestamps``: pairing cameras that drop frames by their recorded frame times
(:mod:`capture.timestamps`), for ``rigkit calibrate extrinsics``, ``rigkit label`` and ``label report``.

Real: Caliscope's own ``timestamps.csv`` of its 4-webcam recording (no frame dropped there: the
pairing must equal the index pairing), and that recording with frames cut out of two cameras (as a
webcam drops them), calibrated by the CLI from the cut videos. Synthetic: stamped image folders whose
frames carry the instant they show, labeled through the real pipeline by a detector stand-in.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

import rigkit_cli
from calibration import save_rig
from calibration.files import read_calibration
from calibration.rig_comparison import compare_rigs
from capture.pairing import RecordingSpec
from capture.timestamps import find_recorded_times, match_frame_times, read_frame_times, timestamps_to_use
from geometry.synthetic import person_motion, ring_rig
from labeling import LabelIndex, read_shard
from shared_data import SHARED_DATA
from stamp_detector import StampReader, joints_on_circle

CALISCOPE = (SHARED_DATA or __import__("pathlib").Path("/work/shared/data")) / "caliscope-charuco"
CALISCOPE_NAMES = ["cam_0", "cam_1", "cam_2", "cam_3"]
# Frames cut out of the Caliscope videos (video frame numbers) while the board is in view.
DROPPED = {"cam_1": (80, 81), "cam_2": (90,)}
# Calibrated from the cut videos against the calibration from the whole ones (Caliscope's lenses,
# no capture-time model, every frameset used): paired by the timestamps 0.28 deg and 4.7 mm at worst (cam_1
# lost two of its 27 board views); paired by index 1.96 deg and 20.7 mm.
TIMED_MAX_ROTATION_DEG = 0.8
TIMED_MAX_CENTRE_MM = 12.0
INDEX_MIN_SHARE_WORSE = 2.0  # the index pairing's worst rotation error against the timestamps'

NAMES = ("cam01", "cam02", "cam03", "cam04")
NUM_INSTANTS = 40
PERIOD_MS = 33.367  # 29.97 fps
STAMP_DROPS = {"cam02": (10, 11), "cam03": (25,)}
PERIOD_INSTANTS = 40.0  # one circle of 0.8 m radius: up to 0.13 m between frames
NOISE_PX = 0.3
POSITION_TOL_MM = 10.0  # 95th percentile, paired by the timestamps; measured 4.9 (median 2.7: the 0.3 px noise)
INDEX_MIN_POSITION_MM = 15.0  # median after the first dropped frame, paired by index (the gate drops some views); measured 27.3 (3.3 before it)


def _rig_cli(argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rigkit_cli", *argv], capture_output=True, text=True)


# -- reading and matching -------------------------------------------------------------------------

def test_caliscope_timestamps_pair_the_recording_as_its_frame_indices():
    spec = RecordingSpec.from_args(videos=[f"{n}={CALISCOPE / n}.mp4" for n in CALISCOPE_NAMES],
                                   timestamps=[str(CALISCOPE / "timestamps.csv")])
    with spec.open() as recording:
        pairing = recording.pairing
    assert pairing.paired_by == "timestamps" and len(pairing) == 111
    # the data's README: sync_index == frame_index for every frame, capture times 3 ms (median) to 43 ms apart
    np.testing.assert_array_equal(pairing.frame_indices, np.repeat(np.arange(111)[:, None], 4, axis=1))
    assert "3 ms apart (median; 43 max)" in pairing.notes[0]
    np.testing.assert_allclose(np.diff(pairing.timestamp_s).mean(), 1 / 6.0, rtol=0.01)
    assert spec.describe()["timestamps"] == [str((CALISCOPE / "timestamps.csv").resolve())]


def test_matching_keeps_instants_across_drops_and_tells_the_unit(tmp_path):
    rng = np.random.default_rng(0)
    instants = {name: np.setdiff1d(np.arange(NUM_INSTANTS), STAMP_DROPS.get(name, ())) for name in NAMES}
    instants["cam04"] = instants["cam04"][3:]  # started three frames late
    for scale in (1.0, 1e6, 1e-3):  # ms, ns, s: the matching is in the times' own unit
        times = [(1e5 + PERIOD_MS * instants[n] + rng.normal(0, 2.0, instants[n].size)) * scale for n in NAMES]
        timed = match_frame_times(times, NAMES)
        assert timed.reference == 0  # cam01: the most frames
        np.testing.assert_array_equal(timed.frameset_index, np.arange(NUM_INSTANTS))  # every frame of cam01
        for v, name in enumerate(NAMES):  # each camera's frame shows the frameset's instant, or is missing
            there = timed.frame_indices[:, v] >= 0
            np.testing.assert_array_equal(instants[name][timed.frame_indices[there, v]], timed.frameset_index[there])
            missing = np.setdiff1d(np.arange(NUM_INSTANTS), instants[name])
            np.testing.assert_array_equal(timed.frameset_index[~there], missing)
        assert timed.unpaired == {"cam02": 2, "cam03": 1, "cam04": 3}  # cam04's late start, the drops
        assert len(match_frame_times(times, NAMES, min_cameras=4).frameset_index) == NUM_INSTANTS - 3 - 3
    # the unit, from the frame period
    folder_times = {n: 1e5 + PERIOD_MS * instants[n] for n in NAMES}
    for unit, scale in (("s", 1e-3), ("ms", 1.0), ("us", 1e3), ("ns", 1e6)):
        folder = tmp_path / unit
        folder.mkdir()
        assert _read_per_camera(folder_times, scale, folder).unit == unit


def test_framesets_are_numbered_as_by_index_when_the_reference_has_an_offset():
    # found on the Caliscope videos labeled with the calibration's offsets (cam_0 -1, cam_1 0): the
    # framesets were numbered by cam_0's frames, one less than pairing by index numbers them
    times = [np.arange(10) / 6.0 for _ in range(2)]
    timed = match_frame_times(times, ["cam_0", "cam_1"], {"cam_0": -1})
    assert timed.reference == 0
    np.testing.assert_array_equal(timed.frame_indices[:3], [[0, 1], [1, 2], [2, 3]])  # cam_0's frame k-1, cam_1's k
    np.testing.assert_array_equal(timed.frameset_index[:3], [1, 2, 3])  # the frame of the camera without offset
    np.testing.assert_allclose(timed.times_s[:3], np.array([1, 2, 3]) / 6.0)


def _read_per_camera(times_ms, scale, folder):
    values = []
    for name, t in times_ms.items():
        path = folder / f"{name}.txt"
        path.write_text("\n".join(repr(float(x) * scale) for x in t) + "\n")
        values.append(f"{name}={path}")
    return read_frame_times(values, list(times_ms))


def test_per_camera_files_campy_npy_and_csv_with_header(tmp_path):
    times_s = np.arange(20) / 30.0 + 5.0
    campy = np.stack([np.arange(1, 21), times_s * 1e9, times_s - 5.0])  # frame number, camera time, time
    np.save(tmp_path / "frametimes.npy", campy)
    (tmp_path / "b.csv").write_text("frame,timestamp\n" + "".join(f"{k},{t - 5.0}\n" for k, t in enumerate(times_s)))
    read = read_frame_times([f"a={tmp_path / 'frametimes.npy'}", f"b={tmp_path / 'b.csv'}"], ["a", "b"])
    assert read.unit == "s"
    np.testing.assert_allclose(read.times_s["a"], times_s - 5.0)
    np.testing.assert_allclose(read.times_s["b"], times_s - 5.0)


@pytest.mark.parametrize("content, values, message", [
    ("cam_id,frame_time\n0,1.0\n0,1.1\n", ["ONE"], "camera cam_1 is none of them"),
    ("frame,value\n0,1\n", ["ONE"], "has columns frame, value"),
    ("1.0\n1.1\n1.05\n", ["cam_0=ONE", "cam_1=ONE"], "do not increase at its frame 2"),
    ("cam_id,frame_time\n0,1.0\n", ["cam_0=ONE", "ONE"], "not both"),
])
def test_bad_timestamps_are_one_sentence(tmp_path, content, values, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    values = [v.replace("ONE", str(path)) for v in values]
    with pytest.raises(ValueError, match=message):
        read_frame_times(values, ["cam_0", "cam_1"])


# -- calibration of a real recording with dropped frames ---------------------------------------------

@pytest.fixture(scope="module")
def dropped(tmp_path_factory):
    """The Caliscope videos with DROPPED frames cut out (re-encoded) and its timestamps.csv without
    their rows; returns the folder."""
    import cv2

    folder = tmp_path_factory.mktemp("dropped")
    for name in CALISCOPE_NAMES:
        capture = cv2.VideoCapture(str(CALISCOPE / f"{name}.mp4"))
        writer = cv2.VideoWriter(str(folder / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"),
                                 capture.get(cv2.CAP_PROP_FPS), (1280, 720))
        k = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if k not in DROPPED.get(name, ()):
                writer.write(image)
            k += 1
        writer.release()
        capture.release()
    by_camera: dict[int, list[float]] = {}
    with open(CALISCOPE / "timestamps.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            by_camera.setdefault(int(row["cam_id"]), []).append(float(row["frame_time"]))
    with open(folder / "timestamps.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["cam_id", "frame_time"])
        for cam_id, times in sorted(by_camera.items()):  # a camera's frame k is its k-th earliest time
            for k, t in enumerate(sorted(times)):
                if k not in DROPPED.get(f"cam_{cam_id}", ()):
                    writer.writerow([cam_id, repr(t)])
    (folder / "board.toml").write_text(
        'type = "charuco"\nsquares = [4, 5]\nsquare_length_m = 0.054\nmarker_length_m = 0.0405\n'
        'dictionary = "DICT_4X4_1000"\ninverted = true\n')
    return folder


def _extrinsics(folder, videos_folder, out_name, extra=()):
    import shutil

    out = folder / out_name
    shutil.copy(CALISCOPE / "camera_array.toml", out)  # Caliscope's lenses; the poses are solved here
    argv = ["-q", "calibrate", "extrinsics", "--board", str(folder / "board.toml"), "--no-report",
            "--capture-jitter", "off", "--holdout-every", "0", "--out", str(out),
            *(f"--camera={n}={videos_folder / n}.mp4" for n in CALISCOPE_NAMES), *extra]
    assert rigkit_cli.main(argv) == 0
    return read_calibration(out).rig


def test_calibration_from_videos_with_dropped_frames_pairs_by_timestamps(dropped):
    whole = _extrinsics(dropped, CALISCOPE, "whole.toml")
    by_index = compare_rigs(_extrinsics(dropped, dropped, "index.toml", ["--timestamps", "none"]), whole)
    timed_rig = _extrinsics(dropped, dropped, "timed.toml")  # the timestamps.csv beside the videos, found
    timed = compare_rigs(timed_rig, whole)
    assert timed.rotation_error_deg.max() < TIMED_MAX_ROTATION_DEG
    assert 1000 * timed.center_error_m.max() < TIMED_MAX_CENTRE_MM
    assert by_index.rotation_error_deg.max() > INDEX_MIN_SHARE_WORSE * timed.rotation_error_deg.max()
    metadata = read_calibration(dropped / "timed.toml").metadata
    assert metadata["extrinsics"]["timestamps"] == [str((dropped / "timestamps.csv").resolve())]


def test_recorders_timestamps_beside_the_videos_are_found(dropped, tmp_path):
    videos = {n: dropped / f"{n}.mp4" for n in CALISCOPE_NAMES}
    assert find_recorded_times(videos) == (str(dropped / "timestamps.csv"),)  # Caliscope's layout
    assert timestamps_to_use(["none"], videos) == ()
    assert timestamps_to_use(["t.csv"], videos) == ("t.csv",)
    assert find_recorded_times({"cam_0": videos["cam_0"], "cam_9": videos["cam_1"]}) == ()  # cam_9: no times
    campy = {}
    for name in ("cam_a", "cam_b"):  # campy's layout: a folder per camera, frametimes.npy beside the video
        (tmp_path / name).mkdir()
        (tmp_path / name / "0.mp4").write_bytes(b"")
        np.save(tmp_path / name / "frametimes.npy", np.stack([np.arange(5), np.arange(5) / 30.0]))
        campy[name] = tmp_path / name / "0.mp4"
    assert find_recorded_times(campy) == tuple(f"{n}={tmp_path / n / 'frametimes.npy'}" for n in campy)
    (tmp_path / "cam_b" / "frametimes.npy").unlink()
    assert find_recorded_times(campy) == ()


def test_cli_refuses_timestamps_of_another_recording(dropped, tmp_path):
    # 40 times for 111-frame videos: the wrong file, said in one sentence with exit status 2
    (tmp_path / "short.csv").write_text("cam_id,frame_time\n" + "".join(
        f"{c},{k / 6.0}\n" for c in range(4) for k in range(40)))
    done = _rig_cli(["-q", "calibrate", "extrinsics", "--board", str(dropped / "board.toml"), "--out",
                     str(tmp_path / "c.toml"), *(f"--camera={n}={CALISCOPE / n}.mp4" for n in CALISCOPE_NAMES),
                     "--timestamps", str(tmp_path / "short.csv")])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "gives 40 times for camera cam_0" in done.stderr


def test_capture_check_finds_the_dropped_frames(dropped):
    whole = _rig_cli(["capture", "check", "--videos", *(f"{n}={CALISCOPE / n}.mp4" for n in CALISCOPE_NAMES)])
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert "111 framesets paired by the frame times in" in whole.stdout  # timestamps.csv beside them, found
    assert "median 3.0 ms, p95 20.7 ms, max 42.7 ms" in whole.stdout and "problems: none" in whole.stdout
    cut = _rig_cli(["capture", "check", "--videos", *(f"{n}={dropped / n}.mp4" for n in CALISCOPE_NAMES)])
    assert cut.returncode == 1
    assert "111 framesets" in cut.stdout  # cam_1's and cam_2's views missing from 3 of them
    assert "cam_1: 2 frame(s) dropped (longest interval 499 ms)" in cut.stdout
    assert "cam_2: 1 frame(s) dropped (longest interval 334 ms)" in cut.stdout
    blind = _rig_cli(["capture", "check", "--timestamps", "none",
                      "--videos", *(f"{n}={dropped / n}.mp4" for n in CALISCOPE_NAMES)])
    assert blind.returncode == 1 and "dropped frames cannot be seen" in blind.stdout
    assert "different numbers of frames (cam_0 111, cam_1 109, cam_2 110, cam_3 111)" in blind.stdout
    neither = _rig_cli(["capture", "check"])
    assert neither.returncode == 2 and "needs a session folder or --videos" in neither.stderr


# -- labeling stamped frames with drops ----------------------------------------------------------------

def _joints_at(rest_in_world: np.ndarray, instant: float) -> np.ndarray:
    return joints_on_circle(rest_in_world, instant, period=PERIOD_INSTANTS)


@pytest.fixture(scope="module")
def stamped(tmp_path_factory):
    """Image folders of 4 cameras at 29.97 fps; cam02 and cam03 dropped frames (STAMP_DROPS); each
    camera's frame times (ms, one per line, 2 ms of arrival jitter) beside them."""
    import cv2

    root = tmp_path_factory.mktemp("stamped")
    rig = ring_rig(4, size=(640, 360), rng=np.random.default_rng(3))
    motion = person_motion(1, skeleton="coco17", rng=np.random.default_rng(4))
    rest = motion.joints_in_world[0] - np.append(motion.joints_in_world[0, :, :2].mean(axis=0), 0.0)
    save_rig(rig, root / "calib.toml")
    rng = np.random.default_rng(5)
    for v, name in enumerate(NAMES):
        folder = root / name
        folder.mkdir()
        kept = np.setdiff1d(np.arange(NUM_INSTANTS), STAMP_DROPS.get(name, ()))
        for k, instant in enumerate(kept):
            image = np.zeros((360, 640, 3), np.uint8)
            image[0, 0] = (v, instant, 0)
            cv2.imwrite(str(folder / f"{k:04d}.png"), image)
        times_ms = 7_000.0 + PERIOD_MS * kept + rng.normal(0, 2.0, kept.size)
        (root / f"{name}.txt").write_text("".join(f"{t:.3f}\n" for t in times_ms))
    return root, rig, rest, motion.skeleton.joint_names


def _label(stamped, monkeypatch, out, timestamps: bool):
    root, rig, rest, joint_names = stamped
    import labeling.detector

    monkeypatch.setattr(labeling.detector, "open_detector",
                        lambda *a, **k: StampReader(rig, rest, joint_names, noise_px=NOISE_PX))
    argv = ["-q", "label", "--calibration", str(root / "calib.toml"),
            "--videos", *(f"{n}={root / n}" for n in NAMES), "--out", str(out)]
    if timestamps:
        argv += ["--timestamps", *(f"{n}={root / n}.txt" for n in NAMES)]
    assert rigkit_cli.main(argv) == 0
    index = LabelIndex.read(out)
    data = read_shard(out / index.shards[0].file)
    truth = np.array([_joints_at(rest, k) for k in data["frame_index"]])
    position_mm = 1000 * np.linalg.norm(data["keypoints_3d"] - truth, axis=-1)
    return index, data, position_mm


def test_labels_from_videos_with_dropped_frames_pair_by_timestamps(stamped, monkeypatch, tmp_path):
    index, data, position_mm = _label(stamped, monkeypatch, tmp_path / "timed", timestamps=True)
    # framesets on cam01's frames; where cam02 (10, 11) and cam03 (25) dropped theirs, those views are missing
    np.testing.assert_array_equal(data["frame_index"], np.arange(NUM_INSTANTS))
    seen = np.isfinite(data["keypoints_2d"][..., 0]).any(axis=-1)  # (F, V)
    assert not seen[[10, 11], 1].any() and not seen[25, 2] and seen[[10, 11, 25], 0].all()
    assert data["valid"].mean() > 0.95
    assert np.percentile(position_mm[data["valid"]], 95) < POSITION_TOL_MM
    provenance = index.job["provenance"]
    assert provenance["timestamps"] == [f"{n}={stamped[0] / n}.txt" for n in NAMES]
    assert any(n.startswith("paired by timestamps (ms): 40 framesets") for n in provenance["notes"])
    # the report reopens the videos paired the same way: its overlays are drawn on real frames
    assert rigkit_cli.main(["-q", "label", "report", str(tmp_path / "timed")]) == 0
    assert list((tmp_path / "timed" / "report").glob("*.png"))

    # the review app shows each camera's frame of the frameset, not the frame numbered frame_index
    from labeling.review.server import ReviewApp

    app = ReviewApp(tmp_path / "timed")
    try:
        kept = {n: np.setdiff1d(np.arange(NUM_INSTANTS), STAMP_DROPS.get(n, ())) for n in NAMES}
        for sample in (5, 20, 30):
            instant = int(data["frame_index"][sample])
            for v, name in enumerate(NAMES):
                assert app.frames.frame_map[v][instant] == int(np.searchsorted(kept[name], instant))
                assert app.frame(sample, v)
    finally:
        app.close()

    _, by_index, index_mm = _label(stamped, monkeypatch, tmp_path / "index", timestamps=False)
    after = by_index["frame_index"] >= 10  # cam02's first dropped frame: from there, index pairs other instants
    assert np.median(index_mm[after][by_index["valid"][after]]) > INDEX_MIN_POSITION_MM


def test_label_refuses_timestamps_without_videos(stamped, tmp_path):
    root = stamped[0]
    done = _rig_cli(["label", "--calibration", str(root / "calib.toml"), "--detections", f"npz:{root / 'x.npz'}",
                     "--out", str(tmp_path / "o"), "--timestamps", str(root / "cam01.txt")])
    assert done.returncode == 2
    assert "--detections were paired when they were detected" in done.stderr and "Traceback" not in done.stderr
