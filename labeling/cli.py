"""``rigkit label``: detections -> pseudo-label shards, and ``rigkit label report DIR``.

    rigkit label --calibration CALIB.toml (--session DIR | --videos NAME=PATH ... |
                 --detections FORMAT:PATH) [--detector SPEC] [--frame-offset NAME=N] --out DIR
                 [--max-people N | --subject most-seen|largest]
                 [--resume] [--shard-size N] [thresholds with units] [--executor local|ray]
    rigkit label detect (--session DIR | --videos NAME=PATH ...) --detector SPEC --out FILE.npz
    rigkit label report DIR [--out PNG_DIR] [--num-overlays K]
    rigkit label review DIR [--port N] [--host ADDR] [--no-browser]

Which detector: ``builtin`` (the default) is trained on synthetic renders and is the demo's; it
does not see real people. For real footage use ``mediapipe`` (rigkit[mediapipe]) or an
``onnx:`` export of RTMPose/ViTPose (rigkit[onnx]).

Bad input raises ValueError/OSError with one sentence; ``rigkit_cli`` prints it and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from geometry.options import add_option_flags, options_from_flags

from .detections import Detections, read_npz_detections, write_npz_detections
from .pseudo_labels import LabelOptions

__all__ = ["register", "read_npz_detections", "load_detections_arg", "load_people_arg",
           "bones_from_skeleton"]

log = logging.getLogger(__name__)


_FORMAT_ALIASES = {"dlc": "deeplabcut", "pose2sim": "openpose", "json": "coco"}


def parse_detections_options(pairs) -> dict:
    """``["images=coco.json", "fps=30"]`` -> ``{"images": "coco.json", "fps": 30}`` (reader options
    of :mod:`labeling.importers`; numbers become int/float, the rest stays text)."""
    options = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--detections-option {pair!r} must be KEY=VALUE, e.g. images=coco.json")
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                continue
        options[key.strip()] = value
    return options


def _detections_spec(spec: str, skeleton):
    """``FORMAT:PATH`` -> (format, path, skeleton) with the format's aliases resolved and the
    skeleton TOML read."""
    fmt, sep, path = spec.partition(":")
    if not sep or not fmt or not path:
        raise ValueError(f"--detections {spec!r} must be FORMAT:PATH, e.g. npz:take.npz or "
                         "openpose:pose_folder")
    fmt = _FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    if fmt == "npz":
        return fmt, path, skeleton
    from .importers import IMPORT_FORMATS

    if fmt not in IMPORT_FORMATS:
        raise ValueError(f"unknown detections format {fmt!r}, expected npz or one of "
                         f"{', '.join(IMPORT_FORMATS)}")
    if not Path(path).exists():
        raise FileNotFoundError(f"detections {path} do not exist")
    if skeleton is not None and skeleton.lower().endswith(".toml"):
        from .skeleton_file import read_skeleton_toml

        skeleton = read_skeleton_toml(skeleton)
    return fmt, path, skeleton


def load_detections_arg(spec: str, *, rig=None, skeleton: str | None = None,
                        options: dict | None = None) -> Detections:
    """``FORMAT:PATH`` -> Detections: ``npz`` here, every other format through
    :func:`labeling.importers.load_detections` (with the calibration, for the association).
    options: reader options (``--detections-option KEY=VALUE``)."""
    fmt, path, skeleton = _detections_spec(spec, skeleton)
    if fmt == "npz":
        return read_npz_detections(path)
    from .importers import load_detections

    return load_detections(fmt, path, rig=rig, skeleton=skeleton, **(options or {}))


def load_people_arg(spec: str, *, rig, skeleton: str | None = None, association=None,
                    every_person: bool = True, options: dict | None = None):
    """``FORMAT:PATH`` of a multi-person format -> every person, associated across views and over
    time with the calibration ``rig`` (:func:`labeling.people.associate_people`).

    association: :class:`labeling.AssociationOptions` (``max_people``: ``--max-people``,
        ``subject``: ``--subject``).
    every_person: the :class:`labeling.people.PeopleSamples` of every person (``--max-people``);
        False: the single subject's :class:`labeling.Detections`.
    options: reader options of :mod:`labeling.importers`.
    """
    from .association import AssociationOptions
    from .subject import associate
    from .people import associate_people

    association = association or AssociationOptions()
    fmt, path, skeleton = _detections_spec(spec, skeleton)
    if fmt == "npz":
        raise ValueError("--max-people and --subject need detections that can hold several people "
                         "per view (openpose:, dlc:, sleap:, coco:, mmpose:); an npz holds one subject")
    from .importers import load_candidates

    reader = dict(options or {})
    if skeleton is not None and fmt != "sleap":
        reader["skeleton"] = skeleton
    candidates = load_candidates(fmt, path, camera_names=rig.names, **reader)
    if every_person:
        return associate_people(candidates, rig, association).samples()
    return associate(candidates, rig, association).detections


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


# The flags of LabelOptions (field -> metavar, help); type, default and choices come from the field.
LABEL_FLAGS = {
    "gating": (None, "adaptive: inlier threshold and label gate of each camera and joint group = "
                     "--threshold-sigmas x the detection noise estimated from the take, within fractions "
                     "of the image diagonal; fixed: --threshold-px and --max-reprojection-error-px "
                     "everywhere"),
    "threshold_sigmas": ("K", "adaptive gating: threshold = K x the estimated noise (pixels per coordinate)"),
    "threshold_min_fraction": ("FRACTION", "adaptive gating: threshold floor, as a fraction of the image "
                                           "diagonal"),
    "threshold_max_fraction": ("FRACTION", "adaptive gating: threshold ceiling, as a fraction of the image "
                                           "diagonal"),
    "presence_min_score": ("SCORE", "labels only in framesets whose triangulated joints' detections have "
                                    "this median confidence (running median over "
                                    "--presence-window-frames; 0: off)"),
    "presence_window_frames": ("FRAMES", "framesets of the presence test's running median (odd)"),
    "threshold_px": ("PX", "fixed gating: inlier threshold of the robust triangulation, pixels"),
    "min_inlier_views": ("N", "a label needs at least this many views that agree on it"),
    "max_reprojection_error_px": ("PX", "a label is rejected when any inlier view is further than this "
                                        "from its reprojection, pixels"),
    "min_score": ("SCORE", "detections below this confidence are not used"),
    "smoothing": (None, "gap-aware temporal smoothing of the 3D labels"),
    "smoothing_window_frames": ("FRAMES", "length of the smoothing window, framesets (odd)"),
    "smoothing_polyorder": ("ORDER", "polynomial order of the savgol smoothing"),
    "bone_check": (None, "bones whose length jumps: ignore, flag in reject_reason, or reject the labels"),
    "bone_length_tolerance_fraction": ("FRACTION", "a bone jumps when it differs from its median by more "
                                                   "than this fraction (or the minimum below)"),
    "long_bone_tolerance_fraction": ("FRACTION", "upper arms, forearms, thighs and shanks jump when their "
                                                 "length differs from its median by more than this fraction"),
    "bone_length_tolerance_min_m": ("M", "... but at least this much, metres"),
    "bone_length_tolerance_sigmas": ("SIGMAS", "... or this many robust standard deviations of its length"),
}


def _options(args) -> LabelOptions:
    return options_from_flags(args, LabelOptions, LABEL_FLAGS)


def _association(args):
    from .association import AssociationOptions

    if args.max_people is not None and args.max_people < 0:
        raise ValueError(f"--max-people is {args.max_people}, expected 0 (every person found) "
                         "or a positive cap")
    return AssociationOptions(max_people=args.max_people or 0,
                              subject=args.subject.replace("-", "_"))


def _show_progress(args) -> bool:
    return args.progress or (not args.quiet and sys.stderr.isatty())


def _notice(message: str) -> None:
    print(f"rigkit: {message}", file=sys.stderr, flush=True)


def _recording(args):
    """The ``capture.pairing.RecordingSpec`` of ``--session`` / ``--videos`` (None without)."""
    from capture.pairing import RecordingSpec

    if args.session is None and not args.videos:
        return None
    return RecordingSpec.from_args(session=args.session, videos=args.videos or (),
                                   frame_offsets=args.frame_offset or (), timestamps=args.timestamps or ())


def _match_to_rig(detections: Detections, rig) -> tuple[Detections, dict]:
    """Rename the recording's cameras to the calibration's, as the importers match them (exact
    name, the calibration's name inside the file's, else sorted order with a warning); returns
    the detections and ``{calibration name: recording name}``."""
    names = list(detections.camera_names)
    if set(names) <= set(rig.names):
        return detections, {n: n for n in names}
    from .importers.common import match_cameras

    pairs = match_cameras(names, list(rig.names), source="--videos")
    ordered = detections.select_cameras([found for found, _ in pairs])
    renamed = Detections(points_2d=ordered.points_2d, scores=ordered.scores,
                         camera_names=tuple(name for _, name in pairs),
                         joint_names=ordered.joint_names, frame_index=ordered.frame_index,
                         timestamp_s=ordered.timestamp_s, source=ordered.source,
                         metadata={**ordered.metadata, "frame_sizes": {
                             name: ordered.metadata.get("frame_sizes", {}).get(found)
                             for found, name in pairs if found in ordered.metadata.get("frame_sizes", {})}})
    return renamed, {name: found for found, name in pairs}


def _synchronized(detections: Detections, rig, provenance: dict, *, quiet: bool) -> Detections:
    """``--sync``: each camera's time offset from the subject's keypoint motion against the
    calibration (:func:`calibration.sync.estimate_time_offsets`, first camera the reference),
    applied to the detections and recorded in ``provenance``."""
    from calibration.sync import estimate_time_offsets

    names = detections.camera_names
    found = estimate_time_offsets(detections.points_2d, names=names, scores=detections.scores,
                                  rig=rig.subset(list(names)), joint_names=detections.joint_names)
    offsets = {n: round(float(o), 3) for n, o in zip(names, found.offsets_frames)}
    provenance["frame_offsets_estimated"] = offsets
    if not quiet:
        _notice("time offsets from the keypoints' motion against the calibration (frames, applied): "
                + ", ".join(f"{n} {o:+.2f}" for n, o in offsets.items())
                + f"; as flags: {found.as_arguments() or '(none: the cameras look synchronized)'}"
                + (f" ({', '.join(found.misfit_names())}: the calibration's epipolar geometry fits these "
                   "cameras' keypoints poorly; their offsets came from the keypoints alone)"
                   if found.misfit_names() else ""))
    return detections.shifted(offsets)


_UNSYNCHRONIZED_MIN_FRAMES = 0.05  # steady offsets below this are within what the calibration resolves


def _calibration_frame_offsets(metadata: dict) -> tuple[dict[str, float], dict[str, float], dict[str, str],
                                                       tuple[str, ...]]:
    """What ``rigkit calibrate extrinsics`` recorded of its frames' timing (``[metadata.extrinsics]``):
    ``(estimated, total, recording, timestamps)``. estimated: ``{name: frames}`` steady offsets it found and
    modelled (``frame_offsets_estimated``; {} when none is worth saying); total: those plus any
    ``--frame-offset`` it was given (``frame_offsets_given``), how that recording's frames pair;
    recording: ``{name: capture.frames.source_identity}`` of the videos it was solved from;
    timestamps: the ``--timestamps`` files its frames were paired by (empty: by index)."""
    extrinsics = metadata.get("extrinsics") if isinstance(metadata, dict) else None
    if not isinstance(extrinsics, dict):
        return {}, {}, {}, ()

    def numbers(key: str) -> dict[str, float]:
        found = extrinsics.get(key)
        return ({str(n): float(o) for n, o in found.items() if isinstance(o, (int, float))}
                if isinstance(found, dict) else {})

    estimated = numbers("frame_offsets_estimated") if extrinsics.get("capture_jitter") == "modelled" else {}
    if estimated and max(abs(o) for o in estimated.values()) < _UNSYNCHRONIZED_MIN_FRAMES:
        estimated = {}
    given = numbers("frame_offsets_given")
    total = {n: round(given.get(n, 0.0) + estimated.get(n, 0.0), 3) for n in {**given, **estimated}}
    recording = extrinsics.get("recording")
    recording = {str(n): str(i) for n, i in recording.items()} if isinstance(recording, dict) else {}
    return estimated, total, recording, tuple(str(t) for t in extrinsics.get("timestamps") or ())


def _calibration_recording(recording, identities: dict[str, str]) -> dict[str, str] | None:
    """``{calibration camera: recording camera}`` when every camera of ``recording`` (a
    ``capture.pairing.RecordingSpec``) is one the calibration was solved from (same file, size and
    frame count), else None."""
    from capture.frames import source_identity

    if not identities:
        return None
    by_identity = {identity: name for name, identity in identities.items()}
    with recording.open() as opened:
        found = {name: by_identity.get(source_identity(opened.sources[name])) for name in opened.names}
    if any(calibrated is None for calibrated in found.values()):
        return None
    return {calibrated: name for name, calibrated in found.items()}


def _timing_from_calibration(args, calibration, recording, provenance: dict):
    """Without ``--frame-offset`` / ``--sync``: the recording the calibration was solved from is
    paired as the calibration paired it (its steady offsets applied, said once); another recording
    of cameras the calibration found unsynchronized gets one sentence naming the offsets. Returns
    the recording spec to detect on."""
    from dataclasses import replace as replaced

    if args.frame_offset or args.sync:
        return recording
    estimated, total, identities, timestamps = _calibration_frame_offsets(calibration.metadata)
    # the offsets hold for the calibration's own pairing of the frames
    paired_alike = recording is not None and tuple(recording.timestamps) == timestamps
    same = _calibration_recording(recording, identities) if paired_alike and total else None
    if same is not None:
        offsets = {same[n]: o for n, o in total.items() if n in same}
        if args.crops_px and any(not float(o).is_integer() for o in offsets.values()):
            same = None  # crops need whole offsets: say so below instead
        else:
            if not args.quiet:
                _notice("the calibration was solved from these same videos and paired their frames with offsets "
                        "(frames): " + ", ".join(f"{n} {o:+.2f}" for n, o in offsets.items())
                        + "; applied here too (any --frame-offset, e.g. NAME=0, pairs them your way instead)")
            provenance["frame_offsets_from_calibration"] = offsets
            return replaced(recording, offsets=tuple(offsets.items()))
    if estimated and not args.quiet:
        flags = " ".join(f"--frame-offset {n}={o:+.2f}" for n, o in estimated.items())
        _notice("the calibration found its cameras were not triggered together (steady offsets, frames: "
                + ", ".join(f"{n} {o:+.2f}" for n, o in estimated.items())
                + f"); these labels pair frames as recorded: if this take's cameras ran the same way, pass "
                f"{flags} (free-running cameras can start differently in every recording)")
    return recording


def _run_label(args) -> int:
    from .pipeline import LabelJob, run_label_job
    from rigkit_files import sha256_of_file

    given = sum(x is not None and x != [] for x in (args.session, args.videos, args.detections))
    if not args.calibration or not args.out or given != 1:
        raise ValueError("rigkit label needs --calibration, --out and exactly one of --session, "
                         "--videos or --detections (or the 'report' / 'detect' command)")
    if args.timestamps and not args.videos:
        raise ValueError("--timestamps pairs the frames of --videos; "
                         + ("a session's framesets are already paired by the timestamps it recorded"
                            if args.session else "--detections were paired when they were detected"))
    started = time.perf_counter()
    several = args.max_people is not None or args.subject != "most-seen"
    if several and (args.session is not None or args.videos):
        raise ValueError("--max-people and --subject need --detections from a multi-person "
                         "detector; the detectors on --session / --videos find one subject")
    options = _options(args)
    if args.executor == "ray":
        from .pipeline import require_ray

        require_ray()  # before any file is written
    _refuse_out_inside_input(Path(args.out), args.session, args.detections)
    from calibration import read_calibration

    recording = _recording(args)
    if args.crops_px and args.session is None:  # before any detection runs
        raise ValueError("--crops-px needs --session (the images to crop)")
    if args.sync and (args.frame_offset or several or args.crops_px):
        raise ValueError("--sync estimates the frame offsets of one subject's keypoints: not with "
                         + ("--frame-offset (give one or the other)" if args.frame_offset else
                            "--max-people / --subject" if several else "--crops-px (sub-frame offsets have no "
                            "frame at the labels' instant)"))
    if args.crops_px and recording is not None and recording.fractions:
        raise ValueError("--crops-px needs whole frame offsets: with a sub-frame --frame-offset no frame "
                         "shows the labels' instant (round the offsets, or label without --crops-px)")
    calibration = read_calibration(args.calibration, units=args.calibration_units)
    rig = calibration.posed_rig()
    provenance = {"calibration": str(Path(args.calibration).resolve()),
                  "calibration_sha256": sha256_of_file(args.calibration)}
    if calibration.decisions:  # what the reader had to decide (units, sizes, unposed cameras)
        provenance["calibration_decisions"] = list(calibration.decisions)
    recording = _timing_from_calibration(args, calibration, recording, provenance)
    if recording is not None:
        from .session_labeling import detections_from_recording

        detections, detector_provenance = detections_from_recording(
            recording, args.detector or "builtin", out_dir=Path(args.out), resume=args.resume,
            executor=args.executor, progress=_show_progress(args),
            ray_options={"address": args.ray_address} if args.ray_address else None)
        provenance.update(detector_provenance)
        if not args.quiet:
            _notice(f"{detector_provenance['detector']}: frames paired by "
                    f"{detector_provenance['paired_by']}, person boxes from "
                    f"{detector_provenance['person_boxes']}")
            for note in detector_provenance.get("notes", []):
                _notice(note)
        detections, camera_map = _match_to_rig(detections, rig)
        if any(k != v for k, v in camera_map.items()):
            provenance["camera_map"] = camera_map
    elif several:  # every person (--max-people), or the subject by --subject
        if args.frame_offset:
            raise ValueError("--frame-offset with --detections moves one subject's keypoints between "
                             "frames; with --max-people / --subject pair the cameras' frames before "
                             "detecting (--videos ... --frame-offset)")
        if args.detector:
            raise ValueError("--detector runs on --session or --videos; --detections are already "
                             "detected")
        association = _association(args)
        if args.max_people is not None:
            from .people import compile_association_kernels

            compile_association_kernels(notify=None if args.quiet else _notice)
        detections = load_people_arg(args.detections, rig=rig, skeleton=args.skeleton,
                                     association=association,
                                     every_person=args.max_people is not None,
                                     options=parse_detections_options(
                                         getattr(args, "detections_option", None)))
        provenance.update(detections=args.detections, association=association.to_json())
    else:
        if args.detector:
            raise ValueError("--detector runs on --session or --videos; --detections are already "
                             "detected")
        detections = load_detections_arg(args.detections, rig=rig, skeleton=args.skeleton,
                                         options=parse_detections_options(
                                             getattr(args, "detections_option", None)))
        provenance["detections"] = args.detections
        if args.frame_offset:  # the cameras of already detected keypoints, moved in time
            from capture.frame_offsets import parse_frame_offsets

            shifts = parse_frame_offsets(args.frame_offset, fractional=True)
            detections = detections.shifted(shifts)  # names a camera it does not have: ValueError
            provenance["detections_frame_offsets"] = shifts
            if not args.quiet:
                _notice("keypoints moved in time by --frame-offset (frames, interpolated between "
                        "neighbouring frames): " + ", ".join(f"{n}={o:+g}" for n, o in shifts.items()))
        if "weights_sha256" in detections.metadata:
            provenance["weights_sha256"] = detections.metadata["weights_sha256"]
        recorded = detections.metadata.get("recording", {})
        for key in ("videos", "frame_offsets", "session"):  # where the frames are, for the report
            if key in recorded:
                provenance[key] = recorded[key]
    if args.max_people is None:  # frames of another size than the calibration's (videos)
        from .frame_fit import fit_detections

        detections, fits = fit_detections(detections, rig, detections.metadata.get("frame_sizes", {}))
        for fit in fits:
            _notice(fit.sentence())
            provenance.setdefault("frame_fits", {})[fit.camera] = fit.mode
    if args.sync:
        detections = _synchronized(detections, rig, provenance, quiet=args.quiet)
    single = getattr(detections, "detections", detections)  # PeopleSamples too
    if not np.isfinite(single.points_2d).any():
        raise ValueError(f"the detections of {args.session or args.videos or args.detections} hold no "
                         "detected point (all NaN): nothing to label")
    bones, skeleton = bones_from_skeleton(single.joint_names, args.skeleton)
    provenance["skeleton"] = skeleton
    job = LabelJob.create(rig, detections, options=options, shard_size=args.shard_size,
                          bones=bones, provenance=provenance,
                          crop_source=str(Path(args.session).resolve()) if args.crops_px else None,
                          crop_px=args.crops_px,
                          crop_offsets=tuple(recording.offsets) if args.crops_px else ())
    ray_options = {"address": args.ray_address} if args.ray_address else {}
    from geometry import compile_kernels

    compile_kernels(notify=None if args.quiet else _notice)
    summary = run_label_job(job, args.out, resume=args.resume, executor=args.executor,
                            progress=_show_progress(args),
                            ray_options=ray_options)
    if not args.quiet:  # the time of the whole command, detection included
        print(replace(summary, seconds=time.perf_counter() - started).table())
    return 0


def _run_detect(args) -> int:
    """``rigkit label detect``: the detector only, into the one detections npz."""
    import shutil

    from .session_labeling import detections_from_recording

    recording = _recording(args)
    if recording is None or (args.session is not None and args.videos):
        raise ValueError("rigkit label detect needs exactly one of --session or --videos")
    out = Path(args.out)
    if out.suffix.lower() != ".npz":
        raise ValueError(f"--out {out} must name an .npz file")
    if out.exists() and not args.resume and not args.force:
        raise ValueError(f"{out} exists; pass --force to replace it")
    work = out.with_name(f".{out.name}.chunks")  # per-chunk cache until the npz is whole
    detections, provenance = detections_from_recording(
        recording, args.detector or "builtin", out_dir=work, resume=True, executor=args.executor,
        progress=_show_progress(args),
        ray_options={"address": args.ray_address} if args.ray_address else None)
    detections.metadata["recording"] = recording.describe()
    write_npz_detections(out, detections)
    shutil.rmtree(work, ignore_errors=True)
    if not args.quiet:
        V, F, J = detections.points_2d.shape[:3]
        found = np.isfinite(detections.scores)
        print(f"wrote {out}: {V} cameras x {F} framesets x {J} joints ({detections.metadata.get('detector')}, "
              f"model sha256 {provenance['weights_sha256'][:12]}...); frames paired by "
              f"{provenance['paired_by']}; person boxes from {provenance['person_boxes']}; "
              f"{found.mean():.0%} of the joints detected")
        for note in provenance.get("notes", []):
            print(f"note: {note}")
    return 0


def _refuse_out_inside_input(out: Path, session: str | None, detections: str | None) -> None:
    """ValueError when --out is (inside) the input folder: labels would land among the inputs."""
    inputs = [("--session", Path(session))] if session else []
    if detections and ":" in detections:
        path = Path(detections.partition(":")[2])
        if path.is_dir():
            inputs.append(("--detections", path))
    resolved = out.resolve()
    for flag, folder in inputs:
        folder = folder.resolve()
        if resolved == folder or folder in resolved.parents:
            raise ValueError(f"--out {out} is inside the {flag} folder {folder}; write the labels to a "
                             "folder outside the inputs")


def _run_report(args) -> int:
    from .report import write_report

    report = write_report(args.dir, out_dir=args.out, num_overlays=args.num_overlays,
                          session=args.session)
    if not args.quiet:
        print(report.table())
        print(f"overlays: {', '.join(str(p) for p in report.overlay_paths) or 'none'}")
    from .index import LabelIndex

    index = LabelIndex.read(args.dir)
    if not index.complete:
        print(f"rigkit: warning: {index.incomplete_note(args.dir)}; this report covers only that part",
              file=sys.stderr)
        return 1
    return 0


def _folder_command(sub, name: str, help_text: str, description: str) -> argparse.ArgumentParser:
    """A ``rigkit label`` sub-command that works on a labeling output folder (argument DIR)."""
    parser = sub.add_parser(name, help=help_text, description=description)
    parser.add_argument("dir", metavar="DIR", help="labeling output folder (with index.json)")
    return parser


def _add_recording_arguments(group, parser: argparse.ArgumentParser) -> None:
    group.add_argument("--session", metavar="DIR", help="recorded session: run the detector on it")
    group.add_argument("--videos", nargs="+", action="extend", metavar="NAME=PATH",
                       help="one video file or image folder per camera: run the detector on them "
                            "(names matched to the calibration as the importers do)")
    from capture.frame_offsets import add_frame_offset_argument
    from capture.frame_offsets import add_timestamps_argument

    add_timestamps_argument(parser)
    add_frame_offset_argument(parser, fractional=True,
                              note="frames are paired by index for videos (by their recorded times with "
                                   "--timestamps), by the recording's timestamps for a session; a sub-frame "
                                   "offset (as 'rigkit calibrate' reports them) interpolates the camera's "
                                   "keypoints between its frames; with --detections the detected keypoints "
                                   "are moved the same way")


def _add_detector_argument(parser: argparse.ArgumentParser) -> None:
    from .detector_spec import DETECTOR_HELP

    parser.add_argument("--detector", metavar="SPEC", default=None,
                        help=f"detector for --session / --videos: {DETECTOR_HELP}")


def _add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where detection and labeling run: this process, or Ray detector "
                             "actors and tasks (rigkit[ray])")
    parser.add_argument("--ray-address", default=None, metavar="ADDRESS",
                        help="Ray cluster address (default: start a local Ray instance)")
    parser.add_argument("--progress", action="store_true",
                        help="show the progress bar even when stderr is not a terminal")


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
    """Add ``rigkit label`` (and its ``detect`` and ``report`` commands) to ``parser``."""
    parser.epilog = ("Which detector: 'builtin' (the default) is trained on synthetic renders and "
                     "labels the demo; it does not see real people. For real footage use "
                     "'--detector mediapipe' (pip install 'rigkit[mediapipe]') or an RTMPose/ViTPose "
                     "ONNX export, '--detector onnx:MODEL.onnx' (pip install 'rigkit[onnx]').")
    parser.add_argument("--calibration", metavar="CALIB", help="calibration file (TOML, ...)")
    from calibration.convert import add_units_argument

    add_units_argument(parser)
    source = parser.add_mutually_exclusive_group()
    _add_recording_arguments(source, parser)
    source.add_argument("--detections", metavar="FORMAT:PATH",
                        help="precomputed 2D detections, e.g. npz:take.npz (from 'rigkit label "
                             "detect'), openpose:DIR, dlc:FILE.h5, sleap:FILE.h5, coco:FILE.json")
    _add_detector_argument(parser)
    parser.add_argument("--detections-option", action="append", default=[], metavar="KEY=VALUE",
                        help="an option of the detections reader, e.g. images=coco.json (COCO "
                             "results lists), layout=standard (SLEAP), name_pattern=REGEX, fps=30")
    parser.add_argument("--max-people", type=int, default=None, metavar="N",
                        help="label every person the detections hold (one track each, "
                             "person_id in the shards), at most N at once (0: as many as found); "
                             "without it one subject is labeled")
    parser.add_argument("--subject", choices=("most-seen", "largest"), default="most-seen",
                        help="without --max-people: the subject is the most-seen person (views x "
                             "framesets) or the largest in the images")
    parser.add_argument("--sync", action="store_true",
                        help="cameras not triggered together, offsets unknown: estimate each camera's time "
                             "offset (sub-frame) from the subject's motion against the calibration's "
                             "epipolar geometry, apply it and print it as --frame-offset flags")
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
    add_option_flags(parser, LabelOptions, LABEL_FLAGS)
    _add_executor_arguments(parser)
    parser.set_defaults(func=_run_label)
    sub = parser.add_subparsers(dest="label_command", metavar="COMMAND")
    detect = sub.add_parser("detect", help="run only the detector; write the detections npz",
                            description="Run the detector over a session or videos and write the "
                                        "one detections npz that 'rigkit label --detections "
                                        "npz:FILE' and 'rigkit calibrate keypoints --detections "
                                        "npz:FILE' read.")
    group = detect.add_mutually_exclusive_group()
    _add_recording_arguments(group, detect)
    _add_detector_argument(detect)
    detect.add_argument("--out", required=True, metavar="FILE.npz", help="detections file to write")
    detect.add_argument("--resume", action="store_true",
                        help="reuse the chunks an interrupted run left next to --out")
    detect.add_argument("--force", action="store_true", help="replace an existing --out file")
    _add_executor_arguments(detect)
    detect.set_defaults(func=_run_detect)
    report = _folder_command(sub, "report", "per-joint acceptance table and overlay PNGs",
                             "per-joint acceptance table and overlay PNGs of a labeling output folder; exit "
                             "status 1 (with a warning) when the run in it is incomplete")
    report.add_argument("--out", default=None, metavar="PNG_DIR",
                        help="where to write the PNGs (default: DIR/report)")
    report.add_argument("--num-overlays", type=int, default=4, metavar="K",
                        help="framesets drawn as overlays")
    report.add_argument("--session", default=None, metavar="DIR",
                        help="session with the images, to draw onto real frames")
    report.set_defaults(func=_run_report)
    from .export import EXPORT_DESCRIPTION, EXPORT_HELP, register_export

    register_export(_folder_command(sub, "export", EXPORT_HELP, EXPORT_DESCRIPTION))
    review = _folder_command(sub, "review", "review the labels in the browser (local web app)",
                             "serve a local web app to look at every view of the labels, find the bad ones "
                             "and save verdicts to DIR/review.json")
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
