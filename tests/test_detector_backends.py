"""Detector backends behind one ``--detector`` grammar: mediapipe on the real demo, an ONNX export
of the built-in detector, TorchScript; their bad input."""

import sys

import numpy as np
import pytest

from labeling.detector import DetectorSpec, open_detector, parse_detector_spec
from tests.shared_data import POSE2SIM

VIDEOS = POSE2SIM / "videos"
CALIBRATION = POSE2SIM / "calibration" / "Calib_qualisys.toml"
ONNX_SAME_AS_TORCH_TOL_PX = 0.05  # the same network in float32 on another runtime: rounding only
# BlazePose on one real 1080x1920 frame per camera, triangulated with the lab's Qualisys
# calibration: a real detector's few-pixel noise (issue 11 measured 3-6 px medians), 2x headroom.
MEDIAPIPE_REPROJECTION_MEDIAN_TOL_PX = 12.0
PERSON_HEIGHT_RANGE_M = (1.2, 2.0)  # nose to ankles of a standing adult, metres


def test_detector_grammar():
    assert parse_detector_spec(None) == DetectorSpec("builtin")
    assert parse_detector_spec("builtin") == DetectorSpec("builtin")
    assert parse_detector_spec("MediaPipe") == DetectorSpec("mediapipe")
    assert parse_detector_spec("onnx:models/rtm.onnx") == DetectorSpec("onnx", "models/rtm.onnx")
    assert parse_detector_spec("torchscript:a.pt") == DetectorSpec("torchscript", "a.pt")
    assert parse_detector_spec("weights/mine.pt") == DetectorSpec("weights", "weights/mine.pt")
    assert str(parse_detector_spec("onnx:x.onnx")) == "onnx:x.onnx"
    with pytest.raises(ValueError, match="unknown kind 'tflite'"):
        parse_detector_spec("tflite:model.tflite")
    with pytest.raises(ValueError, match="names no file"):
        parse_detector_spec("onnx:")


def _demo_frame(camera: str, index: int = 0) -> np.ndarray:
    import cv2

    capture = cv2.VideoCapture(str(VIDEOS / f"{camera}.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = capture.read()
    capture.release()
    assert ok, f"cannot read {VIDEOS / camera}.mp4"
    return image


def test_mediapipe_finds_the_person_in_the_real_demo():
    """The pinned mediapipe imports and runs on numpy 2; its four views agree in 3D."""
    pytest.importorskip("mediapipe", reason="the mediapipe extra is not installed "
                                            "(pip install 'rigkit[mediapipe]')")
    from calibration import load_rig
    from geometry import triangulate_robust
    from geometry.skeletons import BLAZEPOSE_33, BLAZEPOSE_33_TO_COCO_17

    detector = open_detector("mediapipe")
    assert detector.joint_names == BLAZEPOSE_33.joint_names and len(detector.weights_sha256) == 64
    names = ("cam01", "cam02", "cam03", "cam04")
    images = [_demo_frame(n) for n in names]
    points, scores = detector.detect(images)
    assert points.shape == (4, 33, 2)
    coco = BLAZEPOSE_33_TO_COCO_17
    confident = scores[:, coco] >= 0.5
    assert confident.sum(axis=1).min() >= 12  # the person is found in every view
    rig = load_rig(CALIBRATION).subset(list(names))
    views = np.where(confident[..., None], points[:, coco], np.nan)
    result = triangulate_robust(rig, views)
    valid = result.valid if hasattr(result, "valid") else np.isfinite(result.points_3d).all(-1)
    errors = np.linalg.norm(rig.project(result.points_3d) - views, axis=-1)
    assert np.nanmedian(errors) < MEDIAPIPE_REPROJECTION_MEDIAN_TOL_PX
    head = result.points_3d[0]
    ankles = result.points_3d[[15, 16]].mean(axis=0)
    assert valid[[0, 15, 16]].all()
    height_m = np.linalg.norm(head - ankles)
    assert PERSON_HEIGHT_RANGE_M[0] < height_m < PERSON_HEIGHT_RANGE_M[1]


@pytest.fixture(scope="module")
def onnx_builtin(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (rigkit[onnx])")
    pytest.importorskip("onnx", reason="exporting needs the onnx package (rigkit[onnx])")
    from labeling.detector import builtin_detector
    from labeling.detector.onnx_model import export_onnx

    torch_detector = builtin_detector(device="cpu")
    path = tmp_path_factory.mktemp("onnx") / "builtin.onnx"
    export_onnx(path, torch_detector)
    return torch_detector, path


def test_onnx_export_gives_the_builtin_keypoints(onnx_builtin):
    from labeling.detector.onnx_model import OnnxDetector
    from labeling.detector.preprocess import boxes_from_points
    from labeling.detector.train_builtin import ViewSampler

    torch_detector, path = onnx_builtin
    detector = open_detector(f"onnx:{path}")
    assert isinstance(detector, OnnxDetector) and detector.output == "heatmap"
    assert detector.joint_names == torch_detector.joint_names
    assert detector.settings.input_size == torch_detector.settings.input_size
    rng = np.random.default_rng(7)
    sampler = ViewSampler(rng, sizes=[(640, 480)], pool_size=2, refresh_every=0,
                          jpeg_quality=(90, 90))
    views = [sampler.sample() for _ in range(3)]
    truth = np.stack([v.points_2d for v in views])
    boxes, _ = boxes_from_points(truth, np.ones(truth.shape[:2]), min_score=0.5,
                                 fallback=np.zeros((3, 4)))
    expected, expected_scores = torch_detector.detect([v.image for v in views], boxes)
    found, found_scores = detector.detect([v.image for v in views], boxes)
    np.testing.assert_allclose(found, expected, atol=ONNX_SAME_AS_TORCH_TOL_PX)
    np.testing.assert_allclose(found_scores, expected_scores, atol=1e-3)


def test_onnx_sidecar_toml_names_the_joints(onnx_builtin, tmp_path):
    """A model without rigkit metadata takes its settings from MODEL.toml."""
    import onnx

    _, path = onnx_builtin
    model = onnx.load(str(path))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    bare.write_bytes(model.SerializeToString())
    names = [f"j{k}" for k in range(17)]
    (tmp_path / "bare.toml").write_text(
        f"joint_names = {names!r}\nchannel_order = \"bgr\"\n".replace("'", '"'))
    detector = open_detector(f"onnx:{bare}")
    assert detector.joint_names == tuple(names) and detector.settings.input_size == (144, 192)
    assert detector.settings.channel_order == "bgr"


def test_onnx_simcc_decoding(tmp_path):
    """A SimCC model whose bins peak at known places decodes to those input pixels."""
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (rigkit[onnx])")
    pytest.importorskip("onnx", reason="exporting needs the onnx package (rigkit[onnx])")
    import torch

    width, height, ratio, J = 64, 96, 2.0, 3
    peaks_x = torch.tensor([10.0, 30.5, 50.0])  # input pixels
    peaks_y = torch.tensor([20.0, 47.5, 80.0])

    class SimCC(torch.nn.Module):
        def forward(self, images):
            B = images.shape[0]
            bins_x = torch.arange(int(width * ratio)).float() / ratio
            bins_y = torch.arange(int(height * ratio)).float() / ratio
            x = torch.exp(-(bins_x[None, :] - peaks_x[:, None]) ** 2)
            y = torch.exp(-(bins_y[None, :] - peaks_y[:, None]) ** 2)
            zero = images.mean() * 0
            return x.expand(B, J, -1) + zero, y.expand(B, J, -1) + zero

    path = tmp_path / "simcc.onnx"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter
        torch.onnx.export(SimCC(), torch.zeros(1, 3, height, width), str(path), input_names=["input"],
                          output_names=["simcc_x", "simcc_y"], dynamic_axes={"input": {0: "batch"}},
                          dynamo=False)
    (tmp_path / "simcc.toml").write_text('joint_names = ["a", "b", "c"]\n')
    detector = open_detector(f"onnx:{path}")
    assert detector.output == "simcc" and detector.simcc_split_ratio == ratio
    image = np.zeros((height, width, 3), np.uint8)  # the whole frame is exactly the input
    points, scores = detector.detect([image])
    np.testing.assert_allclose(points[0], np.stack([peaks_x.numpy(), peaks_y.numpy()], axis=1),
                               atol=0.51)  # argmax bins of 1/ratio px, letterbox rounding
    assert (scores > 0.9).all()


def test_torchscript_spec_loads_a_torchscript_file(tmp_path):
    from labeling.detector import builtin_detector, export_torchscript

    detector = builtin_detector(device="cpu")
    path = tmp_path / "net.pt"
    export_torchscript(path, detector.module.cpu(), settings=detector.settings.to_dict())
    loaded = open_detector(f"torchscript:{path}", device="cpu")
    assert loaded.joint_names == detector.joint_names


# -- bad input: one sentence, exit 2, nothing written that looks complete -----------------------

def _label(tmp_path, *args):
    import rigkit_cli

    return rigkit_cli.main(["label", "--calibration", str(CALIBRATION), "--out",
                            str(tmp_path / "out"), *args])


def _assert_nothing_complete(tmp_path):
    out = tmp_path / "out"
    assert not (out / "index.json").exists() and not list(out.glob("**/*.h5"))


@pytest.mark.parametrize("flag, body, sentence", [
    ("onnx", b"PK\x03\x04 not a model", "is not an ONNX model"),
    ("torchscript", None, "is not TorchScript"),
])
def test_model_file_that_is_not_what_its_flag_says(tmp_path, capsys, flag, body, sentence):
    import torch

    path = tmp_path / "model.bin"
    if body is None:
        torch.save({"state_dict": {}}, path)  # a checkpoint, not TorchScript
    else:
        path.write_bytes(body)
    code = _label(tmp_path, "--videos", f"cam01={VIDEOS / 'cam01.mp4'}", "--detector",
                  f"{flag}:{path}")
    err = capsys.readouterr().err
    assert code == 2 and sentence in err and "Traceback" not in err and len(err.splitlines()) == 1
    _assert_nothing_complete(tmp_path)


def test_missing_extra_says_which_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    code = _label(tmp_path, "--videos", f"cam01={VIDEOS / 'cam01.mp4'}", "--detector", "mediapipe")
    err = capsys.readouterr().err
    assert code == 2 and "install rigkit[mediapipe]" in err and len(err.splitlines()) == 1
    _assert_nothing_complete(tmp_path)


def test_missing_onnxruntime_says_which_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    code = _label(tmp_path, "--videos", f"cam01={VIDEOS / 'cam01.mp4'}", "--detector",
                  f"onnx:{model}")
    err = capsys.readouterr().err
    assert code == 2 and "install rigkit[onnx]" in err
    _assert_nothing_complete(tmp_path)


def test_unopenable_video(tmp_path, capsys):
    broken = tmp_path / "cam02.mp4"
    broken.write_bytes(b"\x00" * 1000)
    code = _label(tmp_path, "--videos", f"cam01={VIDEOS / 'cam01.mp4'}", f"cam02={broken}")
    err = capsys.readouterr().err
    assert code == 2 and "cam02" in err and str(broken) in err and len(err.splitlines()) == 1
    _assert_nothing_complete(tmp_path)


def test_onnx_person_boxes_from_a_box_model(onnx_builtin, tmp_path):
    """A box model (mmdeploy's ``dets`` layout) that finds the person where the truth is gives the
    same keypoints as being handed the true box."""
    import shutil
    import warnings

    import torch

    from labeling.detector.preprocess import (boxes_from_points, full_image_boxes, input_from_image,
                                              input_from_image_transforms)
    from labeling.detector.train_builtin import ViewSampler

    _, pose_path = onnx_builtin
    view = ViewSampler(np.random.default_rng(11), sizes=[(640, 480)], pool_size=1, refresh_every=0,
                       jpeg_quality=(90, 90)).sample()
    truth, _ = boxes_from_points(view.points_2d[None], np.ones((1, 17)), min_score=0.5,
                                 fallback=np.zeros((1, 4)))
    box_size = (320, 320)
    transform = input_from_image_transforms(full_image_boxes(np.array([[640.0, 480.0]])), box_size)
    corners = input_from_image(truth.reshape(1, 2, 2), transform).reshape(4)
    dets = torch.tensor([[[*corners, 0.9], [0.0, 0.0, 10.0, 10.0, 0.1]]], dtype=torch.float32)

    class Boxes(torch.nn.Module):
        def forward(self, images):
            return dets + images.mean() * 0

    shutil.copy(pose_path, tmp_path / "pose.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(Boxes(), torch.zeros(1, 3, 320, 320), str(tmp_path / "det.onnx"),
                          input_names=["input"], output_names=["dets"], dynamo=False)
    (tmp_path / "pose.toml").write_text('box_model = "det.onnx"\n')
    detector = open_detector(f"onnx:{tmp_path / 'pose.onnx'}")
    assert detector.box_model is not None and not detector.tracks_boxes
    assert "det.onnx" in detector.person_boxes
    np.testing.assert_allclose(detector.box_model.boxes([view.image]), truth, atol=1e-3)
    found, _ = detector.detect([view.image])
    given, _ = open_detector(f"onnx:{pose_path}").detect([view.image], truth)
    np.testing.assert_allclose(found, given, atol=ONNX_SAME_AS_TORCH_TOL_PX)


def test_truncated_detections_npz_is_one_sentence_for_label_and_calibrate(tmp_path, capsys):
    import rigkit_cli
    from labeling.detections import Detections, write_npz_detections

    detections = Detections(points_2d=np.zeros((2, 50, 17, 2)), scores=np.ones((2, 50, 17)),
                            camera_names=("cam01", "cam02"), joint_names=[f"j{k}" for k in range(17)],
                            frame_index=np.arange(50), timestamp_s=np.arange(50) / 60)
    whole = write_npz_detections(tmp_path / "whole.npz", detections).read_bytes()
    truncated = tmp_path / "take.npz"
    truncated.write_bytes(whole[: len(whole) // 2])
    for argv in (["label", "--calibration", str(CALIBRATION), "--detections", f"npz:{truncated}",
                  "--out", str(tmp_path / "out")],
                 ["calibrate", "keypoints", "--detections", f"npz:{truncated}", "--intrinsics",
                  str(CALIBRATION), "--out", str(tmp_path / "rig.toml")]):
        assert rigkit_cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"{truncated} is not a readable .npz" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "index.json").exists() and not (tmp_path / "rig.toml").exists()
