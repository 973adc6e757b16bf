"""Time offsets between unsynchronized cameras, from the motion of the keypoints they detect.

Conventions in :mod:`geometry.camera`. An offset ``o_v`` (frames, fractional) says that camera
``v``'s frame ``f + o_v`` shows the instant of frameset ``f`` (of the reference camera, offset 0);
:func:`shift_frames` (:mod:`capture.subframe`, re-exported here) resamples a camera's detections
accordingly (linear interpolation between the two neighbouring frames, NaN where either is missing),
which is what ``--frame-offset NAME=N`` applies.

:func:`estimate_time_offsets`, per camera against the reference camera:

1. *integer lag by epipolar consistency*: for every lag within ``max_offset_frames`` the
   camera's keypoints are paired with the reference's and a fundamental matrix is fitted to
   them (8-point, iteratively reweighted, Cauchy); its Sampson distances (the better half: the
   detector's outliers drop out) are smallest at the true lag, because a moving joint seen at the
   wrong instant leaves its epipolar line. (Pose2Sim correlates the keypoints' speeds instead;
   that correlation is reported as ``strength``, but it misleads when the person barely moves,
   as on the Pose2Sim demo take.)
2. *sub-frame*: the same cost in steps of ``step_frames`` within one frame of that lag, the
   camera's keypoints resampled (:func:`shift_frames`), and a parabola through the best step
   and its neighbours;
3. *is it real*: the offset stands only if it lowers the cost by ``min_improvement`` from no
   offset at all (a detector's systematic errors leave a shallow cost that noise tilts);
4. *does the calibration fit*: with a rig, the camera's keypoints must fit the rig's epipolar
   geometry about as well as a fundamental matrix fitted to them (:data:`CALIBRATION_FIT_RATIO`);
   where they do not (the camera moved, or the detector's bias in its view), the lag the rig
   prefers is the one that best hides the misfit, and the offset is estimated from the keypoints
   alone (``TimeOffsets.calibration_misfit``).

Both need motion: a person standing still has no timing to recover (``strength`` is then low).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from capture.subframe import shift_frames
from geometry import (Rig, compose, essential_from_pose, fundamental_8point, fundamental_from_essential, invert,
                      sampson_distance)

__all__ = ["shift_frames", "TimeOffsets", "estimate_time_offsets", "CALIBRATION_FIT_RATIO"]

# A calibration whose epipolar distances (RMS, better half) exceed the keypoints' own fit (a
# fundamental matrix fitted to them) by more than this does not fit that camera: on the Pose2Sim
# demo's synchronized cameras the lab's calibration fits cam03 2.0x worse than the keypoints fit
# themselves (and then prefers a wrong 3-5 frame lag that hides part of the misfit), rigkit's own
# calibration from the same keypoints 1.0-1.2x; a correct rig on synthetic keypoints about 1.0x.
CALIBRATION_FIT_RATIO = 1.5


@dataclass(frozen=True, kw_only=True)
class TimeOffsets:
    """offsets_frames: (V,) float, 0 for the reference camera (see the module docstring).
    coarse_frames: (V,) int lag from the speed correlation. strength: (V,) peak normalized
    correlation of the speeds (1 = identical motion profiles; under ~0.3 the lag is a guess).
    epipolar_px: (V,) RMS of the better half of the Sampson distances at the chosen offset, px
    (NaN for the reference). calibration_misfit: (V,) bool, with a rig: the rig's epipolar geometry
    fit this camera's keypoints worse than a fundamental matrix fitted to them (by more than
    :data:`CALIBRATION_FIT_RATIO`), so its offset was estimated without the rig."""

    names: tuple[str, ...]
    offsets_frames: np.ndarray
    coarse_frames: np.ndarray
    strength: np.ndarray
    epipolar_px: np.ndarray
    calibration_misfit: np.ndarray | None = None

    def misfit_names(self) -> list[str]:
        """Cameras whose keypoints the given calibration's epipolar geometry fits worse than
        :data:`CALIBRATION_FIT_RATIO` times their own fit: their offsets came from the keypoints alone."""
        if self.calibration_misfit is None:
            return []
        return [n for n, bad in zip(self.names, self.calibration_misfit) if bad]

    def as_arguments(self) -> str:
        """``--frame-offset NAME=N`` for every camera with a non-zero offset."""
        return " ".join(f"--frame-offset {n}={o:.2f}" for n, o in zip(self.names, self.offsets_frames)
                        if abs(o) >= 0.005)


def _offset_against(ref: np.ndarray, other: np.ndarray, fixed_F: np.ndarray | None, lags: np.ndarray,
                    step_frames: float, min_improvement: float):
    """``(offset, whole lag, cost)`` of ``other``'s keypoints (F, J, 2) against ``ref``'s: the best
    whole lag by the epipolar cost, refined to sub-frame, kept only if it beats no offset by
    ``min_improvement``; ``(None, 0, inf)`` when no lag has enough keypoints."""
    costs = np.array([_epipolar_cost(ref, other, float(lag), fixed_F) for lag in lags])
    if not np.isfinite(costs).any():
        return None, 0, np.inf
    coarse = int(lags[int(np.argmin(costs))])
    grid = np.arange(coarse - 1.0, coarse + 1.0 + 1e-9, step_frames)
    costs = np.array([_epipolar_cost(ref, other, float(o), fixed_F) for o in grid])
    i = int(np.argmin(costs))
    offset = float(grid[i])
    if 0 < i < len(grid) - 1 and np.all(np.isfinite(costs[i - 1:i + 2])):
        c0, c1, c2 = costs[i - 1:i + 2]
        curvature = c0 - 2 * c1 + c2
        if curvature > 0:
            offset += 0.5 * step_frames * (c0 - c2) / curvature
    zero = _epipolar_cost(ref, other, 0.0, fixed_F)
    if not costs[i] < (1 - min_improvement) * zero:  # no clear evidence against synchronized frames
        return 0.0, coarse, zero
    return offset, coarse, float(costs[i])


def _speed(points: np.ndarray) -> np.ndarray:
    """(F,) per-frame keypoint speed of one camera, in person heights per frame (NaN when unknown)."""
    step = np.linalg.norm(np.diff(points, axis=0), axis=-1)  # (F-1, J)
    with warnings.catch_warnings():  # frames without a person
        warnings.simplefilter("ignore", RuntimeWarning)
        height = np.nanmax(points[..., 1], axis=1) - np.nanmin(points[..., 1], axis=1)  # (F,)
    scale = np.nanmedian(height) if np.isfinite(height).any() else np.nan
    speed = np.full(points.shape[0], np.nan)
    with np.errstate(all="ignore"):
        finite = np.isfinite(step)
        counts = finite.sum(axis=1)
        med = np.array([np.median(row[f]) if c else np.nan for row, f, c in zip(step, finite, counts)])
    speed[1:] = med / scale
    return speed


def _correlation(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Normalized correlation of a[f] and b[f + lag] over frames where both are known."""
    F = len(a)
    if lag >= 0:
        x, y = a[:F - lag], b[lag:]
    else:
        x, y = a[-lag:], b[:F + lag]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 8:
        return -np.inf
    x, y = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator > 0 else -np.inf


def _epipolar_cost(ref: np.ndarray, other: np.ndarray, offset: float, fixed_F: np.ndarray | None = None) -> float:
    """Truncated mean squared Sampson distance of a robustly (IRLS) fitted fundamental matrix
    between the reference's keypoints and ``other``'s resampled at ``offset``."""
    shifted = shift_frames(other[None], np.array([offset]))[0].reshape(-1, 2)
    a = ref.reshape(-1, 2)
    ok = np.all(np.isfinite(a), axis=1) & np.all(np.isfinite(shifted), axis=1)
    if ok.sum() < 16:
        return np.inf
    a, b = a[ok], shifted[ok]
    # Interpolating between two frames averages their noise: at a fraction phi the resampled
    # keypoints carry (1 - phi)^2 + phi^2 of the noise variance, so the raw cost would favour
    # half-frame offsets on synchronized cameras; divide that share out (both views' noise counted).
    phi = offset - np.floor(offset)
    noise_share = 0.5 * (1.0 + (1 - phi) ** 2 + phi**2)
    if fixed_F is not None:  # a calibrated pair: nothing to fit
        d = sampson_distance(fixed_F, a, b)
        return float(np.mean(np.sort(d)[:len(d) // 2] ** 2)) / noise_share
    weights = np.ones(len(a))
    for _ in range(6):
        F = fundamental_8point(a, b, weights=weights)
        d = sampson_distance(F, a, b)
        scale = max(1.4826 * float(np.median(d)), 1e-12)
        weights = 1.0 / (1.0 + (d / scale) ** 2)  # Cauchy
    # the better half: outliers, doubled by interpolation, drop out
    return float(np.mean(np.sort(d)[:len(d) // 2] ** 2)) / noise_share


def estimate_time_offsets(points_2d: np.ndarray, *, names=None, scores: np.ndarray | None = None,
                          min_score: float = 0.3, reference: int = 0, max_offset_frames: int = 15,
                          step_frames: float = 0.1, threshold_px: float = 8.0,
                          rig: Rig | None = None, joint_names=None, min_improvement: float = 0.1,
                          rng: np.random.Generator | None = None) -> TimeOffsets:
    """Per-camera time offsets from keypoint motion (module docstring).

    points_2d: (V, F, J, 2) pixels, NaN = missing. scores: optional (V, F, J); below ``min_score``
    ignored. rig: a calibration of the cameras (intrinsics and poses, e.g. from a first
    calibration that assumed no offsets): the epipolar geometry of each pair is then fixed by it
    and nothing is fitted per lag (sharp even when the person barely moves); without it,
    fundamental matrices are fitted to the pixels as detected.
    min_improvement: an offset is reported only when it lowers the epipolar cost by this fraction
        from no offset (the Pose2Sim demo's synchronized cameras: the best wrong lag gains 4%; a
        synthetic 0.45-frame offset gains 19%); otherwise 0.
    joint_names: when they name left/right pairs, each pair is replaced by its midpoint (and the
    unpaired joints kept): a detector's left/right swaps then do not matter. BlazePose's 33
    landmarks are cut to their 17 body joints first, as ``rigkit calibrate keypoints`` does (on the
    Pose2Sim demo all 33 against the lab's calibration put a synchronized camera 1 frame off).
    threshold_px, rng: unused (kept for callers): the cost is robust and the estimate deterministic.
    """
    points = np.asarray(points_2d, dtype=np.float64).copy()
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {points.shape}, expected (V, F, J, 2)")
    V, F, J, _ = points.shape
    if not 0 <= reference < V:
        raise ValueError(f"reference is {reference}, expected a camera index in [0, {V})")
    if scores is not None:
        points[~(np.asarray(scores) >= min_score)] = np.nan
    from .keypoint_cleaning import body_joints, swap_permutation
    body = body_joints(joint_names)
    if body is not None:  # BlazePose's 33: its face, hand and foot landmarks are placed even where hidden
        points, joint_names, J = points[:, :, list(body)], [joint_names[j] for j in body], len(body)
    perm = swap_permutation(joint_names)
    if perm is not None:
        representatives = sorted({min(j, int(perm[j])) for j in range(J)})
        points = 0.5 * (points[:, :, representatives] + points[:, :, perm[representatives]])
        J = len(representatives)
    fixed = [None] * V
    if rig is not None:
        if len(rig) != V:
            raise ValueError(f"rig has {len(rig)} cameras for {V} views of keypoints")
        points = np.stack([rig[v].undistort_points(points[v]) for v in range(V)])
        R_inv, t_inv = invert(rig.R[reference], rig.t[reference])
        for v in range(V):
            R_ba, t_ba = compose(rig.R[v], rig.t[v], R_inv, t_inv)  # cam_v_from_cam_ref
            fixed[v] = fundamental_from_essential(essential_from_pose(R_ba, t_ba), rig.K[reference], rig.K[v])
    names = tuple(names) if names is not None else tuple(str(v) for v in range(V))
    speeds = [_speed(points[v]) for v in range(V)]
    max_lag = int(min(max_offset_frames, F // 4))  # at least half of the frames overlap
    offsets = np.zeros(V)
    coarse = np.zeros(V, dtype=np.int64)
    strength = np.ones(V)
    epipolar = np.full(V, np.nan)
    misfit = np.zeros(V, dtype=bool)
    lags = np.arange(-max_lag, max_lag + 1)
    for v in range(V):
        if v == reference:
            continue
        corr = np.array([_correlation(speeds[reference], speeds[v], int(lag)) for lag in lags])
        strength[v] = float(np.max(corr))
        found = _offset_against(points[reference], points[v], fixed[v], lags, step_frames, min_improvement)
        if fixed[v] is not None:
            # the calibration must explain the keypoints about as well as they explain themselves
            # (a fundamental matrix fitted to them at each lag); where it does not, the lag it finds is
            # the one that best hides the misfit, so the keypoints alone decide
            free = _offset_against(points[reference], points[v], None, lags, step_frames, min_improvement)
            if np.isfinite(free[2]) and not found[2] <= CALIBRATION_FIT_RATIO**2 * free[2]:
                found, misfit[v] = free, True
        offset, coarse[v], cost = found
        if offset is None:  # no epipolar evidence at any lag: the speed profiles decide
            coarse[v] = offsets[v] = lags[int(np.argmax(corr))]
            continue
        offsets[v] = offset
        epipolar[v] = float(np.sqrt(cost))
    return TimeOffsets(names=names, offsets_frames=offsets, coarse_frames=coarse, strength=strength,
                       epipolar_px=epipolar, calibration_misfit=misfit)
