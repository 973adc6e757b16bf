"""The whole demo: record, calibrate (board and keypoints), detect, label, evaluate, report.

Every stage writes its output whole (atomic files, a session renamed into place when complete)
and is skipped when a restarted run finds it done, so ``rigkit demo --out DIR`` can be run again
into the same folder after an interruption; only the evaluation and the pictures are redone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .calibrate import BoardStage, KeypointStage, board_calibration, keypoint_calibration
from .config import DemoOptions, DemoPaths, check_output_folder
from .detect import DetectStage, detect_person_framesets
from .evaluate import CalibrationError, LabelQuality, calibration_error, label_quality
from .record import CaptureStage, record_session

__all__ = ["DemoResult", "run_demo"]

log = logging.getLogger(__name__)

@dataclass(frozen=True, kw_only=True)
class DemoResult:
    """Everything the closing summary reports. seconds: wall time of the run; label_seconds: time
    of triangulation + gating + writing shards (0 when they were already complete)."""

    options: DemoOptions
    paths: DemoPaths
    capture: CaptureStage
    board: BoardStage
    keypoints: KeypointStage
    detect: DetectStage
    board_error: CalibrationError
    keypoint_error: CalibrationError | None
    labels: LabelQuality
    label_seconds: float
    shards: int
    figures: tuple[Path, ...]
    seconds: float

    def summary(self) -> str:
        """The closing summary: one screen, read in ten seconds."""
        o, c, b, k, d, q = self.options, self.capture, self.board, self.keypoints, self.detect, self.labels
        width, height = o.size
        rate = lambda n, s, unit: f"{n / s:,.0f} {unit}" if s > 0 else "done earlier"  # noqa: E731
        lines = [
            f"rigkit demo: {o.cameras} cameras {width}x{height}, {o.seconds:g} s at {o.fps:g} fps "
            f"(board {o.calibration_s:g} s, person {o.person_s:g} s), finished in {self.seconds:.0f} s",
            f"  capture      {sum(c.frames):,} frames recorded, {sum(c.dropped)} dropped, {sum(c.missing)} missing; "
            f"{c.complete_framesets}/{c.framesets} framesets complete, max skew {c.max_skew_ms:.1f} ms"
            f"  [{rate(c.framesets, c.seconds, 'framesets/s')}]",
            f"  calibration  board:     {self.board_error.text()}; RMS {b.bundle_rms_px:.2f} px"
            f"  [detecting {rate(b.board_framesets, b.detect_seconds, 'framesets/s')}, solve {b.solve_seconds:.1f} s]",
            (f"               keypoints: {self.keypoint_error.text()}; RMS {k.bundle_rms_px:.2f} px, "
             f"scale from the subject's height {k.height_m:.2f} m"
             f"  [solve {k.seconds:.1f} s]") if self.keypoint_error is not None else
            f"               keypoints: FAILED ({k.failure})",
            f"  labeling     {q.framesets} framesets, {q.accepted:,}/{q.joints:,} joints accepted "
            f"({q.acceptance:.1%}); MPJPE {q.mpjpe_mm:.1f} mm (median {q.median_mm:.1f}, p95 {q.p95_mm:.1f})"
            f"  [detector {rate(d.images, d.seconds if d.images else 0.0, 'images/s')}, labels "
            f"{rate(q.framesets, self.label_seconds, 'framesets/s')}]",
            f"  outputs      shards: {self.paths.labels} ({self.shards} shards + index.json); "
            f"report: {self.paths.report} ({len(self.figures)} images)",
            "  (errors against the synthetic truth: calibrations in the first camera's frame, labels "
            "without any alignment)",
            f"  next         look at every view of the labels in the browser: rigkit label review {self.paths.labels}",
        ]
        if k.weak_pairs:
            pairs = o.cameras * (o.cameras - 1) // 2
            lines.insert(5, f"               {len(k.weak_pairs)} of {pairs} camera pairs weak in the keypoint "
                            f"calibration (see {self.paths.report / 'calibration_keypoints_summary.txt'})")
        return "\n".join(lines)


def _label(paths: DemoPaths, detections, provenance: dict, shard_size: int, *, progress: bool):
    from calibration import load_rig
    from labeling import LabelJob, LabelOptions, run_label_job
    from labeling.cli import bones_from_skeleton
    from rigkit_files import sha256_of_file

    calibration = paths.calibration / "board.toml"
    rig = load_rig(calibration)
    bones, skeleton = bones_from_skeleton(detections.joint_names, "coco17")
    job = LabelJob.create(rig, detections, options=LabelOptions(), shard_size=shard_size, bones=bones,
                          provenance={**provenance, "calibration": str(calibration.resolve()),
                                      "calibration_sha256": sha256_of_file(calibration), "skeleton": skeleton})
    summary = run_label_job(job, paths.labels, resume=True, progress=progress)
    return summary, rig


def _subject_height_m(session, first: int, joint_names) -> float:
    """The subject's height as lab staff would give it: here measured on the synthetic truth the
    way :func:`calibration.person_height_m` measures a reconstruction (ankle-knee-hip-shoulder-nose
    chain), so the scale carries no error of the body model's proportions."""
    from calibration import person_height_m

    seq = session.sequence[first:].max(axis=1)
    return float(person_height_m(session.truth.joints_in_world[seq], joint_names))


def run_demo(out: str | Path, options: DemoOptions = DemoOptions(), *, progress: bool = True,
             on_stage: Callable[[str], None] | None = None) -> DemoResult:
    """Run (or finish) the demo into ``out``; see the module docstring.

    on_stage: called with a one-line heading as each stage starts (the CLI prints it).
    """
    from capture import open_session

    started = time.perf_counter()
    say = on_stage or (lambda text: log.info("%s", text))
    paths = DemoPaths(Path(out))
    if check_output_folder(paths.root, options):
        say(f"continuing the demo run in {paths.root}")
    paths.report.mkdir(parents=True, exist_ok=True)
    say(f"[1/4] capture: {options.cameras} synthetic cameras through the capture workers and recorder "
        f"({options.board_frames + options.person_frames} framesets)")
    capture = record_session(options, paths, progress=progress)
    say("[2/4] calibration from the board pass (intrinsics, then extrinsics by bundle adjustment)")
    board = board_calibration(paths, options.calibration_s, progress=progress)
    with open_session(paths.session) as session:
        first = int(np.searchsorted(session.frameset_times_s, options.calibration_s - 0.5 / session.fps))
        say(f"[3/4] labeling: the built-in detector on {len(session) - first} person framesets x "
            f"{options.cameras} views, robust triangulation, gating, shards")
        detect = detect_person_framesets(paths, first, detector_spec=options.detector, progress=progress)
        label_started = time.perf_counter()
        label_summary, board_rig = _label(paths, detect.detections, detect.provenance, options.shard_size,
                                          progress=progress)
        label_seconds = time.perf_counter() - label_started if label_summary.shards_written else 0.0
        say("      ... and the camera poses again, from the detector's keypoints alone")
        height_m = _subject_height_m(session, first, detect.detections.joint_names)
        keypoints = keypoint_calibration(paths, detect.detections, height_m=height_m)
        if keypoints.failure:
            log.warning("keypoint calibration failed: %s", keypoints.failure)
        say("[4/4] evaluation against the synthetic truth, report pictures")
        from calibration import load_rig

        truth = session.truth
        keypoint_rig = None if keypoints.failure else load_rig(paths.calibration / "keypoints.toml")
        board_error = calibration_error(board_rig, truth.rig)
        keypoint_error = None if keypoint_rig is None else calibration_error(keypoint_rig, truth.rig)
        labels = label_quality(paths.labels, session, board_rig)
        _write_pictures(paths, session, options, first, board_rig, keypoint_rig)
    all_figures = tuple(sorted(paths.report.glob("*.png")))
    return DemoResult(options=options, paths=paths, capture=capture, board=board, keypoints=keypoints, detect=detect,
                      board_error=board_error, keypoint_error=keypoint_error, labels=labels,
                      label_seconds=label_seconds, shards=label_summary.num_shards, figures=all_figures,
                      seconds=time.perf_counter() - started)


def _write_pictures(paths: DemoPaths, session, options: DemoOptions, first: int, board_rig, keypoint_rig) -> None:
    """Frames of each part, camera poses against the truth, labels on frames (see .figures)."""
    from .figures import write_camera_figure, write_capture_figures, write_label_overlays

    shared_start = min(options.close_up_frames, first - 1)
    write_capture_figures(session, paths.report, board_frameset=_busiest_board_frameset(session, shared_start, first),
                          person_frameset=first + (len(session) - first) // 2)
    estimates = {"board": board_rig} if keypoint_rig is None else {"board": board_rig, "keypoints": keypoint_rig}
    write_camera_figure(paths.report, session.truth.rig, estimates)
    write_label_overlays(paths.labels, session, paths.report)


def _busiest_board_frameset(session, start: int, first: int) -> int:
    """A frameset of the shared board pass (``start`` .. ``first``) where the board is in view of
    and turned towards the most cameras (from the truth scene, only to pick a good picture)."""
    truth = session.truth
    seq = session.sequence[start:first].max(axis=1)
    poses = truth.world_from_board[seq]
    present = np.isfinite(poses).all(axis=(1, 2))
    if not present.any():
        return 0
    poses = np.where(present[:, None, None], poses, np.eye(4))
    facing = np.einsum("vij,fj->fvi", truth.rig.R, poses[:, :3, 2])[..., 2] > 0.3  # (F, V)
    pixels = truth.rig.project(poses[:, :3, 3])  # (V, F, 2) the board's first corner
    size = np.array([camera.size for camera in truth.rig], dtype=np.float64)[:, None, :]
    inside = (np.isfinite(pixels).all(axis=-1) & (pixels >= 0).all(axis=-1) & (pixels < size).all(axis=-1)).T
    return start + int(np.argmax(np.where(present, (facing & inside).sum(axis=1), -1)))
