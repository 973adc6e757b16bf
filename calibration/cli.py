"""``rigkit calibrate ...``: board printing and calibration commands.

One small function per sub-command (``_add_<command>`` builds its parser, ``_run_<command>`` does
the work and returns the exit status) plus shared helpers for the options every command has, so
that new commands (``extrinsics``, ``keypoints``) read the same way:

- :func:`add_board_arguments` / :func:`board_from_args`: ``--board FILE`` or the board's keys as
  options (``--type``, ``--squares C R``, ``--square-length-m``, ...);
- :func:`add_camera_arguments` / :func:`sources_from_args`: ``--camera NAME=PATH`` (repeatable; a
  video file or an image folder per camera, frames synchronized by index) or ``--session DIR``
  (a recorded session; ``--camera NAME`` then picks cameras), ``--stride``, ``--max-frames``;
- :func:`print_table`: the closing summary.

Bad input raises ValueError / OSError with one sentence; ``rigkit_cli`` prints it and exits 2.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from .boards import ARUCO_DICTIONARIES, Board, board_from_mapping, load_board, save_board

__all__ = [
    "register",
    "add_board_arguments",
    "board_from_args",
    "add_camera_arguments",
    "sources_from_args",
    "add_output_argument",
    "print_table",
]

logger = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``calibrate`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_board(sub)
    _add_intrinsics(sub)


# -- shared options ------------------------------------------------------------------------------
def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """``--board FILE`` or the board described by options (used when no file is given)."""
    group = parser.add_argument_group("board (a board TOML file, or these options)")
    group.add_argument("--board", metavar="FILE", help="board TOML file (type, squares, square_length_m, ...)")
    group.add_argument("--type", dest="board_type", choices=("charuco", "checkerboard"), help="board type")
    group.add_argument("--squares", nargs=2, type=int, metavar=("COLUMNS", "ROWS"),
                       help="number of squares (not inner corners)")
    group.add_argument("--square-length-m", type=float, metavar="M", help="square side, metres")
    group.add_argument("--marker-length-m", type=float, metavar="M", help="ArUco marker side, metres (charuco)")
    group.add_argument("--dictionary", metavar="NAME",
                       help=f"ArUco dictionary (charuco), e.g. DICT_4X4_50; one of {', '.join(ARUCO_DICTIONARIES)}")
    group.add_argument("--inverted", action="store_true", default=None, help="white-on-black print")
    group.add_argument("--legacy", action="store_true", default=None, help="OpenCV's pre-4.6 ChArUco layout")


def board_from_args(args: argparse.Namespace) -> Board:
    """The board of ``--board FILE`` (options override its keys) or of the options alone."""
    overrides = {key: value for key, value in (
        ("type", args.board_type), ("squares", args.squares), ("square_length_m", args.square_length_m),
        ("marker_length_m", args.marker_length_m), ("dictionary", args.dictionary),
        ("inverted", args.inverted), ("legacy", args.legacy)) if value is not None}
    if args.board:
        board = load_board(args.board)
        if not overrides:
            return board
        return board_from_mapping({**board.to_mapping(), **overrides}, where=f"--board {args.board} with options")
    if not overrides:
        raise ValueError("no board given; use --board FILE or --type, --squares, --square-length-m "
                         "(and --marker-length-m, --dictionary for charuco)")
    return board_from_mapping(overrides, where="board options")


def add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    """``--camera NAME=PATH`` (repeatable) and frame selection."""
    group = parser.add_argument_group("input (--camera NAME=PATH ..., or --session DIR)")
    group.add_argument("--camera", action="append", default=[], metavar="NAME=PATH",
                       help="a camera's video file or image folder (repeatable; frames synchronized by "
                            "index); with --session, just NAME to pick cameras")
    group.add_argument("--session", metavar="DIR", help="a session recorded by 'rigkit capture record'")
    group.add_argument("--stride", type=int, default=1, help="use every N-th frame at most")
    group.add_argument("--max-frames", type=int, default=400,
                       help="decode at most this many frames per camera (the stride grows for long videos)")


def sources_from_args(args: argparse.Namespace):
    """The cameras to read: a list of :class:`calibration.inputs.FrameSource`, from ``--session``
    (all its cameras, or those named by ``--camera NAME``) or every ``--camera NAME=PATH``."""
    from .inputs import open_session_sources, open_source, parse_camera_args
    if args.session:
        with_paths = [c for c in args.camera if "=" in c]
        if with_paths:
            raise ValueError(f"--camera {with_paths[0]} gives a path, but --session already names the "
                             "frames; with --session, --camera takes camera names only")
        return open_session_sources(args.session, args.camera or None)
    return [open_source(source) for source in parse_camera_args(args.camera)]


def add_output_argument(parser: argparse.ArgumentParser, *, help_text: str) -> None:
    parser.add_argument("--out", required=True, metavar="FILE", help=help_text)


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned table on stdout (the closing summary of a command)."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _parser(sub, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=description,
                          formatter_class=argparse.ArgumentDefaultsHelpFormatter)


# -- board ---------------------------------------------------------------------------------------
def _add_board(sub) -> None:
    parser = _parser(sub, "board", "write a printable image (PNG + PDF) of a board",
                     "Render a board at exact physical size: print it at 100%% (actual size) and check "
                     "that one square measures square_length_m.")
    add_board_arguments(parser)
    add_output_argument(parser, help_text="PNG to write (a PDF of the same size goes next to it)")
    parser.add_argument("--dpi", type=float, default=300.0, help="printer resolution")
    parser.add_argument("--margin-mm", type=float, default=10.0, help="white border around the squares")
    parser.add_argument("--no-pdf", action="store_true", help="write the PNG only")
    parser.add_argument("--save-board", metavar="FILE", help="also write the board TOML file")
    parser.set_defaults(func=_run_board)


def _run_board(args: argparse.Namespace) -> int:
    board = board_from_args(args)
    if not 10 <= args.dpi <= 2400:
        raise ValueError(f"--dpi is {args.dpi:g}, expected 10-2400")
    if not 0 <= args.margin_mm <= 200:
        raise ValueError(f"--margin-mm is {args.margin_mm:g}, expected 0-200 (millimetres)")
    written = board.write_printable(args.out, dpi=args.dpi, margin_m=args.margin_mm / 1000, pdf=not args.no_pdf)
    if args.save_board:
        written.append(save_board(board, args.save_board))
    width_m, height_m = board.size_m
    print(f"board: {board.describe()}")
    print(f"squared area {width_m * 100:.1f} x {height_m * 100:.1f} cm (+ {args.margin_mm:g} mm margins) at "
          f"{board.exact_dpi(args.dpi):.2f} dpi; print at 100% (actual size) and measure one square")
    for path in written:
        print(f"wrote {path}")
    return 0


# -- intrinsics ----------------------------------------------------------------------------------
def _add_intrinsics(sub) -> None:
    parser = _parser(sub, "intrinsics", "calibrate each camera's lens from board views",
                     "Detect the board in each camera's video or images, select a well-spread set of "
                     "views, solve the lens model and write/update those cameras in the calibration file.")
    add_camera_arguments(parser)
    add_board_arguments(parser)
    add_output_argument(parser, help_text="calibration file to write or update (TOML; .yml/.xml for OpenCV)")
    parser.add_argument("--model", choices=("auto", "standard", "rational", "fisheye"), default="auto",
                        help="lens model (auto: rational with >= 15 well-spread views, else standard)")
    parser.add_argument("--max-views", type=int, default=40, help="views given to the solver per camera")
    parser.set_defaults(func=_run_intrinsics)


def _run_intrinsics(args: argparse.Namespace) -> int:
    from .files import merge_cameras, read_calibration, save_rig
    from .intrinsics import IntrinsicsOptions, calibrate_intrinsics

    board = board_from_args(args)
    sources = sources_from_args(args)
    options = IntrinsicsOptions(model=args.model, max_views=args.max_views, stride=args.stride,
                                max_scanned_frames=args.max_frames)
    out = Path(args.out)
    existing = read_calibration(out) if out.exists() else None  # a broken --out stops us before work
    results = []
    for source in sources:
        logger.info("camera %s: %s", source.name, source.describe())
        results.append(calibrate_intrinsics(board, source, options=options, progress=True))
    solved = [r for r in results if r.success]
    failed = [(s, r) for s, r in zip(sources, results) if not r.success]
    if solved:
        metadata = {k: v for k, v in (existing.metadata if existing else {}).items()
                    if k not in ("units", "rigkit_version", "created")}
        intrinsics = dict(metadata.get("intrinsics", {}))
        for result in solved:
            intrinsics[result.camera.name] = {
                "rms_px": round(result.rms_px, 4), "views": result.views_used, "coverage": round(result.coverage, 3),
                "model": result.model, "board": board.describe()}
            if existing and result.camera.name in existing.rig.names:
                old = existing.rig[result.camera.name]
                if tuple(old.size) != tuple(result.camera.size):
                    logger.warning("camera %s: image size changes from %dx%d to %dx%d", old.name, *old.size,
                                   *result.camera.size)
        metadata["intrinsics"] = intrinsics
        rig = merge_cameras(existing.rig if existing else None, [r.camera for r in solved])
        save_rig(rig, out, metadata=metadata)
    print_table(
        ["camera", "views used", "rejected", "RMS px", "coverage", "model", "frames with board"],
        [[s.name, r.views_used, r.views_rejected, f"{r.rms_px:.3f}" if r.success else "-",
          f"{r.coverage:.0%}", r.model if r.success else "failed", f"{r.frames_with_board}/{r.frames_scanned}"]
         for s, r in zip(sources, results)])
    if solved:
        print(f"wrote {len(solved)} camera{'s' if len(solved) > 1 else ''} to {out}")
    if failed:
        source, result = failed[0]
        others = f" ({len(failed) - 1} more cameras failed, see above)" if len(failed) > 1 else ""
        written = f"; the other cameras were written to {out}" if solved else ""
        raise ValueError(f"camera {source.name}: {result.message}{others}{written}")
    return 0
