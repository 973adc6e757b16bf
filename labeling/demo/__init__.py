"""``rigkit demo``: the whole pipeline on a built-in synthetic rig, with real components throughout.

1. capture: synthetic cameras (rendered by :mod:`capture.render`) stream through the capture
   workers and the recorder into a session on disk: the board held up to each camera, carried
   through the rig, then a person moving;
2. calibration: intrinsics and extrinsics from the recorded board pass, and the poses again from
   the detector's keypoints of the person alone;
3. labeling: the built-in frozen detector on every view, robust triangulation, gating, shards;
4. a closing summary against the synthetic truth and a report folder of pictures.

    rigkit demo [--out DIR] [--cameras 4..8] [--seconds S] [--quick]
    rigkit demo --people 2..5 [--out DIR] [--cameras 4..8] [--seconds S] [--quick]

``--people N`` runs the multi-person demo instead (:mod:`.people`): N people crossing in the
rig, a multi-person detector's OpenPose JSON, ``rigkit label --max-people N``, one track each.

Modules: :mod:`.config` (options, rig file, folder layout), :mod:`.record`, :mod:`.calibrate`,
:mod:`.detect`, :mod:`.evaluate`, :mod:`.figures`, :mod:`.run` (:func:`run_demo`).
"""

from __future__ import annotations

import argparse
import logging
import sys

from geometry import compile_kernels

from .config import MAX_CAMERAS, MIN_CAMERAS, DemoOptions, DemoPaths
from .run import DemoResult, run_demo

__all__ = ["register", "DemoOptions", "DemoPaths", "DemoResult", "run_demo", "QUICK"]

# --quick: a smaller run (fewer frames, lower rate) that still calibrates and labels for real.
QUICK = {"fps": 8.0, "intrinsics_s": 2.0, "person_s": 6.0}


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` command's options to ``parser``."""
    parser.add_argument("--out", default="rigkit-demo", metavar="DIR",
                        help="run folder (session, calibration, shards, report); a run restarted into the "
                             "same folder with the same options continues where it stopped")
    parser.add_argument("--cameras", type=int, default=4, metavar="N",
                        help=f"cameras in the synthetic ring ({MIN_CAMERAS}..{MAX_CAMERAS})")
    parser.add_argument("--seconds", type=float, default=argparse.SUPPRESS, metavar="S",
                        help="seconds of the person moving (default 12, with --quick 6); the board pass "
                             "before it takes 5 s per camera (2 s close-ups, 3 s carried through the rig)")
    parser.add_argument("--fps", type=float, default=argparse.SUPPRESS,
                        help="frame rate (default 15, with --quick 8)")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run (fewer frames)")
    from labeling.detector_spec import DETECTOR_HELP

    parser.add_argument("--detector", default="builtin", metavar="SPEC",
                        help=f"the detector, as for 'rigkit label': {DETECTOR_HELP}")
    parser.add_argument("--people", type=int, default=1, metavar="N",
                        help="2..5: the multi-person demo (N people crossing, their detections as "
                             "OpenPose JSON, labeled with --max-people N, a picture of the tracks); "
                             "default 1, the single-person demo")
    parser.set_defaults(func=_run)


def _options(args: argparse.Namespace) -> DemoOptions:
    values = dict(QUICK) if args.quick else {}
    if getattr(args, "seconds", None) is not None:
        values["person_s"] = args.seconds
    if getattr(args, "fps", None) is not None:
        values["fps"] = args.fps
    return DemoOptions(cameras=args.cameras, detector=args.detector, **values)


def _run_people(args: argparse.Namespace) -> int:
    from .people import PeopleDemoOptions, run_people_demo

    values = {"seconds": 4.0} if args.quick else {}
    if getattr(args, "seconds", None) is not None:
        values["seconds"] = args.seconds
    if getattr(args, "fps", None) is not None:
        values["fps"] = args.fps
    options = PeopleDemoOptions(people=args.people, cameras=args.cameras, **values)
    show = not args.quiet
    if not args.debug:
        logging.getLogger().setLevel(logging.WARNING)

    def on_stage(text: str) -> None:
        if show:
            print(text, file=sys.stderr, flush=True)

    compile_kernels(notify=(lambda message: on_stage(f"rigkit: {message}")) if show else None)
    result = run_people_demo(args.out, options, progress=show and sys.stderr.isatty(),
                             on_stage=on_stage)
    print(result.summary())
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.people != 1:
        return _run_people(args)
    options = _options(args)
    show = not args.quiet
    if not args.debug:  # the stage headings, bars and the summary say what matters; warnings still show
        logging.getLogger().setLevel(logging.WARNING)

    def on_stage(text: str) -> None:
        if show:
            print(text, file=sys.stderr, flush=True)

    compile_kernels(notify=(lambda message: on_stage(f"rigkit: {message}")) if show else None)
    result = run_demo(args.out, options, progress=show and sys.stderr.isatty() or args.debug, on_stage=on_stage)
    print(result.summary())
    return 0
