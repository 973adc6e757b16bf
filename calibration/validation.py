"""Held-out validation of a calibration and the verdict line a technician can act on.

Conventions in :mod:`geometry.camera`. A calibration's own residual RMS says how well it fits the
frames it was solved from, not how well it predicts others (a lens model with many coefficients
fits thin data well and extrapolates badly). So every ``rigkit calibrate ...`` keeps some frames
out of the solve (:func:`heldout_mask`: every ``every``-th frameset) and measures them afterwards:

- :func:`heldout_reprojection`: points seen by 2+ cameras in held-out framesets are triangulated
  with the calibration and reprojected into the cameras that saw them (px, RMS per camera);
- :func:`heldout_view_errors`: for one camera's intrinsics, board views the solver did not use are
  posed by PnP with the solved lens and their corners reprojected (px, RMS).

:func:`verdict` turns the figures into one line per finding: ``good (...)`` or
``check camera X: <what is wrong> -> <what to do>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from geometry import Rig, triangulate

__all__ = ["heldout_mask", "HeldOutError", "heldout_reprojection", "heldout_view_errors", "Verdict", "verdict",
           "HELDOUT_EVERY"]

HELDOUT_EVERY = 5  # every 5th frameset is kept out of the solve (the measure)


def heldout_mask(num_framesets: int, every: int = HELDOUT_EVERY) -> np.ndarray:
    """(F,) bool, True for the framesets kept out of the solve: positions ``every-1, 2*every-1, ...``
    (none when ``every`` is 0)."""
    if every < 0 or every == 1:
        raise ValueError(f"every is {every}, expected 0 (no held-out frames) or >= 2")
    positions = np.arange(num_framesets)
    if every == 0:
        return np.zeros(num_framesets, dtype=bool)
    return positions % every == every - 1


@dataclass(frozen=True, kw_only=True)
class HeldOutError:
    """Reprojection error of observations the solver did not use.

    names: (V,) camera names. rms_px_per_camera: (V,) NaN where a camera has no held-out
    observation. num_observations_per_camera: (V,) int. rms_px: over all observations.
    num_points: triangulated held-out points. kind: what was held out ("corners", "keypoints").
    num_rejected: observations left out as outliers (robust mode only).
    """

    names: tuple[str, ...]
    rms_px_per_camera: np.ndarray
    num_observations_per_camera: np.ndarray
    rms_px: float
    num_points: int
    kind: str = "corners"
    num_rejected: int = 0
    rejected_why: str = "as outliers of the robust triangulation"


def heldout_reprojection(rig: Rig, points_2d: np.ndarray, *, kind: str = "corners",
                         weights: np.ndarray | None = None, robust_threshold_px: float | None = None
                         ) -> HeldOutError:
    """Triangulate every held-out point from the cameras that saw it and reproject it into them.

    points_2d: (V, N, 2) float64 distorted pixels of the held-out points; NaN where not seen.
    Points seen by fewer than 2 cameras (or not triangulable) are skipped.
    weights: optional (V, N) confidences for the triangulation (keypoints).
    robust_threshold_px: when given (a person detector's keypoints, with swaps and hallucinated
        joints), points are triangulated robustly and only their inlier views are measured;
        ``num_rejected`` counts the others.
    """
    if robust_threshold_px is not None:
        return _heldout_robust(rig, np.asarray(points_2d, dtype=np.float64), kind, robust_threshold_px)
    points_2d = np.asarray(points_2d, dtype=np.float64)
    if points_2d.ndim != 3 or points_2d.shape[0] != len(rig) or points_2d.shape[2] != 2:
        raise ValueError(f"points_2d has shape {points_2d.shape}, expected ({len(rig)}, N, 2)")
    V = len(rig)
    seen = np.all(np.isfinite(points_2d), axis=-1)
    multi = seen.sum(axis=0) >= 2
    sq = np.zeros(V)
    count = np.zeros(V, dtype=np.int64)
    num_points = 0
    if multi.any():
        sub = points_2d[:, multi]
        w = None if weights is None else np.where(seen[:, multi], np.asarray(weights)[:, multi], 0.0)
        X = triangulate(rig, sub, weights=w)
        ok = np.all(np.isfinite(X), axis=-1)
        num_points = int(ok.sum())
        if num_points:
            projected = rig.project(X[ok])  # (V, n, 2)
            err = np.linalg.norm(projected - sub[:, ok], axis=-1)
            valid = np.isfinite(err)
            sq = np.where(valid, err**2, 0.0).sum(axis=1)
            count = valid.sum(axis=1)
    per_camera = np.where(count > 0, np.sqrt(sq / np.maximum(count, 1)), np.nan)
    total = float(np.sqrt(sq.sum() / count.sum())) if count.sum() else float("nan")
    return HeldOutError(names=tuple(rig.names), rms_px_per_camera=per_camera, num_observations_per_camera=count,
                        rms_px=total, num_points=num_points, kind=kind)


def _heldout_robust(rig: Rig, points_2d: np.ndarray, kind: str, threshold_px: float) -> HeldOutError:
    from geometry import triangulate_robust

    V = len(rig)
    result = triangulate_robust(rig, points_2d, threshold_px=threshold_px)
    seen = np.all(np.isfinite(points_2d), axis=-1)
    use = result.inliers & result.valid[None, :]
    error = np.where(use, result.reprojection_error_px, 0.0)
    count = use.sum(axis=1)
    sq = (error**2).sum(axis=1)
    per_camera = np.where(count > 0, np.sqrt(sq / np.maximum(count, 1)), np.nan)
    total = float(np.sqrt(sq.sum() / count.sum())) if count.sum() else float("nan")
    rejected = int((seen & result.valid[None, :] & ~result.inliers).sum())
    return HeldOutError(names=tuple(rig.names), rms_px_per_camera=per_camera, num_observations_per_camera=count,
                        rms_px=total, num_points=int(result.valid.sum()), kind=kind, num_rejected=rejected)


def heldout_view_errors(camera, corners_in_board: np.ndarray, views: Sequence[tuple[np.ndarray, np.ndarray]]
                        ) -> np.ndarray:
    """Per held-out board view of one camera, the RMS (px) of its corners after a PnP pose with the
    camera's lens. views: ``(ids (C,), corners_px (C, 2))`` pairs. Returns (U,) float64 (NaN when
    PnP failed)."""
    import cv2

    from geometry import rotation_from_rvec

    out = np.full(len(views), np.nan)
    for i, (ids, pixels) in enumerate(views):
        obj = np.ascontiguousarray(corners_in_board[ids], dtype=np.float64).reshape(-1, 1, 3)
        if len(obj) < 4:
            continue
        normalized = camera.normalize(np.asarray(pixels, dtype=np.float64))
        img = np.ascontiguousarray(normalized).reshape(-1, 1, 2)
        flags = cv2.SOLVEPNP_IPPE if np.ptp(obj[..., 2]) < 1e-9 else cv2.SOLVEPNP_SQPNP
        try:
            ok, rvec, tvec = cv2.solvePnP(obj, img, np.eye(3), None, flags=flags)
            if not ok:
                continue
            rvec, tvec = cv2.solvePnPRefineLM(obj, img, np.eye(3), None, rvec, tvec)
        except cv2.error:
            continue
        R = rotation_from_rvec(rvec.reshape(3))
        in_cam = obj.reshape(-1, 3) @ R.T + tvec.reshape(3)
        if np.any(in_cam[:, 2] <= 0):
            continue
        projected = camera.project_from_cam(in_cam)
        out[i] = float(np.sqrt(np.mean(np.sum((projected - pixels) ** 2, axis=-1))))
    return out


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """good: nothing to act on. lines: ``good (...)`` or one ``check camera X: ...`` per finding."""

    good: bool
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(f"verdict: {line}" for line in self.lines)


def verdict(heldout: HeldOutError, *, max_rms_px: float, ratio: float = 2.5, min_observations: int = 12,
            notes: Mapping[str, Sequence[str]] | None = None) -> Verdict:
    """The verdict on held-out errors.

    max_rms_px: a camera above this held-out RMS needs checking (board corners: ~1 px; keypoints of
        a person detector: a few px).
    ratio: a camera above ``ratio`` x the median of the cameras (and above half of ``max_rms_px``)
        is singled out even when under ``max_rms_px``.
    min_observations: fewer held-out observations than this: the camera cannot be judged.
    notes: extra findings per camera name (e.g. "lens model uncertain by 3.2 px near the corners:
        ..."), each becomes a ``check camera`` line.
    """
    what = heldout.kind
    lines: list[str] = []
    rms = heldout.rms_px_per_camera
    counts = heldout.num_observations_per_camera
    finite = rms[np.isfinite(rms)]
    median = float(np.median(finite)) if finite.size else float("nan")
    for name, value, count in zip(heldout.names, rms, counts):
        if count < min_observations:
            lines.append(f"check camera {name}: only {int(count)} held-out {what} seen with another camera, too "
                         f"few to judge -> record more where it and another camera both see the "
                         f"{'board' if what == 'corners' else 'person'}")
            continue
        if value > max_rms_px:
            lines.append(f"check camera {name}: held-out {what} reproject at {value:.2f} px RMS (limit "
                         f"{max_rms_px:g} px) -> {_advice(what)}")
        elif np.isfinite(median) and value > ratio * median and value > 0.5 * max_rms_px:
            lines.append(f"check camera {name}: held-out {what} reproject at {value:.2f} px RMS, "
                         f"{value / median:.1f}x the rig's median {median:.2f} px -> {_advice(what)}")
    for name, found in (notes or {}).items():
        lines.extend(f"check camera {name}: {note}" for note in found)
    if lines:
        return Verdict(good=False, lines=tuple(lines))
    worst = int(np.nanargmax(rms)) if finite.size else 0
    return Verdict(good=True, lines=(
        f"good (held-out {what}: {heldout.rms_px:.2f} px RMS over {int(counts.sum())} observations of "
        f"{heldout.num_points} points; worst camera {heldout.names[worst]} {rms[worst]:.2f} px, limit "
        f"{max_rms_px:g} px)",))


def _advice(what: str) -> str:
    if what == "corners":
        return ("check that it did not move during the recording, then re-record its intrinsics with the "
                "board near the image corners and tilted")
    return "check that it did not move, that its video is synchronized with the others, and its intrinsics"
