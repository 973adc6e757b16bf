"""geometry.Board: OpenCV's corner order, its dictionary table against cv2, and one set of keys
for board files and rig files."""

import dataclasses

import cv2
import numpy as np
import pytest

from calibration import load_board, save_board
from capture.rigfile import load_rig_spec
from geometry import ARUCO_DICTIONARY_SIZES, Board, board_from_mapping
from geometry.synthetic import SYNTHETIC_BOARD

BOARD_FILE = """\
type = "charuco"
squares = [6, 4]
square_length_m = 0.12
marker_length_m = 0.09
dictionary = "DICT_4X4_50"
inverted = true
legacy = true
margin_m = 0.03
"""


def test_dictionary_table_matches_opencv_predefined_dictionaries():
    """Names (canonical upper case) and marker counts, both ways: geometry may not import cv2."""
    in_cv2 = {name.upper() for name in dir(cv2.aruco) if name.startswith("DICT_")}
    assert set(ARUCO_DICTIONARY_SIZES) == in_cv2
    for name, size in ARUCO_DICTIONARY_SIZES.items():
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
        assert dictionary.bytesList.shape[0] == size, name


def test_dictionary_size_limits_markers_and_names_are_canonical():
    largest = Board(type="charuco", squares=(10, 6), square_length_m=0.04, marker_length_m=0.03,
                    dictionary="apriltag_25h9")  # 30 markers of 35
    assert largest.dictionary == "DICT_APRILTAG_25H9" and largest.num_markers == 30
    with pytest.raises(ValueError, match="needs 36 markers but DICT_APRILTAG_25H9 has only 35"):
        Board(type="charuco", squares=(9, 8), square_length_m=0.04, marker_length_m=0.03,
              dictionary="DICT_APRILTAG_25h9")


@pytest.mark.parametrize("squares,legacy", [((7, 5), False), ((5, 4), False), ((5, 4), True),
                                            ((11, 8), False)])
def test_charuco_corners_match_opencv(squares, legacy):
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_100)
    board = cv2.aruco.CharucoBoard(squares, 0.04, 0.03, dictionary)
    board.setLegacyPattern(legacy)
    ours = Board(type="charuco", squares=squares, square_length_m=0.04, marker_length_m=0.03,
                 dictionary="DICT_4X4_100", legacy=legacy)
    np.testing.assert_allclose(ours.corners_in_board(), board.getChessboardCorners(),
                               atol=1e-7)  # OpenCV stores float32
    assert ours.corners_in_board().shape == (ours.num_corners, 3)


@pytest.mark.parametrize("squares", [(8, 6), (7, 5)])
def test_checkerboard_corner_order_matches_find_chessboard_corners(squares):
    """findChessboardCorners reports row-major corners from the top-left one in the image: our
    order for an upright board, reversed when the board is upside down (the pattern is
    symmetric under a half turn)."""
    px = 40
    columns, rows = squares
    image = np.full(((rows + 2) * px, (columns + 2) * px), 255, np.uint8)
    for r in range(rows):
        for c in range(columns):
            if (r + c) % 2 == 0:
                image[(r + 1) * px:(r + 2) * px, (c + 1) * px:(c + 2) * px] = 0
    board = Board(type="checkerboard", squares=squares, square_length_m=1.0)
    ours = board.corners_in_board()[:, :2] * px + px - 0.5  # pixel centres
    found, corners = cv2.findChessboardCorners(image, board.inner_corners)
    assert found
    np.testing.assert_allclose(corners.reshape(-1, 2), ours, atol=0.01)
    found, corners = cv2.findChessboardCorners(cv2.rotate(image, cv2.ROTATE_180), board.inner_corners)
    assert found
    unrotated = np.array(image.shape[::-1]) - 1 - corners.reshape(-1, 2)
    np.testing.assert_allclose(unrotated[::-1], ours, atol=0.01)


def test_outline_is_the_printed_sheet():
    board = Board(type="checkerboard", squares=(8, 6), square_length_m=0.05, margin_m=0.02)
    np.testing.assert_allclose(board.outline_in_board(),
                               [[-0.02, -0.02, 0], [0.42, -0.02, 0], [0.42, 0.32, 0], [-0.02, 0.32, 0]])
    assert board.marker_length_m is None and board.num_markers == 0


def test_rig_file_board_and_board_file_give_equal_boards(tmp_path):
    (tmp_path / "board.toml").write_text(BOARD_FILE)
    (tmp_path / "rig.toml").write_text('name = "r"\n[synthetic]\nnum_cameras = 2\n[synthetic.board]\n' + BOARD_FILE)
    from_board_file = load_board(tmp_path / "board.toml")
    from_rig_file = load_rig_spec(tmp_path / "rig.toml").synthetic.board
    assert from_rig_file == from_board_file
    assert from_rig_file.legacy and from_rig_file.inverted and from_rig_file.margin_m == 0.03
    # ... and the board written back reads as the same board, through either file.
    save_board(from_rig_file, tmp_path / "again.toml")
    assert load_board(tmp_path / "again.toml") == from_board_file
    assert board_from_mapping(from_board_file.to_mapping()) == from_board_file


def test_rig_file_board_defaults_and_errors(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text('name = "r"\n[synthetic]\nnum_cameras = 2\n')
    assert load_rig_spec(path).synthetic.board == SYNTHETIC_BOARD
    for body, message in [('kind = "charuco"\n', "unknown key 'kind'"),
                          ('type = "charuco"\nsquares = [7, 5]\n', "missing 'square_length_m'"),
                          ('type = "charuco"\nsquares = [7, 5]\nsquare_length_m = 100\nmarker_length_m = 0.07\n',
                           "did you give millimetres"),
                          ('type = "checkerboard"\nsquares = [7, 5]\nsquare_length_m = 0.1\ninverted = "no"\n',
                           "board inverted is 'no', expected true or false")]:
        path.write_text('name = "r"\n[synthetic]\nnum_cameras = 2\n[synthetic.board]\n' + body)
        with pytest.raises(ValueError, match=message) as info:
            load_rig_spec(path)
        assert f"{path} [synthetic.board]" in str(info.value) and "\n" not in str(info.value)


def test_board_is_hashable_and_replace_revalidates():
    assert hash(SYNTHETIC_BOARD) == hash(dataclasses.replace(SYNTHETIC_BOARD))
    with pytest.raises(ValueError, match="margin_m is -0.1"):
        dataclasses.replace(SYNTHETIC_BOARD, margin_m=-0.1)
