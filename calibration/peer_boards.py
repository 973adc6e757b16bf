"""Board descriptions that other tools write, read as a :class:`geometry.Board`.

:func:`calibration.boards.load_board` hands a parsed TOML document here when it is not a rigkit
board file. Recognised (each checked against the peer's own code):

- **Caliscope ChArUco** (``charuco.toml``; ``intrinsic_charuco.toml`` / ``extrinsic_charuco.toml``
  in a workspace's ``calibration/targets/``): ``cv2.aruco.CharucoBoard(size=(columns, rows))``,
  so ``squares = (columns, rows)`` numbers the corners and places the board frame exactly as
  Caliscope does. Square side ``square_size_override_cm / 100`` m when set (and non-zero), else
  ``min(board_height / rows, board_width / columns)`` with the paper in ``units`` (``"inch"`` or
  ``"cm"``); markers ``aruco_scale`` of the square; ``legacy_pattern`` is rigkit's ``legacy``.
  ``thickness_cm > 0`` (a two-sided board) is accepted; rigkit detects the front face only.
- **Caliscope chessboard** (``chessboard.toml``): ``rows``, ``columns`` of *inner* corners and
  ``square_size_cm``; without it the board has no metric size and is refused. Caliscope's object
  points start at the first inner corner, rigkit's board frame one square earlier (the outer
  corner of the first square): the same corner ids, a frame shifted by ``(s, s, 0)``.
- **Anipose** ``config.toml``, table ``[calibration]``: ``board_type`` ``"charuco"`` (``board_size``
  = [columns, rows] of squares) or ``"checkerboard"`` (``board_size`` = inner corners, as aniposelib
  passes it to ``cv2.findChessboardCorners``); ``board_square_side_length`` and
  ``board_marker_length`` in millimetres (Anipose's documented unit; the tool itself keeps
  whatever unit the user wrote); dictionary ``DICT_{bits}X{bits}_{number}`` from
  ``board_marker_bits`` and ``board_marker_dict_number``.
- **Pose2Sim** ``Config.toml``: checkerboards of ``[calibration.calculate.intrinsics]``
  ``intrinsics_corners_nb`` (inner corners, the ``patternSize`` Pose2Sim gives
  ``cv2.findChessboardCorners``) and ``intrinsics_square_size`` (mm), and of
  ``[calibration.calculate.extrinsics.board]`` ``extrinsics_corners_nb`` / ``extrinsics_square_size``.
  ``role`` picks one; without a role the intrinsics board is taken.

Every reading comes back with one notice sentence saying what was read (:class:`PeerBoard`).
Problems raise ValueError with one sentence naming the file, the format it looked like and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geometry.board import Board

__all__ = ["BoardRole", "PeerFormat", "PeerBoard", "read_peer_board"]

BoardRole = Literal["intrinsics", "extrinsics"]
PeerFormat = Literal["caliscope-charuco", "caliscope-chessboard", "anipose", "pose2sim"]

_CALISCOPE_INCHES_PER_CM = 0.393701  # Caliscope's own constant (caliscope.core.charuco.INCHES_PER_CM)
_CALISCOPE_CHARUCO_DEFAULTS = {  # caliscope.core.charuco.Charuco.__init__
    "dictionary": "DICT_4X4_50", "units": "inch", "aruco_scale": 0.75, "square_size_override_cm": None,
    "inverted": False, "legacy_pattern": False, "thickness_cm": 0.0}
_CALISCOPE_CHARUCO_KEYS = {"columns", "rows", "board_height", "board_width", *_CALISCOPE_CHARUCO_DEFAULTS}
_CALISCOPE_CHESSBOARD_KEYS = {"rows", "columns", "square_size_cm"}
_CALISCOPE_ROUTING_KEYS = {"intrinsic_target_type", "extrinsic_target_type", "extrinsic_charuco_same_as_intrinsic"}
_POSE2SIM_TABLES = {  # role -> (table path below [calibration.calculate], corners key, square size key)
    "intrinsics": (("intrinsics",), "intrinsics_corners_nb", "intrinsics_square_size"),
    "extrinsics": (("extrinsics", "board"), "extrinsics_corners_nb", "extrinsics_square_size"),
}
_TOOL = {"caliscope-charuco": "Caliscope", "caliscope-chessboard": "Caliscope", "anipose": "Anipose",
         "pose2sim": "Pose2Sim"}
_LOOKS_LIKE = {"caliscope-charuco": "Caliscope's ChArUco board file",
               "caliscope-chessboard": "Caliscope's chessboard file", "anipose": "an Anipose config.toml",
               "pose2sim": "a Pose2Sim Config.toml"}
_ROUND_M = 12  # decimals kept of a converted length: 1e-12 m drops float noise (5.4 / 100), nothing else


@dataclass(frozen=True)
class PeerBoard:
    """A board read from a peer's file.

    board: the board, in rigkit's terms (metres, squares).
    notice: one sentence for the user saying what was read and from which keys.
    format: which peer's description it was.
    """

    board: Board
    notice: str
    format: PeerFormat


def read_peer_board(document: Mapping, *, path: Path, role: BoardRole | None = None) -> PeerBoard | None:
    """The board a peer's file describes, or None when ``document`` is no peer's board file.

    document: the parsed TOML file at ``path`` (``path`` names it in notices and errors).
    role: Pose2Sim only: its intrinsics or its extrinsics board (None: the intrinsics board).
    Raises ValueError (one sentence) when the file is a peer's but incomplete or wrong.
    """
    if role not in (None, "intrinsics", "extrinsics"):
        raise ValueError(f"role is {role!r}, expected 'intrinsics', 'extrinsics' or None")
    if _CALISCOPE_ROUTING_KEYS & document.keys():
        raise ValueError(f"board file {path} is Caliscope's target routing config.toml, which names no "
                         "board; pass intrinsic_charuco.toml, extrinsic_charuco.toml or chessboard.toml "
                         "from the same folder")
    kind = _format_of(document)
    if kind is None:
        return None
    reader = {"caliscope-charuco": _caliscope_charuco, "caliscope-chessboard": _caliscope_chessboard,
              "anipose": _anipose, "pose2sim": _pose2sim}[kind]
    return reader(document, _Where(path, kind), role)


def _format_of(document: Mapping) -> PeerFormat | None:
    calibration = document.get("calibration")
    if isinstance(calibration, Mapping):
        if {"calculate", "calibration_type", "convert"} & calibration.keys():
            return "pose2sim"
        if any(str(key).startswith("board_") for key in calibration):
            return "anipose"
        return None
    keys = set(document)
    if not keys & (_CALISCOPE_CHARUCO_KEYS - {"dictionary", "inverted"} | {"square_size_cm"}):
        return None  # shares no key with Caliscope's boards beyond rigkit's own
    return "caliscope-chessboard" if keys <= _CALISCOPE_CHESSBOARD_KEYS else "caliscope-charuco"


@dataclass(frozen=True)
class _Where:
    """Names the file and the format in notices and in one-sentence errors."""

    path: Path
    kind: PeerFormat
    table: str = ""

    @property
    def label(self) -> str:
        name = f"{_TOOL[self.kind]}'s {self.path.name}"
        return f"{name} [{self.table}]" if self.table else name

    def error(self, problem: str) -> ValueError:
        where = f" [{self.table}]" if self.table else ""
        return ValueError(f"board file {self.path} (read as {_LOOKS_LIKE[self.kind]}){where}: {problem}")

    def board(self, **keys) -> Board:
        try:
            return Board(**keys)
        except ValueError as error:
            raise self.error(str(error)) from None


# -- values ---------------------------------------------------------------------------------------
def _required(table: Mapping, key: str, where: _Where, meaning: str):
    if key not in table:
        raise where.error(f"missing {key!r} ({meaning})")
    return table[key]


def _count(value, key: str, where: _Where, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < minimum:
        raise where.error(f"{key} is {value!r}, expected an integer >= {minimum}")
    return int(value)


def _pair(value, key: str, where: _Where, *, meaning: str, minimum: int) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise where.error(f"{key} is {value!r}, expected [columns, rows] of {meaning}")
    return _count(value[0], key, where, minimum=minimum), _count(value[1], key, where, minimum=minimum)


def _length(value, key: str, where: _Where, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise where.error(f"{key} is {value!r}, expected a positive length in {unit}")
    return float(value)


def _flag(table: Mapping, key: str, where: _Where, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise where.error(f"{key} is {value!r}, expected true or false")
    return value


def _m(value_m: float) -> float:
    return round(value_m, _ROUND_M)


def _fmt_m(value_m: float) -> str:
    return f"{value_m:.6g} m"


def _checkerboard_text(board: Board) -> str:
    cols, rows = board.inner_corners
    return (f"checkerboard {cols}x{rows} inner corners ({board.squares[0]}x{board.squares[1]} squares) "
            f"of {_fmt_m(board.square_length_m)}")


def _charuco_text(board: Board) -> str:
    return f"ChArUco {board.squares[0]}x{board.squares[1]} squares of {_fmt_m(board.square_length_m)}"


def _markers_text(board: Board) -> str:
    text = f"markers {_fmt_m(board.marker_length_m)}, {board.dictionary}"
    text += ", legacy layout" if board.legacy else ""
    return text + (", inverted" if board.inverted else "")


# -- Caliscope ------------------------------------------------------------------------------------
def _caliscope_charuco(document: Mapping, where: _Where, role: BoardRole | None) -> PeerBoard:
    unknown = sorted(set(document) - _CALISCOPE_CHARUCO_KEYS)
    if unknown:
        raise where.error(f"unknown key {unknown[0]!r}; its keys are {', '.join(sorted(_CALISCOPE_CHARUCO_KEYS))}")
    table = {**_CALISCOPE_CHARUCO_DEFAULTS, **document}
    columns = _count(_required(table, "columns", where, "squares across"), "columns", where, minimum=2)
    rows = _count(_required(table, "rows", where, "squares down"), "rows", where, minimum=2)
    override_cm = table["square_size_override_cm"]
    if override_cm:  # Caliscope treats 0 like no override
        square_m = _m(_length(override_cm, "square_size_override_cm", where, "cm") / 100)
        source = "square_size_override_cm"
    else:
        units = table["units"]
        if units not in ("inch", "cm"):
            raise where.error(f"units is {units!r}, expected 'inch' or 'cm'")
        to_cm = 1 / _CALISCOPE_INCHES_PER_CM if units == "inch" else 1.0
        height = _length(_required(table, "board_height", where, f"paper height in {units}"),
                         "board_height", where, units)
        width = _length(_required(table, "board_width", where, f"paper width in {units}"),
                        "board_width", where, units)
        square_m = _m(min(height * to_cm / 100 / rows, width * to_cm / 100 / columns))
        source = (f"the paper: min of board_height {height:g} {units} / {rows} rows and "
                  f"board_width {width:g} {units} / {columns} columns")
    scale = _length(table["aruco_scale"], "aruco_scale", where, "squares")
    thickness_cm = table["thickness_cm"]
    if isinstance(thickness_cm, bool) or not isinstance(thickness_cm, (int, float)) or thickness_cm < 0:
        raise where.error(f"thickness_cm is {thickness_cm!r}, expected a thickness >= 0 in cm")
    board = where.board(type="charuco", squares=(columns, rows), square_length_m=square_m,
                        marker_length_m=_m(square_m * scale), dictionary=str(table["dictionary"]),
                        inverted=_flag(table, "inverted", where, False),
                        legacy=_flag(table, "legacy_pattern", where, False))
    notice = f"board from {where.label}: {_charuco_text(board)} ({source}), {_markers_text(board)}"
    if thickness_cm > 0:
        notice += f"; two-sided (thickness_cm {thickness_cm:g}): rigkit detects the front face only"
    return PeerBoard(board=board, notice=notice, format=where.kind)


def _caliscope_chessboard(document: Mapping, where: _Where, role: BoardRole | None) -> PeerBoard:
    columns = _count(_required(document, "columns", where, "inner corners across"), "columns", where, minimum=2)
    rows = _count(_required(document, "rows", where, "inner corners down"), "rows", where, minimum=2)
    if document.get("square_size_cm") is None:
        raise where.error(f"no square_size_cm, so the board has no metric size, and rigkit boards are "
                          f"metric; add square_size_cm = <the printed square's side in cm> to {where.path.name}")
    square_m = _m(_length(document["square_size_cm"], "square_size_cm", where, "cm") / 100)
    board = where.board(type="checkerboard", squares=(columns + 1, rows + 1), square_length_m=square_m)
    return PeerBoard(board=board, notice=f"board from {where.label}: {_checkerboard_text(board)} (square_size_cm)",
                     format=where.kind)


# -- Anipose --------------------------------------------------------------------------------------
def _anipose(document: Mapping, where: _Where, role: BoardRole | None) -> PeerBoard:
    table = document["calibration"]
    where = _Where(where.path, where.kind, "calibration")
    kind = str(_required(table, "board_type", where, "'charuco' or 'checkerboard'")).lower()
    if kind not in ("charuco", "checkerboard"):
        raise where.error(f"board_type is {table['board_type']!r}; rigkit reads 'charuco' and 'checkerboard' boards")
    square_mm = _length(_required(table, "board_square_side_length", where, "square side, mm"),
                        "board_square_side_length", where, "mm")
    if kind == "checkerboard":
        cols, rows = _pair(_required(table, "board_size", where, "inner corners"), "board_size", where,
                           meaning="inner corners (Anipose's checkerboard size)", minimum=2)
        board = where.board(type="checkerboard", squares=(cols + 1, rows + 1), square_length_m=_m(square_mm / 1000))
        text = f"{_checkerboard_text(board)} (board_square_side_length {square_mm:g} mm)"
        return PeerBoard(board=board, notice=f"board from {where.label}: {text}", format=where.kind)
    cols, rows = _pair(_required(table, "board_size", where, "squares"), "board_size", where,
                       meaning="squares (Anipose's ChArUco size)", minimum=2)
    marker_mm = _length(_required(table, "board_marker_length", where, "marker side, mm"),
                        "board_marker_length", where, "mm")
    bits = _count(_required(table, "board_marker_bits", where, "bits per marker side"), "board_marker_bits",
                  where, minimum=1)
    number = _count(_required(table, "board_marker_dict_number", where, "markers in the dictionary"),
                    "board_marker_dict_number", where, minimum=1)
    dictionary = f"DICT_{bits}X{bits}_{number}"
    if bits not in (4, 5, 6, 7) or number not in (50, 100, 250, 1000):
        raise where.error(f"board_marker_bits = {bits} and board_marker_dict_number = {number} name {dictionary}, "
                          "which is no ArUco dictionary (bits 4-7, 50, 100, 250 or 1000 markers)")
    board = where.board(type="charuco", squares=(cols, rows), square_length_m=_m(square_mm / 1000),
                        marker_length_m=_m(marker_mm / 1000), dictionary=dictionary)
    notice = (f"board from {where.label}: {_charuco_text(board)} (board_square_side_length {square_mm:g} mm), "
              f"{_markers_text(board)}")
    if rows % 2 == 0:
        notice += "; printed with OpenCV before 4.6, this even-row board needs legacy = true (--legacy)"
    return PeerBoard(board=board, notice=notice, format=where.kind)


# -- Pose2Sim -------------------------------------------------------------------------------------
def _pose2sim_table(calculate: Mapping, role: BoardRole) -> Mapping | None:
    table = calculate
    for name in _POSE2SIM_TABLES[role][0]:
        table = table.get(name) if isinstance(table, Mapping) else None
    corners_key = _POSE2SIM_TABLES[role][1]
    return table if isinstance(table, Mapping) and corners_key in table else None


def _pose2sim(document: Mapping, where: _Where, role: BoardRole | None) -> PeerBoard:
    calculate = document["calibration"].get("calculate")
    calculate = calculate if isinstance(calculate, Mapping) else {}
    found = {r: t for r in ("intrinsics", "extrinsics") if (t := _pose2sim_table(calculate, r)) is not None}
    if not found and role is None:
        raise _Where(where.path, where.kind, "calibration.calculate").error(
            "no board: neither intrinsics.intrinsics_corners_nb nor extrinsics.board.extrinsics_corners_nb is given")
    chosen = role or ("intrinsics" if "intrinsics" in found else "extrinsics")
    names, corners_key, size_key = _POSE2SIM_TABLES[chosen]
    where = _Where(where.path, where.kind, ".".join(("calibration", "calculate", *names)))
    if chosen not in found:
        raise where.error(f"missing {corners_key!r} (the {chosen} checkerboard's inner corners, [columns, rows])")
    table = found[chosen]
    cols, rows = _pair(table[corners_key], corners_key, where, meaning="inner corners", minimum=2)
    size = _required(table, size_key, where, "square side, mm")
    if isinstance(size, (list, tuple)):  # Pose2Sim allows [h, w] for rectangles
        if len(size) != 2 or size[0] != size[1]:
            raise where.error(f"{size_key} is {size!r}: rectangular squares; rigkit boards have square squares")
        size = size[0]
    square_mm = _length(size, size_key, where, "mm")
    board = where.board(type="checkerboard", squares=(cols + 1, rows + 1), square_length_m=_m(square_mm / 1000))
    notice = f"board from {where.label}: {_checkerboard_text(board)} ({size_key} {square_mm:g} mm)"
    if role is None and len(found) == 2:
        notice += "; the intrinsics board, as no role was given (the file also has an extrinsics board)"
    return PeerBoard(board=board, notice=notice, format=where.kind)
