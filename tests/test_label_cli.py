"""``rigkit label`` and ``rigkit label report`` end to end, and bad input -> one sentence, exit 2."""

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

import rigkit_cli
from calibration import save_rig
from labeling import LabelIndex, read_shard
from tests.label_fixtures import coco_take, save_npz_detections

ACCEPTED_MPJPE_TOL_MM = 30.0  # 2 px noise + 10% gross + 5% swaps, 4 views, default gates


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    folder = tmp_path_factory.mktemp("take")
    rig, truth, detections, _ = coco_take(150, seed=21)
    save_rig(rig, folder / "calib.toml")
    save_npz_detections(folder / "det.npz", detections)
    return folder, rig, truth, detections


def _label(folder, out, *extra):
    return rigkit_cli.main(["label", "--calibration", str(folder / "calib.toml"), "--detections",
                            f"npz:{folder / 'det.npz'}", "--out", str(out), "--shard-size", "64",
                            *extra])


def test_label_writes_shards_and_prints_the_summary(take, tmp_path, capsys):
    folder, rig, truth, detections = take
    assert _label(folder, tmp_path / "out", "--smoothing", "savgol") == 0
    printed = capsys.readouterr().out
    assert "150 framesets in 3 shards" in printed and "left_wrist" in printed
    assert "median reprojection error" in printed
    index = LabelIndex.read(tmp_path / "out")
    assert index.complete and index.num_samples == 150
    assert index.job["options"]["smoothing"] == "savgol"
    assert index.job["provenance"]["skeleton"] == "COCO_17"  # matched by joint names
    assert len(index.job["provenance"]["calibration_sha256"]) == 64
    with h5py.File(tmp_path / "out" / index.shards[0].file, "r") as f:
        points, valid = f["keypoints_3d"][()], f["valid"][()]
        assert '"max_reprojection_error_px"' in f.attrs["options_json"]
    error_mm = 1000 * np.linalg.norm(points - truth[:64], axis=-1)[valid]
    assert valid.mean() > 0.8 and np.mean(error_mm) < ACCEPTED_MPJPE_TOL_MM
    # Resuming a finished run writes nothing and says so.
    assert _label(folder, tmp_path / "out", "--smoothing", "savgol", "--resume") == 0
    assert "0 written, 3 already complete" in capsys.readouterr().out


def test_report_writes_table_and_overlays(take, tmp_path, capsys):
    import cv2

    folder = take[0]
    assert _label(folder, tmp_path / "out") == 0
    capsys.readouterr()
    assert rigkit_cli.main(["label", "report", str(tmp_path / "out"), "--num-overlays", "2"]) == 0
    printed = capsys.readouterr().out
    assert "nose" in printed and "few_views" in printed
    pngs = sorted((tmp_path / "out" / "report").glob("overlay-*.png"))
    assert len(pngs) == 2 and (tmp_path / "out" / "report" / "acceptance.txt").is_file()
    image = cv2.imread(str(pngs[0]))
    assert image.shape[1] >= 4 * 480 and image.std() > 1  # four panels with something drawn


def test_camera_names_that_differ_pair_in_sorted_order_with_a_warning(take, tmp_path, caplog):
    folder, rig, _, detections = take
    renamed = detections.select_cameras(detections.camera_names)
    object.__setattr__(renamed, "camera_names", tuple(f"view_{n}" for n in rig.names))
    save_npz_detections(tmp_path / "renamed.npz", renamed)
    with caplog.at_level(logging.WARNING):
        code = rigkit_cli.main(["-q", "label", "--calibration", str(folder / "calib.toml"),
                                "--detections", f"npz:{tmp_path / 'renamed.npz'}",
                                "--out", str(tmp_path / "out")])
    assert code == 0
    assert "sorted order" in caplog.text and "view_cam01 -> cam01" in caplog.text


@pytest.mark.parametrize("argv, message", [
    (["--detections", "npz:{folder}/nothing.npz"], "does not exist"),
    (["--detections", "{folder}/det.npz"], "FORMAT:PATH"),
    (["--detections", "tiff:{folder}/det.npz"], "unknown detections format"),
    (["--detections", "npz:{folder}/calib.toml"], "not a readable .npz"),
    ([], "exactly one of --session, --videos or --detections"),
    (["--detections", "npz:{folder}/det.npz", "--min-inlier-views", "1"], "min_inlier_views"),
])
def test_bad_input_is_one_sentence_and_exit_2(take, tmp_path, capsys, argv, message):
    folder = take[0]
    argv = [a.format(folder=folder) for a in argv]
    code = rigkit_cli.main(["label", "--calibration", str(folder / "calib.toml"),
                            "--out", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_existing_output_without_resume_is_refused(take, tmp_path, capsys):
    folder = take[0]
    assert _label(folder, tmp_path / "out") == 0
    assert _label(folder, tmp_path / "out") == 2
    assert "--resume" in capsys.readouterr().err


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A 1.5 s synthetic session (person from the start), its true calibration and a tiny
    untrained COCO-17 detector checkpoint: plumbing, not accuracy."""
    import torch

    from capture import open_session
    from geometry.skeletons import get_skeleton
    from labeling.detector import HeatmapNet, save_checkpoint
    from labeling.detector.interface import DetectorSettings

    folder = tmp_path_factory.mktemp("session")
    rig_text = (Path(rigkit_cli.__file__).parent / "rigs" / "synthetic-4cam.toml").read_text()
    rig_text = rig_text.replace("intrinsics_s = 1.0", "intrinsics_s = 0.0").replace("board_s = 12.0", "board_s = 0.0")
    assert "board_s = 0.0" in rig_text and "intrinsics_s = 0.0" in rig_text  # the person from the first frame
    (folder / "rig.toml").write_text(rig_text)
    assert rigkit_cli.main(["-q", "capture", "record", "--rig", str(folder / "rig.toml"),
                            "--out", str(folder / "sess"), "--duration", "2.0"]) == 0  # 30 framesets at 15 fps
    with open_session(folder / "sess") as session:
        save_rig(session.truth.rig, folder / "calib.toml")
    torch.manual_seed(0)
    names = get_skeleton("COCO_17").joint_names
    save_checkpoint(folder / "tiny.pt", HeatmapNet(num_joints=17, width=8).eval(),
                    architecture="rigkit_heatmap_v1",
                    architecture_kwargs={"num_joints": 17, "width": 8},
                    settings=DetectorSettings(joint_names=names, input_size=(48, 64),
                                              name="tiny-untrained").to_dict())
    return folder


def test_session_with_detector_writes_crops_and_resumes_without_detecting_again(recorded, tmp_path):
    import cv2

    argv = ["-q", "label", "--calibration", str(recorded / "calib.toml"),
            "--session", str(recorded / "sess"), "--detector", str(recorded / "tiny.pt"),
            "--out", str(tmp_path / "out"), "--crops-px", "64", "--shard-size", "16",
            # An untrained network: open the gates so that labels (and so crops) exist.
            "--min-score", "0", "--gating", "fixed", "--threshold-px", "2000",
            "--max-reprojection-error-px", "2000", "--presence-min-score", "0", "--bone-check", "off"]
    assert rigkit_cli.main(argv) == 0
    index = LabelIndex.read(tmp_path / "out")
    assert index.complete and index.num_samples >= 20
    provenance = index.job["provenance"]
    assert len(provenance["weights_sha256"]) == 64 and "tiny-untrained" in provenance["detector"]
    with h5py.File(tmp_path / "out" / index.shards[0].file, "r") as f:
        assert f.attrs["crop_size_px"] == 64
        crops, boxes, valid = f["crops_jpeg"][()], f["crop_box_px"][()], f["valid"][()]
    present = np.array([[len(c) > 0 for c in row] for row in crops])
    assert present[valid.any(axis=1)].any()
    assert np.isfinite(boxes[present]).all() and np.isnan(boxes[~present]).all()
    n, v = np.argwhere(present)[0]
    assert cv2.imdecode(crops[n, v], cv2.IMREAD_COLOR).shape == (64, 64, 3)
    cached = sorted((tmp_path / "out" / "detections").glob("chunk-*.npz"))
    stamps = [p.stat().st_mtime_ns for p in cached]
    assert rigkit_cli.main(argv + ["--resume"]) == 0
    assert [p.stat().st_mtime_ns for p in cached] == stamps  # detections reused, not recomputed
    assert LabelIndex.read(tmp_path / "out").shards == index.shards
    # The report draws on the recorded frames (found through the provenance).
    assert rigkit_cli.main(["-q", "label", "report", str(tmp_path / "out"),
                            "--num-overlays", "1"]) == 0
    png = cv2.imread(str(next((tmp_path / "out" / "report").glob("overlay-*.png"))))
    assert (png != 32).any(axis=2).mean() > 0.1  # frames under the labels, not a blank canvas


def test_crops_of_a_session_with_a_frame_offset_come_from_the_offset_frames(recorded):
    """``--frame-offset cam02=2`` pairs cam02's frame k + 2 with frameset k: its crop is of that
    frame too (the crops read the frames the detector saw)."""
    from capture import open_session
    from labeling.session_labeling import crop_views, session_crops

    with open_session(recorded / "sess") as session:
        names = tuple(session.names)
        frames = {f.index: f.images for f in session.framesets(0, 12)}
    V = len(names)
    keypoints = np.tile(np.array([[40.0, 30.0], [200.0, 150.0]]), (3, V, 1, 1))  # (N, V, J, 2)
    wanted = np.array([3, 5, 9])
    crops, _ = session_crops(recorded / "sess", names, wanted, keypoints, crop_px=32,
                             offsets={names[1]: 2})
    for k, frame in enumerate(wanted):
        moved = crop_views([frames[frame][0], frames[frame + 2][1]], keypoints[k, :2], crop_px=32)[0]
        assert crops[k][0] == moved[0] and crops[k][1] == moved[1]
        assert crops[k][1] != crop_views([frames[frame][1]], keypoints[k, 1:2], crop_px=32)[0][0]


def test_custom_skeleton_toml_drives_the_bone_check(tmp_path, capsys):
    from tests.label_fixtures import BONES, JOINT_NAMES, synthetic_take

    rig, _, detections = synthetic_take(60, seed=22)
    save_rig(rig, tmp_path / "calib.toml")
    save_npz_detections(tmp_path / "det.npz", detections)
    bones = ", ".join(f'["{JOINT_NAMES[a]}", "{JOINT_NAMES[b]}"]' for a, b in BONES)
    joints = ", ".join(f'"{n}"' for n in JOINT_NAMES)
    (tmp_path / "stick.toml").write_text(f'name = "stick"\njoints = [{joints}]\nbones = [{bones}]\n')
    assert rigkit_cli.main(["-q", "label", "--calibration", str(tmp_path / "calib.toml"),
                            "--detections", f"npz:{tmp_path / 'det.npz'}", "--out",
                            str(tmp_path / "out"), "--skeleton", str(tmp_path / "stick.toml")]) == 0
    job = LabelIndex.read(tmp_path / "out").job
    assert job["provenance"]["skeleton"] == "stick" and job["bones"] == BONES.tolist()
    assert len(job["reference_bone_lengths_m"]) == len(BONES)


def test_openpose_folders_with_a_second_person_are_labeled(tmp_path, capsys):
    """Real-format input: Pose2Sim-layout OpenPose JSON (one folder per camera, several people
    per file); the importer's association keeps the person the views agree on."""
    import json

    rig, truth, detections, _ = coco_take(30, seed=23)
    save_rig(rig, tmp_path / "calib.toml")
    rng = np.random.default_rng(0)
    for v, camera in enumerate(rig.names):
        folder = tmp_path / "pose" / f"{camera}_json"
        folder.mkdir(parents=True)
        for f in range(30):
            subject = np.concatenate([detections.points_2d[v, f], detections.scores[v, f][:, None]], 1)
            other = np.concatenate([rng.uniform(0, 1000, (17, 2)), rng.uniform(0.5, 1, (17, 1))], 1)
            people = [{"pose_keypoints_2d": np.nan_to_num(p, nan=0.0).reshape(-1).tolist()}
                      for p in ((other, subject) if f % 2 else (subject, other))]
            (folder / f"{camera}_{f:012d}_keypoints.json").write_text(json.dumps({"people": people}))
    assert rigkit_cli.main(["-q", "label", "--calibration", str(tmp_path / "calib.toml"),
                            "--detections", f"openpose:{tmp_path / 'pose'}",
                            "--out", str(tmp_path / "out")]) == 0
    index = LabelIndex.read(tmp_path / "out")
    with h5py.File(tmp_path / "out" / index.shards[0].file, "r") as f:
        points, valid = f["keypoints_3d"][()], f["valid"][()]
    error_mm = 1000 * np.linalg.norm(points - truth, axis=-1)[valid]
    assert valid.mean() > 0.8 and np.mean(error_mm) < ACCEPTED_MPJPE_TOL_MM


def test_label_detect_on_a_session_writes_the_npz_label_reads(recorded, tmp_path):
    """``label detect --session`` then ``label --detections npz:`` labels like ``label --session``."""
    gates = ["--min-score", "0", "--threshold-px", "2000", "--max-reprojection-error-px", "2000",
             "--bone-check", "off"]
    npz = tmp_path / "take.npz"
    assert rigkit_cli.main(["-q", "label", "detect", "--session", str(recorded / "sess"),
                            "--detector", str(recorded / "tiny.pt"), "--out", str(npz)]) == 0
    assert rigkit_cli.main(["-q", "label", "detect", "--session", str(recorded / "sess"),
                            "--detector", str(recorded / "tiny.pt"), "--out", str(npz)]) == 2
    calib = ["--calibration", str(recorded / "calib.toml")]
    assert rigkit_cli.main(["-q", "label", *calib, "--detections", f"npz:{npz}",
                            "--out", str(tmp_path / "a"), *gates]) == 0
    assert rigkit_cli.main(["-q", "label", *calib, "--session", str(recorded / "sess"), "--detector",
                            str(recorded / "tiny.pt"), "--out", str(tmp_path / "b"), *gates]) == 0
    a = read_shard(tmp_path / "a" / LabelIndex.read(tmp_path / "a").shards[0].file)
    b = read_shard(tmp_path / "b" / LabelIndex.read(tmp_path / "b").shards[0].file)
    np.testing.assert_array_equal(a["frame_index"], b["frame_index"])
    np.testing.assert_array_equal(a["keypoints_2d"], b["keypoints_2d"])
    np.testing.assert_array_equal(a["valid"], b["valid"])
    assert LabelIndex.read(tmp_path / "a").job["provenance"]["session"] == str((recorded / "sess").resolve())
