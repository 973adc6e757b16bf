"""``rigkit label``: detections -> pseudo-label shards, and ``rigkit label report DIR``.

    rigkit label --calibration CALIB.toml (--session DIR | --detections FORMAT:PATH) --out DIR
                 [--resume] [--shard-size N] [thresholds with units] [--executor local|ray]
    rigkit label report DIR [--out PNG_DIR] [--num-overlays K]
    rigkit label review DIR [--port N] [--host ADDR] [--no-browser]

Bad input raises ValueError/OSError with one sentence; ``rigkit_cli`` prints it and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from .detections import Detections
from .pseudo_labels import LabelOptions

__all__ = ["register", "read_npz_detections", "load_detections_arg", "bones_from_skeleton"]

log = logging.getLogger(__name__)
_NPZ_KEYS = ("points_2d", "scores", "camera_names", "joint_names", "frame_index", "timestamp_s")


def read_npz_detections(path: str | Path) -> Detections:
    """Detections from an ``.npz`` holding the fields of :class:`labeling.Detections`:
    ``points_2d (V, F, J, 2)`` px, ``scores (V, F, J)``, ``camera_names (V,)``,
    ``joint_names (J,)``, ``frame_index (F,)``, ``timestamp_s (F,)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"detections file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {k: data[k] for k in _NPZ_KEYS if k in data}
    except (OSError, EOFError, ValueError):
        raise ValueError(f"{path} is not a readable .npz file of detections") from None
    missing = [k for k in _NPZ_KEYS if k not in fields]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)} (an npz of detections needs "
                         f"{', '.join(_NPZ_KEYS)})")
    return Detections(points_2d=fields["points_2d"], scores=fields["scores"],
                      camera_names=tuple(str(n) for n in fields["camera_names"]),
                      joint_names=tuple(str(n) for n in fields["joint_names"]),
                      frame_index=fields["frame_index"], timestamp_s=fields["timestamp_s"],
                      source=f"npz:{path.resolve()}")


_FORMAT_ALIASES = {"dlc": "deeplabcut", "pose2sim": "openpose", "json": "coco"}


def load_detections_arg(spec: str, *, rig=None, skeleton: str | None = None) -> Detections:
    """``FORMAT:PATH`` -> Detections: ``npz`` here, every other format through
    :func:`labeling.importers.load_detections` (with the calibration, for the association)."""
    fmt, sep, path = spec.partition(":")
    if not sep or not fmt or not path:
        raise ValueError(f"--detections {spec!r} must be FORMAT:PATH, e.g. npz:take.npz or "
                         "openpose:pose_folder")
    fmt = _FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    if fmt == "npz":
        return read_npz_detections(path)
    from .importers import IMPORT_FORMATS, load_detections

    if fmt not in IMPORT_FORMATS:
        raise ValueError(f"unknown detections format {fmt!r}, expected npz or one of "
                         f"{', '.join(IMPORT_FORMATS)}")
    if not Path(path).exists():
        raise FileNotFoundError(f"detections {path} do not exist")
    if skeleton is not None and skeleton.lower().endswith(".toml"):
        from .skeleton_file import read_skeleton_toml

        skeleton = read_skeleton_toml(skeleton)
    return load_detections(fmt, path, rig=rig, skeleton=skeleton)


def bones_from_skeleton(joint_names: tuple[str, ...], skeleton: str | None) -> tuple[np.ndarray | None, str]:
    """(B, 2) bones over ``joint_names`` and the skeleton's name.

    skeleton: a built-in name (``geometry.skeletons.get_skeleton``), a custom skeleton TOML file
    (``labeling.read_skeleton_toml``), or None to pick the built-in skeleton whose joint names
    are exactly ``joint_names`` (no bone check when none matches).
    """
    from geometry.skeletons import SKELETONS, get_skeleton

    if skeleton is not None and skeleton.lower().endswith(".toml"):
        from .skeleton_file import read_skeleton_toml

        chosen = read_skeleton_toml(skeleton)
    elif skeleton is None:
        match = next((s for s in SKELETONS.values() if tuple(s.joint_names) == tuple(joint_names)), None)
        if match is None:
            log.warning("no built-in skeleton has these %d joint names; pass --skeleton for the "
                        "bone-length check", len(joint_names))
            return None, ""
        chosen = match
    else:
        chosen = get_skeleton(skeleton)
    position = {name: j for j, name in enumerate(joint_names)}
    bones = [(position[chosen.joint_names[a]], position[chosen.joint_names[b]])
             for a, b in chosen.bones
             if chosen.joint_names[a] in position and chosen.joint_names[b] in position]
    if not bones:
        raise ValueError(f"skeleton {chosen.name} shares no bone with the detections' joints")
    return np.array(bones, dtype=np.int64), chosen.name


def _options(args) -> LabelOptions:
    return LabelOptions(threshold_px=args.threshold_px, min_inlier_views=args.min_inlier_views,
                        max_reprojection_error_px=args.max_reprojection_error_px,
                        min_score=args.min_score, smoothing=args.smoothing,
                        smoothing_window_frames=args.smoothing_window_frames,
                        smoothing_polyorder=args.smoothing_polyorder, bone_check=args.bone_check,
                        bone_length_tolerance_fraction=args.bone_length_tolerance_fraction,
                        bone_length_tolerance_min_m=args.bone_length_tolerance_min_m,
                        bone_length_tolerance_sigmas=args.bone_length_tolerance_sigmas)


def _show_progress(args) -> bool:
    return args.progress or (not args.quiet and sys.stderr.isatty())


def _notice(message: str) -> None:
    print(f"rigkit: {message}", file=sys.stderr, flush=True)


def _run_label(args) -> int:
    from .pipeline import LabelJob, run_label_job
    from .shards import sha256_of_file

    if not args.calibration or not args.out or (args.session is None) == (args.detections is None):
        raise ValueError("rigkit label needs --calibration, --out and exactly one of --session "
                         "or --detections (or the 'report' command)")
    options = _options(args)
    from calibration import load_rig

    rig = load_rig(args.calibration)
    provenance = {"calibration": str(Path(args.calibration).resolve()),
                  "calibration_sha256": sha256_of_file(args.calibration)}
    if args.session is not None:
        from .session_labeling import detections_from_session

        detections, detector_provenance = detections_from_session(
            args.session, args.detector or "builtin", out_dir=Path(args.out), resume=args.resume,
            executor=args.executor, progress=_show_progress(args))
        provenance.update(detector_provenance)
    else:
        detections = load_detections_arg(args.detections, rig=rig, skeleton=args.skeleton)
        provenance["detections"] = args.detections
    bones, skeleton = bones_from_skeleton(detections.joint_names, args.skeleton)
    provenance["skeleton"] = skeleton
    if args.crops_px and args.session is None:
        raise ValueError("--crops-px needs --session (the images to crop)")
    job = LabelJob.create(rig, detections, options=options, shard_size=args.shard_size,
                          bones=bones, provenance=provenance,
                          crop_source=str(Path(args.session).resolve()) if args.crops_px else None,
                          crop_px=args.crops_px)
    ray_options = {"address": args.ray_address} if args.ray_address else {}
    from geometry import compile_kernels

    compile_kernels(notify=None if args.quiet else _notice)
    summary = run_label_job(job, args.out, resume=args.resume, executor=args.executor,
                            progress=_show_progress(args),
                            ray_options=ray_options)
    if not args.quiet:
        print(summary.table())
    return 0


def _run_report(args) -> int:
    from .report import write_report

    report = write_report(args.dir, out_dir=args.out, num_overlays=args.num_overlays,
                          session=args.session)
    if not args.quiet:
        print(report.table())
        print(f"overlays: {', '.join(str(p) for p in report.overlay_paths) or 'none'}")
    return 0


def _videos(specs: list[str] | None) -> dict[str, str]:
    """``CAM=PATH`` arguments -> {camera: path}."""
    videos = {}
    for spec in specs or ():
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--video {spec!r} must be CAMERA=PATH, e.g. cam01=videos/cam01.mp4")
        videos[name] = path
    return videos


def _run_review(args) -> int:
    from .review.server import serve

    return serve(args.dir, host=args.host, port=args.port, open_browser=not args.no_browser,
                 session=args.session, max_frame_width_px=args.max_frame_width, videos=_videos(args.video),
                 announce=lambda text: print(text, flush=True))


def register(parser: argparse.ArgumentParser) -> None:
    """Add ``rigkit label`` (and its ``report`` command) to ``parser``."""
    defaults = LabelOptions()
    parser.add_argument("--calibration", metavar="CALIB", help="calibration file (TOML, ...)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--session", metavar="DIR", help="recorded session: run the detector on it")
    source.add_argument("--detections", metavar="FORMAT:PATH",
                        help="precomputed 2D detections, e.g. npz:take.npz, openpose:DIR, "
                             "dlc:FILE.h5, sleap:FILE.h5, coco:FILE.json")
    parser.add_argument("--detector", metavar="WEIGHTS", default=None,
                        help="detector weights for --session (default: the built-in detector)")
    parser.add_argument("--crops-px", type=int, default=0, metavar="S",
                        help="with --session: store an S x S JPEG crop of each view around the "
                             "subject in the shards (0: labels only)")
    parser.add_argument("--out", metavar="DIR", help="output folder for shards and index.json")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in --out (complete shards are kept)")
    parser.add_argument("--shard-size", type=int, default=1024, metavar="N",
                        help="framesets per shard")
    parser.add_argument("--skeleton", default=None, metavar="NAME|TOML",
                        help="skeleton for the importers and the bone-length check: a built-in "
                             "name or a custom TOML file (default: matched by joint names)")
    parser.add_argument("--threshold-px", type=float, metavar="PX", default=defaults.threshold_px,
                        help="inlier threshold of the robust triangulation, pixels")
    parser.add_argument("--min-inlier-views", type=int, metavar="N", default=defaults.min_inlier_views)
    parser.add_argument("--max-reprojection-error-px", type=float, metavar="PX",
                        default=defaults.max_reprojection_error_px)
    parser.add_argument("--min-score", type=float, metavar="SCORE", default=defaults.min_score,
                        help="detections below this confidence are not used")
    parser.add_argument("--smoothing", choices=("none", "savgol", "median"), default=defaults.smoothing,
                        help="gap-aware temporal smoothing of the 3D labels")
    parser.add_argument("--smoothing-window-frames", type=int, metavar="FRAMES",
                        default=defaults.smoothing_window_frames)
    parser.add_argument("--smoothing-polyorder", type=int, metavar="ORDER", default=defaults.smoothing_polyorder)
    parser.add_argument("--bone-check", choices=("off", "flag", "reject"), default=defaults.bone_check)
    parser.add_argument("--bone-length-tolerance-fraction", type=float, metavar="FRACTION",
                        default=defaults.bone_length_tolerance_fraction,
                        help="a bone jumps when it differs from its median by more than this "
                             "fraction (or the minimum below)")
    parser.add_argument("--bone-length-tolerance-min-m", type=float, metavar="M",
                        default=defaults.bone_length_tolerance_min_m)
    parser.add_argument("--bone-length-tolerance-sigmas", type=float, metavar="SIGMAS",
                        default=defaults.bone_length_tolerance_sigmas,
                        help="... or this many robust standard deviations of its length")
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--ray-address", default=None, metavar="ADDRESS",
                        help="Ray cluster address (default: start a local Ray instance)")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar even when stderr is not a terminal")
    parser.set_defaults(func=_run_label)
    sub = parser.add_subparsers(dest="label_command", metavar="COMMAND")
    report = sub.add_parser("report", help="per-joint acceptance table and overlay PNGs",
                            description="per-joint acceptance table and overlay PNGs of a "
                                        "labeling output folder")
    report.add_argument("dir", metavar="DIR", help="labeling output folder (with index.json)")
    report.add_argument("--out", default=None, metavar="PNG_DIR",
                        help="where to write the PNGs (default: DIR/report)")
    report.add_argument("--num-overlays", type=int, default=4, metavar="K",
                        help="framesets drawn as overlays")
    report.add_argument("--session", default=None, metavar="DIR",
                        help="session with the images, to draw onto real frames")
    report.set_defaults(func=_run_report)
    review = sub.add_parser("review", help="review the labels in the browser (local web app)",
                            description="serve a local web app to look at every view of the labels, "
                                        "find the bad ones and save verdicts to DIR/review.json")
    review.add_argument("dir", metavar="DIR", help="labeling output folder (with index.json)")
    review.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    review.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; another one is reachable "
                             "from the network: a warning is printed)")
    review.add_argument("--no-browser", action="store_true", help="only print the URL")
    review.add_argument("--session", default=None, metavar="DIR",
                        help="session with the frames (default: the one recorded in index.json)")
    review.add_argument("--max-frame-width", type=int, default=1280, metavar="PX",
                        help="frames wider than this are decoded and sent at 1/2 or 1/4 size")
    review.add_argument("--video", action="append", metavar="CAM=PATH",
                        help="frames from a video per camera (frame_index = frame number), for "
                             "labels made from videos; repeat per camera")
    review.set_defaults(func=_run_review)
