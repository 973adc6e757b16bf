"""Board extrinsics with held-out validation and, when the lenses came from the same frames, a
joint refinement of the intrinsics that the held-out corners must justify.

Conventions in :mod:`geometry.camera`. :func:`validated_board_extrinsics` runs
:func:`calibration.board_extrinsics.board_extrinsics` on every frameset but the held-out ones
(every ``holdout_every``-th, :func:`calibration.validation.heldout_mask`), then triangulates the
held-out corners with the result and reprojects them (:func:`heldout_reprojection`), and ends
with a :class:`calibration.validation.Verdict`.

Joint refinement: when every camera's intrinsics were solved from these same videos (no separate
intrinsics recording), the bundle adjustment may free them with the poses: fx, fy, cx, cy and the
distortion coefficients of the complexity each camera's own cross-validation chose (radial: k1, k2;
standard: + p1, p2, k3; rational: all 8). It does so under the priors of the per-camera lens fit
(:class:`calibration.lens_model.LensPriors`: principal point near the image centre, square pixels,
distortion no larger than a lens has) and, when given, each camera's own solve as a Gaussian prior
(:class:`calibration.lens_model.IntrinsicsAnchor`: its intrinsics and their covariance). Unheld, a
board that covers a small part of the image lets the principal point trade against the camera's
rotation and the focal length against the distances: on the Caliscope recording the joint solve
moved principal points by 50-110 px and focal lengths by 10-15% (9-39 sigma of each camera's own
solve) for a 10% lower held-out error, with camera rotations 10 deg away from the reference.
Whether it frees them is decided on held-out corners again, inside the training framesets (every
4th of them is an inner validation set): freed only when it lowers their RMS by at least
``min_joint_gain`` (10%). The decision, its figures and how far each camera's intrinsics moved
from its own solve (sigmas) are reported; a camera moved beyond the 99.9% quantile of the
chi-square distribution of its parameters gets a verdict line: its board views agree with the
other cameras' only through a lens its own views reject (frames not simultaneous, a rolling
shutter on a moving board, a bending board).

Capture times (:mod:`calibration.capture_jitter`): decided once, on the training framesets with the
intrinsics as given; once adopted every solve models them, and the held-out corners are also
measured with each held-out view's capture instant solved (``heldout_capture_times``), the measure
the verdict then uses: the plain one charges the calibration for the cameras' timing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from geometry import Rig

from .board_extrinsics import BoardExtrinsics, BoardExtrinsicsOptions, board_extrinsics
from .capture_jitter import (CaptureJitter, CaptureJitterOptions, heldout_with_capture_times, image_velocity,
                             solve_with_capture_jitter)
from .lens_model import IntrinsicsAnchor, LensPriors
from .validation import HELDOUT_EVERY, HeldOutError, Verdict, heldout_mask, heldout_reprojection, verdict

__all__ = ["JointDecision", "ValidatedBoardCalibration", "validated_board_extrinsics", "DISTORTION_FREED",
           "BOARD_HELDOUT_LIMIT_PX", "SHIFT_QUANTILE"]

log = logging.getLogger(__name__)

BOARD_HELDOUT_LIMIT_PX = 1.5  # held-out board corners above this RMS: a camera to check
MIN_FRAME_SHIFT = 0.02  # frames: steady capture offsets below this are not reported as frame offsets
JITTER_NOTE_FRAMES = 0.05  # a camera's steady offset or its views' spread above this (frames): a verdict line
SHIFT_QUANTILE = 0.999  # joint refinement moving a camera's intrinsics beyond this chi-square quantile: check it
DISTORTION_FREED = {"focal": 0, "pinhole": 0, "radial": 2, "standard": 5, "rational": 8, "fisheye": 4}
_DIST_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")


@dataclass(frozen=True, kw_only=True)
class JointDecision:
    """freed: the intrinsics were refined with the poses. parameters: per camera name, the freed
    parameter names. heldout_fixed_px / heldout_joint_px: inner held-out RMS of both solves.
    reason: one sentence. shift_sigma: per camera name, the Mahalanobis distance of the refined
    intrinsics from the camera's own solve (sigmas; only cameras with an anchor, only when freed).
    """

    freed: bool
    parameters: Mapping[str, tuple[str, ...]]
    heldout_fixed_px: float
    heldout_joint_px: float
    reason: str
    shift_sigma: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ValidatedBoardCalibration:
    """result: the calibration (from every frameset unless ``final_on_all`` was False). heldout_framesets: (F,)
    bool. heldout: their reprojection error (None without held-out framesets). joint: the joint
    refinement decision (None when not considered). verdict: the closing lines."""

    result: BoardExtrinsics
    heldout_framesets: np.ndarray
    heldout: HeldOutError | None
    joint: JointDecision | None
    verdict: Verdict
    capture_jitter: CaptureJitter | None = None
    heldout_capture_times: HeldOutError | None = None
    frame_offsets: Mapping[str, float] = field(default_factory=dict)
    heldout_frame_offsets: HeldOutError | None = None


@dataclass(frozen=True)
class _Timing:
    """The capture-time model every solve uses once adopted: frame_time (F,) frames; velocity
    (V, F, C, 2) px per frame of every corner over all framesets, steady (V,) each camera's steady
    offset (frames, later positive) and prior_frames the solve's prior on a view's offset
    (``BundleAdjustmentOptions.capture_offset_sigma_frames``), for the held-out measure."""

    frame_time: np.ndarray
    options: CaptureJitterOptions
    velocity: np.ndarray
    steady: np.ndarray
    prior_frames: float


def _solve(rig, corners_px, corners_in_board, options, mask, intrinsics=None, counts=None,
           anchors=None, timing: _Timing | None = None) -> BoardExtrinsics:
    if intrinsics is not None:
        ba = options.bundle_adjustment
        options = replace(options, bundle_adjustment=replace(
            ba, intrinsics=intrinsics, num_free_distortion=counts, priors=ba.priors or LensPriors(),
            anchors=anchors))
    if timing is None:
        return board_extrinsics(rig, corners_px[:, mask], corners_in_board, options=options)
    result, _ = solve_with_capture_jitter(
        lambda c, velocity: board_extrinsics(rig, c, corners_in_board, options=options, velocity_px=velocity),
        corners_px[:, mask], timing.frame_time[mask], options=timing.options, decided=True)
    return result


def _heldout(rig, corners_px, mask, timing: _Timing | None = None) -> HeldOutError:
    """Held-out corners reprojected; with capture times solved per view when the model is adopted
    (starting from each camera's steady offset)."""
    if timing is not None:
        return heldout_with_capture_times(rig, corners_px[:, mask], timing.velocity[:, mask],
                                          prior_frames=timing.prior_frames, steady_frames=timing.steady)
    V = corners_px.shape[0]
    return heldout_reprojection(rig, corners_px[:, mask].reshape(V, -1, 2), kind="corners")


def validated_board_extrinsics(rig: Rig, corners_px: np.ndarray, corners_in_board: np.ndarray, *,
                               options: BoardExtrinsicsOptions = BoardExtrinsicsOptions(),
                               lens_complexity: Mapping[str, str] | None = None,
                               holdout_every: int = HELDOUT_EVERY, min_joint_gain: float = 0.1,
                               max_heldout_px: float = BOARD_HELDOUT_LIMIT_PX,
                               notes: Mapping[str, list[str]] | None = None,
                               lens_anchors: Mapping[str, IntrinsicsAnchor] | None = None,
                               final_on_all: bool = True, frame_time: np.ndarray | None = None,
                               capture_jitter: CaptureJitterOptions = CaptureJitterOptions(),
                               fps: float | None = None) -> ValidatedBoardCalibration:
    """Calibrate with held-out validation (module docstring).

    rig, corners_px (V, F, C, 2), corners_in_board (C, 3): as :func:`board_extrinsics`.
    lens_complexity: per camera name, the complexity its intrinsics were solved with from these
        same frames; when it names every camera and ``options`` keeps the intrinsics fixed, the
        joint refinement is considered. None: the intrinsics came from elsewhere (kept as given).
    notes: further findings per camera for the verdict (e.g. a lens model trusted over little of
        the image: held-out corners from the same small region cannot see that).
    lens_anchors: per camera name, its own lens solve and covariance
        (:func:`calibration.lens_model.lens_anchor`), held as a prior by the joint refinement.
    final_on_all: the returned calibration is solved again from every frameset (the same
        choices), as cross-validation does: the held-out figures describe the solve without them.
        False returns the solve the figures describe (the benchmark's measure).
    frame_time: (F,) increasing frame numbers of the framesets (default 0, 1, ...): the time axis of
        the capture-time model (:mod:`calibration.capture_jitter`), decided on the training framesets
        with the intrinsics as given and then used by every solve. fps: frames per second, for the
        report's milliseconds.
    """
    corners_px = np.asarray(corners_px, dtype=np.float64)
    F = corners_px.shape[1]
    held = heldout_mask(F, holdout_every)
    train = ~held
    if not train.any():
        raise ValueError("no framesets left to solve from after holding out the validation framesets")
    timing, jitter, decided, frame_offsets = _decide_timing(rig, corners_px, corners_in_board, options, train,
                                                            frame_time, capture_jitter)
    joint = None
    mode, counts, anchors = None, None, None
    same_frames = lens_complexity is not None and all(n in lens_complexity for n in rig.names)
    if same_frames and options.bundle_adjustment.intrinsics == "fixed":
        counts = tuple(DISTORTION_FREED.get(lens_complexity[n], 0) for n in rig.names)
        if lens_anchors:
            anchors = tuple(lens_anchors.get(n) for n in rig.names)
        joint = _decide_joint(rig, corners_px, corners_in_board, options, train, counts, anchors, min_joint_gain,
                              timing)
        if joint.freed:
            mode = "full"
    elif lens_complexity is not None and options.bundle_adjustment.intrinsics == "fixed":
        joint = JointDecision(freed=False, parameters={}, heldout_fixed_px=float("nan"),
                              heldout_joint_px=float("nan"),
                              reason="intrinsics kept fixed: some cameras' intrinsics came from the calibration "
                                     "file, not from these frames")
    if mode is None and decided is not None:
        result = decided  # the decision's own solve: same framesets, intrinsics and model
    else:
        result = _solve(rig, corners_px, corners_in_board, options, train, mode, counts, anchors, timing)
    heldout = _heldout(result.rig, corners_px, held) if held.any() else None
    timed = _heldout(result.rig, corners_px, held, timing) if timing is not None and held.any() else None
    shifted = None
    if frame_offsets and held.any():  # as the frames would pair with --frame-offset
        from .sync import shift_frames

        moved = shift_frames(corners_px, np.array([frame_offsets[n] for n in rig.names]),
                             frame_numbers=timing.frame_time)
        shifted = _heldout(result.rig, moved, held)
    if final_on_all and held.any():
        result = _solve(rig, corners_px, corners_in_board, options, np.ones(F, dtype=bool), mode, counts, anchors,
                        timing)
    if joint is not None and joint.freed and anchors is not None:
        joint, shift_notes = _shifts(joint, result.rig, anchors, counts)
        notes = _merge_notes(notes, shift_notes)
    if jitter is not None and jitter.adopted:
        notes = _merge_notes(notes, _jitter_notes(jitter, rig.names, fps, frame_offsets))
    if heldout is None:
        lines = ("no held-out framesets (--holdout-every 0): nothing to judge the calibration by",)
        return ValidatedBoardCalibration(result=result, heldout_framesets=held, heldout=None, joint=joint,
                                         verdict=Verdict(good=False, lines=lines), capture_jitter=jitter,
                                         frame_offsets=frame_offsets)
    return ValidatedBoardCalibration(result=result, heldout_framesets=held, heldout=heldout, joint=joint,
                                     verdict=verdict(timed or heldout, max_rms_px=max_heldout_px, notes=notes),
                                     capture_jitter=jitter, heldout_capture_times=timed, frame_offsets=frame_offsets,
                                     heldout_frame_offsets=shifted)


def _decide_timing(rig, corners_px, corners_in_board, options, train, frame_time, jitter_options):
    """The capture-time decision, on the training framesets with the intrinsics as given.

    Returns ``(timing or None, the CaptureJitter report or None, the training solve or None,
    {name: steady frame offset, --frame-offset convention, frames})``: each camera's steady offset
    (:meth:`CaptureJitter.camera_offsets_frames`, when beyond 2 standard errors and MIN_FRAME_SHIFT) is
    reported, not applied: shifting the frames by it before the solve (sub-frame interpolation) was no closer to
    the truth than the per-view model on the synthetic takes, and on some further off.
    """
    if jitter_options.mode == "off":
        return None, None, None, {}
    F = corners_px.shape[1]
    frame_time = np.arange(F, dtype=np.float64) if frame_time is None else np.asarray(frame_time, dtype=np.float64)
    if frame_time.shape != (F,):
        raise ValueError(f"frame_time has shape {frame_time.shape}, expected ({F},)")
    solved, report = solve_with_capture_jitter(
        lambda c, velocity: board_extrinsics(rig, c, corners_in_board, options=options, velocity_px=velocity),
        corners_px[:, train], frame_time[train], options=jitter_options)
    if not report.adopted:
        return None, report, solved, {}
    velocity = image_velocity(corners_px, frame_time, max_gap_frames=jitter_options.max_gap_frames,
                              max_turn=jitter_options.max_turn)
    steady = report.camera_offsets_frames()
    significant = np.abs(steady) > np.maximum(2 * report.camera_offsets_sigma_frames(), MIN_FRAME_SHIFT)
    offsets = ({name: float(-s) for name, s in zip(rig.names, steady)} if significant.any() else {})
    timing = _Timing(frame_time, jitter_options, velocity, steady,
                     options.bundle_adjustment.capture_offset_sigma_frames)
    return timing, report, solved, offsets


def _jitter_notes(jitter: CaptureJitter, names, fps, applied: Mapping[str, float]) -> dict[str, list[str]]:
    """One verdict line, on the camera furthest off, when a camera's steady offset or its views' spread
    exceeds JITTER_NOTE_FRAMES."""
    unit = "ms" if fps and np.isfinite(fps) and fps > 0 else "frames"
    scale = 1000.0 / fps if unit == "ms" else 1.0
    found = {n: s for n, s in jitter.per_camera_ms(names, fps).items() if np.isfinite(s[0])}
    size = {n: max(abs(m), s) for n, (m, s) in found.items()}
    if not size or max(size.values()) <= JITTER_NOTE_FRAMES * scale:
        return {}
    worst = max(size, key=size.get)
    steady = (" ".join(f"{n}={a:+.2f}" for n, a in applied.items()) if applied else "none")
    spread = ", ".join(f"{n} {s:.0f}" for n, (_, s) in found.items())
    return {worst: [f"the cameras' frames were not captured together: steady offsets (frames, as --frame-offset) "
                    f"{steady}, and a spread per frameset of ({unit}) {spread}, estimated from the board's motion "
                    "and modelled in this calibration; a moving person would be triangulated from views that far "
                    "apart in time -> trigger the cameras together (hardware sync), or label with the steady offsets "
                    "('rigkit label' applies them to these same videos; for another take of the same run pass "
                    + (" ".join(f"--frame-offset {n}={a:+.2f}" for n, a in applied.items()) if applied else "none found")
                    + ")"]}


def _shifts(joint: JointDecision, rig: Rig, anchors, counts):
    """The joint decision with each anchored camera's shift in sigmas, and verdict notes for those
    beyond the chi-square 99.9% quantile of their parameters."""
    from scipy.stats import chi2

    shift, notes = {}, {}
    for camera, anchor, count in zip(rig, anchors, counts):
        if anchor is None:
            continue
        sigmas = anchor.distance(camera.K, camera.dist)
        shift[camera.name] = sigmas
        dof = int(np.count_nonzero(np.abs(anchor.sqrt_information).sum(axis=1)))
        limit = float(np.sqrt(chi2.ppf(SHIFT_QUANTILE, max(dof, 1))))
        if sigmas > limit:
            notes[camera.name] = [
                f"refined with the poses, its intrinsics moved {sigmas:.1f} sigma from its own board views' "
                f"solve (limit {limit:.1f}): its views agree with the other cameras' only through a lens its "
                "own views reject -> check that the cameras' frames are simultaneous (hardware sync), keep "
                "the board still or slow, flat and rigid, or calibrate its intrinsics from a separate video"]
    moved = ", ".join(f"{n} {v:.1f}" for n, v in shift.items())
    return replace(joint, shift_sigma=shift, reason=f"{joint.reason}; moved from each camera's own solve by "
                                                    f"(sigmas) {moved}"), notes


def _merge_notes(notes, extra):
    merged = {name: list(found) for name, found in (notes or {}).items()}
    for name, found in extra.items():
        merged.setdefault(name, []).extend(found)
    return merged or None


def _decide_joint(rig, corners_px, corners_in_board, options, train, counts, anchors, min_gain,
                  timing: _Timing | None = None) -> JointDecision:
    positions = np.flatnonzero(train)
    inner_val = np.zeros_like(train)
    inner_val[positions[np.arange(len(positions)) % 4 == 3]] = True
    inner_train = train & ~inner_val
    parameters = {name: ("fx", "fy", "cx", "cy") + _DIST_NAMES[:n] for name, n in zip(rig.names, counts)}
    try:
        fixed = _solve(rig, corners_px, corners_in_board, options, inner_train, timing=timing)
        jointly = _solve(rig, corners_px, corners_in_board, options, inner_train, "full", counts, anchors, timing)
    except ValueError as error:  # too few framesets for the inner split: keep the simpler solve
        return JointDecision(freed=False, parameters=parameters, heldout_fixed_px=float("nan"),
                             heldout_joint_px=float("nan"), reason=f"intrinsics kept fixed ({error})")
    e_fixed = _heldout(fixed.rig, corners_px, inner_val, timing).rms_px
    e_joint = _heldout(jointly.rig, corners_px, inner_val, timing).rms_px
    freed = bool(np.isfinite(e_joint) and e_joint < (1 - min_gain) * e_fixed)
    change = f"held-out corners {e_fixed:.3f} -> {e_joint:.3f} px"
    if freed:
        held = " and each camera's own solve" if anchors is not None else ""
        reason = (f"intrinsics refined with the poses under the lens priors{held} (they were solved from these "
                  f"same frames; {change}, better by {1 - e_joint / e_fixed:.0%})")
    else:
        reason = (f"intrinsics kept as solved per camera (refining them with the poses: {change}, not "
                  f"{min_gain:.0%} better)")
    log.info("%s", reason)
    return JointDecision(freed=freed, parameters=parameters if freed else {}, heldout_fixed_px=float(e_fixed),
                         heldout_joint_px=float(e_joint), reason=reason)
