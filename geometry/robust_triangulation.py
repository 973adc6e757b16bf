"""Robust multi-view triangulation: reject gross 2D outliers by consensus across views.

Conventions (frames, pixels, distortion, dimension letters, NaN for missing) are in
:mod:`geometry.camera`. Built on :mod:`geometry.triangulation` (same linear solution and pixel-space
Gauss-Newton refinement).

What it is for: 2D keypoint detectors make gross mistakes that least squares cannot absorb (a
wrist put on the wrong arm, left and right swapped, a joint of another person). Such a
detection disagrees with what the other views see; the views that agree are the inliers.

Method, vectorized over points (no Python loop over points, views or subsets):

1. All usable views (finite pixels, positive weight) are triangulated together. Where every one of
   them reprojects within ``threshold_px`` the consensus is already maximal: done.
2. Otherwise hypotheses are triangulated linearly for all remaining points at once, projected
   into every view and scored by their confidence-weighted inlier count, each inlier counting
   ``w (1 - error_weight (e / threshold)^2)`` so that among hypotheses with the same inliers the
   tighter one wins. Hypotheses behind one of their own cameras or from (near) parallel rays are
   discarded. First the V leave-one-out hypotheses (all usable views but one): where the best
   has every other view as an inlier, the left-out view was the only outlier. The points left
   (two or more outliers) get one hypothesis per view pair, ``V (V - 1) / 2`` of them.
3. The best hypothesis' inliers are triangulated (exactly as :func:`geometry.triangulate`, so a
   correct inlier set gives what an oracle that knows the outliers gets), the inliers are
   recomputed with the exact reprojection error, and this repeats until the inlier sets stop
   changing (at most ``max_rounds``).
4. A point with fewer than ``min_views`` inliers, or whose inliers do not fix it (parallel rays),
   comes back ``valid = False`` with a NaN position and no inliers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ._kernels import MIN_DEPTH_M, Lenses
from .arrays import unflatten_leading
from .rig import Rig
from .triangulation import (TriangulationOptions, contiguous_chunk, dlt_scalars, map_chunks,
                            prepare_observations, ray_spread, solve_symmetric_3x3, triangulate_chunk,
                            undistort_observations)

__all__ = ["DEFAULT_THRESHOLD_PX", "RobustTriangulationOptions", "RobustTriangulation",
           "triangulate_robust"]

# About 3x the typical error of a 2D keypoint detector on a full-body person in a 1080p view
# (3-5 px), so a detection that is only a bit off still counts; well under the 50+ px by which a
# wrong-limb, swapped or other-person detection misses at that resolution. Scale it with the
# image size (e.g. ~30 px at 4K) and with how sloppy the detector is.
DEFAULT_THRESHOLD_PX = 15.0

# Points per chunk: the hypothesis stage holds several (V, V (V - 1) / 2, chunk) arrays; larger
# chunks fall out of the cache (measured: 2048 is ~3x slower per point than 1024 with V = 6).
_CHUNK = 1024


@dataclass(frozen=True, kw_only=True)
class RobustTriangulationOptions:
    """Options of :func:`triangulate_robust` beyond the threshold and ``min_views``.

    max_rounds: re-estimate / re-classify rounds after the best hypothesis (stops early once the
        inlier sets are stable).
    error_weight: how much an inlier's error lowers its vote, ``1 - error_weight (e / t)^2``
        (0: plain weighted inlier count; must stay < 1 so every inlier adds a positive vote).
    soft_scale_px: when set, the inliers are finally re-weighted ``soft_rounds`` times by
        ``1 / (1 + (e / soft_scale_px)^2)`` (a Cauchy loss, iteratively reweighted) times their
        confidence, so that an inlier that is only a bit off still counts, but less. The inlier
        sets are kept. Worth it with real detectors (left/right swaps of joints that project
        close together, occluded joints): with the detector model of ``geometry.synthetic``
        (2 px noise, 10% outliers, 5% swaps, 6 views) a scale of ``threshold_px / 3`` lowers the
        mean 3D error ~3% and the 99th percentile ~15%; with pure Gaussian noise it costs <1%.
        Each round costs about one more triangulation of every point. None (default): off.
    triangulation: options of the linear solution and refinement (iterations, ray angle, threads).
    """

    max_rounds: int = 4
    error_weight: float = 0.25
    soft_scale_px: float | None = None
    soft_rounds: int = 2
    triangulation: TriangulationOptions = field(default_factory=TriangulationOptions)

    def __post_init__(self) -> None:
        if not (isinstance(self.max_rounds, (int, np.integer)) and self.max_rounds >= 1):
            raise ValueError(f"max_rounds is {self.max_rounds!r}, expected an integer >= 1")
        if not (0.0 <= float(self.error_weight) < 1.0):
            raise ValueError(f"error_weight is {self.error_weight!r}, expected in [0, 1)")
        if self.soft_scale_px is not None and not (np.isfinite(self.soft_scale_px) and self.soft_scale_px > 0):
            raise ValueError(f"soft_scale_px is {self.soft_scale_px!r}, expected None or a positive number of pixels")
        if not (isinstance(self.soft_rounds, (int, np.integer)) and self.soft_rounds >= 1):
            raise ValueError(f"soft_rounds is {self.soft_rounds!r}, expected an integer >= 1")
        if not isinstance(self.triangulation, TriangulationOptions):
            raise ValueError("triangulation must be a geometry.TriangulationOptions")


@dataclass(frozen=True)
class RobustTriangulation:
    """Result of :func:`triangulate_robust` (``...`` = the leading shape of the points).

    points_3d: (..., 3) float64 world points, metres; NaN where not ``valid``.
    inliers: (V, ...) bool, the views used for the point (all False where not ``valid``).
    reprojection_error_px: (V, ...) float64 pixel distance of every observed view (inlier or
        not) to the projection of ``points_3d``; NaN where not observed or not ``valid``.
    valid: (...) bool, the point has at least ``min_views`` consistent views.
    num_inliers: (...) int64, ``inliers.sum(axis=0)``.
    """

    points_3d: np.ndarray
    inliers: np.ndarray
    reprojection_error_px: np.ndarray
    valid: np.ndarray
    num_inliers: np.ndarray


def triangulate_robust(rig: Rig, points_2d: np.ndarray, *, weights: np.ndarray | None = None,
                       threshold_px: float = DEFAULT_THRESHOLD_PX, min_views: int = 2,
                       options: RobustTriangulationOptions | None = None) -> RobustTriangulation:
    """Triangulate points whose 2D observations may contain gross outliers.

    rig: the V cameras (order = the V axis of ``points_2d``).
    points_2d: (V, ..., 2) float64 distorted pixels; NaN where a view did not observe the point.
    weights: optional (V, ...) non-negative confidences (0 or NaN = ignore). They weigh both the
        votes for a hypothesis and the squared residuals of the final estimate.
    threshold_px: an observation is an inlier when it reprojects within this many pixels
        (default :data:`DEFAULT_THRESHOLD_PX`, see its comment for the reason).
    min_views: inliers a point needs to be ``valid`` (>= 2).
    options: :class:`RobustTriangulationOptions`.
    Returns a :class:`RobustTriangulation`; see the module docstring for the method.
    """
    options = RobustTriangulationOptions() if options is None else options
    if not (np.isfinite(threshold_px) and threshold_px > 0):
        raise ValueError(f"threshold_px is {threshold_px!r}, expected a positive number of pixels")
    if not (isinstance(min_views, (int, np.integer)) and 2 <= min_views):
        raise ValueError(f"min_views is {min_views!r}, expected an integer >= 2")
    lenses = Lenses(rig)
    u, v, w, leading = prepare_observations(rig, points_2d, weights)
    num_views, num_points = u.shape
    points = np.empty((num_points, 3))
    inliers = np.empty((num_views, num_points), dtype=bool)
    error = np.empty((num_views, num_points))
    solver = _RobustSolver(lenses, float(threshold_px), int(min_views), options)

    def run(part: slice) -> None:
        points[part], inliers[:, part], error[:, part] = solver(*contiguous_chunk(part, u, v, w))

    map_chunks(run, num_points, options.triangulation.threads, chunk=_CHUNK)
    valid = np.isfinite(points).all(axis=1)
    return RobustTriangulation(
        points_3d=unflatten_leading(points, leading),
        inliers=inliers.reshape((num_views,) + tuple(leading)),
        reprojection_error_px=error.reshape((num_views,) + tuple(leading)),
        valid=valid.reshape(leading),
        num_inliers=inliers.sum(axis=0).reshape(leading),
    )


class _RobustSolver:
    """The per-chunk work of :func:`triangulate_robust` (stateless between calls)."""

    def __init__(self, lenses: Lenses, threshold_px: float, min_views: int,
                 options: RobustTriangulationOptions):
        self.lenses = lenses
        self.threshold_sq = threshold_px * threshold_px
        self.min_views = min_views
        self.options = options
        self.triangulation = options.triangulation
        self.min_spread = np.sin(np.radians(options.triangulation.min_ray_angle_deg) / 2) ** 2
        num_views = lenses.num_views
        # Hypotheses as view memberships (H, V): every pair, and every view left out.
        self.pairs = np.zeros((num_views * (num_views - 1) // 2, num_views))
        for k, (i, j) in enumerate(combinations(range(num_views), 2)):
            self.pairs[k, [i, j]] = 1.0
        self.leave_one_out = 1.0 - np.eye(num_views)

    def __call__(self, u: np.ndarray, v: np.ndarray, w: np.ndarray):
        usable = w > 0
        num_usable = usable.sum(axis=0)
        observations = undistort_observations(self.lenses, u, v, self.triangulation)
        points, ok = triangulate_chunk(self.lenses, u, v, w, self.triangulation, observations=observations)
        error = self._errors(points, u, v, usable)
        inliers = usable & (error < np.sqrt(self.threshold_sq))
        # Every usable view agrees: the consensus cannot be larger.
        done = ok & (inliers.sum(axis=0) == num_usable) & (num_usable >= self.min_views)
        todo = np.flatnonzero(~done & (num_usable >= self.min_views))
        if todo.size:
            sub = (u[:, todo], v[:, todo], w[:, todo], _columns(observations, todo))
            inl = self._best_hypothesis(*sub)
            p, inl, err, good = self._refine(inl, *sub)
            points[todo], inliers[:, todo], error[:, todo] = p, inl, err
            done[todo] = good
        if self.options.soft_scale_px is not None and done.any():
            keep = np.flatnonzero(done)
            sub = (u[:, keep], v[:, keep], w[:, keep], _columns(observations, keep))
            points[keep], error[:, keep], done[keep] = self._soften(inliers[:, keep], error[:, keep], *sub)
        points[~done] = np.nan
        inliers[:, ~done] = False
        error[:, ~done] = np.nan
        return points, inliers, error

    def _errors(self, points: np.ndarray, u, v, usable) -> np.ndarray:
        """(V, M) pixel reprojection errors of points (M, 3); NaN where not usable, not in front
        of the camera or the point is NaN."""
        finite = np.isfinite(points).all(axis=1)
        pu, pv, _ = self.lenses.project(np.where(finite[:, None], points, 0.0))
        pu -= u
        pv -= v
        error = np.hypot(pu, pv)
        error[~(usable & finite)] = np.nan
        return error

    def _best_hypothesis(self, u, v, w, observations):
        """Inliers (V, M) of the best hypothesis, found in two stages.

        1. Leave-one-out: V hypotheses, each from all usable views but one. Where the best one
           has every other view as inlier, the left-out view is the only outlier: done.
        2. The rest (two or more outliers): one hypothesis per view pair.
        """
        usable = w > 0
        x, y, pixel = observations
        contributions = self._view_contributions(x, y, usable)
        inliers, _ = self._score(self.leave_one_out, contributions, x, y, w, usable, pixel)
        one_outlier = inliers.sum(axis=0) >= usable.sum(axis=0) - 1
        rest = np.flatnonzero(~one_outlier)
        if rest.size:
            pixel_rest = tuple(p[:, rest] for p in pixel)
            inliers[:, rest], _ = self._score(self.pairs, contributions[:, :, rest], x[:, rest], y[:, rest],
                                              w[:, rest], usable[:, rest], pixel_rest)
        return inliers

    def _view_contributions(self, x, y, usable) -> np.ndarray:
        """(9, V, M) each view's DLT normal-matrix entries (6) and right-hand side (3).

        Pixel-scaled rows, unweighted: a hypothesis is geometry only (weights vote later).
        """
        scalars = dlt_scalars(self.lenses, x, y, usable.astype(np.float64))  # (V, 6, M)
        per_view = np.matmul(self.lenses.dlt_coefficients, scalars)  # (V, 9, M)
        return np.ascontiguousarray(per_view.transpose(1, 0, 2))

    def _score(self, members, contributions, x, y, w, usable, pixel):
        """Triangulate the hypotheses ``members`` (H, V) for every point and pick the best.

        Returns the best hypothesis' inliers (V, M) (all False where no hypothesis is valid) and
        its score (M,). Errors use the lens linearised at each observation, ``|K D (x - x_obs)|``
        (``D`` the distortion Jacobian there): well under 1% off within the threshold and much
        cheaper than distorting every hypothesis in every view.
        """
        lenses = self.lenses
        summed = np.matmul(members, contributions)  # (9, H, M)
        h, g = list(summed[:6]), list(summed[6:])
        with np.errstate(invalid="ignore", divide="ignore"):
            hyp, _ = solve_symmetric_3x3(h, g)  # (H, M, 3)
        num_members = np.matmul(members, usable.astype(np.float64))  # (H, M)
        hyp_ok = (num_members >= 2) & (ray_spread(h) >= self.min_spread) & np.isfinite(hyp).all(axis=-1)
        num_hyp, num_points = hyp_ok.shape
        hyp[~hyp_ok] = 0.0  # singular ones are NaN; any finite point keeps the arithmetic quiet
        # Scoring only decides which hypothesis wins (the final inliers are re-decided with the
        # exact float64 errors), so it runs in float32: ~1e-4 px of rounding against a threshold
        # of pixels, at half the memory traffic.
        f32 = np.float32
        in_cam = np.matmul(lenses.R.astype(f32), hyp.reshape(-1, 3).T.astype(f32))
        in_cam += lenses.t.astype(f32)
        in_cam = in_cam.reshape(lenses.num_views, 3, num_hyp, num_points)
        z = in_cam[:, 2]
        in_front = z > f32(MIN_DEPTH_M)
        inv_z = np.divide(f32(1.0), z, out=np.zeros_like(z), where=in_front)
        ex = in_cam[:, 0] * inv_z
        ex -= x.astype(f32)[:, None]
        ey = in_cam[:, 1] * inv_z
        ey -= y.astype(f32)[:, None]
        a00, a01, a10, a11 = (p.astype(f32)[:, None] for p in pixel)
        du = a00 * ex
        du += a01 * ey
        dv = a10 * ex
        dv += a11 * ey
        with np.errstate(over="ignore", invalid="ignore"):  # hopelessly far: inf, not an inlier
            ratio = du * du
            ratio += dv * dv
            ratio *= f32(1.0 / self.threshold_sq)
        inlier = in_front & (ratio < 1.0) & usable[:, None]
        # A hypothesis must lie in front of the cameras it was made from.
        makers = (members.T[:, :, None] > 0) & usable[:, None, :]  # (V, H, M)
        hyp_ok &= np.all(in_front | ~makers, axis=0)
        vote = np.where(inlier, w.astype(f32)[:, None] * (f32(1.0) - f32(self.options.error_weight) * ratio), f32(0.0))
        score = np.where(hyp_ok, vote.sum(axis=0), -np.inf)  # (H, M)
        best = np.argmax(score, axis=0)
        columns = np.arange(num_points)
        return inlier[:, best, columns] & hyp_ok[best, columns], score[best, columns]

    def _soften(self, inliers, error, u, v, w, observations):
        """Cauchy re-weighting of the inliers (see ``soft_scale_px``); inlier sets are kept."""
        scale_sq = self.options.soft_scale_px ** 2
        ok = np.ones(u.shape[1], dtype=bool)
        points = None
        for _ in range(self.options.soft_rounds):
            soft = np.where(inliers, w / (1.0 + np.nan_to_num(error * error, nan=0.0) / scale_sq), 0.0)
            points, ok = triangulate_chunk(self.lenses, u, v, soft, self.triangulation,
                                           observations=observations)
            error = self._errors(points, u, v, w > 0)
        return points, error, ok

    def _refine(self, inliers, u, v, w, observations):
        """Re-estimate from the inliers and re-classify until stable; returns the final state.

        Each round is :func:`geometry.triangulate` on the inlier views (so a correct inlier set
        gives exactly what an oracle that knows the outliers gets), then every observed view is
        re-classified by its exact reprojection error.
        """
        usable = w > 0
        threshold = np.sqrt(self.threshold_sq)
        num_points = u.shape[1]
        active = np.arange(num_points)
        points = np.full((num_points, 3), np.nan)
        error = np.full(u.shape, np.nan)
        good = np.zeros(num_points, dtype=bool)
        for _ in range(self.options.max_rounds):
            sub_u, sub_v, sub_usable = u[:, active], v[:, active], usable[:, active]
            sub_w = np.where(inliers[:, active], w[:, active], 0.0)
            refined, ok = triangulate_chunk(self.lenses, sub_u, sub_v, sub_w, self.triangulation,
                                            observations=_columns(observations, active))
            err = self._errors(refined, sub_u, sub_v, sub_usable)
            new_inliers = sub_usable & (err < threshold)
            good[active] = ok & (new_inliers.sum(axis=0) >= self.min_views)
            changed = np.any(new_inliers != inliers[:, active], axis=0)
            points[active], inliers[:, active], error[:, active] = refined, new_inliers, err
            active = active[changed & good[active]]
            if active.size == 0:
                break
        return points, inliers, error, good


def _columns(observations, index: np.ndarray):
    """The points ``index`` of ``(x, y, pixel)`` from :func:`undistort_observations`."""
    x, y, pixel = observations
    return x[:, index], y[:, index], tuple(p[:, index] for p in pixel)
