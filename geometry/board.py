"""Calibration boards (ChArUco and checkerboards): what was printed, in metres. Pure numpy.

Conventions in :mod:`geometry.camera`. The *board frame* is OpenCV's: origin at the outer corner
of the first (top-left) square as printed, x along the columns, y along the rows (down the
printed page), z = x cross y (into the board), metres; the board lies in ``z = 0``, so a camera
looking at the printed side sees it with ``cam_from_board`` close to the identity. Board corners
are the inner chessboard corners, numbered row by row from the top-left: corner id
``i = row * (columns - 1) + column`` sits at ``((column + 1) * s, (row + 1) * s, 0)`` with
``s = square_length_m``: exactly ``cv2.aruco.CharucoBoard(...).getChessboardCorners()`` (ChArUco
corner ids are OpenCV's) and the object points OpenCV's checkerboard examples build for
``cv2.findChessboardCorners``.

One description serves every package: board files and detection (:mod:`calibration.boards`),
rig files and rendering (:mod:`capture`), synthetic scenes (:mod:`geometry.synthetic`). Its keys
(:func:`board_from_mapping`, a board file or a rig file's ``[synthetic.board]`` table)::

    type = "charuco"            # or "checkerboard"
    squares = [7, 5]            # columns, rows (squares, not inner corners)
    square_length_m = 0.04
    marker_length_m = 0.03      # charuco only
    dictionary = "DICT_4X4_50"  # any predefined ArUco dictionary (ARUCO_DICTIONARY_SIZES)
    inverted = false            # white-on-black print
    legacy = false              # the pre-4.6 OpenCV ChArUco layout (even row counts differ)
    margin_m = 0.01             # optional: paper border printed around the squares
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np

__all__ = ["BoardType", "ARUCO_DICTIONARY_SIZES", "MAX_SQUARE_LENGTH_M", "Board", "board_from_mapping",
           "SYNTHETIC_BOARD"]

BoardType = Literal["charuco", "checkerboard"]

# Every predefined ArUco / AprilTag dictionary of OpenCV (canonical upper-case names) and its
# number of markers (the size is in the name; AprilTag and MIP families have fixed sizes).
ARUCO_DICTIONARY_SIZES: dict[str, int] = {
    **{f"DICT_{bits}X{bits}_{count}": count for bits in (4, 5, 6, 7) for count in (50, 100, 250, 1000)},
    "DICT_ARUCO_ORIGINAL": 1024,
    "DICT_APRILTAG_16H5": 30,
    "DICT_APRILTAG_25H9": 35,
    "DICT_APRILTAG_36H10": 2320,
    "DICT_APRILTAG_36H11": 587,
    "DICT_ARUCO_MIP_36H12": 250,
}
MAX_SQUARE_LENGTH_M = 1.0  # a printed square larger than 1 m is a unit mistake, not a board
_INCH_M = 0.0254
_REQUIRED_KEYS = ("type", "squares", "square_length_m")


@dataclass(frozen=True, kw_only=True)
class Board:
    """A calibration board: what was printed, in metres.

    type: ``"charuco"`` or ``"checkerboard"``.
    squares: (columns, rows) of squares; the inner corners are (columns - 1, rows - 1).
    square_length_m: side of one chessboard square, metres.
    marker_length_m: side of one ArUco marker (charuco only), metres, < square_length_m.
    dictionary: predefined ArUco dictionary name (charuco only), e.g. ``"DICT_4X4_1000"``; case
        and the ``DICT_`` prefix are optional (stored canonical, upper case).
    inverted: white-on-black print (markers and squares inverted; the margin stays paper).
    legacy: OpenCV's pre-4.6 ChArUco layout (matters for boards with an even number of rows).
    margin_m: paper border printed around the squares, metres (rendering and the sheet outline).
    """

    type: BoardType
    squares: tuple[int, int]
    square_length_m: float
    marker_length_m: float | None = None
    dictionary: str = "DICT_4X4_50"
    inverted: bool = False
    legacy: bool = False
    margin_m: float = 0.01

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
        for name in ("inverted", "legacy"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"board {name} is {value!r}, expected true or false")
            object.__setattr__(self, name, bool(value))
        try:
            margin = float(self.margin_m)
        except (TypeError, ValueError):
            margin = np.nan
        if not 0 <= margin <= MAX_SQUARE_LENGTH_M:
            raise ValueError(f"margin_m is {self.margin_m!r}, expected a length in metres in "
                             f"[0, {MAX_SQUARE_LENGTH_M:g}]")
        object.__setattr__(self, "margin_m", margin)
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
        if dictionary not in ARUCO_DICTIONARY_SIZES:
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}; expected one of "
                             f"{', '.join(ARUCO_DICTIONARY_SIZES)}")
        available = ARUCO_DICTIONARY_SIZES[dictionary]
        if self.num_markers > available:
            raise ValueError(f"a {squares[0]}x{squares[1]} charuco board needs {self.num_markers} "
                             f"markers but {dictionary} has only {available}")

    # -- layout ---------------------------------------------------------------------------------
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
        """(width, height) of the squared area (without the margin), metres."""
        return self.squares[0] * self.square_length_m, self.squares[1] * self.square_length_m

    def corners_in_board(self) -> np.ndarray:
        """(C, 3) float64 inner corners in the board frame, metres; row ``i`` is corner id ``i``
        (OpenCV's ChArUco corner-id order, see the module docstring); z = 0."""
        cols, rows = self.inner_corners
        row, col = np.mgrid[1:rows + 1, 1:cols + 1]
        corners = np.stack([col.ravel(), row.ravel(), np.zeros(col.size)], axis=-1)
        return corners * self.square_length_m

    def outline_in_board(self) -> np.ndarray:
        """(4, 3) float64 corners of the printed sheet (squares plus margin), board frame, metres,
        clockwise from the top-left as printed."""
        w, h = self.size_m
        m = self.margin_m
        return np.array([[-m, -m, 0], [w + m, -m, 0], [w + m, h + m, 0], [-m, h + m, 0]], dtype=np.float64)

    # -- printing -------------------------------------------------------------------------------
    def square_px(self, dpi: float) -> int:
        """Pixels per square when rendering for ``dpi`` (squares are a whole number of pixels)."""
        if not dpi > 0:
            raise ValueError(f"dpi is {dpi}, expected > 0")
        return max(8, int(round(self.square_length_m * dpi / _INCH_M)))

    def exact_dpi(self, dpi: float) -> float:
        """The DPI at which a rendering for ``dpi`` prints at exactly ``square_length_m``.

        Squares are rendered with a whole number of pixels, so this differs from ``dpi`` by at most
        half a pixel per square; PNG and PDF files carry this value, so they print at exact size.
        """
        return self.square_px(dpi) * _INCH_M / self.square_length_m

    # -- description ----------------------------------------------------------------------------
    def describe(self) -> str:
        """One line for logs, reports and the printed label."""
        text = (f"{self.type} {self.squares[0]}x{self.squares[1]} squares of "
                f"{self.square_length_m * 1000:g} mm")
        if self.type == "charuco":
            text += f", markers {self.marker_length_m * 1000:g} mm, {self.dictionary}"
            text += ", legacy layout" if self.legacy else ""
        return text + (", inverted" if self.inverted else "")

    def to_mapping(self) -> dict:
        """The board file's keys (see the module docstring); ``margin_m`` only when not the default."""
        out = {"type": self.type, "squares": list(self.squares), "square_length_m": self.square_length_m}
        if self.type == "charuco":
            out.update(marker_length_m=self.marker_length_m, dictionary=self.dictionary)
        out.update(inverted=self.inverted, legacy=self.legacy)
        if self.margin_m != _DEFAULT_MARGIN_M:
            out["margin_m"] = self.margin_m
        return out


_DEFAULT_MARGIN_M = next(f.default for f in fields(Board) if f.name == "margin_m")


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


def board_from_mapping(mapping: Mapping, *, where: str = "board") -> Board:
    """A :class:`Board` from a table with the board-file keys (see the module docstring).

    mapping: e.g. a parsed TOML board file or a rig file's ``[synthetic.board]`` table.
    where: names the table in error messages (``"board file boards/a.toml"``).
    Raises ValueError naming ``where`` for unknown or missing keys and invalid values.
    """
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{where}: expected a table of board keys, got {type(mapping).__name__}")
    known = {f.name for f in fields(Board)}
    unknown = sorted(set(mapping) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; board keys are {', '.join(sorted(known))}")
    for key in _REQUIRED_KEYS:
        if key not in mapping:
            raise ValueError(f"{where}: missing {key!r}")
    try:
        return Board(**mapping)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


# The board synthetic scenes and rigs hold up when none is given: a 0.7 x 0.5 m ChArUco on A1 paper
# (here, not in geometry.synthetic, so that a rig file can default to it without loading the scenes).
SYNTHETIC_BOARD = Board(type="charuco", squares=(7, 5), square_length_m=0.1, marker_length_m=0.075,
                        dictionary="DICT_5X5_100", margin_m=0.04)
