"""Boards: files and every error, detection accuracy on warped renders, inverted / legacy / wrong
dictionary, checkerboards on the real lab photos, printable files at exact size."""

import re
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration import (ARUCO_DICTIONARIES, Board, board_from_mapping, detect_board, diagnose_board,
                         load_board, opencv_charuco_board, render_board, save_board, write_board_printable)
from shared_data import POSE2SIM

PHOTOS = POSE2SIM / "calibration" / "intrinsics"
CHARUCO_CORNER_TOL_PX = 0.15  # worst corner; anti-aliased (4x supersampled) render, perspective warp
CHARUCO_MEAN_TOL_PX = 0.08  # mean corner error on the same renders
CHECKER_AGREEMENT_TOL_PX = 0.6  # two OpenCV detectors on real 2 MP photos agree to this

CHARUCO = Board(type="charuco", squares=(7, 5), square_length_m=0.04, marker_length_m=0.03,
                dictionary="DICT_4X4_50")
WARPS = [
    np.array([[0.45, 0.08, 150.0], [-0.03, 0.5, 120.0], [1e-4, 8e-5, 1.0]]),
    np.array([[0.35, -0.1, 300.0], [0.05, 0.3, 200.0], [-1e-4, 2e-4, 1.0]]),
]


def _warped(board: Board, H: np.ndarray, *, dpi: float = 300.0, margin_m: float = 0.01,
            size=(1280, 960), supersample: int = 4):
    """Render ``board``, warp it by ``H`` (render px -> image px) anti-aliased; true corners too."""
    image = render_board(board, dpi=dpi, margin_m=margin_m, label=False)
    q = board.square_px(dpi)
    margin_px = round(margin_m * q / board.square_length_m)
    s = supersample
    S = np.array([[s, 0, (s - 1) / 2], [0, s, (s - 1) / 2], [0, 0, 1.0]])
    background = 0 if board.inverted else 128
    hi = cv2.warpPerspective(image, S @ H, (size[0] * s, size[1] * s), flags=cv2.INTER_LINEAR,
                             borderValue=background)
    warped = cv2.resize(hi, size, interpolation=cv2.INTER_AREA)
    # corner k on the render is the edge between pixels k*q - 1 and k*q: coordinate k*q - 0.5
    in_render = board.corners_in_board()[:, :2] / board.square_length_m * q + margin_px - 0.5
    truth = cv2.perspectiveTransform(in_render[None], H)[0]
    return warped, truth


# -- board files ---------------------------------------------------------------------------------
def test_board_file_round_trip(tmp_path):
    for board in (CHARUCO, Board(type="checkerboard", squares=[5, 8], square_length_m=0.06),
                  Board(type="charuco", squares=(11, 8), square_length_m=0.05, marker_length_m=0.037,
                        dictionary="dict_5x5_1000", inverted=True, legacy=True)):
        assert load_board(save_board(board, tmp_path / "board.toml")) == board


def test_board_file_with_table_and_names(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('[board]\ntype = "charuco"\nsquares = [7, 5]\nsquare_length_m = 0.04\n'
                    'marker_length_m = 0.03\ndictionary = "4X4_1000"\n')
    board = load_board(path)
    assert board.dictionary == "DICT_4X4_1000" and board.inner_corners == (6, 4)
    assert board.num_corners == 24 and board.num_markers == 17


def test_every_predefined_dictionary_is_accepted():
    assert len(ARUCO_DICTIONARIES) >= 21
    for name in ARUCO_DICTIONARIES:
        assert Board(type="charuco", squares=(3, 3), square_length_m=0.04, marker_length_m=0.03,
                     dictionary=name).dictionary == name


@pytest.mark.parametrize("keys, message", [
    (dict(square_length_m=60.0), r"square_length_m is 60 m; did you give millimetres\? \(60 mm is 0.06 m\)"),
    (dict(marker_length_m=45.0), "marker_length_m is 45 m; did you give millimetres"),
    (dict(marker_length_m=0.05), r"marker_length_m \(0.05 m\) must be smaller than square_length_m"),
    (dict(dictionary="DICT_9X9_50"), "unknown ArUco dictionary 'DICT_9X9_50'"),
    (dict(squares=[12, 12], dictionary="DICT_4X4_50"), "needs 72 markers but DICT_4X4_50 has only 50"),
    (dict(squares=[7]), r"squares is \[7\], expected \[columns, rows\]"),
    (dict(squares=[7.5, 5]), "expected \\[columns, rows\\] as two integers"),
    (dict(squares=["seven", 5]), "expected \\[columns, rows\\] as two integers"),
    (dict(type="circles"), "board type is 'circles'"),
    (dict(square_length_m=-0.04), "expected a positive length"),
    (dict(marker_length_m=None), "a charuco board needs marker_length_m"),
    (dict(colour="red"), "unknown key 'colour'"),
])
def test_board_errors_are_one_sentence(keys, message):
    mapping = dict(type="charuco", squares=[7, 5], square_length_m=0.04, marker_length_m=0.03,
                   dictionary="DICT_4X4_50")
    mapping.update(keys)
    mapping = {k: v for k, v in mapping.items() if v is not None}
    with pytest.raises(ValueError, match=message) as info:
        board_from_mapping(mapping, where="board.toml")
    assert "\n" not in str(info.value)


def test_board_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_board(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("type = charuco\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_board(tmp_path / "bad.toml")
    (tmp_path / "short.toml").write_text('type = "checkerboard"\nsquares = [5, 8]\n')
    with pytest.raises(ValueError, match="missing 'square_length_m'"):
        load_board(tmp_path / "short.toml")


def test_corners_in_board_match_opencv_ids():
    np.testing.assert_allclose(CHARUCO.corners_in_board(), opencv_charuco_board(CHARUCO).getChessboardCorners(),
                               atol=1e-12)


# -- detection -----------------------------------------------------------------------------------
@pytest.mark.parametrize("H", WARPS)
def test_charuco_detection_accuracy_on_warped_render(H):
    image, truth = _warped(CHARUCO, H)
    detection = detect_board(CHARUCO, image)
    assert detection.success and detection.num_corners >= 15
    assert np.all(np.diff(detection.ids) > 0)
    error = np.linalg.norm(detection.corners_px - truth[detection.ids], axis=-1)
    assert error.max() < CHARUCO_CORNER_TOL_PX
    assert error.mean() < CHARUCO_MEAN_TOL_PX
    assert detection.image_size == (1280, 960)
    assert detection.marker_corners_px.shape == (len(detection.marker_ids), 4, 2)


@pytest.mark.parametrize("variant, declared, undeclared, hint", [
    ("inverted", dict(squares=(7, 5), inverted=True), dict(squares=(7, 5)), "set inverted = true"),
    ("legacy", dict(squares=(6, 6), legacy=True), dict(squares=(6, 6)), "try legacy = true"),
])
def test_board_variant_is_detected_only_when_declared(variant, declared, undeclared, hint):
    board = Board(type="charuco", square_length_m=0.04, marker_length_m=0.03, **declared)
    plain = Board(type="charuco", square_length_m=0.04, marker_length_m=0.03, **undeclared)
    image, truth = _warped(board, WARPS[0])
    detection = detect_board(board, image)
    assert detection.num_corners >= 15, variant
    assert np.linalg.norm(detection.corners_px - truth[detection.ids], axis=-1).max() < CHARUCO_CORNER_TOL_PX
    assert detect_board(plain, image).num_corners == 0
    assert hint in diagnose_board(plain, [image])


def test_wrong_dictionary_is_named():
    image, _ = _warped(CHARUCO, WARPS[1])
    wrong = Board(type="charuco", squares=(7, 5), square_length_m=0.04, marker_length_m=0.03,
                  dictionary="DICT_5X5_100")
    assert detect_board(wrong, image).num_corners == 0
    message = diagnose_board(wrong, [image])
    assert 'check dictionary (dictionary = "DICT_4X4_50"?)' in message


def test_wrong_squares_on_charuco_is_named():
    image, _ = _warped(Board(type="charuco", squares=(9, 7), square_length_m=0.03, marker_length_m=0.022),
                       np.array([[0.5, 0.0, 100.0], [0.0, 0.5, 100.0], [0.0, 0.0, 1.0]]))
    assert "check squares" in diagnose_board(CHARUCO, [image])


def test_blank_image_has_no_corners():
    detection = detect_board(CHARUCO, np.full((480, 640, 3), 200, np.uint8))
    assert not detection.success and detection.corners_px.shape == (0, 2)
    assert "no ArUco markers of DICT_4X4_50 are visible" in diagnose_board(CHARUCO, [np.zeros((480, 640))])


def test_checkerboard_on_real_photos():
    board = Board(type="checkerboard", squares=(5, 8), square_length_m=0.06)  # 4x7 inner corners
    photo = cv2.imread(str(PHOTOS / "int_cam01_img" / "cam01_01_int.jpg"))
    assert photo.shape[:2] == (1920, 1088)  # portrait
    detection = detect_board(board, photo)
    assert detection.num_corners == 28 and detection.image_size == (1088, 1920)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    found, reference = cv2.findChessboardCornersSB(
        gray, (4, 7), flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY)
    assert found
    reference = reference.reshape(-1, 2)
    # checkerboards are 180-degree ambiguous: compare with either numbering
    error = min(np.abs(detection.corners_px - reference).max(),
                np.abs(detection.corners_px - reference[::-1]).max())
    assert error < CHECKER_AGREEMENT_TOL_PX


def test_checkerboard_render_detects_exactly():
    board = Board(type="checkerboard", squares=(5, 8), square_length_m=0.06)
    image, truth = _warped(board, np.array([[0.3, 0.05, 200], [-0.02, 0.32, 100], [5e-5, 2e-5, 1.0]]),
                           dpi=100)
    detection = detect_board(board, image)
    assert detection.num_corners == 28
    error = min(np.abs(detection.corners_px - truth).max(), np.abs(detection.corners_px - truth[::-1]).max())
    assert error < CHARUCO_CORNER_TOL_PX
    message = diagnose_board(Board(type="checkerboard", squares=(6, 8), square_length_m=0.06), [image])
    assert "4x7 inner corners (5x8 squares) is visible" in message


# -- printing ------------------------------------------------------------------------------------
def _png_dpi(data: bytes) -> float:
    """The resolution in a PNG's pHYs chunk (read by hand: what every viewer and printer reads)."""
    at = data.index(b"pHYs")
    x, y, unit = struct.unpack(">IIB", data[at + 4:at + 13])
    assert unit == 1 and x == y
    return x * 0.0254


def test_render_is_exact_size_and_printable_files(tmp_path):
    image = render_board(CHARUCO, dpi=300, margin_m=0.01)
    q = CHARUCO.square_px(300)
    margin = round(0.01 * q / 0.04)
    assert image.shape == (5 * q + 2 * margin, 7 * q + 2 * margin)
    dpi = CHARUCO.exact_dpi(300)
    assert abs(dpi - 300) < 300 / q  # within half a pixel per square
    assert q / dpi * 0.0254 == pytest.approx(0.04, abs=1e-12)  # printed square, metres
    png, pdf = write_board_printable(CHARUCO, tmp_path / "board", dpi=300)
    data = png.read_bytes()
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE), image)
    assert _png_dpi(data) == pytest.approx(dpi, abs=0.02)  # pHYs is in whole pixels per metre
    text = pdf.read_bytes()
    assert text.startswith(b"%PDF-1.4") and text.rstrip().endswith(b"%%EOF")
    box = re.search(rb"/MediaBox \[0 0 ([0-9.]+) ([0-9.]+)\]", text)
    width_m = float(box.group(1)) / 72 * 0.0254
    assert width_m == pytest.approx(image.shape[1] / dpi * 0.0254, abs=1e-6)
    squares_m = float(box.group(1)) / 72 * 0.0254 * 7 * q / image.shape[1]
    assert squares_m == pytest.approx(7 * 0.04, abs=1e-6)  # the squared area prints at 28 cm
    # the PDF's xref table points at every object
    xref = int(text.rsplit(b"startxref", 1)[1].split()[0])
    offsets = [int(line.split()[0]) for line in text[xref:].splitlines()[3:9]]
    assert [text[o:o + 7] for o in offsets] == [f"{i} 0 obj".encode() for i in range(1, 7)]
    inverted = render_board(Board(type="charuco", squares=(7, 5), square_length_m=0.04, marker_length_m=0.03,
                                  inverted=True), dpi=100, label=False)
    np.testing.assert_array_equal(inverted, 255 - render_board(CHARUCO, dpi=100, label=False))


# -- small boards through a real lens (capture.render ray-traces the exact lens model) ------------
SMALL_SQUARE_RMS_PX = 0.18  # 13-15 px squares: OpenCV alone leaves 0.8 px RMS, up to 3 px; 0.14-0.15
# measured (a single 7x7 cornerSubPix window, pulled by the markers' edges, left 0.21)
SMALL_SQUARE_MAX_PX = 1.0


@pytest.mark.parametrize("lens", ["distorted", "fisheye"])
def test_small_charuco_squares_are_refined(lens):
    from board_views import board_poses_in_view, render_board_views, true_corners_px
    from geometry.synthetic import synthetic_camera
    board = Board(type="charuco", squares=(9, 7), square_length_m=0.03, marker_length_m=0.022,
                  dictionary="DICT_5X5_100")
    camera = synthetic_camera("c", [0, 0, 0], [0, 0, 1], size=(960, 540), lens=lens,
                              rng=np.random.default_rng(1), up=(0, -1, 0))
    poses = board_poses_in_view(board, 4, rng=np.random.default_rng(2), distance_m=(1.2, 1.4),
                                max_offset_m=(0.1, 0.05))
    errors = []
    for (R, t), image in zip(poses, render_board_views(camera, board, poses)):
        detection = detect_board(board, image)
        errors.append(detection.corners_px - true_corners_px(camera, board, R, t)[detection.ids])
    error = np.linalg.norm(np.concatenate(errors), axis=-1)
    assert len(error) >= 100
    assert np.sqrt(np.mean(error ** 2)) < SMALL_SQUARE_RMS_PX
    assert error.max() < SMALL_SQUARE_MAX_PX
