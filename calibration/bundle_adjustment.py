"""Sparse bundle adjustment of a rig: cameras plus board poses or free 3D points.

Conventions (frames, pixels, distortion order, dimension letters, units) in
:mod:`geometry.camera`. The optimizer works on Rodrigues vectors; the API takes and returns
matrices (conversions in :mod:`geometry.transforms`).

Two kinds of structure share one solver:

- **board**: every observation is a corner ``c`` of a rigid board (``corners_in_board (C, 3)``)
  at frame ``f``: ``X_world = R_f @ corners_in_board[c] + t_f`` with one ``world_from_board``
  pose per frame. The board's size fixes the metric scale.
- **points**: every observation is a free 3D point ``X_world = points_in_world[n]``. The scale is
  not observable from images; a single gauge residual holds the distance between the fixed camera
  and the farthest camera at its initial value, and the caller sets the metric scale afterwards.

The gauge (world frame) is fixed by holding one camera's pose (``fixed_camera``) at its initial
value. Residuals are distorted-pixel reprojection errors with a robust loss whose scale is in
pixels. The Jacobian is analytic (:mod:`calibration.reprojection_problem`): per observation the
2 x (6 + 6|3 + intrinsics) blocks in closed form, vectorized over all observations (the lens
distortion derivatives by vectorized central differences over the two normalized coordinates and
the free coefficients only). Two solvers minimize the same cost: the default Levenberg-Marquardt
with the structure eliminated by the Schur complement (:mod:`calibration.schur_lm`), and
``scipy.optimize.least_squares`` ("trf", ``x_scale="jac"``, LSMR) given the sparse Jacobian; the
benchmark (``benchmarks/bench_calibration.py``) runs both. Observations far above the robust
spread of the residuals are rejected and the problem is solved again, warm-started.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.optimize import least_squares

from geometry import Rig, rotation_from_rvec, rvec_from_rotation
from geometry.options import check_fields, option

from .lens_model import IntrinsicsAnchor, LensPriors
from .reprojection_problem import (BoardStructure, CaptureMotion, Intrinsics, PointStructure, ReprojectionProblem,
                                   right_jacobian)
from .schur_lm import camera_covariance, solve_schur_lm

__all__ = [
    "IntrinsicsMode",
    "RobustLoss",
    "Solver",
    "BundleAdjustmentOptions",
    "BundleAdjustmentResult",
    "bundle_adjust_board",
    "bundle_adjust_points",
]

log = logging.getLogger(__name__)

IntrinsicsMode = Literal["fixed", "focal", "pinhole", "full"]
RobustLoss = Literal["linear", "soft_l1", "huber", "cauchy"]
Solver = Literal["schur", "scipy"]

_RAYLEIGH_MEDIAN = float(np.sqrt(2 * np.log(2)))  # median of |e| for a 2D Gaussian, in sigmas


@dataclass(frozen=True, kw_only=True)
class BundleAdjustmentOptions:
    """How to run :func:`bundle_adjust_board` / :func:`bundle_adjust_points`.

    solver: ``"schur"`` (default): Levenberg-Marquardt with the structure eliminated by the Schur
        complement and the small camera system solved exactly (:mod:`calibration.schur_lm`);
        ``"scipy"``: ``scipy.optimize.least_squares`` ("trf", ``x_scale="jac"``, LSMR steps) on the
        same analytic sparse Jacobian. Both minimize the same robust cost; "schur" converges in
        far fewer iterations (see ``benchmarks/bench_calibration.py``).
    loss, loss_scale_px: robust loss of ``least_squares`` applied to every residual component;
        residuals below ``loss_scale_px`` count quadratically.
    intrinsics: which intrinsics are free, the same set for every camera: ``"fixed"``;
        ``"focal"`` (fx, fy); ``"pinhole"`` (fx, fy, cx, cy); ``"full"`` (fx, fy, cx, cy and the
        first ``num_free_distortion`` distortion coefficients). The skew stays fixed.
    num_free_distortion: coefficients freed in ``"full"`` mode; None: k1, k2, p1, p2, k3 (or
        fewer when the camera has fewer) for the opencv model, all 4 for fisheye; a tuple gives
        one such count per camera (the lens complexity each camera's data supports).
    priors: Gaussian priors on the free intrinsics (:class:`calibration.lens_model.LensPriors`:
        principal point near the image centre, square pixels, distortion no larger than a lens
        has), the same rows as the per-camera lens fit; None: none. Without them a board that
        covers a small part of the image lets the principal point trade against the camera's
        rotation and the focal length against the distances.
    anchors: per camera an :class:`calibration.lens_model.IntrinsicsAnchor` (its intrinsics as a
        separate solve found them, with their covariance) held as a Gaussian prior, or None.
    fixed_camera: index of the camera whose pose is held (the gauge).
    outlier_sigma: an observation whose residual norm exceeds ``outlier_sigma`` robust sigmas
        (and ``min_outlier_threshold_px``) is rejected and the problem solved again.
    rejection_rounds: at most this many solve-and-reject rounds after the first solve.
    final_loss: loss of the solves after the first one (warm-started, over the inliers; when the
        first solve rejects nothing, one more solve on it); None (default): every solve uses
        ``loss``. ``"linear"`` makes the result the maximum-likelihood estimate under Gaussian
        pixel noise once the gross errors are gone: on the synthetic benchmark scene (0.3 px noise,
        fixed intrinsics) camera centres and rotations come out 2-3% closer to the truth over 16
        seeds, and faster. Not the default: on the real Caliscope footage with intrinsics refined
        jointly, rotations and centres moved 0.3 deg / 1.4 mm further from Caliscope's and the
        held-out corner RMS rose 1% (real residuals are heavy-tailed; soft_l1 keeps working there).
    capture_offset_sigma_frames: 1-sigma Gaussian prior of a view's capture offset (frames), counted
        against residuals in ``loss_scale_px`` units; used only when :func:`bundle_adjust_board` is
        given velocities (:mod:`calibration.capture_jitter`).
    max_evaluations: cap on iterations ("schur") / function evaluations ("scipy") per solve.
    tolerance: stop when an accepted step lowers the cost by less than this fraction of it (or
        moves the parameters by less than this fraction of their norm); ``ftol``/``xtol``/``gtol``
        of ``least_squares``. At 1e-7 the solution is within ~1 um / 1e-5 deg of the optimum on
        the benchmark scene.
    """

    solver: Solver = option("schur", choices=("schur", "scipy"))
    loss: RobustLoss = option("soft_l1", choices=("linear", "soft_l1", "huber", "cauchy"))
    loss_scale_px: float = option(1.0, low=0, low_open=True)
    intrinsics: IntrinsicsMode = option("fixed", choices=("fixed", "focal", "pinhole", "full"))
    num_free_distortion: int | tuple[int | None, ...] | None = None
    priors: LensPriors | None = None
    anchors: tuple[IntrinsicsAnchor | None, ...] | None = None
    fixed_camera: int = option(0, low=0)
    outlier_sigma: float = option(4.0, low=0, low_open=True)
    min_outlier_threshold_px: float = option(1.0, low=0)
    rejection_rounds: int = option(3, low=0)
    final_loss: RobustLoss | None = option(None, choices=("linear", "soft_l1", "huber", "cauchy", None))
    capture_offset_sigma_frames: float = option(0.5, low=0, low_open=True)
    max_evaluations: int = option(100, low=1)
    tolerance: float = option(1e-7, low=0, low_open=True)

    def __post_init__(self) -> None:
        check_fields(self)
        counts = (self.num_free_distortion if isinstance(self.num_free_distortion, tuple)
                  else (self.num_free_distortion,))
        if not counts or any(n is not None and n not in (0, 1, 2, 3, 4, 5, 6, 7, 8) for n in counts):
            raise ValueError(f"num_free_distortion is {self.num_free_distortion}, expected 0..8, None, or one "
                             "of those per camera (a tuple)")


@dataclass(frozen=True, kw_only=True)
class BundleAdjustmentResult:
    """A refined rig and what the refinement saw.

    rig: the refined rig (same names and order; intrinsics refined when they were free; a camera
        whose distortion was freed in "full" mode has at least ``num_free_distortion`` coefficients).
    world_from_board_R, world_from_board_t: (F, 3, 3), (F, 3) refined board poses, metres (board
        case); shapes (0, 3, 3), (0, 3) for the points case.
    points_in_world: (N, 3) refined points, metres (points case); (0, 3) for the board case.
    inliers: (M,) bool, observations kept after outlier rejection (input order).
    residuals_px: (M, 2) float64 reprojection residual (projected - observed) of every
        observation, rejected ones included.
    rms_px: RMS reprojection error over inlier observations (norm of the 2D residual).
    rms_px_per_camera: (V,) the same per camera; NaN for a camera without inlier observations.
    num_observations_per_camera: (V,) int inlier observations per camera.
    num_observations: inlier observations used in the final solve.
    num_rejected: observations rejected as outliers.
    iterations: Jacobian evaluations summed over all solves.
    solver_time_s: wall time spent in the solver.
    success: ``least_squares`` converged (or stopped at ``max_evaluations`` with a finite cost).
    message: the solver's last status message.
    rotation_sigma_deg, center_sigma_m: (V,) 1-sigma uncertainty of each camera's rotation (deg,
        largest axis) and centre (m, largest axis) relative to the gauge camera (0 there), from the
        inverse of the normal equations at the solution with the structure marginalized and the
        noise estimated from the inlier residuals. It assumes independent residuals: errors that
        persist over consecutive frames (a detector's bias on one pose) make it optimistic.
    capture_offset_frames: (M,) the capture offset (frames, later positive) of each observation's view
        when the bundle adjustment modelled them (velocities given), else zeros. ``residuals_px`` are
        then the residuals with the offsets eliminated (their squared norm includes the prior).
    """

    rig: Rig
    world_from_board_R: np.ndarray
    world_from_board_t: np.ndarray
    points_in_world: np.ndarray
    inliers: np.ndarray
    residuals_px: np.ndarray
    rms_px: float
    rms_px_per_camera: np.ndarray
    num_observations_per_camera: np.ndarray
    num_observations: int
    num_rejected: int
    iterations: int
    solver_time_s: float
    success: bool
    message: str
    rotation_sigma_deg: np.ndarray
    center_sigma_m: np.ndarray
    capture_offset_frames: np.ndarray | None = None


# -- public entry points ----------------------------------------------------------------------
def bundle_adjust_board(rig: Rig, corners_in_board: np.ndarray, world_from_board_R: np.ndarray,
                        world_from_board_t: np.ndarray, camera_index: np.ndarray,
                        frame_index: np.ndarray, corner_index: np.ndarray, pixels: np.ndarray, *,
                        options: BundleAdjustmentOptions = BundleAdjustmentOptions(),
                        velocity_px: np.ndarray | None = None) -> BundleAdjustmentResult:
    """Refine cameras (and optionally intrinsics) and per-frame board poses.

    rig: V cameras with initial poses (cam_from_world) and intrinsics.
    corners_in_board: (C, 3) float64 board corners in the board frame, metres.
    world_from_board_R, world_from_board_t: (F, 3, 3), (F, 3) initial board pose per frame.
    camera_index, frame_index, corner_index: (M,) int, which camera saw which corner at which frame.
    pixels: (M, 2) float64 observed distorted pixels.
    velocity_px: (M, 2) px per frame of every observation (its corner's image motion): each camera's
        view of each frame then gets its own capture offset, eliminated in the solve
        (:class:`calibration.reprojection_problem.CaptureMotion`); None: all views simultaneous.
    """
    corners = _as_points(corners_in_board, "corners_in_board")
    R0 = np.asarray(world_from_board_R, dtype=np.float64)
    t0 = np.asarray(world_from_board_t, dtype=np.float64)
    if R0.ndim != 3 or R0.shape[1:] != (3, 3) or t0.shape != (len(R0), 3):
        raise ValueError(f"world_from_board_R/t have shapes {R0.shape}/{t0.shape}, expected (F, 3, 3)/(F, 3)")
    obs = _Observations.build(rig, camera_index, frame_index, pixels, len(R0), "frame_index")
    corner_index = _as_index(corner_index, len(corners), "corner_index", obs.size)
    structure = BoardStructure(corners, corner_index, obs.point)
    x_structure = np.concatenate([rvec_from_rotation(R0), t0], axis=1).reshape(-1)
    motion = None
    if velocity_px is not None:
        velocity = np.asarray(velocity_px, dtype=np.float64)
        if velocity.shape != (obs.size, 2) or not np.all(np.isfinite(velocity)):
            raise ValueError(f"velocity_px has shape {velocity.shape}, expected ({obs.size}, 2) finite")
        weight = (options.loss_scale_px / options.capture_offset_sigma_frames) ** 2
        motion = CaptureMotion(velocity, obs.camera * len(R0) + obs.point, weight)
    return _solve(rig, obs, structure, x_structure, options, motion)


def bundle_adjust_points(rig: Rig, points_in_world: np.ndarray, camera_index: np.ndarray,
                         point_index: np.ndarray, pixels: np.ndarray, *,
                         options: BundleAdjustmentOptions = BundleAdjustmentOptions()
                         ) -> BundleAdjustmentResult:
    """Refine cameras (and optionally intrinsics) and free 3D points.

    rig: V cameras with initial poses and intrinsics.
    points_in_world: (N, 3) float64 initial points, metres (all finite).
    camera_index, point_index: (M,) int, which camera saw which point.
    pixels: (M, 2) float64 observed distorted pixels.
    The scale gauge keeps the distance from ``fixed_camera`` to the farthest camera constant.
    """
    points = _as_points(points_in_world, "points_in_world")
    obs = _Observations.build(rig, camera_index, point_index, pixels, len(points), "point_index")
    structure = PointStructure(obs.point)
    return _solve(rig, obs, structure, points.reshape(-1), options)


# -- inputs -----------------------------------------------------------------------------------
def _as_points(points: np.ndarray, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or not np.all(np.isfinite(points)):
        raise ValueError(f"{name} has shape {points.shape}, expected (N, 3) finite")
    return points


def _as_index(index: np.ndarray, bound: int, name: str, size: int) -> np.ndarray:
    index = np.asarray(index).reshape(-1)
    if index.shape != (size,) or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"{name} has shape {index.shape} dtype {index.dtype}, expected ({size},) int")
    if size and (index.min() < 0 or index.max() >= bound):
        raise ValueError(f"{name} must lie in [0, {bound}), got [{index.min()}, {index.max()}]")
    return index.astype(np.int64)


@dataclass(frozen=True)
class _Observations:
    camera: np.ndarray  # (M,) int
    point: np.ndarray  # (M,) int: frame (board) or point index
    pixels: np.ndarray  # (M, 2)

    @property
    def size(self) -> int:
        return len(self.camera)

    @classmethod
    def build(cls, rig, camera_index, point_index, pixels, num_points, point_name):
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.ndim != 2 or pixels.shape[1] != 2 or not np.all(np.isfinite(pixels)):
            raise ValueError(f"pixels has shape {pixels.shape}, expected (M, 2) finite")
        camera = _as_index(camera_index, len(rig), "camera_index", len(pixels))
        point = _as_index(point_index, num_points, point_name, len(pixels))
        if len(pixels) == 0:
            raise ValueError("bundle adjustment needs at least one observation")
        return cls(camera, point, pixels)

    def subset(self, mask: np.ndarray) -> "_Observations":
        return _Observations(self.camera[mask], self.point[mask], self.pixels[mask])


# -- the solver loop --------------------------------------------------------------------------
def _solve(rig: Rig, obs: _Observations, structure, x_structure: np.ndarray,
           options: BundleAdjustmentOptions, motion: CaptureMotion | None = None) -> BundleAdjustmentResult:
    V = len(rig)
    if options.fixed_camera >= V:
        raise ValueError(f"fixed_camera is {options.fixed_camera}, the rig has {V} cameras")
    if isinstance(options.num_free_distortion, tuple) and len(options.num_free_distortion) != V:
        raise ValueError(f"num_free_distortion gives {len(options.num_free_distortion)} counts for {V} cameras")
    intr = Intrinsics(rig, options.intrinsics, options.num_free_distortion, options.priors, options.anchors)
    x_cams = np.concatenate([rvec_from_rotation(rig.R), rig.t], axis=1)
    scale_gauge = None
    if structure.kind == "points" and V > 1:
        offsets = np.linalg.norm(rig.centers - rig.centers[options.fixed_camera], axis=1)
        far = int(np.argmax(offsets))
        if offsets[far] > 0:
            scale_gauge = (far, float(offsets[far]))

    def problem_for(mask):
        return ReprojectionProblem(rig, obs.subset(mask), structure.subset(mask), intr, options.fixed_camera,
                                   x_structure.size, x_cams[options.fixed_camera], scale_gauge,
                                   None if motion is None else motion.subset(mask))

    inliers = np.ones(obs.size, dtype=bool)
    full_problem = problem_for(inliers)
    x = full_problem.pack(x_cams, intr.initial(), x_structure)
    iterations, solver_time, success, message = 0, 0.0, False, ""
    # The first solve is robust (it must not be dragged by the gross errors it is to find); once
    # they are rejected, the solves run on final_loss (see BundleAdjustmentOptions).
    final_options = options if options.final_loss is None else replace(options, loss=options.final_loss)
    round_options = options
    for round_index in range(options.rejection_rounds + 1):
        problem = full_problem if inliers.all() else problem_for(inliers)
        start = time.perf_counter()
        x, steps, success, message = _run_solver(problem, x, round_options)
        solver_time += time.perf_counter() - start
        iterations += steps
        residual_norm = np.linalg.norm(full_problem.linearize(x, jacobian=False).residuals, axis=1)
        sigma = np.median(residual_norm[inliers]) / _RAYLEIGH_MEDIAN
        threshold = max(options.outlier_sigma * sigma, options.min_outlier_threshold_px)
        new_inliers = residual_norm <= threshold
        log.debug("bundle adjustment round %d (%s): rms %.4f px, threshold %.3f px, %d -> %d inliers", round_index,
                  round_options.loss, _rms(residual_norm[inliers]), threshold, inliers.sum(), new_inliers.sum())
        if round_index == options.rejection_rounds or np.array_equal(new_inliers, inliers):
            break
        inliers = new_inliers
        round_options = final_options
    if round_options.loss != final_options.loss:  # nothing was rejected: the last solve on final_loss
        start = time.perf_counter()
        x, steps, success, message = _run_solver(problem, x, final_options)
        solver_time += time.perf_counter() - start
        iterations += steps
    residuals = full_problem.linearize(x, jacobian=False).residuals
    norms = np.linalg.norm(residuals, axis=1)
    final_problem = full_problem if inliers.all() else problem_for(inliers)
    offsets = np.zeros(obs.size)
    if motion is not None:  # each view's offset from its inliers' plain residuals
        offsets[inliers] = final_problem.motion.offsets(final_problem.plain_residuals(x))
        outside = ~inliers
        if outside.any():  # a rejected observation takes its view's offset when the view kept some
            view_offset = dict(zip(motion.group[inliers], offsets[inliers]))
            offsets[outside] = [view_offset.get(g, 0.0) for g in motion.group[outside]]
    x_cams_final = full_problem.cameras(x)
    R = rotation_from_rvec(x_cams_final[:, :3])
    refined = intr.cameras(rig, x[full_problem.n_cam:full_problem.num_a], R, x_cams_final[:, 3:])
    board_R, board_t, points = structure.unpack(x[full_problem.num_a:])
    per_camera_count = np.bincount(obs.camera[inliers], minlength=V)
    per_camera_sq = np.bincount(obs.camera[inliers], weights=norms[inliers] ** 2, minlength=V)
    per_camera_rms = np.full(V, np.nan)
    seen = per_camera_count > 0
    per_camera_rms[seen] = np.sqrt(per_camera_sq[seen] / per_camera_count[seen])
    result = BundleAdjustmentResult(
        rig=refined, world_from_board_R=board_R, world_from_board_t=board_t, points_in_world=points,
        inliers=inliers, residuals_px=residuals, rms_px=_rms(norms[inliers]),
        rms_px_per_camera=per_camera_rms, num_observations_per_camera=per_camera_count,
        num_observations=int(inliers.sum()), num_rejected=int((~inliers).sum()), iterations=iterations,
        solver_time_s=solver_time, success=success, message=message, capture_offset_frames=offsets,
        **_pose_uncertainty(final_problem, x, x_cams_final, norms[inliers], final_options))
    log.info("bundle adjustment: rms %.3f px over %d observations (%d rejected), %d iterations, %.2f s",
             result.rms_px, result.num_observations, result.num_rejected, iterations, solver_time)
    return result


def _pose_uncertainty(problem: ReprojectionProblem, x: np.ndarray, x_cams: np.ndarray, norms: np.ndarray,
                      options: BundleAdjustmentOptions) -> dict:
    """rotation_sigma_deg, center_sigma_m (V,) of :class:`BundleAdjustmentResult`."""
    V = problem.V
    dof = max(2 * norms.size - problem.n, 1)
    noise_px = float(np.sqrt(np.sum(norms**2) / dof))
    covariance = camera_covariance(problem, x, loss=options.loss, f_scale=options.loss_scale_px, noise_px=noise_px)
    rotation, center = np.zeros(V), np.zeros(V)
    for v in range(V):
        pose = covariance[v, :6, :6]
        if not np.all(np.isfinite(pose)):
            rotation[v] = center[v] = np.nan
            continue
        Jr = right_jacobian(x_cams[v, :3])
        rotation[v] = np.degrees(np.sqrt(max(np.linalg.eigvalsh(Jr @ pose[:3, :3] @ Jr.T).max(), 0.0)))
        D = ReprojectionProblem._d_center(x_cams[v])
        center[v] = np.sqrt(max(np.linalg.eigvalsh(D @ pose @ D.T).max(), 0.0))
    return {"rotation_sigma_deg": rotation, "center_sigma_m": center}


def _run_solver(problem: ReprojectionProblem, x: np.ndarray, options: BundleAdjustmentOptions):
    """One solve from ``x``: returns (x, iterations, success, message)."""
    if options.solver == "schur":
        report = solve_schur_lm(problem, x, loss=options.loss, f_scale=options.loss_scale_px,
                                max_iterations=options.max_evaluations, tolerance=options.tolerance)
        return report.x, report.iterations, bool(np.isfinite(report.cost)), report.message
    solution = least_squares(problem.residuals, x, jac=problem.jacobian, method="trf", x_scale="jac",
                             loss=options.loss, f_scale=options.loss_scale_px, ftol=options.tolerance,
                             xtol=options.tolerance, gtol=options.tolerance, max_nfev=options.max_evaluations,
                             tr_solver="lsmr")
    success = bool(solution.status > 0 or (solution.status == 0 and np.isfinite(solution.cost)))
    return solution.x, int(solution.njev or 0), success, str(solution.message)


def _rms(norms: np.ndarray) -> float:
    return float(np.sqrt(np.mean(norms**2))) if norms.size else float("nan")
