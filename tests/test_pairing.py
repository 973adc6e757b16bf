"""One frame pairing for every command that reads several cameras (capture.pairing), and frames
whose decoded size differs from the calibration (labeling.frame_fit)."""

import numpy as np
import pytest

from capture.pairing import pair_frames, parse_frame_offsets
from tests.calibration_scenes import keypoint_take


class _Frames:
    """A stand-in frame source: only what pairing reads."""

    def __init__(self, num_frames, fps=None, timestamps_s=None):
        self.num_frames, self.fps, self.timestamps_s = num_frames, fps, timestamps_s


def test_index_pairing_with_offsets_uses_the_common_range():
    sources = {"a": _Frames(100, fps=50.0), "b": _Frames(100), "c": _Frames(97)}
    pairing = pair_frames(sources, {"b": 3, "c": -2})
    # frameset k holds a:k, b:k+3, c:k-2; every camera must have its frame
    assert pairing.paired_by == "index"
    assert pairing.frameset_index[0] == 2 and pairing.frameset_index[-1] == 96
    np.testing.assert_array_equal(pairing.frame_indices[0], [2, 5, 0])
    np.testing.assert_array_equal(pairing.frame_indices[-1], [96, 99, 94])
    np.testing.assert_allclose(pairing.timestamp_s[:2], [2 / 50, 3 / 50])
    assert any("a: 100, b: 100, c: 97" in note for note in pairing.notes)
    with pytest.raises(ValueError, match="different numbers of frames"):
        pair_frames(sources, mismatch="refuse")


def test_timestamp_pairing_of_a_session():
    times = np.arange(10) / 30.0
    sources = {"a": _Frames(10, timestamps_s=times), "b": _Frames(10, timestamps_s=times)}
    pairing = pair_frames(sources)
    assert pairing.paired_by == "timestamps" and len(pairing) == 10 and not pairing.notes
    np.testing.assert_allclose(pairing.timestamp_s, times)


def test_offsets_parse_and_refuse():
    assert parse_frame_offsets(["cam02=3", "cam04=-1"]) == {"cam02": 3, "cam04": -1}
    for bad, sentence in (["cam02"], "NAME=N"), (["cam02=1.5"], "whole number"), \
                         (["x=1", "x=2"], "twice"):
        with pytest.raises(ValueError, match=sentence):
            parse_frame_offsets(bad)
    with pytest.raises(ValueError, match="not one of"):
        pair_frames({"a": _Frames(5)}, {"z": 1})


def test_fractional_offsets_for_calibration():
    """Calibration shifts detections by sub-frame offsets; the same parser, one switch."""
    parsed = parse_frame_offsets(["b=-2.25", "c=1"], names=["a", "b", "c"], fractional=True)
    assert parsed == {"b": -2.25, "c": 1.0} and all(isinstance(v, float) for v in parsed.values())
    for bad, sentence in (["b=x"], "number of frames"), (["b=nan"], "number of frames"), \
                         (["z=1"], "not one of"):
        with pytest.raises(ValueError, match=sentence):
            parse_frame_offsets(bad, names=["a", "b"], fractional=True)
    with pytest.raises(ValueError, match="no frameset"):
        pair_frames({"a": _Frames(5), "b": _Frames(5)}, {"b": 9})


def test_frame_fit_pads_scales_or_refuses():
    from labeling.frame_fit import fit_image, frame_fit

    assert frame_fit("cam01", (1080, 1920), (1088, 1920)).mode == "pad_crop"
    assert frame_fit("cam01", (1088, 1920), (1088, 1920)).mode == "same"
    scaled = frame_fit("c", (960, 540), (1920, 1080))
    assert scaled.mode == "scale" and scaled.scale == 2.0
    with pytest.raises(ValueError, match="different aspect ratio"):
        frame_fit("c", (1280, 720), (1440, 1080))
    image = np.full((1920, 1080, 3), 7, np.uint8)
    padded = fit_image(image, (1088, 1920))
    assert padded.shape == (1920, 1088, 3) and (padded[:, :1080] == 7).all() and (padded[:, 1080:] == 0).all()


def test_fit_detections_keeps_pixels_of_a_padded_camera_and_scales_a_scaled_one():
    from geometry.synthetic import ring_rig
    from labeling.detections import Detections
    from labeling.frame_fit import fit_detections

    rig = ring_rig(2, rng=np.random.default_rng(0))
    size = rig[0].size
    points = np.array([[[[10.0, 20.0]]], [[[10.0, 20.0]]]])  # (V=2, F=1, J=1, 2)
    detections = Detections(points_2d=points, scores=np.ones((2, 1, 1)),
                            camera_names=rig.names, joint_names=("j",), frame_index=[0],
                            timestamp_s=[0.0])
    sizes = {rig.names[0]: (size[0] - 8, size[1]), rig.names[1]: (size[0] // 2, size[1] // 2)}
    fitted, fits = fit_detections(detections, rig, sizes)
    assert [f.mode for f in fits] == ["pad_crop", "scale"]
    np.testing.assert_allclose(fitted.points_2d[0, 0, 0], [10.0, 20.0])  # same principal point
    np.testing.assert_allclose(fitted.points_2d[1, 0, 0], [(10.5) * 2 - 0.5, 20.5 * 2 - 0.5])


def test_calibrate_keypoints_reads_the_detections_npz(tmp_path, capsys):
    """``calibrate keypoints --detections npz:FILE`` reads the npz ``rigkit label detect`` writes."""
    import rigkit_cli
    from calibration import load_rig, save_rig
    from calibration.rig_comparison import compare_rigs
    from geometry import Rig
    from labeling.detections import write_npz_detections

    rig, motion, detections = keypoint_take()
    npz = write_npz_detections(tmp_path / "take.npz", detections)
    out = tmp_path / "rig.toml"
    save_rig(Rig([cam.replace(R=np.eye(3), t=np.zeros(3)) for cam in rig]), out)
    assert rigkit_cli.main(["calibrate", "keypoints", "--detections", f"npz:{npz}", "--out", str(out),
                            "--person-height-m", f"{motion.height_m:.4f}", "--no-report"]) == 0
    assert compare_rigs(load_rig(out), rig).rotation_error_deg.max() < 0.3  # as test_extrinsics_cli: 2 px, 10% outliers
    assert rigkit_cli.main(["calibrate", "keypoints", "--detections", f"tiff:{npz}", "--out",
                            str(out), "--no-report"]) == 2
    assert "unknown detections format" in capsys.readouterr().err


def test_video_camera_names_are_matched_to_the_calibration_as_the_importers_do():
    from geometry.synthetic import ring_rig
    from labeling.cli import _match_to_rig
    from labeling.detections import Detections

    rig = ring_rig(3, rng=np.random.default_rng(0))  # cam01, cam02, cam03
    found = ("take_cam03", "take_cam01", "take_cam02")
    points = np.arange(3.0)[:, None, None, None] * np.ones((3, 1, 1, 2))  # view v holds value v
    detections = Detections(points_2d=points, scores=np.ones((3, 1, 1)), camera_names=found,
                            joint_names=("j",), frame_index=[0], timestamp_s=[0.0],
                            metadata={"frame_sizes": {n: [640, 480] for n in found}})
    matched, camera_map = _match_to_rig(detections, rig)
    assert matched.camera_names == rig.names
    assert camera_map == {"cam01": "take_cam01", "cam02": "take_cam02", "cam03": "take_cam03"}
    np.testing.assert_array_equal(matched.points_2d[:, 0, 0, 0], [1.0, 2.0, 0.0])
    assert set(matched.metadata["frame_sizes"]) == set(rig.names)
