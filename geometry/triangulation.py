"""Multi-view triangulation: weighted linear solution refined to the pixel-space optimum.

Conventions (frames, pixels, distortion, dimension letters, NaN for missing) are in
:mod:`geometry.camera`.

Method, per point; compiled kernels (:mod:`geometry._kernels`) walk blocks of points on worker
threads, so there is no Python loop over points, views or subsets:

1. Usable observations: finite pixels with a positive weight (NaN weights count as 0).
2. Linear solution: the observations are undistorted (Newton, to ~1e-12) and the weighted DLT
   equations ``(x r3 - r1) . X = t1 - x t3`` (rows scaled to pixels by the focal lengths) are
   solved as 3x3 normal equations in closed form. Exact on noise-free data.
3. Refinement: Gauss-Newton on the weighted reprojection error in pixels of the distorted image,
   ``sum_v w_v |project_v(X) - u_v|^2``, with the exact forward lens model for the residual:
   the nonlinear least-squares optimum that ``scipy.optimize.least_squares`` finds one point at
   a time. Starting from the linear solution, one step lands within ~1e-3 of the optimum's own
   error (the default), two steps on it (``TriangulationOptions.iterations``). The first step
   takes the lens Jacobian at the observations (free from the undistortion; ~1 px from the
   projection, so the step lands within ~1e-4 of the noise-induced error of where the exact
   Jacobian would; exact on noise-free data); later steps take it at the projection.
   Speed: see ``benchmarks/bench_triangulation.py`` (6 views, 20,000 points).
4. Flags: a point comes back NaN ("not observed", like the input) when it has fewer than two
   usable views, when its rays are too close to parallel to fix the depth
   (``min_ray_angle_deg``), when the solution lies behind a camera that observed it, or when the
   normal equations are singular.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np

from .arrays import as_float_array, unflatten_leading
from .options import check_fields, option
from .rig import Rig

__all__ = ["TriangulationOptions", "triangulate", "normalized_from_distorted"]

# Points per range handed to a worker thread, at most: large enough that a range's fixed cost
# is noise; the robust solver uses smaller ranges (its work per point varies, and the threads
# balance better).
_CHUNK = 8192


@dataclass(frozen=True, kw_only=True)
class TriangulationOptions:
    """Options of :func:`triangulate`.

    iterations: Gauss-Newton steps after the linear solution (module docstring, step 3). The
        linear solution is exact for noise-free data and within a fraction of the noise of the
        optimum otherwise, so one step (quadratic convergence) lands within ~1e-3 of the
        noise-induced error of the pixel-space optimum (~6 um at 1 px noise, 4 m; measured
        against scipy in the tests and benchmark); a second step reaches it to ~1e-8 m.
        0 returns the linear solution.
    min_ray_angle_deg: a point whose rays are closer to parallel than this is flagged (NaN).
        Measured as the elongation of the triangulation's uncertainty ellipsoid: two equally
        weighted rays at this angle are the threshold. At 1 deg the depth is ~57x less certain than
        the lateral position (1 px of noise at 4 m and f = 1400 px: ~17 cm in depth).
    undistort_iterations: Newton steps (after one fixed-point step) of the undistortion used
        for the linear solution; two reach ~1e-12 over a typical image, which keeps the linear
        solution exact on noise-free data. The refinement always uses the exact forward model.
    threads: worker threads over ranges of points (the compiled kernels release the GIL);
        None (default): one per CPU core, at most 4. On the 2-core reference machine two threads
        gave 3.3-5.7M points/s against 2.3-3.6M for one (20,000 points, 6 views;
        ``benchmarks/bench_triangulation.py`` prints both). Results do not depend on it, to the
        bit.
    """

    iterations: int = option(1, low=0)
    min_ray_angle_deg: float = option(1.0, low=0, high=90, high_open=True)
    undistort_iterations: int = option(2, low=0)
    threads: int | None = option(None, low=1, integer=True, optional=True)

    def __post_init__(self) -> None:
        check_fields(self)


def triangulate(rig: Rig, points_2d: np.ndarray, *, weights: np.ndarray | None = None,
                options: TriangulationOptions | None = None) -> np.ndarray:
    """Triangulate points seen by several calibrated cameras.

    rig: the V cameras (order = the V axis of ``points_2d``).
    points_2d: (V, ..., 2) float64 distorted pixels; NaN where a view did not observe the point.
    weights: optional (V, ...) non-negative per-observation weights (e.g. detector confidences);
        0 or NaN means "ignore this observation". The squared pixel residual of each observation
        is multiplied by its weight. Default: all observed views weigh 1.
    options: :class:`TriangulationOptions`.
    Returns (..., 3) float64 points in the world frame, metres. NaN where the point cannot be
    triangulated: fewer than 2 usable views, rays closer to parallel than
    ``options.min_ray_angle_deg``, or a solution behind a camera that observed it (see the module
    docstring). Raises ValueError on contract violations (shapes, negative weights).
    """
    from ._kernels import pack_rig  # numba loads with the first triangulation, not with geometry

    options = TriangulationOptions() if options is None else options
    u, v, w, leading = prepare_observations(rig, points_2d, weights)
    points, _ = triangulate_flat(pack_rig(rig), u, v, w, options)
    return unflatten_leading(points, leading)


def normalized_from_distorted(rig: Rig, points_2d: np.ndarray, *,
                              newton_steps: int = 5) -> np.ndarray:
    """Distorted pixels -> undistorted normalized coordinates by the triangulators' compiled lens
    inverse: what :meth:`geometry.Rig.normalize` returns (5 Newton steps reach it to ~1e-12 on
    the lenses rigkit calibrates), ~10x faster on large arrays.

    points_2d: (V, ..., 2) float64 distorted pixels of the rig's cameras, NaN where missing.
    Returns (V, ..., 2) float64 ``(X/Z, Y/Z)`` in each camera's frame; NaN where the input is NaN.
    """
    from ._kernels import pack_rig, undistort_pixels  # numba loads with the first call

    points_2d = as_float_array(points_2d, "points_2d")
    V = len(rig)
    if points_2d.ndim < 2 or points_2d.shape[0] != V or points_2d.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {points_2d.shape}, expected ({V}, ..., 2)")
    flat = points_2d.reshape(V, -1, 2)
    x, y, _ = undistort_pixels(pack_rig(rig), flat[..., 0], flat[..., 1], int(newton_steps))
    return np.stack([x, y], axis=-1).reshape(points_2d.shape)  # the kernel keeps NaN as NaN


# -- shared with the robust triangulator --------------------------------------------------------

def prepare_observations(rig: Rig, points_2d: np.ndarray, weights: np.ndarray | None):
    """Validate and flatten observations into the kernel layout.

    Returns ``u, v, w`` as contiguous (V, M) float64 (u, v = 0 and w = 0 where not usable) and the
    leading shape ``...`` of the points.
    """
    if not isinstance(rig, Rig):
        raise ValueError(f"rig must be a geometry.Rig, got {type(rig).__name__}")
    if len(rig) < 2:
        raise ValueError(f"triangulation needs a rig of at least 2 cameras, got {len(rig)}")
    points_2d = as_float_array(points_2d, "points_2d")
    num_views = len(rig)
    if points_2d.ndim < 2 or points_2d.shape[0] != num_views or points_2d.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {points_2d.shape}, expected ({num_views}, ..., 2)")
    leading = points_2d.shape[1:-1]
    flat = points_2d.reshape(num_views, -1, 2)
    u = np.ascontiguousarray(flat[..., 0])
    v = np.ascontiguousarray(flat[..., 1])
    if weights is None:
        w = np.ones_like(u)
    else:
        weights = as_float_array(weights, "weights")
        if weights.shape != points_2d.shape[:-1]:
            raise ValueError(f"weights has shape {weights.shape}, expected {points_2d.shape[:-1]} "
                             "(points_2d without its last axis)")
        w = np.array(weights.reshape(num_views, -1), dtype=np.float64)
        if np.any(w < 0) or np.any(np.isinf(w)):
            raise ValueError("weights must be finite and non-negative (0 or NaN = ignore the observation)")
        w[np.isnan(w)] = 0.0
    if np.any(np.isinf(u)) or np.any(np.isinf(v)):
        raise ValueError("points_2d contains inf; use NaN for views that did not observe a point")
    missing = np.isnan(u) | np.isnan(v)
    w[missing] = 0.0
    u[missing] = 0.0
    v[missing] = 0.0
    return u, v, w, leading


def min_spread(options: TriangulationOptions) -> float:
    """The ray-spread limit of ``options.min_ray_angle_deg`` (see ``_kernels.ray_spread``)."""
    return float(np.sin(np.radians(options.min_ray_angle_deg) / 2) ** 2)


def triangulate_flat(params: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                     options: TriangulationOptions):
    """Triangulate in the kernel layout, ranges of points on worker threads.

    params: ``pack_rig(rig)``; u, v, w: (V, M) as from :func:`prepare_observations`.
    Returns ``points (M, 3)`` (NaN where not triangulated) and ``ok (M,)`` bool.
    """
    from ._kernels import triangulate_range

    num_points = u.shape[1]
    points = np.empty((num_points, 3))
    ok = np.empty(num_points, dtype=bool)
    spread = min_spread(options)

    def run(part: slice) -> None:
        triangulate_range(params, u, v, w, part.start, part.stop, options.iterations,
                          options.undistort_iterations, spread, points, ok)

    map_chunks(run, num_points, options.threads)
    return points, ok


def _available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def map_chunks(fn, num_points: int, threads: int | None, chunk: int = _CHUNK) -> None:
    """Call ``fn(slice)`` on consecutive ranges covering ``num_points``, on worker threads if
    several: equal ranges of at most ``chunk`` points, their number a multiple of the threads so
    that uniform work splits evenly; each worker takes the next range until none is left.

    The calling thread is one of the workers and the others are plain threads started for the
    call (a ThreadPoolExecutor costs ~1 ms to start and stop, a third of the work of 20,000
    points). An exception in any worker is raised here once all have stopped.
    """
    threads = min(_available_cores(), 4) if threads is None else threads
    threads = max(1, min(threads, -(-num_points // chunk)))
    num_parts = threads * -(-num_points // (threads * chunk))
    bounds = np.linspace(0, num_points, num_parts + 1).round().astype(int)
    parts = iter([slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a])
    if threads <= 1:
        for part in parts:
            fn(part)
        return
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while not errors:
                with lock:
                    part = next(parts, None)
                if part is None:
                    return
                fn(part)
        except BaseException as error:  # re-raised in the calling thread below
            errors.append(error)

    helpers = [threading.Thread(target=work, daemon=True) for _ in range(threads - 1)]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]
