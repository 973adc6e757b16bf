"""``rigkit calibrate board | intrinsics``: files written, summaries, exit status 2 with one sentence."""

from pathlib import Path

import cv2
import numpy as np
import pytest

import rigkit_cli
from calibration import Board, load_board, load_rig, read_calibration, render_board
from shared_data import POSE2SIM

DATA = POSE2SIM / "calibration"
PHOTOS = DATA / "intrinsics"
CHECKER = ["--type", "checkerboard", "--squares", "5", "8", "--square-length-m", "0.06"]
CHARUCO = ["--type", "charuco", "--squares", "7", "5", "--square-length-m", "0.04",
           "--marker-length-m", "0.03", "--dictionary", "DICT_4X4_50"]
REAL_HELDOUT_MAX_PX = 1.0  # lab checkerboard photos: corners of a left-out photo predicted to ~0.3 px
LAB_FOCAL_TOL = 0.01  # relative, as in test_intrinsics: 5-7 photos per camera


def _run(capsys, *argv) -> tuple[int, str, str]:
    status = rigkit_cli.main(["calibrate", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def _one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("rigkit: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def charuco_folder(tmp_path_factory) -> Path:
    """Six small photos of a DICT_4X4_50 ChArUco board under different perspectives."""
    folder = tmp_path_factory.mktemp("charuco")
    board = Board(type="charuco", squares=(7, 5), square_length_m=0.04, marker_length_m=0.03)
    texture = render_board(board, dpi=60, margin_m=0.01, label=False)
    for i in range(6):
        H = np.array([[0.9 + 0.05 * i, 0.1 - 0.03 * i, 30.0 + 10 * i], [0.02 * i, 0.95, 40.0],
                      [2e-4 * (i - 3), 1e-4 * (2 - i), 1.0]])
        cv2.imwrite(str(folder / f"view{i:02d}.png"),
                    cv2.warpPerspective(texture, H, (640, 480), borderValue=128))
    return folder


def test_board_command_writes_png_pdf_and_board_file(tmp_path, capsys):
    status, out, err = _run(capsys, "board", *CHARUCO, "--dpi", "150", "--out", tmp_path / "print.png",
                            "--save-board", tmp_path / "board.toml")
    assert status == 0, err
    assert (tmp_path / "print.png").exists() and (tmp_path / "print.pdf").read_bytes().startswith(b"%PDF")
    assert load_board(tmp_path / "board.toml") == Board(type="charuco", squares=(7, 5), square_length_m=0.04,
                                                        marker_length_m=0.03)
    assert "28.0 x 20.0 cm" in out and "print at 100%" in out
    # from the board file, PNG only
    status, out, _ = _run(capsys, "board", "--board", tmp_path / "board.toml", "--out", tmp_path / "again",
                          "--no-pdf", "--dpi", "100")
    assert status == 0 and (tmp_path / "again.png").exists() and not (tmp_path / "again.pdf").exists()


def test_intrinsics_command_updates_an_existing_calibration(tmp_path, capsys):
    out_file = tmp_path / "calib.toml"
    out_file.write_text((DATA / "Calib_qualisys.toml").read_text())
    status, out, err = _run(capsys, "intrinsics", "--camera", f"cam01={PHOTOS / 'int_cam01_img'}",
                            "--camera", f"cam04={PHOTOS / 'int_cam04_img'}", *CHECKER, "--out", out_file)
    assert status == 0, err
    lab = load_rig(DATA / "Calib_qualisys.toml")
    calib = read_calibration(out_file)
    assert calib.rig.names == lab.names  # order kept, the other cameras untouched
    np.testing.assert_array_equal(calib.rig["cam02"].K, lab["cam02"].K)
    for name in ("cam01", "cam04"):
        np.testing.assert_array_equal(calib.rig[name].t, lab[name].t)  # poses kept
        assert abs(calib.rig[name].K[0, 0] / lab[name].K[0, 0] - 1) < LAB_FOCAL_TOL
        assert calib.rig[name].dist.shape[0] in (0, 4, 5, 8)  # the cross-validated complexity
        assert calib.metadata["intrinsics"][name]["views"] >= 5
        assert calib.metadata["intrinsics"][name]["heldout_rms_px"] < REAL_HELDOUT_MAX_PX
    assert calib.metadata["adjusted"] is False  # the file's own metadata survives
    from aniposelib.cameras import CameraGroup  # the file, nested metadata and all, loads in aniposelib
    assert CameraGroup.load(str(out_file)).get_names() == list(lab.names)
    table = out.splitlines()
    assert table[0].split()[:3] == ["camera", "views", "used"]
    assert table[2].startswith("cam01") and table[3].startswith("cam04")
    assert f"wrote 2 cameras to {out_file}" in out
    assert "verdict: " in out and (tmp_path / "calib_lens_cam01.png").is_file()


def test_intrinsics_command_new_file_from_charuco_images(tmp_path, capsys, charuco_folder):
    status, out, err = _run(capsys, "intrinsics", "--camera", f"left={charuco_folder}", *CHARUCO,
                            "--out", tmp_path / "new.yml")
    assert status == 0, err
    calib = read_calibration(tmp_path / "new.yml")
    assert calib.format == "opencv-yaml" and calib.rig.names == ("left",)
    assert tuple(calib.rig["left"].size) == (640, 480)


def test_wrong_dictionary_is_one_sentence_and_exit_2(tmp_path, capsys, charuco_folder):
    wrong = [*CHARUCO[:-1], "DICT_5X5_50"]
    status, out, err = _run(capsys, "intrinsics", "--camera", f"cam03={charuco_folder}", *wrong,
                            "--out", tmp_path / "c.toml")
    assert status == 2
    line = _one_sentence(err)
    assert f"camera cam03: no board corners found in any of 6 frames of {charuco_folder}" in line
    assert 'dictionary = "DICT_4X4_50"?' in line
    assert not (tmp_path / "c.toml").exists()


def test_one_failed_camera_still_writes_the_others(tmp_path, capsys, charuco_folder):
    status, out, err = _run(capsys, "intrinsics", "--camera", f"good={charuco_folder}",
                            "--camera", f"blank={tmp_path / 'blank'}", *CHARUCO, "--out", tmp_path / "c.toml")
    assert status == 2 and "blank" in _one_sentence(err)  # the folder does not exist
    (tmp_path / "blank").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "blank" / f"{i}.png"), np.full((480, 640), 200, np.uint8))
    status, out, err = _run(capsys, "intrinsics", "--camera", f"good={charuco_folder}",
                            "--camera", f"blank={tmp_path / 'blank'}", *CHARUCO, "--out", tmp_path / "c.toml")
    assert status == 2
    line = _one_sentence(err)
    assert "camera blank: no board corners found in any of 3 frames" in line
    assert "the other cameras were written to" in line
    assert load_rig(tmp_path / "c.toml").names == ("good",)


@pytest.mark.parametrize("argv, message", [
    (["board", "--type", "checkerboard", "--squares", "5", "8", "--square-length-m", "60", "--out", "x.png"],
     "did you give millimetres"),
    (["board", "--board", "/nonexistent/board.toml", "--out", "x.png"], "board file /nonexistent/board.toml does not exist"),
    (["board", "--out", "x.png"], "no board given"),
    (["board", *CHARUCO[:-1], "DICT_4X4_9", "--out", "x.png"], "unknown ArUco dictionary 'DICT_4X4_9'"),
    (["intrinsics", *CHECKER, "--out", "c.toml"], "no cameras given"),
    (["intrinsics", "--camera", "cam01", *CHECKER, "--out", "c.toml"], "is not NAME=PATH"),
    (["intrinsics", "--camera", "cam01=/nonexistent/cam01.mp4", *CHECKER, "--out", "c.toml"],
     "camera cam01: /nonexistent/cam01.mp4 does not exist"),
])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    status, out, err = _run(capsys, *argv)
    assert status == 2
    assert message in _one_sentence(err)


def test_broken_out_file_stops_before_any_work(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("[cam01]\nname = 'cam01'\nmatrix = [[1.0]]\n")
    status, _, err = _run(capsys, "intrinsics", "--camera", f"cam01={PHOTOS / 'int_cam01_img'}", *CHECKER,
                          "--out", tmp_path / "c.toml")
    assert status == 2 and "c.toml [cam01] has no size" in _one_sentence(err)


# -- recorded sessions -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session_dir(tmp_path_factory) -> Path:
    """A 2 s recording (30 framesets) of the 4-camera synthetic rig (rigs/synthetic-4cam.toml)."""
    out = tmp_path_factory.mktemp("session") / "s"
    rig_file = Path(__file__).resolve().parent.parent / "rigs" / "synthetic-4cam.toml"
    assert rigkit_cli.main(["-q", "capture", "record", "--rig", str(rig_file), "--out", str(out),
                            "--duration", "2"]) == 0
    return out


def test_session_sources_read_the_recorded_frames(session_dir):
    from calibration import SynchronizedFrames
    from calibration.inputs import open_session_sources
    from capture.session import open_session
    sources = open_session_sources(session_dir)
    assert [s.name for s in sources] == ["cam01", "cam02", "cam03", "cam04"]
    assert all(s.size == (640, 480) for s in sources)
    session = open_session(session_dir)
    frames = SynchronizedFrames(sources, stride=5)
    seen = 0
    for index, images in frames:
        for v, name in enumerate(session.names):
            seq = session.sequence[index, v]
            assert (name in images) == (seq >= 0)
            if seq >= 0:
                np.testing.assert_array_equal(images[name], session.frame(name, int(seq)))
        seen += 1
    assert seen == len(frames) >= 5


def test_intrinsics_from_a_session_says_which_camera_failed(tmp_path, capsys, session_dir):
    other_board = [*CHARUCO[:-1], "DICT_5X5_100"]  # not the rig's board (DICT_4X4_50): never found
    status, _, err = _run(capsys, "intrinsics", "--session", session_dir, "--camera", "cam02", *other_board,
                          "--out", tmp_path / "c.toml")
    assert status == 2
    line = _one_sentence(err)
    assert "camera cam02: no board corners found in any of" in line and str(session_dir) in line
    status, _, err = _run(capsys, "intrinsics", "--session", session_dir, "--camera", "cam02=x.mp4", *CHARUCO,
                          "--out", tmp_path / "c.toml")
    assert status == 2 and "with --session, --camera takes camera names only" in _one_sentence(err)
    status, _, err = _run(capsys, "intrinsics", "--session", session_dir, "--camera", "cam09", *CHARUCO,
                          "--out", tmp_path / "c.toml")
    assert status == 2 and "has no camera 'cam09'" in _one_sentence(err)


def test_updating_a_caliscope_file_keeps_its_layout(tmp_path, capsys, charuco_folder):
    from calibration import save_rig
    out_file = tmp_path / "camera_array.toml"
    save_rig(load_rig(DATA / "Calib_qualisys.toml"), out_file, format="caliscope")
    status, _, err = _run(capsys, "intrinsics", "--camera", f"cam09={charuco_folder}", *CHARUCO, "--out", out_file)
    assert status == 0, err
    calib = read_calibration(out_file)
    assert calib.format == "caliscope" and calib.rig.names[-1] == "cam09" and len(calib.rig) == 5
