"""``--board`` reads the board descriptions peers write (calibration.peer_boards): Caliscope's
charuco.toml / chessboard.toml, Anipose's config.toml, Pose2Sim's Config.toml. Checked against the
peers' own code (what Caliscope's tracker found, recorded from its own environment; aniposelib) and on
their real data (the Caliscope recording, the Pose2Sim checkerboard photos)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from aniposelib.boards import CharucoBoard as AniposeCharuco
from aniposelib.boards import Checkerboard as AniposeCheckerboard

import rigkit_cli
from calibration import Board, detect_board, load_board, load_board_with_notice, render_board
from shared_data import POSE2SIM, SHARED_DATA

CALISCOPE = (SHARED_DATA or Path("/work/shared/data")) / "caliscope-charuco"
CALISCOPE_BOARD = CALISCOPE / "charuco.toml"
REAL = Board(type="charuco", squares=(4, 5), square_length_m=0.054, marker_length_m=0.0405,
             dictionary="DICT_4X4_1000", inverted=True)
REAL_NOTICE = ("board from Caliscope's charuco.toml: ChArUco 4x5 squares of 0.054 m (square_size_override_cm), "
               "markers 0.0405 m, DICT_4X4_1000, inverted")
BOARD_FRAME = 80  # cam_0 sees all 12 corners of the board from frame 66 on
SAME_CORNER_PX = 1e-9  # one detector, one frame: identical
CALISCOPE_REFINEMENT_PX = 0.5  # Caliscope's own cornerSubPix window vs rigkit's: 0.34 px at most here
OBJECT_POINT_TOL_M = 1e-6  # Caliscope stores its board in float32
INCH_M = 0.0254  # Caliscope converts with 0.393701 in/cm: 3e-7 relative from the exact inch
INCH_REL_TOL = 1e-6

POSE2SIM_CONFIG = """
[project]
project_dir = '.'

[calibration]
calibration_type = 'calculate'
   [calibration.calculate]
      [calibration.calculate.intrinsics]
      intrinsics_extension = 'jpg'
      intrinsics_corners_nb = [4,7]
      intrinsics_square_size = 60 # mm
      [calibration.calculate.extrinsics]
      extrinsics_method = 'board'
         [calibration.calculate.extrinsics.board]
         board_position = 'vertical'
         extrinsics_corners_nb = [5,9]
         extrinsics_square_size = 40 # mm
"""
ANIPOSE_CHARUCO = """
project = 'mice'
nesting = 1
[calibration]
board_type = "charuco"
board_size = [7, 5]
board_marker_bits = 5
board_marker_dict_number = 100
board_marker_length = 18.75 # mm
board_square_side_length = 25 # mm
animal_calibration = false
[triangulation]
optim = true
"""


def _write(tmp_path: Path, text: str, name: str = "board.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _frame(video: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok, f"cannot read frame {index} of {video}"
    return frame


# -- Caliscope ------------------------------------------------------------------------------------
def test_real_caliscope_charuco_is_the_board_of_the_recording(tmp_path):
    board, notice = load_board_with_notice(CALISCOPE_BOARD)
    assert board == REAL
    assert notice == REAL_NOTICE
    # rigkit's own board file for the same print: the same corners, ids and pixels on a real frame
    own = load_board(_write(tmp_path, 'type = "charuco"\nsquares = [4, 5]\nsquare_length_m = 0.054\n'
                                      'marker_length_m = 0.0405\ndictionary = "DICT_4X4_1000"\ninverted = true\n'))
    frame = _frame(CALISCOPE / "cam_0.mp4", BOARD_FRAME)
    from_peer, from_own = detect_board(board, frame), detect_board(own, frame)
    assert from_peer.num_corners == board.num_corners == 12
    np.testing.assert_array_equal(from_peer.ids, from_own.ids)
    np.testing.assert_allclose(from_peer.corners_px, from_own.corners_px, atol=SAME_CORNER_PX)
    # ... and the board frame Caliscope builds: cv2.aruco.CharucoBoard(size=(columns, rows), ...)
    caliscope = cv2.aruco.CharucoBoard((4, 5), 0.054, 0.054 * 0.75,
                                       cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_1000))
    np.testing.assert_allclose(board.corners_in_board(), caliscope.getChessboardCorners(), atol=1e-7)


# Caliscope 0.11.8's own CharucoTracker on frame BOARD_FRAME of cam_0.mp4 with charuco.toml, run in
# its environment (it needs opencv-python, which cannot live beside opencv-contrib-python):
#   .venv-caliscope/bin/python -c "... CharucoTracker(Charuco.from_toml(charuco.toml)).get_points(gray)"
# keypoint_id 0-11 in order, img_loc (px) and obj_loc (m, float32) as it printed them.
CALISCOPE_TRACKER_PX = np.array([
    [749.216, 225.656], [757.905, 292.558], [766.670, 359.266], [696.860, 236.952], [705.401, 300.321],
    [713.665, 364.293], [648.964, 246.755], [657.403, 307.719], [664.788, 368.919], [605.666, 256.654],
    [612.698, 314.704], [620.672, 373.203]])
CALISCOPE_TRACKER_OBJ_M = np.array([[0.054 * (1 + k % 3), 0.054 * (1 + k // 3), 0.0] for k in range(12)])


def test_caliscope_own_tracker_found_the_same_corners():
    """What Caliscope's tracker found on the same frame (recorded above): the same ids, the same
    object points, pixels within the two subpixel refinements."""
    board = load_board(CALISCOPE_BOARD)
    ours = detect_board(board, _frame(CALISCOPE / "cam_0.mp4", BOARD_FRAME))
    np.testing.assert_array_equal(ours.ids, np.arange(12))
    np.testing.assert_allclose(board.corners_in_board()[ours.ids], CALISCOPE_TRACKER_OBJ_M, atol=OBJECT_POINT_TOL_M)
    np.testing.assert_allclose(ours.corners_px, CALISCOPE_TRACKER_PX, atol=CALISCOPE_REFINEMENT_PX)


def test_caliscope_charuco_sized_by_the_paper(tmp_path):
    letter = _write(tmp_path, 'columns = 4\nrows = 5\nboard_height = 11.0\nboard_width = 8.5\n'
                              'dictionary = "DICT_5X5_50"\nunits = "inch"\n', "intrinsic_charuco.toml")
    board, notice = load_board_with_notice(letter)
    # 11 in / 5 rows = 2.2 in; 8.5 in / 4 columns = 2.125 in: the width limits, 2.125 in = 0.053975 m
    assert board.squares == (4, 5) and board.dictionary == "DICT_5X5_50" and not board.inverted
    assert board.square_length_m == pytest.approx(2.125 * INCH_M, rel=INCH_REL_TOL)
    assert board.marker_length_m == pytest.approx(0.75 * 2.125 * INCH_M, rel=INCH_REL_TOL)  # default aruco_scale
    assert notice.startswith("board from Caliscope's intrinsic_charuco.toml: ChArUco 4x5 squares of 0.053975 m "
                             "(the paper: min of board_height 11 inch / 5 rows and board_width 8.5 inch / 4 columns)")
    cm = _write(tmp_path, 'columns = 4\nrows = 5\nboard_height = 30\nboard_width = 20\nunits = "cm"\n'
                          'aruco_scale = 0.6\nlegacy_pattern = true\nthickness_cm = 0.4\n')
    board, notice = load_board_with_notice(cm)
    # 30 cm / 5 = 6 cm, 20 cm / 4 = 5 cm: 0.05 m squares, 0.03 m markers
    assert board == Board(type="charuco", squares=(4, 5), square_length_m=0.05, marker_length_m=0.03, legacy=True)
    assert notice.endswith("markers 0.03 m, DICT_4X4_50, legacy layout; two-sided (thickness_cm 0.4): "
                           "rigkit detects the front face only")


def test_caliscope_chessboard_needs_its_square_size(tmp_path, refusal):
    board, notice = load_board_with_notice(_write(tmp_path, "rows = 6\ncolumns = 9\nsquare_size_cm = 2.5\n",
                                                  "chessboard.toml"))
    assert board == Board(type="checkerboard", squares=(10, 7), square_length_m=0.025)
    assert board.inner_corners == (9, 6)  # Caliscope's (columns, rows) of inner corners: cv2's patternSize
    assert notice == ("board from Caliscope's chessboard.toml: checkerboard 9x6 inner corners (10x7 squares) "
                      "of 0.025 m (square_size_cm)")
    message = refusal(load_board, "rows = 6\ncolumns = 9\n")
    assert message.endswith("(read as Caliscope's chessboard file): no square_size_cm, so the board has no metric "
                            "size, and rigkit boards are metric; add square_size_cm = <the printed square's side "
                            "in cm> to bad.toml")
    assert "\n" not in message


# -- Anipose --------------------------------------------------------------------------------------
def test_anipose_charuco_is_aniposelib_board(tmp_path):
    board, notice = load_board_with_notice(_write(tmp_path, ANIPOSE_CHARUCO, "config.toml"))
    assert board == Board(type="charuco", squares=(7, 5), square_length_m=0.025, marker_length_m=0.01875,
                          dictionary="DICT_5X5_100")
    assert notice == ("board from Anipose's config.toml [calibration]: ChArUco 7x5 squares of 0.025 m "
                      "(board_square_side_length 25 mm), markers 0.01875 m, DICT_5X5_100")
    # aniposelib's board from the same table (anipose.common.get_calibration_board), in its unit, mm
    theirs = AniposeCharuco(7, 5, 25, 18.75, 5, 100)
    np.testing.assert_allclose(board.corners_in_board() * 1000, theirs.board.getChessboardCorners(), atol=1e-4)
    image = render_board(board, dpi=150, margin_m=0.01, label=False)
    their_corners, their_ids = theirs.detect_image(image)
    ours = detect_board(board, image)
    np.testing.assert_array_equal(np.sort(np.asarray(their_ids).reshape(-1)), ours.ids)
    assert ours.num_corners == board.num_corners


def test_anipose_checkerboard_size_is_inner_corners(tmp_path):
    text = '[calibration]\nboard_type = "checkerboard"\nboard_size = [9, 6]\nboard_square_side_length = 20\n'
    board, notice = load_board_with_notice(_write(tmp_path, text, "config.toml"))
    assert board == Board(type="checkerboard", squares=(10, 7), square_length_m=0.02)
    theirs = AniposeCheckerboard(9, 6, 20)  # passes (9, 6) to cv2.findChessboardCorners
    assert board.inner_corners == theirs.get_size()
    # aniposelib's object points start at the first inner corner, rigkit's one square earlier
    np.testing.assert_allclose(board.corners_in_board() * 1000 - [20, 20, 0], theirs.objPoints, atol=1e-9)
    assert "checkerboard 9x6 inner corners (10x7 squares) of 0.02 m (board_square_side_length 20 mm)" in notice


# -- Pose2Sim -------------------------------------------------------------------------------------
def test_pose2sim_boards_by_role_and_real_photo(tmp_path):
    path = _write(tmp_path, POSE2SIM_CONFIG, "Config.toml")
    board, notice = load_board_with_notice(path)
    assert board == Board(type="checkerboard", squares=(5, 8), square_length_m=0.06)
    assert notice == ("board from Pose2Sim's Config.toml [calibration.calculate.intrinsics]: checkerboard 4x7 inner "
                      "corners (5x8 squares) of 0.06 m (intrinsics_square_size 60 mm); the intrinsics board, as no "
                      "role was given (the file also has an extrinsics board)")
    assert load_board(path, role="intrinsics") == board
    board, notice = load_board_with_notice(path, role="extrinsics")
    assert board == Board(type="checkerboard", squares=(6, 10), square_length_m=0.04)
    assert notice == ("board from Pose2Sim's Config.toml [calibration.calculate.extrinsics.board]: checkerboard 5x9 "
                      "inner corners (6x10 squares) of 0.04 m (extrinsics_square_size 40 mm)")
    # the demo's own board (4x7 inner corners, 60 mm) is found on its real intrinsics photo
    photo = sorted((POSE2SIM / "calibration" / "intrinsics" / "int_cam01_img").glob("*.jpg"))[0]
    found = detect_board(load_board(path), cv2.imread(str(photo)), effort="thorough")
    assert found.num_corners == 28


def test_pose2sim_missing_role_board(refusal):
    only_intrinsics = POSE2SIM_CONFIG.split("[calibration.calculate.extrinsics]")[0]
    message = refusal(lambda p: load_board(p, role="extrinsics"), only_intrinsics)
    assert message.endswith("(read as a Pose2Sim Config.toml) [calibration.calculate.extrinsics.board]: missing "
                            "'extrinsics_corners_nb' (the extrinsics checkerboard's inner corners, [columns, rows])")


# -- refusals -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, ending", [
    ('columns = 4\nboard_height = 11\nboard_width = 8.5\n',
     "(read as Caliscope's ChArUco board file): missing 'rows' (squares down)"),
    ('columns = 4\nrows = 5\nboard_height = 11\nboard_width = 8.5\nunits = "mm"\n',
     "(read as Caliscope's ChArUco board file): units is 'mm', expected 'inch' or 'cm'"),
    ('columns = 4\nrows = 5\nsquare_size_override_cm = 5.4\ndictionary = "DICT_9X9_50"\n',
     "(read as Caliscope's ChArUco board file): unknown ArUco dictionary 'DICT_9X9_50'"),
    ('columns = 4\nrows = 5\nsquare_size_override_cm = 5.4\ncolour = "red"\n',
     "(read as Caliscope's ChArUco board file): unknown key 'colour'; its keys are aruco_scale, board_height"),
    ('columns = 4\nrows = 5\nsquare_size_override_cm = 5.4\naruco_scale = 1.2\n',
     "marker_length_m (0.0648 m) must be smaller than square_length_m (0.054 m)"),
    ('[calibration]\nboard_type = "charuco"\nboard_size = [7, 5]\nboard_marker_bits = 8\n'
     'board_marker_dict_number = 50\nboard_marker_length = 18\nboard_square_side_length = 25\n',
     "[calibration]: board_marker_bits = 8 and board_marker_dict_number = 50 name DICT_8X8_50, which is no "
     "ArUco dictionary (bits 4-7, 50, 100, 250 or 1000 markers)"),
    ('[calibration]\nboard_type = "aruco"\nboard_size = [2, 2]\n',
     "[calibration]: board_type is 'aruco'; rigkit reads 'charuco' and 'checkerboard' boards"),
    ('[calibration]\nboard_type = "charuco"\nboard_size = [7, 5]\n',
     "(read as an Anipose config.toml) [calibration]: missing 'board_square_side_length' (square side, mm)"),
    ('[calibration.calculate.intrinsics]\nintrinsics_corners_nb = [4, 7]\nintrinsics_square_size = [60, 40]\n',
     "intrinsics_square_size is [60, 40]: rectangular squares; rigkit boards have square squares"),
    ('[calibration.calculate.intrinsics]\nintrinsics_corners_nb = [4]\nintrinsics_square_size = 60\n',
     "intrinsics_corners_nb is [4], expected [columns, rows] of inner corners"),
    ('[calibration]\ncalibration_type = "convert"\n',
     "[calibration.calculate]: no board: neither intrinsics.intrinsics_corners_nb nor "
     "extrinsics.board.extrinsics_corners_nb is given"),
    ('intrinsic_target_type = "charuco"\nextrinsic_target_type = "charuco"\n',
     "is Caliscope's target routing config.toml, which names no board; pass intrinsic_charuco.toml, "
     "extrinsic_charuco.toml or chessboard.toml from the same folder"),
    ('colour = "red"\n',
     ": unknown key 'colour'; expected rigkit's board keys (dictionary, inverted, legacy, margin_m, "
     "marker_length_m, square_length_m, squares, type) or a peer's board description (Caliscope's charuco.toml "
     "or chessboard.toml, an Anipose config.toml with [calibration], a Pose2Sim Config.toml with "
     "[calibration.calculate])"),
])
def test_bad_peer_files_are_one_sentence(refusal, text, ending):
    message = refusal(load_board, text)
    assert message.startswith("board file ") and "bad.toml" in message
    assert ending in message
    assert "\n" not in message


def test_rigkit_files_keep_rigkit_messages(refusal):
    """A rigkit board file with a stray Caliscope key is still judged as rigkit's."""
    message = refusal(load_board, 'type = "charuco"\nsquares = [4, 5]\nsquare_length_m = 0.054\n'
                                  'marker_length_m = 0.04\naruco_scale = 0.75\n')
    assert message.endswith(": unknown key 'aruco_scale'; board keys are dictionary, inverted, legacy, margin_m, "
                            "marker_length_m, square_length_m, squares, type")


# -- the command line -----------------------------------------------------------------------------
def test_cli_calibrates_with_caliscope_board_file(tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="calibration.boards"):
        status = rigkit_cli.main(["calibrate", "intrinsics", "--board", str(CALISCOPE_BOARD),
                                  "--camera", f"cam_0={CALISCOPE / 'cam_0.mp4'}", "--out", str(tmp_path / "c.toml")])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert (tmp_path / "c.toml").is_file() and "wrote 1 camera" in out
    assert REAL_NOTICE in caplog.messages


def test_cli_bad_board_file_exits_2(tmp_path, capsys):
    bad = _write(tmp_path, "rows = 6\ncolumns = 9\n", "chessboard.toml")
    status = rigkit_cli.main(["calibrate", "intrinsics", "--board", str(bad),
                              "--camera", f"cam_0={CALISCOPE / 'cam_0.mp4'}", "--out", str(tmp_path / "c.toml")])
    _, err = capsys.readouterr()
    assert status == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"rigkit: error: board file {bad} (read as Caliscope's chessboard file): "
                               "no square_size_cm")
    assert not (tmp_path / "c.toml").exists()
