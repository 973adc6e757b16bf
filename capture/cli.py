"""``rigkit capture record | check | export | devices``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

__all__ = ["register"]


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("record", help="record a rig into a new session folder",
                       description="Record every camera of a rig until --duration or Ctrl-C / SIGTERM, "
                                   "which flush and finalize the session. Ends with the frames lost per camera; exit status 0 "
                                   "when none was lost, 1 when some were (the session is kept), 2 on bad input.")
    p.add_argument("--rig", required=True, type=Path, help="rig description TOML (see rigs/)")
    p.add_argument("--out", required=True, type=Path, help="new session folder")
    p.add_argument("--duration", type=float, default=None, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--preview", action="store_true", help="show a mosaic of the cameras (needs a display)")
    p.add_argument("--endpoint", default="tcp://127.0.0.1:*", help="ZeroMQ address the recorder binds")
    p.add_argument("--missing-view", choices=("mark", "skip"), default="mark",
                   help="a frameset lacking a view: keep it marked missing, or leave it out of the table")
    p.add_argument("--tolerance-ms", type=float, default=None,
                   help="half-width of a frameset's time window (default: half a frame period)")
    p.set_defaults(func=_record)

    p = sub.add_parser("check", help="verify a session (or another recorder's videos): counts, gaps, skew, offsets",
                       description="Verify the frameset table against the segments and the manifest: every camera "
                                   "present, every frame in the table, no sequence gap. With --videos instead of a "
                                   "session, check another recorder's videos against the frame times it kept "
                                   "(dropped frames, frame rates, how far apart a frameset's frames are). Exit "
                                   "status 0 when no frame was lost, 1 when something was.")
    p.add_argument("session", type=Path, nargs="?", help="session folder written by 'rigkit capture record'")
    p.add_argument("--videos", nargs="+", default=[], metavar="NAME=PATH",
                   help="one video file or image folder per camera, written by another recorder")
    from .frame_offsets import add_timestamps_argument

    add_timestamps_argument(p)
    p.add_argument("--offsets", choices=("auto", "counter", "motion", "none"), default="auto",
                   help="how to estimate each camera's time offset (sessions)")
    p.set_defaults(func=_check)

    p = sub.add_parser("export", help="write one mp4 per camera, frame-aligned on the framesets")
    p.add_argument("session", type=Path, help="session folder written by 'rigkit capture record'")
    p.add_argument("--out", required=True, type=Path, help="folder for the videos (one <camera>.mp4 each)")
    p.add_argument("--fourcc", default="mp4v", help="OpenCV codec (mp4v is available everywhere)")
    p.set_defaults(func=_export)

    p = sub.add_parser("devices", help="list the cameras OpenCV can open and the modes they accept")
    p.add_argument("--max-index", type=int, default=9, help="probe device indices 0..N")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds allowed per device probe")
    p.set_defaults(func=_devices)


def _record(args) -> int:
    from tqdm import tqdm

    from .recorder import RecordOptions, Recorder
    from .rigfile import load_rig_spec

    rig = load_rig_spec(args.rig)
    options = RecordOptions(duration_s=args.duration, endpoint=args.endpoint, missing_view=args.missing_view,
                            tolerance_s=None if args.tolerance_ms is None else args.tolerance_ms / 1e3,
                            preview=args.preview)
    bar = tqdm(total=args.duration, unit="s", file=sys.stderr, dynamic_ncols=True, leave=True,
               disable=getattr(args, "quiet", False),
               bar_format="{l_bar}{bar:20}| {n:.0f}/{total_fmt} s {postfix}" if args.duration else
               "recording {n:.0f} s {postfix}")

    fps = max(c.fps for c in rig.cameras)

    def on_status(status) -> None:
        # Seconds of recording on disk (a "fast" replay runs ahead of the clock, a loaded machine behind it).
        seconds = min(c.frames for c in status.cameras) / fps
        bar.n = round(min(seconds, args.duration) if args.duration else seconds, 1)
        bar.set_postfix_str(status.line(with_time=False), refresh=True)

    recorder = Recorder(rig, args.out, options, on_status=on_status)
    previous = {s: signal.signal(s, lambda *_: recorder.stop("signal")) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = recorder.run()
        if args.duration and result.stopped_by in ("duration", "end of streams"):
            bar.n = bar.total  # the last status comes up to a second before the end
            bar.refresh()
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print(f"recorded {result.framesets} framesets ({result.complete_framesets} complete) in {result.duration_s:.1f} s "
          f"into {result.path} (stopped by {result.stopped_by}); max skew {result.max_skew_ms:.1f} ms")
    for i, name in enumerate(result.names):
        print(f"  {name}: {result.frames[i]} frames, {result.lost_per_camera[i]} lost ({result.dropped[i]} dropped, "
              f"{result.late[i]} late, {result.gaps[i]} in sequence gaps), missing from {result.missing[i]} framesets, "
              f"{result.restarts[i]} restarts")
    if not result.lost:
        print("lost frames: none")
        return 0
    losers = ", ".join(f"{n} {k}" for n, k in zip(result.names, result.lost_per_camera) if k)
    print(f"lost frames: {result.lost} ({losers}); the session is kept, see rigkit capture check {result.path}")
    return 1


def _check(args) -> int:
    from .check import CheckOptions, check_session
    from .session import open_session

    if (args.session is None) == (not args.videos):
        raise ValueError("rigkit capture check needs a session folder or --videos NAME=PATH ..., one of them")
    if args.videos:
        return _check_videos(args)
    if args.timestamps:
        raise ValueError("--timestamps goes with --videos; a session's framesets are already paired by the "
                         "timestamps it recorded")
    with open_session(args.session) as session:
        report = check_session(session, CheckOptions(offset_method=args.offsets))
    print(report.text())
    return 1 if report.problems else 0


def _check_videos(args) -> int:
    from .frames import open_source, parse_camera_args
    from .timestamps import timestamps_to_use
    from .video_check import check_videos

    cameras = parse_camera_args(args.videos, flag="--videos")
    sources = {c.name: open_source(c) for c in cameras}
    report = check_videos(sources, timestamps_to_use(args.timestamps, {c.name: c.path for c in cameras}))
    print(report.text())
    return 1 if report.problems else 0


def _export(args) -> int:
    from tqdm import tqdm

    from .export import export_session
    from .session import open_session

    with open_session(args.session) as session:
        with tqdm(total=len(session), unit="frameset", file=sys.stderr, disable=getattr(args, "quiet", False)) as bar:
            result = export_session(session, args.out, fourcc=args.fourcc, progress=bar.update)
    print(f"exported {result.frames} framesets to {len(result.videos)} videos in {args.out}")
    for video, black in zip(result.videos, result.black_frames):
        print(f"  {video}" + (f" ({black} missing views as black frames)" if black else ""))
    return 0


def _devices(args) -> int:
    from .devices import probe_devices

    found, hung = probe_devices(args.max_index, timeout_s=args.timeout)
    if not found:
        print(f"no capture devices found (indices 0..{args.max_index})")
    for device in found:
        w, h, fps = device.default
        print(f"device:{device.index}  backend {device.backend}  default {w}x{h} @ {fps:g} fps")
        for mw, mh, mfps, fourcc in device.modes:
            print(f"    {mw}x{mh} @ {mfps:g} fps {fourcc or ''}")
    for index in hung:
        print(f"device:{index} did not answer within {args.timeout:g} s")
    return 0
