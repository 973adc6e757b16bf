"""Capture-time jitter: when the cameras of a frameset did not expose at the same instant.

Conventions in :mod:`geometry.camera`. Webcams on one computer (no hardware trigger) free-run:
the frames paired into one frameset were exposed up to a frame period apart, and the timestamps a
driver reports are arrival times, not exposure times. A board carried by hand moves between those
exposures, so the cameras of one frameset see it in slightly different poses; a bundle adjustment
that assumes one pose per frameset then bends the camera poses (and freed intrinsics) to absorb
the disagreement. On the synthetic 4-camera ring (``benchmarks/bench_real_calibration.py``,
section 5, seeds 0-5) 15 ms of jitter puts the relative rotations 0.25-1.59 deg off the truth;
modelled 0.04-0.08 deg on four scenes and 0.38 / 0.72 deg on the two whose camera pairs share few
board views (their bundle adjustment's 1-sigma, 0.4-0.6 deg, says so); 30 ms: 0.38-3.36 -> 0.05-1.25
deg; without jitter auto mode keeps the plain solve on all six. On the real Caliscope webcams the
bundle adjustment's RMS falls from 0.80 to 0.33 px and calibrations from disjoint halves of the
recording agree within 0.3 deg instead of 1.0-1.3 (Caliscope's lenses) or 5-6 deg (from the videos
alone).

The model: camera ``v``'s view of frameset ``f`` was captured ``dt[v, f]`` (frames) after the
frameset's instant, so each of its corners sits where the board put it ``dt`` later: to first order
its pixel plus ``dt * velocity``, the velocity (px per frame) measured from the same camera's
neighbouring framesets (:func:`image_velocity`). The bundle adjustment solves every view's offset
with the cameras and board poses (Gaussian prior ``BundleAdjustmentOptions.capture_offset_sigma_frames``),
eliminated in closed form (:class:`calibration.reprojection_problem.CaptureMotion`);
:func:`solve_with_capture_jitter` runs it beside the plain solve and decides. Offsets are reported
zero-mean over each frameset's views: a shift common to all of them is the board's own pose at
another instant. (Alternating offsets and calibration instead converges far too slowly: the
offsets and the camera poses are strongly coupled along the board's motion.)

In ``"auto"`` mode the model is adopted only when it explains more than noise: an F-test of the
residual sum of squares with and without it over the observations both solves kept (one
parameter per view that moved), at ``significance``, and an RMS at least ``min_rms_drop`` lower (on
synchronized synthetic footage the F-test alone passes narrowly, F 1.5-2.1 against 1.46, for a 1%
lower RMS). Still or synchronized footage keeps the plain solve.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from geometry.options import check_fields, option

from .board_extrinsics import BoardExtrinsics
from .bundle_adjustment import BundleAdjustmentOptions

__all__ = ["JitterMode", "CaptureJitterOptions", "CaptureJitter", "image_velocity", "view_time_offsets",
           "view_offsets", "solve_with_capture_jitter", "heldout_with_capture_times"]

log = logging.getLogger(__name__)

JitterMode = Literal["auto", "on", "off"]


@dataclass(frozen=True, kw_only=True)
class CaptureJitterOptions:
    """mode: ``"auto"`` (adopt when it explains more than noise: the F-test and ``min_rms_drop``),
        ``"on"`` (always), ``"off"`` (never).
    significance: the F-test's false-alarm rate in ``"auto"`` mode.
    min_rms_drop: and the share by which the model must lower the RMS in ``"auto"`` mode.
    max_gap_frames: a neighbouring frameset further away than this many frames gives no velocity.
    max_turn: a corner whose forward and backward image rates differ (over a frameset step) by more
        than this share of the board's extent in the view gives no velocity (separate poses, not motion).
    """

    mode: JitterMode = option("auto", choices=("auto", "on", "off"))
    significance: float = option(1e-3, low=0, high=1, low_open=True, high_open=True)
    min_rms_drop: float = option(0.05, low=0, high=1, high_open=True)
    max_gap_frames: float = option(3.0, low=0, low_open=True)
    max_turn: float = option(0.25, low=0, low_open=True)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class CaptureJitter:
    """What the capture-time model found.

    adopted: the returned calibration uses it.
    offsets_frames: (V, F) each view's estimated capture offset (frames; 0 where the view had no
        velocity or was not used; zero-mean over each frameset's views).
    moving: (V, F) bool, views whose board moved (velocity known) and entered the estimate.
    rms_px_plain, rms_px_modelled: bundle adjustment RMS without and with the model over the
        observations both kept (NaN when the model was not tried).
    f_statistic, f_threshold: the test in ``"auto"`` mode (NaN otherwise).
    reason: one sentence on the decision.
    """

    adopted: bool
    offsets_frames: np.ndarray
    moving: np.ndarray
    rms_px_plain: float
    rms_px_modelled: float
    f_statistic: float
    f_threshold: float
    reason: str

    def camera_offsets_frames(self) -> np.ndarray:
        """(V,) each camera's steady offset (frames, later positive, zero-mean over the cameras): the
        camera terms of ``offset[v, f] = steady[v] + common[f] + jitter`` fitted by least squares over
        the moving views (two-way fixed effects). Per-view offsets are zero-mean over whichever cameras
        saw each frameset, so their plain per-camera mean understates a camera that shares framesets
        with few others (a 100 ms latency read as 67 ms on the synthetic ring)."""
        V, F = self.moving.shape
        m = self.moving.astype(np.float64)
        steady, common = np.zeros(V), np.zeros(F)
        per_camera, per_frame = m.sum(axis=1), m.sum(axis=0)
        for _ in range(200):
            common = np.divide(((self.offsets_frames - steady[:, None]) * m).sum(axis=0), per_frame,
                               out=np.zeros(F), where=per_frame > 0)
            new = np.divide(((self.offsets_frames - common[None]) * m).sum(axis=1), per_camera,
                            out=np.zeros(V), where=per_camera > 0)
            new -= new[per_camera > 0].mean() if np.any(per_camera > 0) else 0.0
            if np.max(np.abs(new - steady)) < 1e-9:
                steady = new
                break
            steady = new
        return steady

    def camera_offsets_sigma_frames(self) -> np.ndarray:
        """(V,) the standard error of :meth:`camera_offsets_frames` (the spread of the views around
        the fit over sqrt(views))."""
        steady = self.camera_offsets_frames()
        out = np.full(len(self.moving), np.inf)
        for v, (offsets, moving) in enumerate(zip(self.offsets_frames, self.moving)):
            if moving.sum() > 1:
                out[v] = (offsets[moving] - steady[v]).std(ddof=1) / np.sqrt(moving.sum())
        return out

    def per_camera_ms(self, names, fps: float | None) -> dict[str, tuple[float, float]]:
        """{name: (steady offset, spread)} ms (frames when ``fps`` is unknown): how much later than the
        rig it exposes (:meth:`camera_offsets_frames`), and how much its views vary around that
        (standard deviation)."""
        scale = 1000.0 / fps if fps and np.isfinite(fps) and fps > 0 else 1.0
        steady = self.camera_offsets_frames()
        out = {}
        for v, name in enumerate(names):
            values = self.offsets_frames[v][self.moving[v]]
            out[name] = ((float(steady[v] * scale), float((values - steady[v]).std() * scale)) if values.size
                         else (float("nan"),) * 2)
        return out

    def sentence(self, names, fps: float | None, applied: dict[str, float] | None = None) -> str:
        """One line: the cameras' steady offsets as ``--frame-offset`` values (``applied``), each
        camera's offsets per view, and the decision."""
        unit = "ms" if fps and np.isfinite(fps) and fps > 0 else "frames"
        if not np.any(self.moving):
            return "capture times: the board never moved between framesets, nothing to estimate"
        shifts = ""
        if applied:
            shifts = ("steady offsets, as --frame-offset (frames): "
                      + " ".join(f"{n}={a:+.2f}" for n, a in applied.items()) + "; ")
        spread = self.per_camera_ms(names, fps)
        cams = ", ".join(f"{n} {m:+.0f} +- {s:.0f}" for n, (m, s) in spread.items() if np.isfinite(m))
        return (f"capture times from the board's motion: {shifts}each camera's views ({unit} later than the rig, "
                f"steady +- spread): {cams}; {self.reason}")


def image_velocity(corners_px: np.ndarray, frame_time: np.ndarray, *, max_gap_frames: float = 3.0,
                   max_turn: float = 0.25) -> np.ndarray:
    """Each corner's image velocity from the same camera's neighbouring framesets.

    corners_px: (V, F, C, 2) distorted pixels, NaN where not seen. frame_time: (F,) increasing
    frame numbers of the framesets (the time axis; strides and gaps allowed).
    Returns (V, F, C, 2) px per frame: the mean of the forward and backward rates where both
    neighbours saw the corner within ``max_gap_frames`` and the motion was smooth (the two rates
    differ, over a frameset step, by at most ``max_turn`` times the board's extent in the view); the
    one rate there is where the board moved at most that far over the step; else 0: a view's offset
    is only measurable on a board that moves steadily, not on separate board poses (stills, large
    strides). Measured, turn / extent, 95th percentile: 5% (Caliscope's webcams), 20% (the
    synthetic jittered take); separate board poses 42-550% (5th-95th); one-sided steps / extent:
    11% and 47% against 18-300%.
    """
    corners = np.asarray(corners_px, dtype=np.float64)
    time = np.asarray(frame_time, dtype=np.float64)
    if corners.ndim != 4 or corners.shape[-1] != 2 or time.shape != corners.shape[1:2]:
        raise ValueError(f"corners_px {corners.shape} and frame_time {time.shape} must be (V, F, C, 2) and (F,)")
    if np.any(np.diff(time) <= 0):
        raise ValueError("frame_time must increase")
    V, F, C, _ = corners.shape
    if F < 2:
        return np.zeros_like(corners)
    dt = np.diff(time)
    step = float(dt.mean())  # a typical frameset step, frames
    forward = np.full_like(corners, np.nan)  # px per frame to the next frameset, where near enough
    backward = np.full_like(corners, np.nan)
    near = dt <= max_gap_frames
    forward[:, :-1] = np.where(near[None, :, None, None], (corners[:, 1:] - corners[:, :-1]) / dt[None, :, None, None],
                               np.nan)
    backward[:, 1:] = forward[:, :-1]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # views without corners: all-NaN extents
        extent = np.linalg.norm(np.nanmax(corners, axis=2) - np.nanmin(corners, axis=2), axis=-1)  # (V, F) px
        limit = (max_turn * extent)[:, :, None]
        both = np.isfinite(forward[..., 0]) & np.isfinite(backward[..., 0])
        turn = np.linalg.norm(forward - backward, axis=-1) * step
        central = 0.5 * (forward + backward)
        smooth = both & (turn <= limit)
        one_forward = ~both & (np.linalg.norm(forward, axis=-1) * step <= limit)
        one_backward = ~both & (np.linalg.norm(backward, axis=-1) * step <= limit)
    velocity = np.zeros_like(corners)
    velocity = np.where(smooth[..., None], central, velocity)
    velocity = np.where(one_forward[..., None], forward, velocity)
    velocity = np.where(one_backward[..., None], backward, velocity)
    return np.nan_to_num(velocity)


def view_time_offsets(residuals_px: np.ndarray, velocity: np.ndarray, camera: np.ndarray, frame: np.ndarray,
                      use: np.ndarray, current: np.ndarray, prior_frames: float, noise_px: float = 1.0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The offsets that best explain the residuals, one per view, given the rest of the solve.

    residuals_px: (M, 2) projected minus observed (the observed already moved by ``current``).
    velocity: (M, 2) px per frame of each observation. camera, frame: (M,) int; use: (M,) bool (the
    inliers). current: (V, F) offsets the observations were moved by (frames). prior_frames: the
    offsets' 1-sigma spread; noise_px: the corners' noise per coordinate.
    Returns ``(offsets (V, F) frames, moving (V, F) bool, variance (V, F) frames^2)``: ``current`` plus
    the regularized least-squares step, zero-mean over each frameset's moving views, and each
    offset's posterior variance.
    """
    V, F = current.shape
    num = np.zeros((V, F))
    den = np.zeros((V, F))
    np.add.at(num, (camera[use], frame[use]), np.sum(velocity[use] * residuals_px[use], axis=1))
    np.add.at(den, (camera[use], frame[use]), np.sum(velocity[use] ** 2, axis=1))
    moving = den > 1e-12
    weight = (noise_px / prior_frames) ** 2
    offsets = np.where(moving, current + (num - weight * current) / (den + weight), 0.0)
    count = moving.sum(axis=0)
    mean = np.divide(offsets.sum(axis=0), count, out=np.zeros(F), where=count > 0)
    variance = np.where(moving, noise_px**2 / (den + weight), 0.0)
    return np.where(moving, offsets - mean[None, :], 0.0), moving, variance


def _keys(result: BoardExtrinsics, F: int, C: int) -> np.ndarray:
    return (result.observation_camera * F + result.observation_frame) * C + result.observation_corner


def view_offsets(result: BoardExtrinsics, V: int, F: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (V, F) frames, moving (V, F) bool) of a calibration solved with velocities: each
    view's capture offset from its bundle adjustment, zero-mean over each frameset's moving views."""
    offsets = np.zeros((V, F))
    moving = np.zeros((V, F), dtype=bool)
    found = result.bundle.capture_offset_frames
    if found is None:
        return offsets, moving
    cam, frame = result.observation_camera, result.observation_frame
    offsets[cam, frame] = found
    moving[cam, frame] = found != 0
    count = moving.sum(axis=0)
    mean = np.divide(np.where(moving, offsets, 0.0).sum(axis=0), count, out=np.zeros(F), where=count > 0)
    return np.where(moving, offsets - mean[None], 0.0), moving


def solve_with_capture_jitter(solve: Callable[[np.ndarray, np.ndarray | None], BoardExtrinsics],
                              corners_px: np.ndarray, frame_time: np.ndarray, *,
                              options: CaptureJitterOptions = CaptureJitterOptions(),
                              decided: bool | None = None) -> tuple[BoardExtrinsics, CaptureJitter]:
    """Run ``solve(corners, velocity)`` (a board calibration of (V, F, C, 2) corners whose bundle
    adjustment models capture offsets when given (V, F, C, 2) velocities) with and without the model.

    corners_px: (V, F, C, 2) distorted pixels of the framesets ``solve`` calibrates from; frame_time:
    (F,) their frame numbers. decided: None decides by ``options.mode``; True / False forces the
    model on / off (a decision taken on other framesets of the same recording).
    Returns the calibration (the modelled one when adopted) and the :class:`CaptureJitter` report.
    """
    corners = np.asarray(corners_px, dtype=np.float64)
    V, F, C, _ = corners.shape
    nan = float("nan")
    use = options.mode != "off" if decided is None else decided
    velocity = (image_velocity(corners, frame_time, max_gap_frames=options.max_gap_frames, max_turn=options.max_turn)
                if use else None)
    if decided is True:
        result = solve(corners, velocity)
        offsets, moving = view_offsets(result, V, F)
        return result, CaptureJitter(adopted=True, offsets_frames=offsets, moving=moving,
                                     rms_px_plain=nan, rms_px_modelled=result.bundle.rms_px, f_statistic=nan,
                                     f_threshold=nan, reason="modelled (decided on the training framesets)")
    plain = solve(corners, None)
    if not use:
        return plain, CaptureJitter(adopted=False, offsets_frames=np.zeros((V, F)), moving=np.zeros((V, F), bool),
                                    rms_px_plain=plain.bundle.rms_px, rms_px_modelled=nan, f_statistic=nan,
                                    f_threshold=nan, reason="capture-time model off")
    result = solve(corners, velocity)
    offsets, moving = view_offsets(result, V, F)
    # Compare over the observations both solves kept as inliers (the modelled residuals include the
    # offsets' prior, so this is the drop in cost).
    plain_keys, model_keys = _keys(plain, F, C), _keys(result, F, C)
    common = np.intersect1d(plain_keys[plain.bundle.inliers], model_keys[result.bundle.inliers])
    rss_plain = float(np.sum(plain.bundle.residuals_px[np.isin(plain_keys, common) & plain.bundle.inliers] ** 2))
    rss_model = float(np.sum(result.bundle.residuals_px[np.isin(model_keys, common) & result.bundle.inliers] ** 2))
    n, p = 2 * common.size, int(moving.sum())
    rms_plain = float(np.sqrt(rss_plain / max(common.size, 1)))
    rms_model = float(np.sqrt(rss_model / max(common.size, 1)))
    change = f"RMS {rms_plain:.3f} -> {rms_model:.3f} px over {common.size} corners"
    f_stat, f_limit = nan, nan
    if options.mode == "auto":
        from scipy.stats import f as f_distribution

        if p == 0 or n - p <= 0:
            adopted, reason = False, "not modelled (the board never moved between framesets)"
        else:
            f_stat = float(((rss_plain - rss_model) / p) / max(rss_model / (n - p), 1e-300))
            f_limit = float(f_distribution.ppf(1 - options.significance, p, n - p))
            drop = 1 - rms_model / rms_plain if rms_plain > 0 else 0.0
            adopted = f_stat > f_limit and drop >= options.min_rms_drop
            if adopted:
                reason = f"modelled ({change}, F = {f_stat:.1f} > {f_limit:.2f})"
            elif f_stat <= f_limit:
                reason = f"not modelled ({change}, F = {f_stat:.2f} <= {f_limit:.2f}: no more than noise)"
            else:
                reason = (f"not modelled ({change}: under {options.min_rms_drop:.0%} lower, no more than noise "
                          "worth a parameter per view)")
    else:
        adopted, reason = True, f"modelled ({change})"
    log.info("capture times: %s", reason)
    report = CaptureJitter(adopted=adopted, offsets_frames=offsets, moving=moving, rms_px_plain=rms_plain,
                           rms_px_modelled=rms_model, f_statistic=f_stat, f_threshold=f_limit, reason=reason)
    return (result if adopted else plain), report


def heldout_with_capture_times(rig, corners_px: np.ndarray, velocity: np.ndarray, *,
                               prior_frames: float = BundleAdjustmentOptions().capture_offset_sigma_frames,
                               rounds: int = 10, steady_frames: np.ndarray | None = None):
    """Held-out corner error with each held-out view's capture offset solved, as the calibration
    solved its own views' (the same for any calibration, so comparable across them): the
    cross-validation of a calibration that models capture times, whose views' offsets are nuisance
    parameters like the board's poses.

    corners_px: (V, F, C, 2) held-out framesets, NaN where not seen; velocity: (V, F, C, 2) px per
    frame (:func:`image_velocity` over the whole recording). steady_frames: (V,) each camera's steady
    offset as the calibration found it (:meth:`CaptureJitter.camera_offsets_frames`), the start.
    Alternates triangulating every corner
    seen by 2+ cameras and the views' offsets (:func:`view_time_offsets`) ``rounds`` times, then
    measures like :func:`calibration.validation.heldout_reprojection` (a :class:`HeldOutError`), leaving
    out the corners without a measured image motion (``num_rejected``): their instant cannot be solved.
    """
    from geometry import triangulate

    from .validation import heldout_reprojection

    corners = np.asarray(corners_px, dtype=np.float64)
    V, F, C, _ = corners.shape
    seen = np.all(np.isfinite(corners), axis=-1)
    cam, frame, corner = np.nonzero(seen & (seen.sum(axis=0) >= 2)[None])
    offsets = np.zeros((V, F))
    if steady_frames is not None:  # moved = observed - offset x velocity: start from minus the steady offset
        offsets[:] = -np.asarray(steady_frames, dtype=np.float64).reshape(V, 1)
    for _ in range(rounds):
        moved = corners + offsets[:, :, None, None] * velocity
        points = triangulate(rig, moved.reshape(V, F * C, 2)).reshape(F, C, 3)
        residual = (rig.project(points) - moved)[cam, frame, corner]  # (M, 2)
        use = np.all(np.isfinite(residual), axis=1)
        offsets, _, _ = view_time_offsets(np.nan_to_num(residual), velocity[cam, frame, corner], cam, frame, use,
                                          offsets, prior_frames)
    moved = corners + offsets[:, :, None, None] * velocity
    # A corner without a measurable image motion cannot have its capture instant solved: left out.
    still = seen & ~np.any(velocity != 0, axis=-1)
    moved[still] = np.nan
    measured = heldout_reprojection(rig, moved.reshape(V, F * C, 2))
    return replace(measured, num_rejected=int(still.sum()),
                   rejected_why="without a steady image motion to solve their capture instant from")
