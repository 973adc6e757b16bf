"""``rigkit label --videos ... --frame-offset NAME=0.4``: cameras whose frames were exposed between
the other cameras' frames (webcams not triggered together; ``rigkit calibrate extrinsics``
reports their steady offsets as sub-frame ``--frame-offset`` values).

The take: a COCO-17 person carried along a circle (up to 0.13 m per frame) through a 4-camera
ring; camera v's frame f shows the instant f - o_v (``--frame-offset`` convention: frame k + o_v
shows frameset k). The images are blank except for a stamp of (camera, frame), and the detector
is a stand-in that reads the stamp and returns the true projection at that frame's instant (plus
0.3 px noise): the pairing, the interpolation and the labeling are the real ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import rigkit_cli
from calibration import save_rig
from geometry.synthetic import person_motion, ring_rig
from labeling import LabelIndex, read_shard
from stamp_detector import StampReader, joints_on_circle

NAMES = ("cam01", "cam02", "cam03", "cam04")
OFFSETS = {"cam02": 0.4, "cam03": -0.3, "cam04": 1.6}  # frames; cam03: frame k-1 interpolated 0.7 to k
NUM_FRAMES = 40
PERIOD_FRAMES = 40.0  # one circle of 0.8 m radius: 0.126 m per frame at most
NOISE_PX = 0.3
# Linear interpolation over one frame of this circle is off by at most a(1-a)/2 * 0.8 m *
# (2 pi / 40)^2 = 2.5 mm (a = 0.5), 0.3 px at 4 m here; rounding the offsets puts three views 0.3-0.4
# frames (up to 6 px) off.
SUBFRAME_REPROJECTION_TOL_PX = 1.0  # median; measured 0.23
SUBFRAME_POSITION_TOL_MM = 10.0  # 95th percentile; measured 4.9
ROUNDED_MIN_POSITION_MM = 12.0  # median with the offsets rounded to whole frames; measured 22
ROUNDED_MIN_REPROJECTION_PX = 1.0  # median; measured 1.7


def _joints_at(rest_in_world: np.ndarray, time_frames: float) -> np.ndarray:
    """(J, 3) m: the rest pose carried along the circle at ``time_frames``."""
    return joints_on_circle(rest_in_world, time_frames, period=PERIOD_FRAMES)


def _stamp_reader(rig, rest, joint_names):
    """The stand-in detector: camera v's frame f shows the instant f - o_v."""
    offsets = [0.0] + [OFFSETS.get(n, 0.0) for n in NAMES[1:]]
    return StampReader(rig, rest, joint_names, noise_px=NOISE_PX, instant_of=lambda v, frame: frame - offsets[v])


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    import cv2

    root = tmp_path_factory.mktemp("subframe")
    rig = ring_rig(4, size=(640, 360), rng=np.random.default_rng(3))
    assert rig.names == NAMES
    motion = person_motion(1, skeleton="coco17", rng=np.random.default_rng(4))
    rest = motion.joints_in_world[0] - np.append(motion.joints_in_world[0, :, :2].mean(axis=0), 0.0)
    save_rig(rig, root / "calib.toml")
    for v, name in enumerate(NAMES):
        folder = root / name
        folder.mkdir()
        for frame in range(NUM_FRAMES):
            image = np.zeros((360, 640, 3), np.uint8)
            image[0, 0] = (v, frame, 0)
            cv2.imwrite(str(folder / f"{frame:04d}.png"), image)
    return root, rig, rest, motion.skeleton.joint_names


def _label(take, monkeypatch, out, offsets):
    root, rig, rest, joint_names = take
    import labeling.detector

    monkeypatch.setattr(labeling.detector, "open_detector",
                        lambda *a, **k: _stamp_reader(rig, rest, joint_names))
    argv = ["-q", "label", "--calibration", str(root / "calib.toml"),
            "--videos", *(f"{n}={root / n}" for n in NAMES), "--out", str(out)]
    for name, offset in offsets.items():
        argv += ["--frame-offset", f"{name}={offset}"]
    assert rigkit_cli.main(argv) == 0
    index = LabelIndex.read(out)
    data = read_shard(out / index.shards[0].file)
    truth = np.array([_joints_at(rest, k) for k in data["frame_index"]])
    valid = data["valid"]
    position_mm = 1000 * np.linalg.norm(data["keypoints_3d"] - truth, axis=-1)[valid]
    reprojection = data["reprojection_error_px"][data["inliers"] & valid[:, None, :]]
    return index, data, position_mm, reprojection


def test_subframe_offsets_label_the_frameset_instant(take, monkeypatch, tmp_path):
    index, data, position_mm, reprojection = _label(take, monkeypatch, tmp_path / "sub", OFFSETS)
    # cam03 = -0.3 pairs its frame k-1, so frameset 0 has no frame of it; cam04 = +1.6 needs k+2
    np.testing.assert_array_equal(data["frame_index"], np.arange(1, NUM_FRAMES - 1))
    assert data["valid"].mean() > 0.9
    assert np.median(reprojection) < SUBFRAME_REPROJECTION_TOL_PX
    assert np.percentile(position_mm, 95) < SUBFRAME_POSITION_TOL_MM
    provenance = index.job["provenance"]
    assert provenance["frame_offsets"] == OFFSETS
    note = next(n for n in provenance["notes"] if n.startswith("sub-frame offsets"))
    assert "cam03 0.70 of the way from its frame k-1 to k+0" in note
    # the last frameset has no next frame of cam02 / cam04: those views are left out there
    last = data["frame_index"] == NUM_FRAMES - 2
    assert not np.isfinite(data["keypoints_2d"][last][:, [1, 3]]).any()


def test_whole_frame_pairing_of_the_same_take_is_far_off(take, monkeypatch, tmp_path):
    """The baseline the offsets are for: rounded offsets leave every shifted view 0.3-0.4 frames
    off (measured: median 22 mm and 1.7 px, against 2.7 mm and 0.23 px with the sub-frame offsets)."""
    rounded = {name: round(offset) for name, offset in OFFSETS.items()}
    _, _, position_mm, reprojection = _label(take, monkeypatch, tmp_path / "whole", rounded)
    assert np.median(position_mm) > ROUNDED_MIN_POSITION_MM
    assert np.median(reprojection) > ROUNDED_MIN_REPROJECTION_PX


def test_crops_refuse_a_subframe_offset_before_detecting(take, tmp_path, capsys):
    root = take[0]
    argv = ["label", "--calibration", str(root / "calib.toml"), "--session", str(root),
            "--crops-px", "64", "--frame-offset", "cam02=0.4", "--out", str(tmp_path / "o")]
    assert rigkit_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--crops-px needs whole frame offsets" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_detections_npz_records_the_offsets(take, monkeypatch, tmp_path):
    root, rig, rest, joint_names = take
    import labeling.detector

    monkeypatch.setattr(labeling.detector, "open_detector",
                        lambda *a, **k: _stamp_reader(rig, rest, joint_names))
    npz = tmp_path / "d.npz"
    assert rigkit_cli.main(["-q", "label", "detect", "--videos", *(f"{n}={root / n}" for n in NAMES),
                            "--frame-offset", "cam02=0.4", "--out", str(npz)]) == 0
    with np.load(npz) as data:
        recording = json.loads(str(data["recording"]))
        points = data["points_2d"]
    assert recording["frame_offsets"] == {"cam02": 0.4}
    frame = 10
    expected = rig[1].project(_joints_at(rest, frame))
    assert np.median(np.linalg.norm(points[1, frame] - expected, axis=-1)) < SUBFRAME_REPROJECTION_TOL_PX


def test_detections_already_detected_are_moved_the_same_way(take, monkeypatch, tmp_path):
    """``rigkit label --detections npz:FILE --frame-offset ...``: detections made without offsets
    (a peer's files, an earlier ``label detect``) are moved in time after the fact."""
    root, rig, rest, joint_names = take
    import labeling.detector

    monkeypatch.setattr(labeling.detector, "open_detector",
                        lambda *a, **k: _stamp_reader(rig, rest, joint_names))
    npz = tmp_path / "plain.npz"
    assert rigkit_cli.main(["-q", "label", "detect", "--videos", *(f"{n}={root / n}" for n in NAMES),
                            "--out", str(npz)]) == 0
    argv = ["-q", "label", "--calibration", str(root / "calib.toml"), "--detections", f"npz:{npz}",
            "--out", str(tmp_path / "out")]
    for name, offset in OFFSETS.items():
        argv += ["--frame-offset", f"{name}={offset}"]
    assert rigkit_cli.main(argv) == 0
    index = LabelIndex.read(tmp_path / "out")
    data = read_shard(tmp_path / "out" / index.shards[0].file)
    assert index.job["provenance"]["detections_frame_offsets"] == OFFSETS
    truth = np.array([_joints_at(rest, k) for k in data["frame_index"]])
    valid = data["valid"]
    position_mm = 1000 * np.linalg.norm(data["keypoints_3d"] - truth, axis=-1)[valid]
    assert valid[1:-2].mean() > 0.9  # cam03 has no frame before the first, cam04 none past the last two
    assert np.percentile(position_mm, 95) < SUBFRAME_POSITION_TOL_MM


def test_frame_offset_naming_an_unknown_camera_is_one_sentence(take, tmp_path, capsys):
    root = take[0]
    npz = tmp_path / "x.npz"
    from tests.label_fixtures import coco_take, save_npz_detections

    _, _, detections, _ = coco_take(10, seed=1)
    save_npz_detections(npz, detections)
    assert rigkit_cli.main(["label", "--calibration", str(root / "calib.toml"), "--detections", f"npz:{npz}",
                            "--frame-offset", "cam09=0.5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--frame-offset names camera 'cam09'" in err and "Traceback" not in err


def test_a_calibration_that_found_unsynchronized_cameras_says_so_when_labeling(take, tmp_path, capsys):
    """``rigkit calibrate extrinsics`` records the steady offsets it modelled; ``rigkit label`` without
    --frame-offset names them as flags (it does not apply them: free-running cameras can start
    differently in every recording)."""
    from calibration import read_calibration
    from tests.label_fixtures import save_npz_detections, coco_take

    rig, _, detections, _ = coco_take(20, seed=2)
    found = {"cam01": 0.0, "cam02": 0.586, "cam03": -0.261, "cam04": 0.0}
    save_rig(rig, tmp_path / "calib.toml", metadata={"extrinsics": {"capture_jitter": "modelled",
                                                                   "frame_offsets_estimated": found}})
    assert read_calibration(tmp_path / "calib.toml").metadata["extrinsics"]["frame_offsets_estimated"] == found
    save_npz_detections(tmp_path / "d.npz", detections)
    base = ["label", "--calibration", str(tmp_path / "calib.toml"), "--detections", f"npz:{tmp_path / 'd.npz'}"]
    assert rigkit_cli.main(base + ["--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "not triggered together" in err and "--frame-offset cam02=+0.59 --frame-offset cam03=-0.26" in err
    assert rigkit_cli.main(base + ["--frame-offset", "cam02=0.586", "--out", str(tmp_path / "b")]) == 0
    assert "not triggered together" not in capsys.readouterr().err


def test_report_draws_the_labels_on_the_nearest_frame(take):
    """``rigkit label report`` overlays: each camera's image closest to the labels' instant (a
    sub-frame offset rounded), found through the labels' provenance."""
    from labeling.report import _frames_of, _open_recording

    root = take[0]
    provenance = {"videos": {n: str(root / n) for n in NAMES}, "frame_offsets": OFFSETS}
    opened = _open_recording(None, provenance)
    try:
        images = _frames_of(opened, {})(10, NAMES)
    finally:
        opened.close()
    shown = [int(image[0, 0, 1]) for image in images]
    assert shown == [10, 10, 10, 12]  # 10 + 0, 10 + 0.4, 10 - 0.3, 10 + 1.6, each to the nearest frame


SYNC_TOL_FRAMES = 0.1  # the bound for recovered offsets


def test_sync_estimates_the_offsets_from_the_motion_and_applies_them(take, monkeypatch, tmp_path, capsys):
    """``rigkit label --videos ... --sync``: nothing known of the timing; each camera's offset is
    estimated from the subject's motion against the calibration, applied and printed as flags."""
    out = tmp_path / "sync"
    root, rig, rest, joint_names = take
    import labeling.detector

    monkeypatch.setattr(labeling.detector, "open_detector",
                        lambda *a, **k: _stamp_reader(rig, rest, joint_names))
    assert rigkit_cli.main(["label", "--calibration", str(root / "calib.toml"),
                            "--videos", *(f"{n}={root / n}" for n in NAMES), "--sync", "--out", str(out)]) == 0
    assert "time offsets from the keypoints' motion" in capsys.readouterr().err
    index = LabelIndex.read(out)
    found = index.job["provenance"]["frame_offsets_estimated"]
    for name in NAMES:
        assert abs(found[name] - OFFSETS.get(name, 0.0)) < SYNC_TOL_FRAMES, found
    data = read_shard(out / index.shards[0].file)
    truth = np.array([_joints_at(rest, k) for k in data["frame_index"]])
    valid = data["valid"]
    position_mm = 1000 * np.linalg.norm(data["keypoints_3d"] - truth, axis=-1)[valid]
    assert np.percentile(position_mm, 95) < SUBFRAME_POSITION_TOL_MM


def test_sync_with_frame_offsets_is_one_sentence(take, tmp_path, capsys):
    root = take[0]
    assert rigkit_cli.main(["label", "--calibration", str(root / "calib.toml"), "--detections", "npz:x.npz",
                            "--sync", "--frame-offset", "cam02=1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--sync" in err and "give one or the other" in err and "Traceback" not in err


def test_labeling_the_recording_a_calibration_was_solved_from_pairs_it_the_same_way(take, monkeypatch, tmp_path, capsys):
    """``rigkit calibrate extrinsics`` records which videos it was solved from and the offsets it paired
    them with; ``rigkit label`` on those same videos applies them (said once), on others only names them."""
    import shutil

    from calibration import read_calibration
    from capture.frames import CameraSource, open_source, source_identity

    root, rig, rest, joint_names = take
    import labeling.detector

    monkeypatch.setattr(labeling.detector, "open_detector",
                        lambda *a, **k: _stamp_reader(rig, rest, joint_names))
    found = {"cam01": 0.0, **OFFSETS}
    identities = {n: source_identity(open_source(CameraSource(n, root / n))) for n in NAMES}
    save_rig(rig, tmp_path / "calib.toml", metadata={"extrinsics": {
        "capture_jitter": "modelled", "frame_offsets_estimated": found, "recording": identities}})
    assert read_calibration(tmp_path / "calib.toml").metadata["extrinsics"]["recording"] == identities
    base = ["label", "--calibration", str(tmp_path / "calib.toml")]
    assert rigkit_cli.main(base + ["--videos", *(f"{n}={root / n}" for n in NAMES), "--out", str(tmp_path / "same")]) == 0
    assert "solved from these same videos" in capsys.readouterr().err
    index = LabelIndex.read(tmp_path / "same")
    assert index.job["provenance"]["frame_offsets_from_calibration"] == found
    data = read_shard(tmp_path / "same" / index.shards[0].file)
    truth = np.array([_joints_at(rest, k) for k in data["frame_index"]])
    position_mm = 1000 * np.linalg.norm(data["keypoints_3d"] - truth, axis=-1)[data["valid"]]
    assert np.percentile(position_mm, 95) < SUBFRAME_POSITION_TOL_MM
    other = tmp_path / "copy"
    for n in NAMES:  # the same images elsewhere: another recording as far as the calibration knows
        shutil.copytree(root / n, other / n)
    assert rigkit_cli.main(base + ["--videos", *(f"{n}={other / n}" for n in NAMES), "--out", str(tmp_path / "other")]) == 0
    err = capsys.readouterr().err
    assert "not triggered together" in err and "solved from these same videos" not in err
    assert "frame_offsets_from_calibration" not in LabelIndex.read(tmp_path / "other").job["provenance"]


def test_report_pairs_frames_with_the_offsets_given_to_detections(take):
    """Labels made from ``--detections`` moved by ``--frame-offset``: the report draws them on the
    frames those offsets point to (rounded), as for offsets given to the recording."""
    from labeling.report import _frames_of, _open_recording

    root = take[0]
    provenance = {"videos": {n: str(root / n) for n in NAMES}, "detections_frame_offsets": {"cam04": 1.6},
                  "frame_offsets": {"cam02": 1}}
    opened = _open_recording(None, provenance)
    try:
        shown = [int(image[0, 0, 1]) for image in _frames_of(opened, {})(10, NAMES)]
    finally:
        opened.close()
    assert shown == [10, 11, 10, 12]
