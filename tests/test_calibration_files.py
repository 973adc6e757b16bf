"""Calibration files: round trips through every format, aniposelib as a real client, sanity checks."""

import os
import tomllib
from pathlib import Path

import numpy as np
import pytest
from aniposelib.cameras import CameraGroup

from calibration import (CalibrationFile, detect_format, load_rig, merge_cameras, read_calibration,
                         save_rig)
from geometry import Camera, Rig, rotation_angle_deg
from geometry.synthetic import ring_rig
from shared_data import POSE2SIM

QUALISYS = POSE2SIM / "calibration" / "Calib_qualisys.toml"
EXACT_TOL = 1e-12  # float64 written with repr() reads back exactly
RODRIGUES_TOL = 1e-10  # R -> rvec -> R loses ~2e-12 for rotations near 180 deg (cameras facing back)
ANIPOSE_PROJECT_TOL_PX = 1e-6  # aniposelib projects with cv2.projectPoints (float64, closed form)
ANIPOSE_DUMP_TOL_PX = 1e-7  # R -> rvec -> R near 180 deg loses ~1e-11 rad: 2e-8 px at f = 1400 px
FILESTORAGE_TOL = 1e-12  # FileStorage writes doubles with 17 significant digits


def _points(n: int = 200) -> np.ndarray:
    return np.random.default_rng(7).normal([0.0, 0.0, 1.0], [0.8, 0.8, 0.5], (n, 3))


def _assert_same_rig(a: Rig, b: Rig, tol: float = EXACT_TOL) -> None:
    assert a.names == b.names
    np.testing.assert_array_equal(a.sizes, b.sizes)
    np.testing.assert_allclose(a.K, b.K, rtol=0, atol=tol * 1e3)
    np.testing.assert_allclose(a.R, b.R, rtol=0, atol=max(tol, RODRIGUES_TOL))
    np.testing.assert_allclose(a.t, b.t, rtol=0, atol=tol)
    for ca, cb in zip(a, b):
        assert ca.model == cb.model
        np.testing.assert_allclose(ca.dist_padded, cb.dist_padded, rtol=0, atol=tol)


@pytest.fixture(params=["distorted", "pinhole", "fisheye"])
def rig12(request) -> Rig:
    return ring_rig(12, lens=request.param, rng=np.random.default_rng(5))


def test_qualisys_file_reads_with_float_sizes():
    calib = read_calibration(QUALISYS)
    assert calib.format == "toml"
    assert calib.rig.names == ("cam01", "cam02", "cam03", "cam04")
    np.testing.assert_array_equal(calib.rig.sizes, [[1088, 1920]] * 4)
    assert calib.rig["cam01"].K[0, 0] == pytest.approx(1681.244873046875, abs=0)
    assert calib.metadata == {"adjusted": False, "error": 0.0}


def test_round_trip_ours(tmp_path, rig12):
    path = save_rig(rig12, tmp_path / "calib.toml", metadata={"rms_px": 0.25, "board": {"squares": [7, 5]}})
    calib = read_calibration(path)
    _assert_same_rig(rig12, calib.rig)
    assert calib.metadata["units"] == "metres"
    assert calib.metadata["rms_px"] == 0.25
    assert calib.metadata["board"] == {"squares": [7, 5]}
    assert "rigkit_version" in calib.metadata and "created" in calib.metadata


def test_round_trip_qualisys_is_exact(tmp_path):
    rig = load_rig(QUALISYS)
    rig2 = load_rig(save_rig(rig, tmp_path / "copy.toml"))
    _assert_same_rig(rig, rig2)
    original = tomllib.loads(QUALISYS.read_text())
    written = tomllib.loads((tmp_path / "copy.toml").read_text())
    for key in ("cam01", "cam04"):
        assert written[key]["matrix"] == original[key]["matrix"]
        assert written[key]["translation"] == original[key]["translation"]
        np.testing.assert_allclose(written[key]["rotation"], original[key]["rotation"], rtol=0, atol=1e-14)


def test_file_we_write_loads_in_aniposelib_and_projects_the_same(tmp_path, rig12):
    path = save_rig(rig12, tmp_path / "calib.toml")
    group = CameraGroup.load(str(path))
    assert group.get_names() == list(rig12.names)
    points = _points()
    ours = rig12.project(points)
    theirs = group.project(points)
    visible = np.all(np.isfinite(ours), axis=-1)
    assert visible.mean() > 0.9
    err = np.linalg.norm(ours - theirs, axis=-1)[visible]
    assert err.max() < ANIPOSE_PROJECT_TOL_PX


def test_names_that_do_not_sort_keep_their_order_in_aniposelib(tmp_path):
    base = ring_rig(12, rng=np.random.default_rng(1))
    names = ["left", "right", "top", "back", "front", "cam 10", "a", "z", "m", "b", "y \"quoted\" é", "metadata"]
    rig = Rig([c.replace(name=n) for c, n in zip(base, names)])
    path = save_rig(rig, tmp_path / "calib.toml")
    assert load_rig(path).names == tuple(names)
    assert CameraGroup.load(str(path)).get_names() == names


def test_file_aniposelib_dumps_loads_in_ours(tmp_path, rig12):
    group = CameraGroup.load(str(save_rig(rig12, tmp_path / "ours.toml")))
    group.dump(str(tmp_path / "anipose.toml"))  # keys cam_0 .. cam_11, no units metadata
    rig = load_rig(tmp_path / "anipose.toml")
    assert rig.names == rig12.names  # file order, not aniposelib's sorted cam_0, cam_1, cam_10, ...
    points = _points()
    ours = rig12.project(points)
    np.testing.assert_allclose(rig.project(points), ours, rtol=0, atol=ANIPOSE_DUMP_TOL_PX)


@pytest.mark.parametrize("suffix, fmt", [(".yml", "opencv-yaml"), (".xml", "opencv-xml")])
def test_opencv_filestorage_round_trip(tmp_path, rig12, suffix, fmt):
    path = save_rig(rig12, tmp_path / f"calib{suffix}", metadata={"rms_px": 0.3})
    assert detect_format(path) == fmt
    calib = read_calibration(path)
    assert calib.format == fmt
    _assert_same_rig(rig12, calib.rig, FILESTORAGE_TOL)
    assert calib.metadata["units"] == "metres" and calib.metadata["rms_px"] == 0.3


def test_easymocap_intri_extri_pair(tmp_path):
    import cv2
    rig = load_rig(QUALISYS)
    intri = cv2.FileStorage(str(tmp_path / "intri.yml"), cv2.FILE_STORAGE_WRITE)
    extri = cv2.FileStorage(str(tmp_path / "extri.yml"), cv2.FILE_STORAGE_WRITE)
    for fs in (intri, extri):
        fs.startWriteStruct("names", cv2.FileNode_SEQ)
        for name in rig.names:
            fs.write("", name)
        fs.endWriteStruct()
    for cam in rig:
        intri.write(f"K_{cam.name}", cam.K)
        intri.write(f"dist_{cam.name}", cam.dist.reshape(1, -1))
        extri.write(f"R_{cam.name}", cv2.Rodrigues(cam.R)[0])
        extri.write(f"T_{cam.name}", cam.t.reshape(3, 1))
    intri.release()
    extri.release()
    loaded = load_rig(tmp_path / "intri.yml")
    np.testing.assert_allclose(loaded.t, rig.t, atol=EXACT_TOL)
    assert rotation_angle_deg(loaded.R, rig.R).max() < 1e-9
    # no size in EasyMocap files: guessed from the principal point, within a few pixels
    assert np.abs(loaded.sizes - rig.sizes).max() < 80


def test_caliscope_round_trip_and_real_layout(tmp_path, rig12):
    path = save_rig(rig12, tmp_path / "camera_array.toml", format="caliscope")
    assert detect_format(path) == "caliscope"
    _assert_same_rig(rig12, load_rig(path))
    # Caliscope's own layout: [cameras.N] with cam_id, 3x3 rotation, no name; Rodrigues in new versions.
    rig = load_rig(QUALISYS)
    lines = []
    for cam_id, cam in zip([2, 0, 1, 3], [rig[2], rig[0], rig[1], rig[3]]):
        rotation = cam.R.tolist() if cam_id % 2 == 0 else np.asarray(
            __import__("cv2").Rodrigues(cam.R)[0]).ravel().tolist()
        lines += [f"[cameras.{cam_id}]", f"cam_id = {cam_id}", "rotation_count = 0", "error = 0.19",
                  "exposure = -7.0", "grid_count = 24", "ignore = false", f"size = {list(cam.size)}",
                  f"matrix = {cam.K.tolist()}", f"distortions = {cam.dist.tolist() + [0.0]}",
                  f"translation = {cam.t.tolist()}", f"rotation = {rotation}",
                  "verified_resolutions = [[640, 480], [1280, 720]]", ""]
    (tmp_path / "caliscope.toml").write_text("\n".join(lines))
    loaded = load_rig(tmp_path / "caliscope.toml")
    assert loaded.names == ("cam_0", "cam_1", "cam_2", "cam_3")  # ordered by cam_id
    np.testing.assert_allclose(loaded.t, rig.t, atol=EXACT_TOL)
    assert rotation_angle_deg(loaded.R, rig.R).max() < 1e-9


def test_millimetres_given_as_metres_is_refused(tmp_path):
    text = QUALISYS.read_text()
    rig = load_rig(QUALISYS)
    mm_rig = Rig([c.replace(t=c.t * 1000) for c in rig])
    with pytest.raises(ValueError, match="millimetres"):
        save_rig(mm_rig, tmp_path / "mm.toml")
    assert not (tmp_path / "mm.toml").exists()
    # a file in mm without saying so
    path = tmp_path / "mm_file.toml"
    for cam in rig:
        text = text.replace(repr(float(cam.t[0])), repr(float(cam.t[0]) * 1000))
    path.write_text(text.replace("[metadata]", "[metadata]\nunits = \"metres\""))
    with pytest.raises(ValueError, match=r"cam0\d is \d+ m from the world origin; .*millimetres"):
        load_rig(path)
    # the same file, saying it is in mm, converts
    path.write_text(text.replace("[metadata]", "[metadata]\nunits = \"mm\""))
    np.testing.assert_allclose(load_rig(path).t[:, 0], rig.t[:, 0], rtol=1e-12)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("fisheye = false", "fisheye = false\nmatrix = [[1.0, 0.0], [0.0, 1.0]]", 1),
     None),  # duplicate key: invalid TOML -> unknown format
    (lambda t: t.replace("matrix = [ [ 1681.244873046875, 0.0, 532.97369384375], ",
                         "matrix = [ "), r"\[cam01\] matrix has shape \(2, 3\), expected \(3, 3\)"),
    (lambda t: t.replace("translation = [ 0.3211048899999996,", "translation = [ nan,"),
     r"\[cam01\] translation contains NaN"),
    (lambda t: t.replace('name = "cam02"', 'name = "cam01"'), "camera name 'cam01' appears 2 times"),
    (lambda t: t.replace("size = [ 1088.0, 1920.0]", "size = [ 1088.5, 1920.0]", 1),
     r"\[cam01\] size is \[1088.5, 1920.0\], expected two positive whole numbers"),
    (lambda t: t.replace("distortions = [ -0.000721609375, 0.002187234375, 9.5e-06, 1.078125e-05]",
                         "distortions = [0.1, 0.2, 0.3]"), r"\[cam01\] has 3 distortion coefficients"),
])
def test_broken_files_fail_with_one_sentence(tmp_path, edit, message):
    path = tmp_path / "broken.toml"
    path.write_text(edit(QUALISYS.read_text()))
    with pytest.raises(ValueError, match=message or "not a calibration file rigkit knows") as info:
        load_rig(path)
    assert "\n" not in str(info.value)


def test_unknown_and_missing_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello: world\n")
    with pytest.raises(ValueError, match="not a calibration file rigkit knows"):
        load_rig(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_rig(tmp_path / "missing.toml")


def test_rotation_matrix_that_is_not_a_rotation(tmp_path):
    text = QUALISYS.read_text().replace(
        "rotation = [ 1.6882754799999993, 1.0483220499999997, -0.41955852000000016]",
        "rotation = [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]")
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match=r"\[cam01\] rotation is a 3x3 matrix that is not a rotation"):
        load_rig(tmp_path / "bad.toml")


def test_write_is_atomic_when_serialization_fails(tmp_path):
    rig = load_rig(QUALISYS)
    path = save_rig(rig, tmp_path / "calib.toml")
    before = path.read_bytes()
    with pytest.raises(ValueError):
        save_rig(rig, path, metadata={"bad": float("nan")})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["calib.toml"]  # no temp file left behind


def test_merge_cameras_keeps_poses_and_order():
    rig = load_rig(QUALISYS)
    new = Camera(name="cam03", size=(1088, 1920), K=np.diag([1700.0, 1700.0, 1.0]) + np.array(
        [[0, 0, 543.5], [0, 0, 959.5], [0, 0, 0]]), dist=np.zeros(5))
    extra = new.replace(name="cam05")
    merged = merge_cameras(rig, [new, extra])
    assert merged.names == ("cam01", "cam02", "cam03", "cam04", "cam05")
    np.testing.assert_array_equal(merged["cam03"].K, new.K)
    np.testing.assert_array_equal(merged["cam03"].R, rig["cam03"].R)
    assert isinstance(CalibrationFile(rig=merged), CalibrationFile)
    assert os.fspath(QUALISYS)
