"""Stage 2 of the demo: calibrate the rig from the recorded board pass, and again from keypoints.

Board: per camera the ChArUco corners are detected in the board-pass framesets of the session
(the board pass is the first ``board_s`` seconds, as the run's script says), a well-spread subset
gives the intrinsics (:func:`calibration.solve_intrinsics`), and the synchronized corners of all
cameras give the extrinsics (:func:`calibration.board_extrinsics`, bundle adjustment). The true
calibration of the synthetic rig is never read here.

Keypoints: the detector's 2D keypoints of the person framesets, with the board's intrinsics,
give a second, board-free estimate of the poses (:func:`calibration.keypoint_extrinsics`), its
metric scale from the subject's height.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np

from rigkit_files import write_json_atomic

from .config import DemoPaths

__all__ = ["BoardStage", "KeypointStage", "board_calibration", "keypoint_calibration", "demo_board"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BoardStage:
    """names: cameras. views: board views per camera used for its intrinsics. intrinsics_rms_px:
    per camera. bundle_rms_px: reprojection RMS of the bundle adjustment. board_framesets: how many
    framesets were searched; detect_seconds / solve_seconds: time spent."""

    names: tuple[str, ...]
    views: tuple[int, ...]
    intrinsics_rms_px: tuple[float, ...]
    bundle_rms_px: float
    board_poses: int
    board_framesets: int
    detect_seconds: float
    solve_seconds: float


@dataclass(frozen=True, kw_only=True)
class KeypointStage:
    """framesets: person framesets used. bundle_rms_px: final reprojection RMS. height_m: the
    subject's height that set the metric scale. weak_pairs: "a-b: reason".
    failure: why the keypoints could not calibrate the rig ("" when they did)."""

    framesets: int
    bundle_rms_px: float
    height_m: float
    weak_pairs: tuple[str, ...]
    seconds: float
    failure: str = ""


def demo_board(session):
    """The printed board of the run (the rig file's ``[synthetic.board]``, board-file keys)."""
    from geometry import board_from_mapping

    return board_from_mapping(session.manifest["rig"]["synthetic"]["board"],
                              where="session manifest [rig.synthetic.board]")


def _save_stage(path, stage) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, asdict(stage), indent=1)


def _load_stage(path, kind):
    data = json.loads(path.read_text())
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def board_calibration(paths: DemoPaths, board_s: float, *, progress: bool = True) -> BoardStage:
    """Calibrate intrinsics and extrinsics from the board pass; writes ``calibration/board.toml``
    and the calibration report (rig and per-camera residual PNGs) into ``report/``."""
    from tqdm import tqdm

    from calibration import (BoardExtrinsicsOptions, BundleAdjustmentOptions, board_extrinsics, detect_views,
                             save_rig, select_views, solve_intrinsics)
    from calibration.report import board_summary, write_board_report
    from capture import open_session
    from geometry import Rig

    stage_file = paths.stages / "board.json"
    target = paths.calibration / "board.toml"
    if stage_file.is_file() and target.is_file():
        log.info("reusing the board calibration %s", target)
        return _load_stage(stage_file, BoardStage)
    with open_session(paths.session) as session:
        board = demo_board(session)
        names = tuple(session.names)
        count = int(np.searchsorted(session.frameset_times_s, board_s - 0.5 / session.fps))
        if count < 3:
            raise ValueError(f"{paths.session} has {count} board-pass framesets; calibration needs more")
        size = tuple(session.frame(0, int(session.sequence[0, 0])).shape[1::-1])
        corners = np.full((len(names), count, board.num_corners, 2), np.nan)
        started = time.perf_counter()
        views_by_camera, samples = [], {}
        bar = tqdm(total=count * len(names), unit="view", desc="board corners", disable=not progress,
                   dynamic_ncols=True)
        try:
            for v, name in enumerate(names):
                frames = ((fs.index, fs.images[v]) for fs in session.framesets(0, count, cameras=[v])
                          if fs.images[v] is not None)
                views, _ = detect_views(board, frames, progress=bar)
                for view in views:
                    corners[v, view.frame_index, view.detection.ids] = view.detection.corners_px
                views_by_camera.append(views)
                if views:  # the frame where this camera saw the most corners, for the report
                    best = max(views, key=lambda view: view.detection.num_corners)
                    samples[name] = session.frame(v, int(session.sequence[best.frame_index, v]))
        finally:
            bar.close()
        detect_seconds = time.perf_counter() - started
    started = time.perf_counter()
    cameras, rms = [], []
    for name, views in zip(names, views_by_camera):
        # blur_ratio low: the Laplacian variance of a close-up (large, smooth squares) is far below
        # that of a distant board, so the default ratio would drop exactly the close-ups.
        selected = select_views(board, views, size, max_views=40, blur_ratio=0.02)
        result = solve_intrinsics(board, selected, size, name=name, frames_scanned=count,
                                  frames_with_board=len(views))
        if not result.success:
            raise ValueError(f"camera {name}: intrinsics from the board pass failed: {result.message}")
        log.debug("%s intrinsics: %s", name, result.message)
        cameras.append(result.camera)
        rms.append(result.rms_px)
    extrinsics = board_extrinsics(Rig(cameras), corners, board.corners_in_board(), options=BoardExtrinsicsOptions(
        bundle_adjustment=BundleAdjustmentOptions(intrinsics="full")))
    solve_seconds = time.perf_counter() - started
    log.debug("board extrinsics:\n%s", board_summary(extrinsics))
    save_rig(extrinsics.rig, target, metadata={"extrinsics": {
        "method": "board", "board": board.describe(), "rms_px": round(extrinsics.bundle.rms_px, 4),
        "source": "rigkit demo: board pass of the recorded session"}})
    write_board_report(extrinsics, board.corners_in_board(), paths.report, stem="calibration_board", frames=samples)
    stage = BoardStage(names=names, views=tuple(len(v) for v in views_by_camera), intrinsics_rms_px=tuple(rms),
                       bundle_rms_px=float(extrinsics.bundle.rms_px), board_poses=int(extrinsics.frame_used.sum()),
                       board_framesets=count, detect_seconds=detect_seconds, solve_seconds=solve_seconds)
    _save_stage(stage_file, stage)
    return stage


def keypoint_calibration(paths: DemoPaths, detections, *, height_m: float,
                         min_score: float = 0.15) -> KeypointStage:
    """Camera poses from the detector's keypoints alone (intrinsics from the board calibration);
    writes ``calibration/keypoints.toml`` and its report PNG. min_score: detections below this
    confidence are ignored (the built-in detector's scores are low: most correct joints score
    0.15-0.5)."""
    from calibration import KeypointExtrinsicsOptions, KnownLength, keypoint_extrinsics, load_rig, save_rig
    from calibration.report import keypoint_summary, write_keypoint_report

    stage_file = paths.stages / "keypoints.json"
    target = paths.calibration / "keypoints.toml"
    if stage_file.is_file() and (target.is_file() or _load_stage(stage_file, KeypointStage).failure):
        log.info("reusing the keypoint calibration %s", target)
        return _load_stage(stage_file, KeypointStage)
    rig = load_rig(paths.calibration / "board.toml").subset(list(detections.camera_names))
    started = time.perf_counter()
    try:
        result = keypoint_extrinsics(
            rig, detections.points_2d, scores=detections.scores, joint_names=detections.joint_names,
            options=KeypointExtrinsicsOptions(min_score=min_score, known_length=KnownLength(
                kind="person_height", length_m=height_m)),
            rng=np.random.default_rng(0))
    except ValueError as error:  # the keypoints could not connect the rig: a result, not a crash
        stage = KeypointStage(framesets=detections.num_frames, bundle_rms_px=float("nan"), height_m=float(height_m),
                              weak_pairs=(),
                              seconds=time.perf_counter() - started, failure=str(error))
        _save_stage(stage_file, stage)
        return stage
    seconds = time.perf_counter() - started
    log.debug("keypoint extrinsics:\n%s", keypoint_summary(result))
    save_rig(result.rig, target, metadata={"extrinsics": {
        "method": "keypoints", "rms_px": round(result.bundle.rms_px, 4),
        "scale": f"the subject's height, {height_m:.3f} m",
        "source": "rigkit demo: the built-in detector's keypoints of the person framesets"}})
    write_keypoint_report(result, paths.report, stem="calibration_keypoints")
    stage = KeypointStage(framesets=detections.num_frames, bundle_rms_px=float(result.bundle.rms_px),
                          height_m=float(height_m),
                          weak_pairs=tuple(f"{p.a}-{p.b}: {p.reason}" for p in result.weak_pairs), seconds=seconds)
    _save_stage(stage_file, stage)
    return stage
