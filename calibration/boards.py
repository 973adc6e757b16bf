"""Calibration boards with OpenCV: board files, detection, diagnosis and printable images.

The board itself (what was printed, its validation, its corners in the board frame and the keys
of a board file) is :class:`geometry.Board`, re-exported here; conventions and the board frame
are in :mod:`geometry.board`. Board file (TOML; :func:`load_board`, :func:`save_board`)::

    type = "charuco"            # or "checkerboard"
    squares = [7, 5]            # columns, rows (squares, not inner corners)
    square_length_m = 0.04
    marker_length_m = 0.03      # charuco only
    dictionary = "DICT_4X4_50"  # any predefined ArUco dictionary
    inverted = false            # white-on-black print
    legacy = false              # the pre-4.6 OpenCV ChArUco layout (even row counts differ)
    margin_m = 0.01             # optional: paper border around the squares (printing, rendering)

:func:`load_board` also reads the board descriptions that Caliscope (``charuco.toml``,
``chessboard.toml``), Anipose (``config.toml`` ``[calibration]``) and Pose2Sim (``Config.toml``
``[calibration.calculate]``) write, converting them as :mod:`calibration.peer_boards` describes;
:func:`load_board_with_notice` also returns the sentence saying what was read.

Checkerboards have a 180-degree ambiguity (the detector may number the corners from either end),
which does not matter for intrinsics; prefer ChArUco for extrinsics.
"""

from __future__ import annotations

import functools
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from geometry.board import ARUCO_DICTIONARY_SIZES, Board, BoardType, board_from_mapping

from .peer_boards import BoardRole, read_peer_board
from .toml_writer import dumps_toml

__all__ = [
    "BoardType",
    "BoardRole",
    "DetectionEffort",
    "ARUCO_DICTIONARIES",
    "Board",
    "BoardDetection",
    "load_board",
    "load_board_with_notice",
    "board_from_mapping",
    "save_board",
    "render_board",
    "write_board_printable",
    "opencv_charuco_board",
    "detect_board",
    "diagnose_board",
]

logger = logging.getLogger(__name__)

DetectionEffort = Literal["fast", "thorough"]

# OpenCV's id of every predefined dictionary geometry.Board accepts; a name cv2 lacks fails here,
# at import (tests check that the two lists agree both ways).
ARUCO_DICTIONARIES: dict[str, int] = {name: getattr(cv2.aruco, name) for name in ARUCO_DICTIONARY_SIZES}
_BOARD_KEYS = frozenset(f.name for f in fields(Board))
# Keys only rigkit's board files have (Caliscope's also has dictionary and inverted).
_RIGKIT_ONLY_KEYS = _BOARD_KEYS - {"dictionary", "inverted"}
_MIN_CHARUCO_CORNERS = 4  # fewer interpolated corners than this carry no usable view


@functools.lru_cache(maxsize=32)
def opencv_charuco_board(board: Board) -> cv2.aruco.CharucoBoard:
    """The OpenCV ``CharucoBoard`` of a charuco ``board`` (cached per board)."""
    if board.type != "charuco":
        raise ValueError("opencv_charuco_board exists for charuco boards only")
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARIES[board.dictionary])
    charuco = cv2.aruco.CharucoBoard(board.squares, board.square_length_m, board.marker_length_m, dictionary)
    charuco.setLegacyPattern(board.legacy)
    return charuco


# -- printing ------------------------------------------------------------------------------------
def render_board(board: Board, *, dpi: float = 300.0, margin_m: float | None = None,
                 label: bool = True) -> np.ndarray:
    """A printable image; printed at ``board.exact_dpi(dpi)`` (100% scale) it has the board's size.

    margin_m: white (black when inverted) border around the squares, metres (default
        ``board.margin_m``).
    label: write the board description in the bottom margin (when it is >= 4 mm).
    Returns (H, W) uint8 grayscale. Square ``(c, r)`` covers pixels
    ``[m + c * q, m + (c + 1) * q)`` with ``q = board.square_px(dpi)`` and ``m`` the margin in pixels.
    """
    margin_m = board.margin_m if margin_m is None else margin_m
    if margin_m < 0:
        raise ValueError(f"margin_m is {margin_m}, expected >= 0")
    square_px = board.square_px(dpi)
    px_per_m = square_px / board.square_length_m
    margin_px = int(round(margin_m * px_per_m))
    width_px, height_px = board.squares[0] * square_px, board.squares[1] * square_px
    if board.type == "charuco":
        inner = opencv_charuco_board(board).generateImage((width_px, height_px), marginSize=0, borderBits=1)
    else:
        row, col = np.indices((height_px, width_px)) // square_px
        inner = np.where((row + col) % 2 == 0, 0, 255).astype(np.uint8)
    image = np.full((height_px + 2 * margin_px, width_px + 2 * margin_px), 255, np.uint8)
    image[margin_px:margin_px + height_px, margin_px:margin_px + width_px] = inner
    if label and margin_m >= 0.004:
        text = f"rigkit {board.describe()}; print at 100%: one square = {board.square_length_m * 1000:g} mm"
        scale = 0.35 * margin_px / 20.0
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if tw > 0.75 * width_px:  # OpenCV's font renders wider than getTextSize says
            scale *= 0.75 * width_px / tw
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        y = margin_px + height_px + (margin_px + th) // 2
        cv2.putText(image, text, (margin_px, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 128,
                    max(1, int(round(scale))), cv2.LINE_AA)
    return 255 - image if board.inverted else image


def write_board_printable(board: Board, path: str | os.PathLike, *, dpi: float = 300.0,
                          margin_m: float | None = None, pdf: bool = True) -> list[Path]:
    """Write the rendered board as PNG (with its DPI) and, when ``pdf``, a PDF of the exact size.

    path: the PNG path (``.png`` added when missing); the PDF goes next to it.
    margin_m: as in :func:`render_board`.
    Both files carry ``board.exact_dpi(dpi)``, so "actual size" printing gives exact squares.
    Returns the paths written.
    """
    from .files import write_atomic
    from .printable import pdf_bytes, png_bytes
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    image = render_board(board, dpi=dpi, margin_m=margin_m)
    dpi = board.exact_dpi(dpi)
    write_atomic(path, png_bytes(image, dpi=dpi))
    written = [path]
    if pdf:
        write_atomic(path.with_suffix(".pdf"), pdf_bytes(image, dpi=dpi, title=f"rigkit {board.describe()}"))
        written.append(path.with_suffix(".pdf"))
    return written


# -- files ---------------------------------------------------------------------------------------
def load_board(path: str | os.PathLike, *, role: BoardRole | None = None) -> Board:
    """Read a board file: rigkit's TOML (a ``[board]`` table is accepted as well as top-level keys)
    or a peer's board description (:mod:`calibration.peer_boards`).

    role: which board of a file that holds two (Pose2Sim's Config.toml): ``"intrinsics"`` or
        ``"extrinsics"``; None takes the intrinsics board. Other formats ignore it.
    Raises FileNotFoundError, or ValueError with one sentence naming the file.
    """
    return load_board_with_notice(path, role=role)[0]


def load_board_with_notice(path: str | os.PathLike, *,
                           role: BoardRole | None = None) -> tuple[Board, str | None]:
    """:func:`load_board`, and the sentence saying what a peer's file was read as (logged too);
    None for rigkit's own board files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"board file {path} does not exist")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"board file {path} is not valid TOML: {error}") from None
    table = document["board"] if isinstance(document.get("board"), Mapping) else document
    if not _RIGKIT_ONLY_KEYS & table.keys():  # a file with rigkit's keys keeps rigkit's messages
        peer = read_peer_board(document, path=path, role=role)
        if peer is not None:
            logger.info(peer.notice)
            return peer.board, peer.notice
        foreign = sorted(set(table) - _BOARD_KEYS)
        if foreign and not _BOARD_KEYS & table.keys():
            raise ValueError(
                f"board file {path}: unknown key {foreign[0]!r}; expected rigkit's board keys "
                f"({', '.join(sorted(_BOARD_KEYS))}) or a peer's board description (Caliscope's charuco.toml "
                "or chessboard.toml, an Anipose config.toml with [calibration], a Pose2Sim Config.toml "
                "with [calibration.calculate])")
    return board_from_mapping(table, where=f"board file {path}"), None


def save_board(board: Board, path: str | os.PathLike) -> Path:
    """Write a board TOML file (whole or not at all)."""
    from .files import write_atomic
    write_atomic(path, dumps_toml(board.to_mapping()))
    return Path(path)


# -- detection -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BoardDetection:
    """The board corners found in one image.

    ids: (C,) int64 corner ids, indices into ``board.corners_in_board()``; ascending.
    corners_px: (C, 2) float64 distorted pixel coordinates (pixel-centre origin).
    image_size: (width, height) pixels of the image searched.
    marker_ids: (M,) int64 ArUco ids found (charuco; empty for checkerboards).
    marker_corners_px: (M, 4, 2) float64 marker corners, pixels.
    """

    ids: np.ndarray
    corners_px: np.ndarray
    image_size: tuple[int, int]
    marker_ids: np.ndarray
    marker_corners_px: np.ndarray

    @property
    def num_corners(self) -> int:
        return int(self.ids.size)

    @property
    def success(self) -> bool:
        """At least 4 corners: enough for a homography, i.e. a usable view."""
        return self.ids.size >= _MIN_CHARUCO_CORNERS


def _to_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    if image.ndim != 2:
        raise ValueError(f"image has shape {image.shape}, expected (H, W) or (H, W, 3)")
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.max() <= 1.0:
            image = image * 255.0
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


@functools.lru_cache(maxsize=32)
def _charuco_detector(board: Board) -> cv2.aruco.CharucoDetector:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE  # charuco refines the corners
    charuco_params = cv2.aruco.CharucoParameters()
    charuco_params.tryRefineMarkers = True
    return cv2.aruco.CharucoDetector(opencv_charuco_board(board), charuco_params, params)


def detect_board(board: Board, image: np.ndarray, *, effort: DetectionEffort = "fast") -> BoardDetection:
    """Find the board's corners in one image.

    image: (H, W) or (H, W, 3) BGR, uint8 (or float in [0, 1]).
    effort: checkerboards only: ``"thorough"`` falls back to ``findChessboardCornersSB`` with an
        exhaustive search (about 0.2 s) when the fast detector fails; ``"fast"`` suits videos.
    Returns a :class:`BoardDetection`; no corners found is not an error (``success`` is False).
    """
    gray = _to_gray(image)
    if board.inverted:
        gray = 255 - gray
    size = (gray.shape[1], gray.shape[0])
    if board.type == "charuco":
        return _detect_charuco(board, gray, size)
    return _detect_checkerboard(board, gray, size, effort)


def _empty(size, marker_ids=None, marker_corners=None) -> BoardDetection:
    return BoardDetection(
        ids=np.zeros(0, np.int64), corners_px=np.zeros((0, 2)), image_size=size,
        marker_ids=np.zeros(0, np.int64) if marker_ids is None else marker_ids,
        marker_corners_px=np.zeros((0, 4, 2)) if marker_corners is None else marker_corners)


def _detect_charuco(board: Board, gray: np.ndarray, size) -> BoardDetection:
    corners, ids, marker_corners, marker_ids = _charuco_detector(board).detectBoard(gray)
    if marker_ids is None or len(marker_ids) == 0:
        return _empty(size)
    marker_ids = np.asarray(marker_ids, np.int64).reshape(-1)
    marker_corners = np.asarray(marker_corners, np.float64).reshape(-1, 4, 2)
    if ids is None or len(ids) == 0:
        return _empty(size, marker_ids, marker_corners)
    ids = np.asarray(ids, np.int64).reshape(-1)
    corners = np.asarray(corners, np.float64).reshape(-1, 2)
    order = np.argsort(ids)
    ids, corners = _refine_small_charuco(board, gray, ids[order], corners[order])
    return BoardDetection(ids=ids, corners_px=corners, image_size=size,
                          marker_ids=marker_ids, marker_corners_px=marker_corners)


# Below this many pixels per square, OpenCV's ChArUco refinement window (kept clear of the
# markers) becomes too small and corners stay at their marker-interpolated guesses (errors of
# 0.5-3 px at 12-20 px squares); rigkit refines them itself and drops inconsistent ones.
_SMALL_SQUARE_PX = 24.0


def _refine_small_charuco(board: Board, gray: np.ndarray, ids: np.ndarray, corners: np.ndarray):
    cols = board.inner_corners[0]
    position = {int(i): k for k, i in enumerate(ids)}
    steps = [np.linalg.norm(corners[position[i + d]] - corners[k])
             for i, k in position.items() for d in (1, cols)
             if (i + d) in position and (d == cols or (i + 1) % cols != 0)]
    if not steps:
        return ids, corners
    square_px = float(np.median(steps))
    if square_px >= _SMALL_SQUARE_PX:
        return ids, corners
    # OpenCV's marker-interpolated guesses are off by up to ~3 px: a 7x7 window brings them in,
    # then a 5x5 one settles them. The markers' edges sit ~1/8 square from the corner (1.4-3 px
    # here) and the wider window alone is pulled towards them (0.26 px RMS at 15 px squares,
    # 0.14 px after the second pass).
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
    refined = corners.astype(np.float32).reshape(-1, 1, 2)
    for half in (3, 2):
        refined = cv2.cornerSubPix(gray, refined, (half, half), (-1, -1), criteria)
    refined = refined.reshape(-1, 2).astype(np.float64)
    if len(ids) < 6:
        return ids, refined
    # A small board is nearly projective in the image: corners off its homography are wrong.
    board_xy = board.corners_in_board()[ids, :2]
    H, inliers = cv2.findHomography(board_xy, refined, cv2.RANSAC, max(0.75, 0.06 * square_px))
    if H is None:
        return ids, refined
    keep = inliers.reshape(-1).astype(bool)
    return ids[keep], refined[keep]


def _detect_checkerboard(board: Board, gray: np.ndarray, size, effort: DetectionEffort) -> BoardDetection:
    pattern = board.inner_corners
    # Both detectors run on a copy of at most 1000 px (their cost grows with the image and they
    # gain nothing from more pixels); cornerSubPix then refines at full resolution.
    scale = min(1.0, 1000.0 / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(small, pattern, flags=flags)
    if not found and effort == "thorough":
        flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE
        found, corners = cv2.findChessboardCornersSB(small, pattern, flags=flags)
    if not found:
        return _empty(size)
    corners = (corners.reshape(-1, 2).astype(np.float64) + 0.5) / scale - 0.5
    spacing = np.min(np.linalg.norm(np.diff(corners.reshape(pattern[1], pattern[0], 2), axis=1), axis=-1))
    half = int(np.clip(spacing / 4, 2, 11))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
    corners = cv2.cornerSubPix(gray, corners.astype(np.float32).reshape(-1, 1, 2), (half, half),
                               (-1, -1), criteria).reshape(-1, 2).astype(np.float64)
    return BoardDetection(ids=np.arange(board.num_corners, dtype=np.int64), corners_px=corners,
                          image_size=size, marker_ids=np.zeros(0, np.int64),
                          marker_corners_px=np.zeros((0, 4, 2)))


def diagnose_board(board: Board, images) -> str:
    """Why ``board`` is not found in ``images`` (a few frames): one sentence for the user.

    Looks for markers of every other predefined dictionary, marker ids beyond the board's range,
    an inverted print, and (checkerboards) other corner counts. Slow (tries every dictionary);
    call it only after detection failed everywhere.
    """
    grays = [_to_gray(image) for image in images]
    if not grays:
        return "no images to look at"
    if board.type == "checkerboard":
        # Largest patterns first: the classic detector also finds sub-grids of a bigger board.
        patterns = sorted(((c, r) for c in range(3, 13) for r in range(c, 13)
                           if (c, r) not in (board.inner_corners, board.inner_corners[::-1])),
                          key=lambda p: -p[0] * p[1])
        for gray in grays:
            small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
            for cols, rows in patterns:
                found, _ = cv2.findChessboardCorners(small, (cols, rows), flags=cv2.CALIB_CB_FAST_CHECK)
                if found:
                    return (f"a checkerboard with {cols}x{rows} inner corners ({cols + 1}x{rows + 1} "
                            f"squares) is visible, but the board says {board.squares[0]}x"
                            f"{board.squares[1]} squares; check squares")
        return (f"no {board.inner_corners[0]}x{board.inner_corners[1]}-inner-corner checkerboard is "
                "visible; check squares, lighting and focus")
    found_here = _markers_found(board.dictionary, grays, inverted=board.inverted)
    if found_here:
        ids = sorted(found_here)
        if ids[-1] >= board.num_markers:
            return (f"markers of {board.dictionary} are visible, with ids up to {ids[-1]}, but a "
                    f"{board.squares[0]}x{board.squares[1]} board has ids 0-{board.num_markers - 1}; "
                    "check squares (or a board printed with another id offset)")
        if board.legacy is False and board.squares[1] % 2 == 0:
            return (f"{len(ids)} markers of {board.dictionary} are visible but no corners could be "
                    "interpolated; with an even number of rows, try legacy = true")
        return (f"{len(ids)} markers of {board.dictionary} are visible but no corners could be "
                "interpolated; check squares and marker_length_m")
    if _markers_found(board.dictionary, grays, inverted=not board.inverted):
        return (f"markers of {board.dictionary} are visible in {'normal' if board.inverted else 'inverted'} "
                f"print; set inverted = {'false' if board.inverted else 'true'}")
    # Dictionaries of one family (DICT_4X4_50 .. _1000) share their first markers: search the
    # largest of each family once, then name the smallest one that holds every id seen.
    families: dict[tuple, list[str]] = {}
    for name in ARUCO_DICTIONARIES:
        dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARIES[name])
        families.setdefault((dictionary.markerSize, name.rsplit("_", 1)[0] if name[-1].isdigit()
                             and "X" in name else name), []).append(name)
    best, best_ids = None, set()
    convincing = max(4, board.num_markers // 3)
    for members in families.values():
        members = sorted(members, key=ARUCO_DICTIONARY_SIZES.__getitem__)
        if board.dictionary in members and members[-1] == board.dictionary:
            continue
        ids = _markers_found(members[-1], grays, inverted=board.inverted)
        if len(ids) > len(best_ids):
            best_ids = ids
            best = next(m for m in members if ARUCO_DICTIONARY_SIZES[m] > max(ids))
        if len(best_ids) >= convincing:
            break
    if best is not None and len(best_ids) >= 3:
        return (f"no markers of {board.dictionary} are visible, but {len(best_ids)} markers of {best} are; "
                f"check dictionary (dictionary = \"{best}\"?)")
    return (f"no ArUco markers of {board.dictionary} are visible; check dictionary, lighting, focus "
            "and that the board is in view")


def _markers_found(dictionary: str, grays, *, inverted: bool) -> set[int]:
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARIES[dictionary]),
                                       cv2.aruco.DetectorParameters())
    found: set[int] = set()
    for gray in grays:
        _, ids, _ = detector.detectMarkers(255 - gray if inverted else gray)
        if ids is not None:
            found.update(int(i) for i in np.asarray(ids).reshape(-1))
    return found
