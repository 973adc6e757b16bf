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
2. Otherwise one hypothesis per view pair (``V (V - 1) / 2`` of them, plus the all-view solution)
   is triangulated linearly for all points at once, projected into every view and scored by its
   confidence-weighted inlier count, each inlier counting ``w (1 - error_weight (e / threshold)^2)``
   so that among hypotheses with the same inliers the tighter one wins. Hypotheses behind one of
   their own cameras or from (near) parallel rays are discarded.
3. The best hypothesis is re-estimated from its inliers (weighted pixel-space Gauss-Newton), the
   inliers are recomputed with the exact reprojection error, and this repeats until the inlier
   sets stop changing (at most ``max_rounds``).
4. A point with fewer than ``min_views`` inliers, or whose inliers do not fix it (parallel rays),
   comes back ``valid = False`` with a NaN position and no inliers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ._kernels import Lenses
from .arrays import unflatten_leading
from .rig import Rig
from .triangulation import (TriangulationOptions, contiguous_chunk, gauss_newton, map_chunks,
                            prepare_observations,
                            ray_spread, solve_symmetric_3x3, triangulate_flat)

__all__ = ["DEFAULT_THRESHOLD_PX", "RobustTriangulationOptions", "RobustTriangulation",
           "triangulate_robust"]

# About 3x the typical error of a 2D keypoint detector on a full-body person in a 1080p view
# (3-5 px), so a detection that is only a bit off still counts; well under the 50+ px by which a
# wrong-limb, swapped or other-person detection misses at that resolution. Scale it with the
# image size (e.g. ~30 px at 4K) and with how sloppy the detector is.
DEFAULT_THRESHOLD_PX = 15.0

# Points per chunk: the hypothesis stage holds several (V, V(V-1)/2 + 1, chunk) arrays.
_CHUNK = 1024


@dataclass(frozen=True, kw_only=True)
class RobustTriangulationOptions:
    """Options of :func:`triangulate_robust` beyond the threshold and ``min_views``.

    max_rounds: re-estimate / re-classify rounds after the best hypothesis (stops early once the
        inlier sets are stable).
    error_weight: how much an inlier's error lowers its vote, ``1 - error_weight (e / t)^2``
        (0: plain weighted inlier count; must stay < 1 so every inlier adds a positive vote).
    triangulation: options of the linear solution and refinement (iterations, ray angle, threads).
    """

    max_rounds: int = 4
    error_weight: float = 0.25
    triangulation: TriangulationOptions = field(default_factory=TriangulationOptions)

    def __post_init__(self) -> None:
        if not (isinstance(self.max_rounds, (int, np.integer)) and self.max_rounds >= 1):
            raise ValueError(f"max_rounds is {self.max_rounds!r}, expected an integer >= 1")
        if not (0.0 <= float(self.error_weight) < 1.0):
            raise ValueError(f"error_weight is {self.error_weight!r}, expected in [0, 1)")
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
        self.min_spread = np.sin(np.radians(options.triangulation.min_ray_angle_deg) / 2) ** 2
        pairs = np.array(list(combinations(range(lenses.num_views), 2)), dtype=np.int64)
        self.first, self.second = pairs[:, 0], pairs[:, 1]

    def __call__(self, u: np.ndarray, v: np.ndarray, w: np.ndarray):
        usable = w > 0
        num_usable = usable.sum(axis=0)
        points, ok = triangulate_flat(self.lenses, u, v, w, self._single_thread())
        error = self._errors(points, u, v, usable)
        inliers = usable & (error < np.sqrt(self.threshold_sq))
        # Every usable view agrees: the consensus cannot be larger.
        done = ok & (inliers.sum(axis=0) == num_usable) & (num_usable >= self.min_views)
        todo = np.flatnonzero(~done & (num_usable >= self.min_views))
        if todo.size:
            sub = (u[:, todo], v[:, todo], w[:, todo])
            p, inl = self._best_hypothesis(*sub, points[todo], ok[todo])
            p, inl, err, good = self._refine(p, inl, *sub)
            points[todo], inliers[:, todo], error[:, todo] = p, inl, err
            done[todo] = good
        points[~done] = np.nan
        inliers[:, ~done] = False
        error[:, ~done] = np.nan
        return points, inliers, error

    def _single_thread(self) -> TriangulationOptions:
        base = self.options.triangulation
        return TriangulationOptions(iterations=base.iterations, min_ray_angle_deg=base.min_ray_angle_deg,
                                    undistort_iterations=base.undistort_iterations, threads=1)

    def _errors(self, points: np.ndarray, u, v, usable) -> np.ndarray:
        """(V, M) pixel reprojection errors; NaN where not usable, not in front or points NaN."""
        pu, pv, _ = self.lenses.project(np.nan_to_num(points.reshape(-1, 3), nan=0.0))
        pu = pu.reshape(u.shape[:1] + points.shape[:-1])
        pv = pv.reshape(pu.shape)
        error = np.hypot(pu - u.reshape(u.shape[:1] + (1,) * (points.ndim - 2) + u.shape[1:]),
                         pv - v.reshape(pu.shape[:1] + (1,) * (points.ndim - 2) + v.shape[1:]))
        bad = ~np.isfinite(points).all(axis=-1)
        error[:, bad] = np.nan
        usable = usable.reshape(pu.shape[:1] + (1,) * (points.ndim - 2) + usable.shape[1:])
        return np.where(usable, error, np.nan)

    def _best_hypothesis(self, u, v, w, all_view_points, all_view_ok):
        """Score the pair hypotheses (and the all-view solution); return the best and its inliers.

        Hypotheses are scored with the lens linearised at each observation: the pixel error is
        ``|K D (x - x_obs)|`` with ``D`` the distortion Jacobian there and ``x`` undistorted
        normalized coordinates, accurate to well under 1% within the threshold and much cheaper
        than distorting every hypothesis in every view.
        """
        lenses = self.lenses
        usable = w > 0
        xd, yd = lenses.from_pixels(u, v)
        x, y, (d00, d01, d10, d11) = lenses.undistort(xd, yd, 1, jacobian=True)
        # Per-view DLT contributions (pixel-scaled rows, unweighted: a hypothesis is geometry only).
        R, t = lenses.R, lenses.t
        mask = usable.astype(np.float64)
        wa = mask * (lenses.fx * lenses.fx)
        wb = mask * (lenses.fy * lenses.fy)
        a = [x * R[:, 2, i, None] - R[:, 0, i, None] for i in range(3)]
        b = [y * R[:, 2, i, None] - R[:, 1, i, None] for i in range(3)]
        ra = t[:, 0] - x * t[:, 2]
        rb = t[:, 1] - y * t[:, 2]
        h_view = [wa * a[i] * a[j] + wb * b[i] * b[j]
                  for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))]
        g_view = [wa * a[i] * ra + wb * b[i] * rb for i in range(3)]
        first, second = self.first, self.second
        h = [c[first] + c[second] for c in h_view]  # (P, M) each
        g = [c[first] + c[second] for c in g_view]
        with np.errstate(invalid="ignore", divide="ignore"):
            hyp, _ = solve_symmetric_3x3(h, g)  # (P, M, 3)
        pair_ok = usable[first] & usable[second] & (ray_spread(h) >= self.min_spread)
        hyp = np.concatenate([hyp, all_view_points[None]], axis=0)  # (H = P + 1, M, 3)
        hyp_ok = np.concatenate([pair_ok, all_view_ok[None]], axis=0)
        num_hyp, num_points = hyp_ok.shape
        in_cam = lenses.to_cam(np.nan_to_num(hyp.reshape(-1, 3), nan=0.0))
        in_cam = in_cam.reshape(lenses.num_views, 3, num_hyp, num_points)
        z = in_cam[:, 2]
        in_front = z > 0
        inv_z = np.divide(1.0, z, out=np.zeros_like(z), where=in_front)
        ex = in_cam[:, 0] * inv_z
        ex -= x[:, None]
        ey = in_cam[:, 1] * inv_z
        ey -= y[:, None]
        fx, fy = lenses.fx, lenses.fy
        du = (fx * d00)[:, None] * ex + (fx * d01)[:, None] * ey
        if lenses.has_skew:
            skew = lenses.skew
            du += (skew * d10)[:, None] * ex + (skew * d11)[:, None] * ey
        dv = (fy * d10)[:, None] * ex + (fy * d11)[:, None] * ey
        ratio = du * du
        ratio += dv * dv
        ratio *= 1.0 / self.threshold_sq
        inlier = in_front & (ratio < 1.0) & usable[:, None]
        # A pair hypothesis must lie in front of its own two cameras.
        num_pairs = len(first)
        columns = np.arange(num_pairs)
        hyp_ok[:num_pairs] &= in_front[first, columns] & in_front[second, columns]
        vote = np.where(inlier, w[:, None] * (1.0 - self.options.error_weight * ratio), 0.0)
        score = np.where(hyp_ok, vote.sum(axis=0), -np.inf)  # (H, M)
        best = np.argmax(score, axis=0)
        columns = np.arange(num_points)
        points = hyp[best, columns]
        points[~hyp_ok[best, columns]] = np.nan
        return points, inlier[:, best, columns]

    def _refine(self, points, inliers, u, v, w):
        """Re-estimate from the inliers and re-classify until stable; returns the final state."""
        lenses, opts = self.lenses, self.options
        usable = w > 0
        threshold = np.sqrt(self.threshold_sq)
        active = np.arange(points.shape[0])
        error = np.full(u.shape, np.nan)
        good = np.zeros(points.shape[0], dtype=bool)
        for _ in range(opts.max_rounds):
            sub_w = np.where(inliers[:, active], w[:, active], 0.0)
            start = np.nan_to_num(points[active], nan=0.0)
            refined, normal = gauss_newton(lenses, start, u[:, active], v[:, active], sub_w,
                                           max(1, opts.triangulation.iterations))
            err = self._errors(refined, u[:, active], v[:, active], usable[:, active])
            new_inliers = usable[:, active] & (err < threshold)
            fixed = ray_spread(normal) >= self.min_spread
            good[active] = (fixed & np.isfinite(refined).all(axis=1)
                            & (new_inliers.sum(axis=0) >= self.min_views))
            changed = np.any(new_inliers != inliers[:, active], axis=0)
            points[active], inliers[:, active], error[:, active] = refined, new_inliers, err
            active = active[changed & good[active]]
            if active.size == 0:
                break
        return points, inliers, error, good
