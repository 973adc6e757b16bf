"""Calibrations the peers write: Caliscope's real files (shared/data/peers/calibrations), checked
against a plain tomllib reading; and fixtures written by the peers' own writers where shared/ has
none (aniposelib's ``CameraGroup.dump``, which FreeMoCap and sleap-anipose also use, in
millimetres; EasyMocap's intri.yml / extri.yml text writer)."""

from __future__ import annotations

import logging
import tomllib

import cv2
import numpy as np
import pytest
from aniposelib.cameras import Camera as AniposeCamera
from aniposelib.cameras import CameraGroup

from calibration import load_rig, read_calibration
from geometry.synthetic import ring_rig
from shared_data import SHARED_DATA

PEERS = (SHARED_DATA or __import__("pathlib").Path("/work/shared/data")) / "peers"
CALISCOPE = sorted((PEERS / "calibrations").glob("caliscope__*.toml"))
EXACT = 1e-12  # float64 TOML text, read twice
RODRIGUES_TOL = 1e-9  # cv2.Rodrigues vs ours on the same vector
EASYMOCAP_TOL = 1e-6  # EasyMocap writes '{:.6f}'
MM_TOL_M = 1e-12  # mm -> m is one multiplication


@pytest.mark.parametrize("path", CALISCOPE, ids=[p.name for p in CALISCOPE])
def test_caliscope_files_read_value_for_value(path, caplog):
    assert len(CALISCOPE) == 4, "shared/data/peers/calibrations is incomplete"
    plain = tomllib.loads(path.read_text())["cameras"]
    with caplog.at_level(logging.WARNING):
        calibration = read_calibration(path)
    by_id = sorted(plain.values(), key=lambda t: int(t["cam_id"]))
    assert calibration.rig.names == tuple(f"cam_{t['cam_id']}" for t in by_id)
    for table, camera in zip(by_id, calibration.rig):
        np.testing.assert_allclose(camera.K, table["matrix"], atol=EXACT)
        np.testing.assert_allclose(camera.dist, table["distortions"], atol=EXACT)
        assert tuple(camera.size) == tuple(table["size"])
        if table.get("rotation") == "null":  # Caliscope: not posed yet
            assert camera.name in calibration.unposed
            continue
        np.testing.assert_allclose(camera.t, table["translation"], atol=EXACT)
        rotation = np.asarray(table["rotation"], float)
        expected = cv2.Rodrigues(rotation)[0] if rotation.shape == (3,) else rotation
        np.testing.assert_allclose(camera.R, expected, atol=RODRIGUES_TOL)
    unposed = [f"cam_{t['cam_id']}" for t in by_id if t.get("rotation") == "null"]
    assert list(calibration.unposed) == unposed
    rig = load_rig(path)
    assert rig.names == tuple(n for n in calibration.rig.names if n not in unposed)
    if unposed:
        assert "no pose" in caplog.text and calibration.decisions


def _anipose_group(scale: float, distance_m: float, rng) -> tuple[CameraGroup, np.ndarray]:
    """aniposelib's own writer; cameras ``distance_m`` (+-10 %) from the origin, looking at it,
    translations in file units (metres x scale)."""
    rig = ring_rig(4, rng=rng)
    t_m = rig.t / np.linalg.norm(rig.t, axis=1, keepdims=True) * distance_m * rng.uniform(0.9, 1.1, (4, 1))
    cams = [AniposeCamera(name=c.name, size=tuple(int(s) for s in c.size), matrix=c.K,
                          dist=c.dist_padded[:5], rvec=cv2.Rodrigues(c.R)[0].ravel(), tvec=t * scale)
            for c, t in zip(rig, t_m)]
    return CameraGroup(cams), t_m


@pytest.mark.parametrize("unit, scale, distance_m", [("mm", 1000.0, 3.0), ("cm", 100.0, 1.5)])
def test_aniposelib_toml_in_mm_or_cm_is_recognised_and_converted(tmp_path, caplog, unit, scale,
                                                                 distance_m):
    """aniposelib (and FreeMoCap, sleap-anipose, which dump through it) write no units key.
    3,000 units: 3 m in mm, 30 m in cm (no lab rig) -> mm; 150 units: 1.5 m in cm, 0.15 m in mm
    (cameras closer than the subject is big) -> cm."""
    group, t_m = _anipose_group(scale, distance_m, np.random.default_rng(1))
    path = tmp_path / "calibration.toml"
    group.dump(str(path))
    with caplog.at_level(logging.WARNING):
        calibration = read_calibration(path)
    np.testing.assert_allclose(calibration.rig.t, t_m, atol=1e-9)
    assert len(calibration.decisions) == 1 and "--calibration-units" in calibration.decisions[0]
    assert ("millimetres" if unit == "mm" else "centimetres") in caplog.text
    assert caplog.text.count("names no units") == 1


def test_ambiguous_units_are_refused_naming_the_flag_and_the_flag_settles_them(tmp_path):
    """Cameras ~0.5 m out written in mm look like a 5 m rig in cm: only the user knows."""
    group, t_m = _anipose_group(1000.0, 0.5, np.random.default_rng(2))
    path = tmp_path / "mouse_rig.toml"
    group.dump(str(path))
    with pytest.raises(ValueError, match=r"fits both millimetres and centimetres; pass --calibration-units"):
        load_rig(path)
    np.testing.assert_allclose(load_rig(path, units="mm").t, t_m, atol=1e-9)
    np.testing.assert_allclose(load_rig(path, units="cm").t, t_m * 10, atol=1e-8)
    with pytest.raises(ValueError, match="units"):
        load_rig(path, units="inch")


def test_units_flag_conflicting_with_the_file_is_refused(tmp_path):
    group, _ = _anipose_group(1000.0, 3.0, np.random.default_rng(3))
    path = tmp_path / "c.toml"
    group.dump(str(path))
    text = path.read_text()
    text = (text.replace("[metadata]", '[metadata]\nunits = "mm"') if "[metadata]" in text
            else text + '\n[metadata]\nunits = "mm"\n')
    path.write_text(text)
    assert read_calibration(path).decisions == ()  # the file says so: nothing to decide
    with pytest.raises(ValueError, match="says its units are mm but --calibration-units says m"):
        read_calibration(path, units="m")


def _easymocap_write(path, values: dict, names):
    """EasyMocap's FileStorage writer (easymocap/mytools/camera_utils.py): plain text, '\\r\\n'
    line ends, names as a list of quoted strings, matrices with '{:.6f}'."""
    lines = ["%YAML:1.0", "---", "names:"] + [f'  - "{n}"' for n in names]
    for key, value in values.items():
        value = np.asarray(value, float)
        value = value.reshape(value.shape[0], -1)
        lines += [f"{key}: !!opencv-matrix", f"  rows: {value.shape[0]}", f"  cols: {value.shape[1]}",
                  "  dt: d", "  data: [" + ", ".join(f"{v:.6f}" for v in value.ravel()) + "]"]
    path.write_text("\r\n".join(lines) + "\r\n")


def test_easymocap_intri_without_extri_is_unposed_not_at_the_identity(tmp_path, caplog):
    rig = ring_rig(3, rng=np.random.default_rng(4))
    names = ["01", "02", "03"]  # EasyMocap names cameras by number
    intri = {}
    for name, camera in zip(names, rig):
        K = camera.K.copy()
        K[0, 2], K[1, 2] = (camera.size[0] - 1) / 2, (camera.size[1] - 1) / 2
        intri[f"K_{name}"], intri[f"dist_{name}"] = K, camera.dist_padded[:5].reshape(1, 5)
    _easymocap_write(tmp_path / "intri.yml", intri, names)
    with caplog.at_level(logging.WARNING):
        calibration = read_calibration(tmp_path / "intri.yml")
    assert calibration.rig.names == tuple(names)
    assert calibration.unposed == tuple(names)
    np.testing.assert_array_equal(calibration.rig.sizes, rig.sizes)  # a common size, said so
    assert sum("no W_/H_ image size" in d for d in calibration.decisions) == 3
    with pytest.raises(ValueError, match="no camera has a pose"):
        load_rig(tmp_path / "intri.yml")
    # extri.yml beside it, lacking camera 03: 01 and 02 posed, 03 left out with a warning
    extri = {}
    for name, camera in zip(names[:2], rig):
        extri[f"R_{name}"] = cv2.Rodrigues(camera.R)[0]
        extri[f"Rot_{name}"] = camera.R
        extri[f"T_{name}"] = camera.t.reshape(3, 1)
    _easymocap_write(tmp_path / "extri.yml", extri, names[:2])
    calibration = read_calibration(tmp_path / "intri.yml")
    assert calibration.unposed == ("03",)
    loaded = load_rig(tmp_path / "intri.yml")
    assert loaded.names == ("01", "02")
    np.testing.assert_allclose(loaded.t, rig.t[:2], atol=EASYMOCAP_TOL)


def test_opencv_names_that_are_numbers_or_hold_dashes(tmp_path):
    """OpenCV writes K_2 and K_sesh_2022-01-05: rigkit reads and writes them."""
    from calibration import save_rig
    from geometry import Rig

    rig = ring_rig(3, rng=np.random.default_rng(5))
    rig = Rig([c.replace(name=n) for c, n in zip(rig, ["2", "sesh_2022-01-05", "10"])])
    path = save_rig(rig, tmp_path / "calib.yml")
    assert read_calibration(path).rig.names == rig.names
    text = path.read_text().replace('- "2"', "- 2").replace('- "10"', "- 10")  # unquoted numbers
    path.write_text(text)
    loaded = read_calibration(path).rig
    assert loaded.names == rig.names
    np.testing.assert_allclose(loaded.t, rig.t, atol=1e-12)


# -- rigkit calibrate convert ---------------------------------------------------------------------
CONVERT_TOL = 1e-12  # TOML repr() and FileStorage's 17 significant digits are exact for float64
SUFFIX = {"toml": ".toml", "caliscope": ".toml", "opencv-yaml": ".yml", "opencv-xml": ".xml"}


@pytest.mark.parametrize("source_format", list(SUFFIX))
@pytest.mark.parametrize("target_format", list(SUFFIX))
def test_convert_round_trips_between_every_format(tmp_path, source_format, target_format):
    from calibration import save_rig
    from calibration.convert import convert_calibration

    rig = ring_rig(4, rng=np.random.default_rng(6))
    source = save_rig(rig, tmp_path / f"in{SUFFIX[source_format]}", format=source_format,
                      metadata={"rms_px": 0.3})
    target = tmp_path / f"out{SUFFIX[target_format]}"
    convert_calibration(source, target, format=target_format)
    back = read_calibration(target)
    assert back.format == target_format
    assert back.rig.names == rig.names
    np.testing.assert_allclose(back.rig.K, rig.K, atol=CONVERT_TOL * 1e3)
    np.testing.assert_allclose(back.rig.t, rig.t, atol=CONVERT_TOL)
    np.testing.assert_allclose(back.rig.R, rig.R, atol=1e-10)  # Rodrigues in the TOML
    np.testing.assert_array_equal(back.rig.sizes, rig.sizes)
    assert back.metadata["rms_px"] == 0.3
    assert back.metadata["converted_from"].startswith(str(source))


def test_convert_cli_mm_toml_to_metres_and_caliscope_null(tmp_path, capsys):
    from rigkit_cli import main

    group, t_m = _anipose_group(1000.0, 3.0, np.random.default_rng(7))
    group.dump(str(tmp_path / "freemocap.toml"))
    assert main(["calibrate", "convert", str(tmp_path / "freemocap.toml"), str(tmp_path / "m.yml")]) == 0
    converted = read_calibration(tmp_path / "m.yml")
    np.testing.assert_allclose(converted.rig.t, t_m, atol=1e-9)
    assert converted.decisions == ()  # written in metres, said so
    with_null = next(p for p in CALISCOPE if "pre_quality_control" in p.name)
    assert main(["calibrate", "convert", str(with_null), str(tmp_path / "c.toml")]) == 2
    assert "--drop-unposed" in capsys.readouterr().err
    assert main(["calibrate", "convert", str(with_null), str(tmp_path / "c.toml"), "--drop-unposed"]) == 0
    assert load_rig(tmp_path / "c.toml").names == load_rig(with_null).names
    # the aniposelib client reads what convert wrote from Caliscope
    group = CameraGroup.load(str(tmp_path / "c.toml"))
    assert len(group.cameras) == 4


def test_every_calibration_reading_command_has_the_units_flag(tmp_path, capsys):
    from rigkit_cli import build_parser

    for argv in (["calibrate", "intrinsics"], ["calibrate", "extrinsics"], ["calibrate", "keypoints"],
                 ["calibrate", "convert"], ["label"]):
        parser, groups = build_parser(argv)
        group = groups[argv[0]]
        if len(argv) > 1:
            group = next(a for a in group._actions if isinstance(a, __import__("argparse")._SubParsersAction)
                         ).choices[argv[1]]
        flags = {s for a in group._actions for s in a.option_strings}
        assert "--calibration-units" in flags, argv
    group, _ = _anipose_group(1000.0, 0.5, np.random.default_rng(8))
    group.dump(str(tmp_path / "mouse.toml"))
    from rigkit_cli import main

    # the label command refuses the ambiguous file in one sentence naming the flag
    assert main(["label", "--calibration", str(tmp_path / "mouse.toml"), "--detections",
                 "npz:missing.npz", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "--calibration-units mm|cm|m" in error[0]
