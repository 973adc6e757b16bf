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
import sys
from collections.abc import Sequence
from pathlib import Path

from geometry.board import ARUCO_DICTIONARY_SIZES, Board, board_from_mapping  # no cv2: --help stays fast

__all__ = [
    "register",
    "add_board_arguments",
    "board_from_args",
    "add_camera_arguments",
    "sources_from_args",
    "add_output_argument",
    "add_validation_arguments",
    "print_table",
]

logger = logging.getLogger(__name__)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``calibrate`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_board(sub)
    _add_intrinsics(sub)
    _add_extrinsics(sub)
    _add_keypoints(sub)
    from .convert import add_units_argument, register_convert

    for name in ("intrinsics", "extrinsics", "keypoints"):  # every command that reads a calibration
        add_units_argument(sub.choices[name])
    register_convert(sub)


# -- shared options ------------------------------------------------------------------------------
def add_board_arguments(parser: argparse.ArgumentParser) -> None:
    """``--board FILE`` or the board described by options (used when no file is given)."""
    group = parser.add_argument_group("board (a board TOML file, or these options)")
    group.add_argument("--board", metavar="FILE", help="board TOML file (type, squares, square_length_m, ...), or a peer's: Caliscope's "
                            "charuco.toml / chessboard.toml, Anipose's or Pose2Sim's config")
    group.add_argument("--type", dest="board_type", choices=("charuco", "checkerboard"),
                       help="board type (default: charuco when --marker-length-m or --dictionary is given, "
                            "else checkerboard)")
    group.add_argument("--squares", nargs=2, type=int, metavar=("COLUMNS", "ROWS"),
                       help="number of squares (not inner corners)")
    group.add_argument("--square-length-m", type=float, metavar="M", help="square side, metres")
    group.add_argument("--marker-length-m", type=float, metavar="M", help="ArUco marker side, metres (charuco)")
    group.add_argument("--dictionary", metavar="NAME",
                       help=f"ArUco dictionary (charuco), e.g. DICT_4X4_50; one of {', '.join(ARUCO_DICTIONARY_SIZES)}")
    group.add_argument("--inverted", action="store_true", default=None, help="white-on-black print")
    group.add_argument("--legacy", action="store_true", default=None, help="OpenCV's pre-4.6 ChArUco layout")


def board_from_args(args: argparse.Namespace, *, role: str | None = None) -> Board:
    """The board of ``--board FILE`` (options override its keys) or of the options alone. FILE may
    be a peer's board description (:mod:`calibration.peer_boards`; ``role`` "intrinsics" or
    "extrinsics" picks Pose2Sim's board)."""
    from .boards import load_board

    overrides = {key: value for key, value in (
        ("type", args.board_type), ("squares", args.squares), ("square_length_m", args.square_length_m),
        ("marker_length_m", args.marker_length_m), ("dictionary", args.dictionary),
        ("inverted", args.inverted), ("legacy", args.legacy)) if value is not None}
    if args.board:
        board = load_board(args.board, role=role)  # a peer's file: what was read is logged once
        if not overrides:
            return board
        return board_from_mapping({**board.to_mapping(), **overrides}, where=f"--board {args.board} with options")
    if not overrides:
        raise ValueError("no board given; use --board FILE or --type, --squares, --square-length-m "
                         "(and --marker-length-m, --dictionary for charuco)")
    if "type" not in overrides:  # markers make it a ChArUco board; squares alone a checkerboard
        charuco = "marker_length_m" in overrides or "dictionary" in overrides
        overrides["type"] = "charuco" if charuco else "checkerboard"
    return board_from_mapping(overrides, where="board options")


def add_camera_arguments(parser: argparse.ArgumentParser) -> None:
    """``--camera NAME=PATH`` (repeatable) and frame selection."""
    group = parser.add_argument_group("input (--camera NAME=PATH ..., or --session DIR)")
    group.add_argument("--camera", action="append", default=[], metavar="NAME=PATH",
                       help="a camera's video file or image folder (repeatable; several cameras' frames are paired by "
                            "index, or by recorded times with extrinsics' --timestamps); with --session, just NAME to pick cameras")
    group.add_argument("--session", metavar="DIR", help="a session recorded by 'rigkit capture record'")
    group.add_argument("--stride", type=int, default=1,
                       help="use every N-th frame (long videos get a larger stride, see --max-frames)")
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
                     "Render a board at exact physical size: print it at 100% (actual size) and check "
                     "that one square measures square_length_m.")
    add_board_arguments(parser)
    add_output_argument(parser, help_text="PNG to write (a PDF of the same size goes next to it)")
    parser.add_argument("--dpi", type=float, default=300.0, help="printer resolution")
    parser.add_argument("--margin-mm", type=float, default=None,
                        help="white border around the squares (default: the board's margin_m, 10 mm)")
    parser.add_argument("--no-pdf", action="store_true", help="write the PNG only")
    parser.add_argument("--save-board", metavar="FILE", help="also write the board TOML file")
    parser.set_defaults(func=_run_board)


def _run_board(args: argparse.Namespace) -> int:
    from .boards import save_board, write_board_printable

    board = board_from_args(args)
    if not 10 <= args.dpi <= 2400:
        raise ValueError(f"--dpi is {args.dpi:g}, expected 10-2400")
    margin_mm = board.margin_m * 1000 if args.margin_mm is None else args.margin_mm
    if not 0 <= margin_mm <= 200:
        raise ValueError(f"--margin-mm is {margin_mm:g}, expected 0-200 (millimetres)")
    written = write_board_printable(board, args.out, dpi=args.dpi, margin_m=margin_mm / 1000, pdf=not args.no_pdf)
    if args.save_board:
        written.append(save_board(board, args.save_board))
    width_m, height_m = board.size_m
    print(f"board: {board.describe()}")
    print(f"squared area {width_m * 100:.1f} x {height_m * 100:.1f} cm (+ {margin_mm:g} mm margins) at "
          f"{board.exact_dpi(args.dpi):.2f} dpi; print at 100% (actual size) and measure one square")
    for path in written:
        print(f"wrote {path}")
    return 0


def _board_command(sub, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    """A board calibration sub-command: its cameras (``--camera``), the board and ``--out``."""
    parser = _parser(sub, name, help_text, description)
    add_camera_arguments(parser)
    add_board_arguments(parser)
    add_output_argument(parser, help_text="calibration file to write or update (TOML; .yml/.xml for OpenCV)")
    return parser


# -- intrinsics ----------------------------------------------------------------------------------
def _add_intrinsics(sub) -> None:
    parser = _board_command(sub, "intrinsics", "calibrate each camera's lens from board views",
                            "Detect the board in each camera's video or images, select a well-spread set of "
                            "views, solve the lens model and write/update those cameras in the calibration "
                            "file.")
    parser.add_argument("--model", choices=("auto", "standard", "rational", "fisheye"), default="auto",
                        help="lens model (auto: focal only, + principal point, + k1/k2, + p1/p2/k3 or rational, "
                             "whichever predicts views left out of the fit best, with priors on the distortion)")
    parser.add_argument("--max-views", type=int, default=40, help="views given to the solver per camera")
    parser.add_argument("--no-report", action="store_true", help="do not write the lens uncertainty PNGs")
    parser.set_defaults(func=_run_intrinsics)


def _run_intrinsics(args: argparse.Namespace) -> int:
    import numpy as np

    from .files import merge_cameras, read_calibration, save_rig
    from .intrinsics import IntrinsicsOptions, calibrate_intrinsics

    board = board_from_args(args, role="intrinsics")
    sources = sources_from_args(args)
    options = IntrinsicsOptions(model=args.model, max_views=args.max_views, stride=args.stride,
                                max_scanned_frames=args.max_frames)
    out = Path(args.out)
    existing = (read_calibration(out, units=args.calibration_units)  # a broken --out stops us before work
                if out.exists() else None)
    results = []
    for source in sources:
        logger.info("camera %s: %s", source.name, source.describe())
        results.append(calibrate_intrinsics(board, source, options=options, progress=True))
    solved = [r for r in results if r.success]
    failed = [(s, r) for s, r in zip(sources, results) if not r.success]
    if solved:
        metadata = dict(existing.metadata) if existing else {}
        intrinsics = dict(metadata.get("intrinsics", {}))
        for result in solved:
            intrinsics[result.camera.name] = {
                "rms_px": round(result.rms_px, 4), "views": result.views_used, "coverage": round(result.coverage, 3),
                "model": result.model, "board": board.describe()}
            if result.heldout_rms_px == result.heldout_rms_px:  # not NaN
                intrinsics[result.camera.name]["heldout_rms_px"] = round(result.heldout_rms_px, 4)
            if result.uncertainty is not None and np.isfinite(result.uncertainty.max_px):
                intrinsics[result.camera.name]["lens_uncertainty_max_px"] = round(result.uncertainty.max_px, 3)
            if existing and result.camera.name in existing.rig.names:
                old = existing.rig[result.camera.name]
                if tuple(old.size) != tuple(result.camera.size):
                    logger.warning("camera %s: image size changes from %dx%d to %dx%d", old.name, *old.size,
                                   *result.camera.size)
        metadata["intrinsics"] = intrinsics
        rig = merge_cameras(existing.rig if existing else None, [r.camera for r in solved])
        save_rig(rig, out, metadata=metadata, format=existing.format if existing else "auto")  # keep its layout
    print_table(
        ["camera", "views used", "rejected", "RMS px", "held-out px", "coverage", "model", "lens unc. px",
         "frames with board"],
        [[s.name, r.views_used, r.views_rejected, f"{r.rms_px:.3f}" if r.success else "-",
          f"{r.heldout_rms_px:.3f}" if r.success and r.heldout_rms_px == r.heldout_rms_px else "-",
          f"{r.coverage:.0%}", r.model if r.success else "failed",
          f"{r.uncertainty.centre_px:.2f}/{r.uncertainty.max_px:.1f}" if r.success and r.uncertainty else "-",
          f"{r.frames_with_board}/{r.frames_scanned}"]
         for s, r in zip(sources, results)])
    for result in solved:
        if result.selection is not None:
            print(f"{result.camera.name}: lens model {result.selection.reason}")
        if result.uncertainty is not None:
            print(f"{result.camera.name}: {result.uncertainty.sentence()}")
        for sentence in result.advice:
            print(f"{result.camera.name}: {sentence}")
    if solved:
        print(f"wrote {len(solved)} camera{'s' if len(solved) > 1 else ''} to {out}")
        if not args.no_report:
            from .report import write_lens_uncertainty
            for path in write_lens_uncertainty(solved, out.parent, stem=out.stem):
                print(f"wrote {path}")
        from .report import intrinsics_verdict
        print(intrinsics_verdict(solved))
    if failed:
        source, result = failed[0]
        others = f" ({len(failed) - 1} more cameras failed, see above)" if len(failed) > 1 else ""
        written = f"; the other cameras were written to {out}" if solved else ""
        raise ValueError(f"camera {source.name}: {result.message}{others}{written}")
    return 0


# -- extrinsics ----------------------------------------------------------------------------------
def _add_extrinsics(sub) -> None:
    parser = _board_command(sub, "extrinsics", "calibrate the rig's camera poses from a board seen by several "
                            "cameras",
                            "Detect the board in every camera's synchronized video or images, chain the camera "
                            "pairs that saw it at the same instant and refine everything by bundle adjustment. "
                            "Intrinsics come from the --out file when it has the camera, else they are solved "
                            "first from the same frames. Writes the calibration and a report next to it.")
    parser.add_argument("--intrinsics", choices=("fixed", "focal", "pinhole", "full"), default="fixed",
                        help="intrinsics refined together with the poses")
    parser.add_argument("--world", choices=("camera", "board"), default="camera",
                        help="world frame: the reference camera, or a board pose (z up; lay the board on the "
                             "floor, printed side up, in the frame given by --world-frame)")
    parser.add_argument("--world-frame", type=int, metavar="N",
                        help="frameset whose board pose is the world (--world board; default: the frameset "
                             "seen by the most cameras)")
    parser.add_argument("--reference-camera", metavar="NAME", help="camera 1 of the world frame (default: first)")
    from capture.frame_offsets import add_timestamps_argument

    add_timestamps_argument(parser)
    parser.add_argument("--capture-jitter", choices=("auto", "on", "off"), default="auto",
                        help="give each camera's view of each frameset its own exposure instant, estimated from "
                             "the board's motion (cameras not triggered together, e.g. USB webcams); auto: when it "
                             "explains more than noise")
    parser.add_argument("--no-report", action="store_true", help="do not write the PNG report")
    add_validation_arguments(parser)
    parser.set_defaults(func=_run_extrinsics)


def add_validation_arguments(parser: argparse.ArgumentParser) -> None:
    """``--holdout-every N`` and ``--frame-offset NAME=N`` (extrinsics and keypoints)."""
    parser.add_argument("--holdout-every", type=int, default=5, metavar="N",
                        help="solve once without every N-th frameset and report how well that predicts them "
                             "(the written calibration is then solved from all; 0: no held-out check)")
    from capture.frame_offsets import add_frame_offset_argument

    add_frame_offset_argument(parser, fractional=True, note="'rigkit calibrate keypoints --sync' estimates them")


def _intrinsics_for(sources, board, out: Path, args, solved: dict | None = None):
    """The rig of the --camera cameras with intrinsics: from --out where present, solved otherwise
    (``solved``, when given, receives each solved camera's lens complexity by name)."""
    from geometry import Rig

    from .files import read_calibration
    from .intrinsics import IntrinsicsOptions, calibrate_intrinsics

    existing = read_calibration(out, units=args.calibration_units) if out.exists() else None
    known = existing.rig.names if existing else ()
    cameras = []
    for source in sources:
        if source.name in known:
            camera = existing.rig[source.name]
            if tuple(camera.size) != tuple(source.size):
                raise ValueError(f"camera {source.name}: {out} has image size {camera.size[0]}x{camera.size[1]} "
                                 f"but {source.path} is {source.size[0]}x{source.size[1]}")
            cameras.append(camera)
            continue
        logger.info("camera %s: not in %s, solving its intrinsics first", source.name, out)
        result = calibrate_intrinsics(board, source, options=IntrinsicsOptions(
            stride=args.stride, max_scanned_frames=args.max_frames), progress=True)
        if not result.success:
            raise ValueError(f"camera {source.name}: {result.message}")
        if solved is not None:
            solved[source.name] = result.model
            if result.selection is not None:
                from .lens_model import lens_anchor
                try:
                    solved.setdefault("_anchors", {})[source.name] = lens_anchor(result.selection.fit)
                except ValueError:
                    pass  # no usable covariance: the joint refinement holds it by the priors only
            from .report import LENS_TRUSTED_MIN_FRACTION
            u = result.uncertainty
            if u is not None and u.trusted_fraction < LENS_TRUSTED_MIN_FRACTION:
                solved.setdefault("_notes", {})[source.name] = [
                    f"lens solved from these frames is trusted (< {u.trust_px:g} px) over {u.trusted_fraction:.0%} "
                    f"of the image (board covered {result.coverage:.0%}), so its rotation is uncertain too -> "
                    "calibrate its intrinsics from a video with the board near the image corners, then rerun"]
        cameras.append(result.camera)
    return Rig(cameras), existing


def detect_synchronized(board, frames, *, progress: bool = True):
    """Board corners of every camera at every frameset of ``frames`` (a ``SynchronizedFrames``).

    Returns ``(corners_px (V, F, C, 2) float64 NaN where not detected, frame_index (F,) int,
    with_board {name: the first frame where the board was found}, first {name: the first frame}``
    (frames for the report's backgrounds and for diagnosing a camera that never saw the board).
    """
    import numpy as np

    from .boards import detect_board

    names = frames.names
    C = board.num_corners
    corners = np.full((len(names), len(frames), C, 2), np.nan)
    indices = np.zeros(len(frames), dtype=np.int64)
    with_board: dict = {}
    first: dict = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(frames), desc="detecting the board", unit="frameset", leave=False)
    try:
        for f, (index, images) in enumerate(frames):
            indices[f] = index
            for v, name in enumerate(names):
                image = images.get(name)  # absent: this camera's frame is missing in the frameset
                if image is None:
                    continue
                first.setdefault(name, image)
                detection = detect_board(board, image)
                if detection.num_corners:
                    corners[v, f, detection.ids] = detection.corners_px
                    with_board.setdefault(name, image)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return corners, indices, with_board, first


def _run_extrinsics(args: argparse.Namespace) -> int:
    import numpy as np

    from .board_extrinsics import BoardExtrinsicsOptions, board_extrinsics
    from .boards import diagnose_board
    from .bundle_adjustment import BundleAdjustmentOptions
    from .files import merge_cameras, save_rig
    from .inputs import SynchronizedFrames
    from .report import board_summary, write_board_report

    from capture.frames import source_identity

    board = board_from_args(args, role="extrinsics")
    sources = sources_from_args(args)
    if len(sources) < 2:
        raise ValueError(f"extrinsics need at least 2 cameras, got {len(sources)}: give --camera NAME=PATH "
                         "once per camera")
    out = Path(args.out)
    offsets = _frame_offsets(args.frame_offset, [s.name for s in sources])
    times = None
    from capture.timestamps import read_frame_times, timestamps_to_use
    given = [] if args.session else timestamps_to_use(args.timestamps, {s.name: s.path for s in sources})
    if args.session and [t for t in args.timestamps if t.lower() != "none"]:
        raise ValueError("--timestamps pairs video files or image folders; a session's framesets are already "
                         "paired by the timestamps it recorded")
    if given:  # read and checked before anything is solved
        times = read_frame_times(given, [s.name for s in sources])
        times.check_counts(sources)
        if not args.timestamps:
            logger.info("pairing the frames by %s, found beside the videos (--timestamps none: by index)",
                        ", ".join(given))
    solved: dict = {}
    rig, existing = _intrinsics_for(sources, board, out, args, solved)
    frames = SynchronizedFrames(sources, stride=args.stride, limit=args.max_frames, frame_times=times)
    corners_px, frame_index, with_board, first = detect_synchronized(board, frames)
    if any(offsets.values()):
        from .sync import shift_frames
        corners_px = shift_frames(corners_px, np.array([offsets[s.name] for s in sources]),
                                  frame_numbers=frame_index)
    seen = np.isfinite(corners_px[..., 0]).any(axis=-1)  # (V, F)
    for v, source in enumerate(sources):
        if not seen[v].any():
            sample = first.get(source.name)
            reason = diagnose_board(board, [sample]) if sample is not None else "no frames could be read"
            raise ValueError(f"no board found in camera {source.name} ({source.path}, {len(frames)} framesets): "
                             f"{reason}")
    options = BoardExtrinsicsOptions(
        reference_camera=args.reference_camera, world=args.world,
        world_board_frame=None if args.world_frame is None else _frameset_position(frame_index, args.world_frame),
        bundle_adjustment=BundleAdjustmentOptions(intrinsics=args.intrinsics))
    from .board_validation import validated_board_extrinsics
    from .capture_jitter import CaptureJitterOptions
    lens_notes = solved.pop("_notes", None)
    anchors = solved.pop("_anchors", None)
    fps = getattr(sources[0], "fps", None)
    validated = validated_board_extrinsics(rig, corners_px, board.corners_in_board(), options=options,
                                           lens_complexity=solved or None, holdout_every=args.holdout_every,
                                           notes=lens_notes, lens_anchors=anchors, frame_time=frame_index,
                                           capture_jitter=CaptureJitterOptions(mode=args.capture_jitter), fps=fps)
    result = validated.result
    metadata = dict(existing.metadata) if existing else {}
    metadata["extrinsics"] = {
        "method": "board", "board": board.describe(), "rms_px": round(result.bundle.rms_px, 4),
        "corners": result.bundle.num_observations, "rejected": result.bundle.num_rejected,
        "board_poses": int(result.frame_used.sum()), "world": args.world,
        "reference_camera": args.reference_camera or result.rig.names[0], "intrinsics": args.intrinsics,
        "recording": {s.name: source_identity(s) for s in sources}}  # rigkit label knows the same videos by it
    if times is not None:  # how the frames were paired: rigkit label pairs them the same way to reuse offsets
        metadata["extrinsics"]["timestamps"] = list(times.files)
    if any(offsets.values()):
        metadata["extrinsics"]["frame_offsets_given"] = {n: round(o, 3) for n, o in offsets.items()}
    if validated.heldout is not None:
        metadata["extrinsics"]["heldout_rms_px"] = round(validated.heldout.rms_px, 4)
        metadata["extrinsics"]["heldout_every"] = args.holdout_every
    if validated.joint is not None and validated.joint.freed:
        metadata["extrinsics"]["intrinsics"] = "refined jointly"
    jitter = validated.capture_jitter
    if jitter is not None:
        metadata["extrinsics"]["capture_jitter"] = "modelled" if jitter.adopted else "not modelled"
        if jitter.adopted:
            metadata["extrinsics"]["capture_offset_ms"] = {
                name: [round(mean, 1), round(spread, 1)] for name, (mean, spread)
                in jitter.per_camera_ms(result.rig.names, fps).items() if np.isfinite(mean)}
        if validated.frame_offsets:  # on top of any --frame-offset given
            metadata["extrinsics"]["frame_offsets_estimated"] = {n: round(a, 3) for n, a in validated.frame_offsets.items()}
        if validated.heldout_frame_offsets is not None:
            metadata["extrinsics"]["heldout_frame_offsets_rms_px"] = round(validated.heldout_frame_offsets.rms_px, 4)
        if validated.heldout_capture_times is not None:
            metadata["extrinsics"]["heldout_capture_times_rms_px"] = round(validated.heldout_capture_times.rms_px, 4)
    _warn_stale_poses(existing, result.rig.names, out)
    final = merge_cameras(existing.rig if existing else None, list(result.rig), keep_poses=False)
    save_rig(final, out, metadata=metadata, format=existing.format if existing else "auto")  # keep its layout
    print(board_summary(result))
    print(f"wrote {len(result.rig)} cameras to {out}")
    if not args.no_report:
        for path in write_board_report(result, board.corners_in_board(), out.parent, stem=out.stem,
                                       frames=with_board):
            print(f"wrote {path}")
    _print_validation(validated.heldout, validated.verdict, validated.joint, validated.capture_jitter,
                      validated.heldout_capture_times, result.rig.names, fps, dict(validated.frame_offsets),
                      validated.heldout_frame_offsets)
    return 0


def _frame_offsets(values, names) -> dict[str, float]:
    """{name: offset in frames} for every camera from ``--frame-offset``, sub-frame allowed: the
    frames are paired by :mod:`capture.pairing` and the detected points then shifted by the
    offset (:func:`calibration.sync.shift_frames`)."""
    from capture.frame_offsets import parse_frame_offsets

    return {name: 0.0 for name in names} | parse_frame_offsets(values, names=names, fractional=True)


def _print_validation(heldout, verdict, joint=None, jitter=None, timed=None, names=(), fps=None,
                      applied=None, shifted=None) -> None:
    from .report import heldout_table

    if jitter is not None:
        print(jitter.sentence(names, fps, applied))
    if joint is not None:
        print(joint.reason)
        for name, parameters in joint.parameters.items():
            moved = joint.shift_sigma.get(name)
            print(f"  {name}: freed {', '.join(parameters)}"
                  + (f"; moved {moved:.1f} sigma from its own solve" if moved is not None else ""))
    if heldout is not None:
        print(heldout_table(heldout))
    if shifted is not None:
        print(heldout_table(shifted, note="the same, each camera's frames shifted by its steady offset, as "
                                          "--frame-offset would pair them"))
    if timed is not None:
        print(heldout_table(timed, note="each held-out view's capture time solved, as the calibration's own views'; "
                                        "the verdict's measure"))
    print(verdict)


def _warn_stale_poses(existing, calibrated_names, out: Path) -> None:
    """Cameras already in the file but not calibrated now keep poses from another world frame."""
    stale = [n for n in (existing.rig.names if existing else ()) if n not in calibrated_names]
    if stale:
        logger.warning("cameras %s in %s were not part of this calibration: their poses are from an earlier "
                       "one and not in the new world frame", ", ".join(stale), out)


def _frameset_position(frame_index, wanted: int) -> int:
    import numpy as np

    hits = np.flatnonzero(frame_index == wanted)
    if hits.size == 0:
        raise ValueError(f"--world-frame {wanted} is not among the framesets read (stride and --max-frames "
                         f"select {frame_index[:5].tolist()}...)")
    return int(hits[0])


# -- keypoints -----------------------------------------------------------------------------------
def _add_keypoints(sub) -> None:
    parser = _parser(sub, "keypoints", "calibrate the rig's camera poses from people's 2D keypoints",
                     "Estimate the camera poses from synchronized 2D keypoints of people walking through "
                     "the rig (no board): pairwise essential matrices, incremental registration, bundle "
                     "adjustment. The intrinsics come from --intrinsics (default: the --out file). Give one "
                     "known length for metres.")
    parser.add_argument("--detections", required=True, metavar="FORMAT:PATH",
                        help="2D detections as for 'rigkit label': npz:FILE (the npz 'rigkit label detect' "
                             "writes: points_2d (V, F, J, 2) px, camera_names (V,), optionally scores, "
                             "joint_names), openpose:DIR, dlc:FILE.h5, sleap:FILE.h5, coco:FILE.json; a bare "
                             "path is an npz")
    parser.add_argument("--skeleton", default=None, metavar="NAME|TOML",
                        help="skeleton of the imported detections (importers), as for 'rigkit label'")
    parser.add_argument("--intrinsics", metavar="FILE", help="calibration file with the cameras' intrinsics "
                                                             "(default: --out)")
    add_output_argument(parser, help_text="calibration file to write or update")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--known-length-m", type=float, metavar="M",
                       help="true distance between the two joints of --length-joints, metres")
    scale.add_argument("--person-height-m", type=float, metavar="M", help="the walking person's height, metres")
    parser.add_argument("--length-joints", nargs=2, metavar=("A", "B"),
                        help="the two joints (names or indices) of --known-length-m")
    parser.add_argument("--min-score", type=float, default=0.3, help="ignore detections below this confidence")
    parser.add_argument("--threshold-px", type=float, default=4.0, help="pair RANSAC threshold (2-3 x noise)")
    parser.add_argument("--no-report", action="store_true", help="do not write the PNG report")
    parser.add_argument("--check-against", metavar="FILE",
                        help="a board calibration of the same rig: report how far each camera is from it")
    parser.add_argument("--sync", action="store_true",
                        help="after calibrating, estimate each camera's time offset from the keypoints' motion "
                             "against the calibrated rig and print it as --frame-offset arguments")
    add_validation_arguments(parser)
    parser.set_defaults(func=_run_keypoints)


def load_keypoints_npz(path: Path):
    """``(points_2d (V, F, J, 2), scores (V, F, J), camera_names, joint_names)`` of the one
    detections npz (:func:`labeling.detections.read_npz_detections`)."""
    detections = _detections(str(path), None, None)
    return (detections.points_2d, detections.scores, list(detections.camera_names),
            list(detections.joint_names))


def _detections(spec: str, rig, skeleton):
    """``--detections FORMAT:PATH`` (a bare path: npz) through labeling's one reader and its
    importers (camera names matched to ``rig`` as they match them)."""
    from labeling.cli import load_detections_arg
    from labeling.detections import read_npz_detections

    fmt, sep, rest = spec.partition(":")
    if not sep or len(fmt) <= 1 or Path(spec).exists():
        return read_npz_detections(spec)
    return load_detections_arg(spec, rig=rig, skeleton=skeleton)


def _joint_index(value: str, joint_names) -> int:
    if value.isdigit():
        return int(value)
    if joint_names is None or value not in joint_names:
        raise ValueError(f"joint {value!r} is not a joint name of the detections "
                         f"({', '.join(joint_names) if joint_names else 'the file has no joint_names'})")
    return list(joint_names).index(value)


def _notice(message: str) -> None:
    print(f"rigkit: {message}", file=sys.stderr, flush=True)


def _run_keypoints(args: argparse.Namespace) -> int:
    import numpy as np

    from .files import merge_cameras, read_calibration, save_rig
    from .keypoint_extrinsics import KeypointExtrinsicsOptions, KnownLength, keypoint_extrinsics
    from .report import keypoint_summary, write_keypoint_report

    out = Path(args.out)
    source = Path(args.intrinsics) if args.intrinsics else out
    if not source.exists():
        raise ValueError(f"no intrinsics: {source} does not exist; calibrate the intrinsics first "
                         "(rigkit calibrate intrinsics) or give --intrinsics FILE")
    existing = read_calibration(source, units=args.calibration_units)
    detections = _detections(args.detections, existing.rig, args.skeleton)
    names = list(detections.camera_names)
    missing = [n for n in names if n not in existing.rig.names]
    if missing:
        raise ValueError(f"cameras {', '.join(missing)} of {args.detections} are not in {source} "
                         f"(it has {', '.join(existing.rig.names)})")
    rig = existing.rig.subset(names)
    from labeling.frame_fit import fit_detections

    detections, fits = fit_detections(detections, rig, detections.metadata.get("frame_sizes", {}))
    for fit in fits:
        _notice(fit.sentence())
    points, scores, joint_names = detections.points_2d, detections.scores, list(detections.joint_names)
    from .keypoint_cleaning import body_joints
    body = body_joints(joint_names)
    if body is not None:
        _notice("BlazePose's 33 landmarks: calibrating from its 17 body joints (its face, finger and foot "
                "landmarks are placed even where hidden)")
        points, scores = points[:, :, body], None if scores is None else scores[:, :, body]
        joint_names = [joint_names[j] for j in body]
    known = None
    if args.known_length_m is not None:
        if not args.length_joints:
            raise ValueError("--known-length-m needs --length-joints A B (the two joints it separates)")
        known = KnownLength(kind="joint_distance", length_m=args.known_length_m,
                            joints=tuple(_joint_index(j, joint_names) for j in args.length_joints))
    elif args.person_height_m is not None:
        known = KnownLength(kind="person_height", length_m=args.person_height_m)
    options = KeypointExtrinsicsOptions(known_length=known, min_score=args.min_score,
                                        pair_threshold_px=args.threshold_px)
    from geometry import compile_kernels

    compile_kernels(notify=None if args.quiet else _notice)
    offsets = _frame_offsets(args.frame_offset, names)
    raw_points, raw_scores = points, scores
    numbers = np.asarray(detections.frame_index)  # frames missing from the detections are gaps in time
    numbers = numbers if numbers.size < 2 or (np.diff(numbers) > 0).all() else None
    from .sync import estimate_time_offsets, shift_frames
    from .validation import heldout_mask

    def solve(offsets):
        points, scores = raw_points, raw_scores
        if any(offsets.values()):
            shift = np.array([offsets[n] for n in names])
            points = shift_frames(points, shift, frame_numbers=numbers)
            if scores is not None:
                scores = shift_frames(scores, shift, frame_numbers=numbers)
        held = heldout_mask(points.shape[1], args.holdout_every)
        result = keypoint_extrinsics(rig, points[:, ~held], scores=None if scores is None else scores[:, ~held],
                                     joint_names=joint_names, options=options)
        return points, scores, held, result

    points, scores, held, result = solve(offsets)
    if args.sync:  # the offsets that make the calibrated rig's epipolar geometry fit the motion best
        found = estimate_time_offsets(raw_points, names=names, scores=raw_scores, min_score=args.min_score,
                                      rig=result.rig)
        for name, offset in zip(names, found.offsets_frames):
            print(f"time offset {name}: {offset:+.2f} frames (epipolar fit {found.epipolar_px[names.index(name)]:.2f} px)"
                  if name != names[0] else f"time offset {name}: +0.00 frames (reference)")
        print(f"as arguments: {found.as_arguments() or '(all 0: already synchronized)'} (not applied: check "
              "them, then calibrate again with them)")
        if found.misfit_names():
            print(f"({', '.join(found.misfit_names())}: the calibration's epipolar geometry fits the keypoints "
                  "of this camera poorly; its offset came from the keypoints alone)")
    from .keypoint_validation import keypoint_heldout_verdict
    heldout, verdict = keypoint_heldout_verdict(result, points[:, held], scores=None if scores is None else
                                                scores[:, held], joint_names=joint_names, options=options,
                                                check_against=read_calibration(args.check_against).rig
                                                if args.check_against else None)
    if held.any():  # the held-out figures judged the solve without them; the file gets the solve from all
        result = keypoint_extrinsics(rig, points, scores=scores, joint_names=joint_names, options=options)
    metadata = dict(existing.metadata)
    metadata["extrinsics"] = {
        "method": "keypoints", "detections": str(args.detections), "rms_px": round(result.bundle.rms_px, 4),
        "observations": result.bundle.num_observations, "rejected": result.bundle.num_rejected,
        "metric_scale": known is not None, "weak_pairs": [f"{p.a}-{p.b}" for p in result.weak_pairs]}
    if heldout is not None:
        metadata["extrinsics"]["heldout_rms_px"] = round(heldout.rms_px, 4)
    if known is None:
        logger.warning("no known length given: the calibration's unit is the seed pair's baseline, not metres")
    base = read_calibration(out, units=args.calibration_units) if out.exists() else None
    _warn_stale_poses(base, result.rig.names, out)
    save_rig(merge_cameras(base.rig if base else None, list(result.rig), keep_poses=False), out, metadata=metadata,
             format=base.format if base else "auto")
    print(keypoint_summary(result))
    print(f"wrote {len(result.rig)} cameras to {out}")
    if not args.no_report:
        for path in write_keypoint_report(result, out.parent, stem=out.stem):
            print(f"wrote {path}")
    _print_validation(heldout, verdict)
    return 0
