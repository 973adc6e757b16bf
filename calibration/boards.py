"""Calibration boards: ChArUco and checkerboards, their files, detection and printable images.

Conventions in :mod:`geometry.camera`. The *board frame*: origin at the board's top-left outer
corner (as printed), x along the columns, y along the rows (down the printed page), z = x cross y
(into the board), metres. Board corners are the inner chessboard corners, numbered row by row
from the top-left: id ``i`` sits at ``((i % (columns - 1) + 1) * s, (i // (columns - 1) + 1) * s, 0)``
with ``s = square_length_m``; ChArUco corner ids are exactly OpenCV's.

Board file (TOML)::

    type = "charuco"            # or "checkerboard"
    squares = [7, 5]            # columns, rows (squares, not inner corners)
    square_length_m = 0.04
    marker_length_m = 0.03      # charuco only
    dictionary = "DICT_4X4_50"  # any predefined ArUco dictionary
    inverted = false            # white-on-black print
    legacy = false              # the pre-4.6 OpenCV ChArUco layout (even row counts differ)

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

from .toml_writer import dumps_toml

__all__ = [
    "BoardType",
    "DetectionEffort",
    "ARUCO_DICTIONARIES",
    "Board",
    "BoardDetection",
    "load_board",
    "board_from_mapping",
    "save_board",
    "detect_board",
    "diagnose_board",
]

logger = logging.getLogger(__name__)

BoardType = Literal["charuco", "checkerboard"]
DetectionEffort = Literal["fast", "thorough"]

# Canonical (upper-case) names of every predefined ArUco / AprilTag dictionary in OpenCV.
ARUCO_DICTIONARIES: dict[str, int] = {
    name.upper(): getattr(cv2.aruco, name)
    for name in sorted(dir(cv2.aruco)) if name.startswith("DICT_") and name == name.upper()
}
MAX_SQUARE_LENGTH_M = 1.0  # a printed square larger than 1 m is a unit mistake, not a board
_MIN_CHARUCO_CORNERS = 4  # fewer interpolated corners than this carry no usable view
_INCH_M = 0.0254


@dataclass(frozen=True, kw_only=True)
class Board:
    """A calibration board: what was printed, in metres.

    type: ``"charuco"`` or ``"checkerboard"``.
    squares: (columns, rows) of squares; the inner corners are (columns - 1, rows - 1).
    square_length_m: side of one chessboard square, metres.
    marker_length_m: side of one ArUco marker (charuco only), metres, < square_length_m.
    dictionary: predefined ArUco dictionary name (charuco only), e.g. ``"DICT_4X4_1000"``.
    inverted: white-on-black print (markers and squares inverted).
    legacy: OpenCV's pre-4.6 ChArUco layout (matters for boards with an even number of rows).
    """

    type: BoardType
    squares: tuple[int, int]
    square_length_m: float
    marker_length_m: float | None = None
    dictionary: str = "DICT_4X4_50"
    inverted: bool = False
    legacy: bool = False

    def __post_init__(self) -> None:
        if self.type not in ("charuco", "checkerboard"):
            raise ValueError(f"board type is {self.type!r}, expected 'charuco' or 'checkerboard'")
        try:
            squares = tuple(float(s) for s in np.asarray(self.squares, dtype=object).reshape(-1))
        except (TypeError, ValueError):
            squares = ()
        if len(squares) != 2 or any(int(s) != s for s in squares):
            raise ValueError(f"board squares is {self.squares!r}, expected [columns, rows] as two integers")
        squares = (int(squares[0]), int(squares[1]))
        if min(squares) < 3 if self.type == "checkerboard" else min(squares) < 2:
            raise ValueError(f"board squares is {list(squares)}; a {self.type} needs at least "
                             f"{3 if self.type == 'checkerboard' else 2} squares each way")
        object.__setattr__(self, "squares", squares)
        object.__setattr__(self, "square_length_m", _length(self.square_length_m, "square_length_m"))
        dictionary = str(self.dictionary).upper()
        if not dictionary.startswith("DICT_"):
            dictionary = "DICT_" + dictionary
        object.__setattr__(self, "dictionary", dictionary)
        object.__setattr__(self, "inverted", bool(self.inverted))
        object.__setattr__(self, "legacy", bool(self.legacy))
        if self.type == "checkerboard":
            object.__setattr__(self, "marker_length_m", None)
            return
        if self.marker_length_m is None:
            raise ValueError("a charuco board needs marker_length_m (the side of one ArUco marker)")
        marker = _length(self.marker_length_m, "marker_length_m")
        object.__setattr__(self, "marker_length_m", marker)
        if marker >= self.square_length_m:
            raise ValueError(f"marker_length_m ({marker} m) must be smaller than square_length_m "
                             f"({self.square_length_m} m)")
        if dictionary not in ARUCO_DICTIONARIES:
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}; expected one of "
                             f"{', '.join(ARUCO_DICTIONARIES)}")
        available = _dictionary_size(dictionary)
        if self.num_markers > available:
            raise ValueError(f"a {squares[0]}x{squares[1]} charuco board needs {self.num_markers} "
                             f"markers but {dictionary} has only {available}")

    # -- geometry -------------------------------------------------------------------------------
    @property
    def inner_corners(self) -> tuple[int, int]:
        """(columns, rows) of inner chessboard corners: OpenCV's ``patternSize``."""
        return self.squares[0] - 1, self.squares[1] - 1

    @property
    def num_corners(self) -> int:
        return self.inner_corners[0] * self.inner_corners[1]

    @property
    def num_markers(self) -> int:
        """ArUco markers on a charuco board (0 for checkerboards)."""
        return 0 if self.type == "checkerboard" else (self.squares[0] * self.squares[1]) // 2

    @property
    def size_m(self) -> tuple[float, float]:
        """(width, height) of the squared area, metres."""
        return self.squares[0] * self.square_length_m, self.squares[1] * self.square_length_m

    def corners_in_board(self) -> np.ndarray:
        """(C, 3) float64 inner corners in the board frame, metres; row ``i`` is corner id ``i``."""
        cols, rows = self.inner_corners
        col, row = np.meshgrid(np.arange(cols), np.arange(rows))
        xy = np.stack([col.ravel() + 1, row.ravel() + 1], axis=-1) * self.square_length_m
        return np.concatenate([xy, np.zeros((len(xy), 1))], axis=-1)

    @functools.cached_property
    def opencv_board(self) -> cv2.aruco.CharucoBoard:
        """The OpenCV ``CharucoBoard`` (charuco only)."""
        if self.type != "charuco":
            raise ValueError("opencv_board exists for charuco boards only")
        dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARIES[self.dictionary])
        board = cv2.aruco.CharucoBoard(self.squares, self.square_length_m, self.marker_length_m, dictionary)
        board.setLegacyPattern(self.legacy)
        return board

    def describe(self) -> str:
        """One line for logs, reports and the printed label."""
        text = (f"{self.type} {self.squares[0]}x{self.squares[1]} squares of "
                f"{self.square_length_m * 1000:g} mm")
        if self.type == "charuco":
            text += f", markers {self.marker_length_m * 1000:g} mm, {self.dictionary}"
            text += ", legacy layout" if self.legacy else ""
        return text + (", inverted" if self.inverted else "")

    def to_mapping(self) -> dict:
        """The board file's content (see the module docstring)."""
        out = {"type": self.type, "squares": list(self.squares), "square_length_m": self.square_length_m}
        if self.type == "charuco":
            out.update(marker_length_m=self.marker_length_m, dictionary=self.dictionary)
        out.update(inverted=self.inverted, legacy=self.legacy)
        return out

    # -- printing -------------------------------------------------------------------------------
    def square_px(self, dpi: float) -> int:
        """Pixels per square when rendering for ``dpi`` (squares are a whole number of pixels)."""
        if not dpi > 0:
            raise ValueError(f"dpi is {dpi}, expected > 0")
        return max(8, int(round(self.square_length_m * dpi / _INCH_M)))

    def exact_dpi(self, dpi: float) -> float:
        """The DPI at which :meth:`render` for ``dpi`` prints at exactly ``square_length_m``.

        Squares are rendered with a whole number of pixels, so this differs from ``dpi`` by at most
        half a pixel per square; PNG and PDF files carry this value, so they print at exact size.
        """
        return self.square_px(dpi) * _INCH_M / self.square_length_m

    def render(self, *, dpi: float = 300.0, margin_m: float = 0.01, label: bool = True) -> np.ndarray:
        """A printable image; printed at :meth:`exact_dpi` (100% scale) it has the board's size.

        margin_m: white (black when inverted) border around the squares, metres.
        label: write the board description in the bottom margin (when it is >= 4 mm).
        Returns (H, W) uint8 grayscale. Square ``(c, r)`` covers pixels
        ``[m + c * q, m + (c + 1) * q)`` with ``q = square_px(dpi)`` and ``m`` the margin in pixels.
        """
        if margin_m < 0:
            raise ValueError(f"margin_m is {margin_m}, expected >= 0")
        square_px = self.square_px(dpi)
        px_per_m = square_px / self.square_length_m
        margin_px = int(round(margin_m * px_per_m))
        width_px, height_px = self.squares[0] * square_px, self.squares[1] * square_px
        if self.type == "charuco":
            inner = self.opencv_board.generateImage((width_px, height_px), marginSize=0, borderBits=1)
        else:
            row, col = np.indices((height_px, width_px)) // square_px
            inner = np.where((row + col) % 2 == 0, 0, 255).astype(np.uint8)
        image = np.full((height_px + 2 * margin_px, width_px + 2 * margin_px), 255, np.uint8)
        image[margin_px:margin_px + height_px, margin_px:margin_px + width_px] = inner
        if label and margin_m >= 0.004:
            text = f"rigkit {self.describe()}; print at 100%: one square = {self.square_length_m * 1000:g} mm"
            scale = 0.35 * margin_px / 20.0
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            if tw > 0.75 * width_px:  # OpenCV's font renders wider than getTextSize says
                scale *= 0.75 * width_px / tw
                (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            y = margin_px + height_px + (margin_px + th) // 2
            cv2.putText(image, text, (margin_px, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 128,
                        max(1, int(round(scale))), cv2.LINE_AA)
        return 255 - image if self.inverted else image

    def write_printable(self, path: str | os.PathLike, *, dpi: float = 300.0, margin_m: float = 0.01,
                        pdf: bool = True) -> list[Path]:
        """Write the rendered board as PNG (with its DPI) and, when ``pdf``, a PDF of the exact size.

        path: the PNG path (``.png`` added when missing); the PDF goes next to it.
        Both files carry :meth:`exact_dpi`, so "actual size" printing gives exact squares.
        Returns the paths written.
        """
        from .files import write_atomic
        from .printable import pdf_bytes, png_bytes
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        image = self.render(dpi=dpi, margin_m=margin_m)
        dpi = self.exact_dpi(dpi)
        write_atomic(path, png_bytes(image, dpi=dpi))
        written = [path]
        if pdf:
            write_atomic(path.with_suffix(".pdf"), pdf_bytes(image, dpi=dpi, title=f"rigkit {self.describe()}"))
            written.append(path.with_suffix(".pdf"))
        return written


def _length(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is {value!r}, expected a length in metres") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} is {value}, expected a positive length in metres")
    if value > MAX_SQUARE_LENGTH_M:
        raise ValueError(f"{name} is {value:g} m; did you give millimetres? ({value:g} mm is "
                         f"{value / 1000:g} m)")
    return value


# -- files ---------------------------------------------------------------------------------------
def board_from_mapping(mapping: Mapping, *, where: str = "board") -> Board:
    """A Board from the keys of a board file (see the module docstring)."""
    known = {f.name for f in fields(Board)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; board keys are {', '.join(sorted(known))}")
    for key in ("type", "squares", "square_length_m"):
        if key not in mapping:
            raise ValueError(f"{where}: missing {key!r}")
    try:
        return Board(**mapping)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def load_board(path: str | os.PathLike) -> Board:
    """Read a board TOML file. A ``[board]`` table is accepted as well as top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"board file {path} does not exist")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"board file {path} is not valid TOML: {error}") from None
    if isinstance(document.get("board"), Mapping):
        document = document["board"]
    return board_from_mapping(document, where=f"board file {path}")


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
    return cv2.aruco.CharucoDetector(board.opencv_board, charuco_params, params)


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
    half = 2 if square_px >= 17 else 3
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
    refined = cv2.cornerSubPix(gray, corners.astype(np.float32).reshape(-1, 1, 2), (half, half), (-1, -1),
                               criteria).reshape(-1, 2).astype(np.float64)
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
        members = sorted(members, key=_dictionary_size)
        if board.dictionary in members and members[-1] == board.dictionary:
            continue
        ids = _markers_found(members[-1], grays, inverted=board.inverted)
        if len(ids) > len(best_ids):
            best_ids = ids
            best = next(m for m in members if _dictionary_size(m) > max(ids))
        if len(best_ids) >= convincing:
            break
    if best is not None and len(best_ids) >= 3:
        return (f"no markers of {board.dictionary} are visible, but {len(best_ids)} markers of {best} are; "
                f"check dictionary (dictionary = \"{best}\"?)")
    return (f"no ArUco markers of {board.dictionary} are visible; check dictionary, lighting, focus "
            "and that the board is in view")


def _dictionary_size(name: str) -> int:
    return cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARIES[name]).bytesList.shape[0]


def _markers_found(dictionary: str, grays, *, inverted: bool) -> set[int]:
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARIES[dictionary]),
                                       cv2.aruco.DetectorParameters())
    found: set[int] = set()
    for gray in grays:
        _, ids, _ = detector.detectMarkers(255 - gray if inverted else gray)
        if ids is not None:
            found.update(int(i) for i in np.asarray(ids).reshape(-1))
    return found
