"""Multi-view triangulation: weighted linear solution refined to the pixel-space optimum.

Conventions (frames, pixels, distortion, dimension letters, NaN for missing) are in
:mod:`geometry.camera`.

Method, per point and fully vectorized over points (no Python loop over points, views or
subsets):

1. Usable observations: finite pixels with a positive weight (NaN weights count as 0).
2. Linear solution: the observations are undistorted (Newton, to ~1e-12) and the weighted DLT
   equations ``(x r3 - r1) . X = t1 - x t3`` (rows scaled to pixels by the focal lengths) are
   solved as a batch of 3x3 normal equations in closed form. Exact on noise-free data.
3. Refinement: Gauss-Newton on the weighted reprojection error in pixels of the distorted image,
   ``sum_v w_v |project_v(X) - u_v|^2``, with the exact forward lens model for the residual:
   the nonlinear least-squares optimum that ``scipy.optimize.least_squares`` finds one point at
   a time. Starting from the linear solution, one step lands within ~1e-3 of the optimum's own
   error (the default), two steps on it (``TriangulationOptions.iterations``). The first step
   takes the lens Jacobian at the observations (free from the undistortion) and the step's
   linear algebra runs in float32; neither moves the result (see :func:`gauss_newton`).
   Speed: ~1M points per CPU-second with 6 views on the 2-core build machine, chunks of points
   on worker threads (``benchmarks/bench_triangulation.py``).
4. Flags: a point comes back NaN ("not observed", like the input) when it has fewer than two
   usable views, when its rays are too close to parallel to fix the depth
   (``min_ray_angle_deg``), when the solution lies behind a camera that observed it, or when the
   normal equations are singular.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._kernels import Lenses
from .arrays import as_float_array, unflatten_leading
from .rig import Rig

__all__ = ["TriangulationOptions", "triangulate"]

# Precision of the Gauss-Newton step's Jacobian and normal equations (see gauss_newton).
JACOBIAN_DTYPE = np.float32
_MAX_RESIDUAL_PX = 1e12

# Points per chunk: keeps the ~40 (V, chunk) temporaries of one Gauss-Newton step in L2 cache
# (8192 is ~2x slower per point with V = 6), and gives worker threads enough chunks to balance.
_CHUNK = 2048


@dataclass(frozen=True, kw_only=True)
class TriangulationOptions:
    """Options of :func:`triangulate`.

    iterations: Gauss-Newton steps after the linear solution (see :func:`gauss_newton`). The
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
    threads: worker threads over chunks of points (numpy releases the GIL in its kernels);
        None: one per CPU core, at most 4. Default 1: on the 2-core reference machine one
        thread beat two in every measurement (20,000 points, 6 views: 0.77-1.10M against
        0.53-0.65M points/s; ``benchmarks/bench_triangulation.py`` prints both); try None where
        idle cores are many. Results do not depend on it.
    """

    iterations: int = 1
    min_ray_angle_deg: float = 1.0
    undistort_iterations: int = 2
    threads: int | None = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.iterations, (int, np.integer)) and self.iterations >= 0):
            raise ValueError(f"iterations is {self.iterations!r}, expected an integer >= 0")
        if not (isinstance(self.undistort_iterations, (int, np.integer)) and self.undistort_iterations >= 0):
            raise ValueError(f"undistort_iterations is {self.undistort_iterations!r}, expected an integer >= 0")
        if self.threads is not None and not (isinstance(self.threads, (int, np.integer)) and self.threads >= 1):
            raise ValueError(f"threads is {self.threads!r}, expected None or an integer >= 1")
        if not (0.0 <= float(self.min_ray_angle_deg) < 90.0):
            raise ValueError(f"min_ray_angle_deg is {self.min_ray_angle_deg!r}, expected in [0, 90)")


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
    options = TriangulationOptions() if options is None else options
    lenses = Lenses(rig)
    u, v, w, leading = prepare_observations(rig, points_2d, weights)
    points, _ = triangulate_flat(lenses, u, v, w, options)
    return unflatten_leading(points, leading)


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


def triangulate_flat(lenses: Lenses, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                     options: TriangulationOptions):
    """Triangulate in the kernel layout, in cache-sized chunks of points.

    u, v, w: (V, M) as from :func:`prepare_observations`.
    Returns ``points (M, 3)`` (NaN where not triangulated) and ``ok (M,)`` bool.
    """
    num_points = u.shape[1]
    points = np.empty((num_points, 3))
    ok = np.empty(num_points, dtype=bool)

    def run(part: slice) -> None:
        points[part], ok[part] = triangulate_chunk(lenses, *contiguous_chunk(part, u, v, w), options)

    map_chunks(run, num_points, options.threads)
    return points, ok


def contiguous_chunk(part: slice, *arrays: np.ndarray) -> list[np.ndarray]:
    """Contiguous copies of ``array[:, part]`` (strided views make every kernel ~2x slower)."""
    return [np.ascontiguousarray(array[:, part]) for array in arrays]


def _available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def map_chunks(fn, num_points: int, threads: int | None, chunk: int = _CHUNK) -> None:
    """Call ``fn(slice)`` on consecutive chunks of ``num_points``, on worker threads if several."""
    parts = [slice(start, min(start + chunk, num_points)) for start in range(0, num_points, chunk)]
    threads = min(_available_cores(), 4) if threads is None else threads
    threads = min(threads, len(parts))
    if threads <= 1:
        for part in parts:
            fn(part)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(fn, parts):
            pass


def linear_solution(lenses: Lenses, x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted DLT from undistorted normalized coordinates x, y (V, M); weights w (V, M).

    Each view contributes the rows ``(x r3 - r1)`` and ``(y r3 - r2)`` (r = rows of R) scaled to
    pixels by fx, fy. Returns ``points (M, 3)``, the 3x3 normal matrix as its 6 entries and its
    determinant (M,).
    """
    # One (9, 6) @ (6, M) product per view (small: see Lenses.to_cam), summed over the views.
    normal_and_rhs = np.matmul(lenses.dlt_coefficients, dlt_scalars(lenses, x, y, w)).sum(axis=0)
    h, g = list(normal_and_rhs[:6]), list(normal_and_rhs[6:])
    inverse, det = symmetric_inverse(h)
    return apply_symmetric(inverse, g), h, det


def dlt_scalars(lenses: Lenses, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(V, 6, M) the per-observation scalars the DLT normal equations are linear in.

    ``(wa x^2, wb y^2, wa x, wb y, wa, wb)`` with ``wa = w fx^2``, ``wb = w fy^2``; the equations
    are these times the per-view constants :attr:`Lenses.dlt_coefficients` (the rows
    ``x r3 - r1`` expand into constants times 1, x and x^2).
    """
    out = np.empty((x.shape[0], 6, x.shape[1]))
    np.multiply(w, lenses.fx * lenses.fx, out=out[:, 4])
    np.multiply(w, lenses.fy * lenses.fy, out=out[:, 5])
    np.multiply(out[:, 4], x, out=out[:, 2])
    np.multiply(out[:, 5], y, out=out[:, 3])
    np.multiply(out[:, 2], x, out=out[:, 0])
    np.multiply(out[:, 3], y, out=out[:, 1])
    return out


def gauss_newton(lenses: Lenses, points: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                 iterations: int, *, pixel_at_observations=None):
    """Gauss-Newton on ``sum_v w |project_v(X) - (u, v)|^2`` in pixels, from points (M, 3).

    The residual always uses the exact lens model at the projection. The Jacobian of the first
    step may take the lens linearised at the observations (``pixel_at_observations``, from
    :func:`undistort_observations`: free, and ~1 px from the projection, so the step lands within
    ~1e-4 of the noise-induced error of where the exact Jacobian would; exact on noise-free
    data); later steps evaluate it at the projection, so two steps reach the optimum itself.
    Returns the refined ``points (M, 3)``, the normal matrix of the last step (6 entries,
    pixel^2 / m^2) and ``in_front (V, M)``: the point was in front of each camera at the last
    evaluation.
    """
    num_views, num_points = u.shape
    if iterations < 1:
        raise ValueError(f"iterations is {iterations}, expected >= 1")
    pixel = pixel_at_observations
    for _ in range(iterations):
        x, y, inv_z, in_front = lenses.normalized_view(lenses.to_cam(points))
        xd, yd, jacobian = lenses.distort(x, y, jacobian=pixel is None)
        if pixel is None:
            pixel = lenses.pixel_jacobian(jacobian)
        # The residual is float64 (it decides where the step goes); the step's linear algebra runs
        # in float32 (JACOBIAN_DTYPE): it scales the residual by the Jacobian, so its rounding
        # (~1e-7 relative) moves the step by ~1e-7 of itself, and noise-free data stay exact.
        # Clipped: a residual of 1e12 px is as wrong as any larger one, and stays finite in float32.
        residual = np.empty((num_views, 2, num_points), dtype=JACOBIAN_DTYPE)
        pu, pv = lenses.to_pixels(xd, yd)
        pu -= u
        pv -= v
        np.clip(pu, -_MAX_RESIDUAL_PX, _MAX_RESIDUAL_PX, out=residual[:, 0], casting="same_kind")
        np.clip(pv, -_MAX_RESIDUAL_PX, _MAX_RESIDUAL_PX, out=residual[:, 1], casting="same_kind")
        rows = _pixel_jacobian_rows(lenses, x, y, inv_z, pixel)
        weight = np.where(in_front, w, 0.0).astype(JACOBIAN_DTYPE)[:, None, :]
        step, normal, _ = normal_equations_solve(rows, weight, residual)
        points = points - step
        pixel = None
    return points, normal, in_front


def _pixel_jacobian_rows(lenses: Lenses, x, y, inv_z, pixel) -> np.ndarray:
    """(V, 3, 2, M) world-frame rows of d(pixel u, v)/dX: ``K2 @ D @ pinhole(1/z) @ R``.

    pixel: ``K2 @ D`` as (V, M) entries ``(a00, a01, a10, a11)``.
    """
    dtype = JACOBIAN_DTYPE
    a00, a01, a10, a11 = (a.astype(dtype) for a in pixel)
    x, y, inv_z = x.astype(dtype), y.astype(dtype), inv_z.astype(dtype)
    num_views, num_points = x.shape
    rows_in_cam = np.empty((num_views, 3, 2, num_points), dtype=dtype)
    np.multiply(a00, inv_z, out=rows_in_cam[:, 0, 0])
    np.multiply(a01, inv_z, out=rows_in_cam[:, 1, 0])
    np.multiply(a10, inv_z, out=rows_in_cam[:, 0, 1])
    np.multiply(a11, inv_z, out=rows_in_cam[:, 1, 1])
    np.negative(rows_in_cam[:, 0, 0] * x + rows_in_cam[:, 1, 0] * y, out=rows_in_cam[:, 2, 0])
    np.negative(rows_in_cam[:, 0, 1] * x + rows_in_cam[:, 1, 1] * y, out=rows_in_cam[:, 2, 1])
    RT = np.swapaxes(lenses.R, 1, 2).astype(dtype)
    rows = np.matmul(RT, rows_in_cam.reshape(num_views, 3, 2 * num_points))
    return rows.reshape(num_views, 3, 2, num_points)


def normal_equations_solve(rows: np.ndarray, weight: np.ndarray, rhs: np.ndarray):
    """Solve ``sum_vk weight J J^T X = sum_vk weight J rhs`` for every point.

    rows: (V, 3, 2, M) the two rows of every view; weight: (V, 2 or 1, M); rhs: (V, 2, M).
    Returns ``solution (M, 3)``, the normal matrix as 6 entries (h00, h01, h02, h11, h12, h22)
    and its determinant (M,).
    """
    weight = np.broadcast_to(weight, rhs.shape)
    normal = np.einsum("vikm,vjkm,vkm->ijm", rows, rows, weight).astype(np.float64)
    g = np.einsum("vikm,vkm,vkm->im", rows, rhs, weight).astype(np.float64)
    h = symmetric_entries(normal)
    inverse, det = symmetric_inverse(h)
    return apply_symmetric(inverse, g), h, det


def symmetric_entries(matrix: np.ndarray) -> list[np.ndarray]:
    """(3, 3, ...) symmetric -> its 6 entries ``(h00, h01, h02, h11, h12, h22)``."""
    return [matrix[0, 0], matrix[0, 1], matrix[0, 2], matrix[1, 1], matrix[1, 2], matrix[2, 2]]


def symmetric_inverse(h):
    """Closed-form inverse of symmetric 3x3 matrices given as 6 entry arrays (...,).

    Returns the inverse as 6 entries (NaN where singular) and the determinant (...,).
    """
    h00, h01, h02, h11, h12, h22 = h
    c00 = h11 * h22 - h12 * h12
    c01 = h02 * h12 - h01 * h22
    c02 = h01 * h12 - h02 * h11
    det = h00 * c00 + h01 * c01 + h02 * c02
    singular = ~(np.abs(det) > 0)
    inv_det = 1.0 / np.where(singular, 1.0, det)
    inv_det[singular] = np.nan
    c11 = h00 * h22 - h02 * h02
    c12 = h01 * h02 - h00 * h12
    c22 = h00 * h11 - h01 * h01
    return [c * inv_det for c in (c00, c01, c02, c11, c12, c22)], det


def apply_symmetric(inverse, g) -> np.ndarray:
    """``inverse @ g`` for 6-entry symmetric matrices and 3 arrays g (...,) -> (..., 3)."""
    i00, i01, i02, i11, i12, i22 = inverse
    g0, g1, g2 = g
    x = np.empty(np.shape(g0) + (3,))
    x[..., 0] = i00 * g0 + i01 * g1 + i02 * g2
    x[..., 1] = i01 * g0 + i11 * g1 + i12 * g2
    x[..., 2] = i02 * g0 + i12 * g1 + i22 * g2
    return x


def solve_symmetric_3x3(h, g):
    """Closed-form solve of symmetric 3x3 systems.

    h: 6 arrays (...,) ``(h00, h01, h02, h11, h12, h22)``; g: 3 arrays (...,).
    Returns ``x (..., 3)`` (NaN where singular) and the determinant (...,).
    """
    inverse, det = symmetric_inverse(h)
    return apply_symmetric(inverse, g), det


def ray_spread(h) -> np.ndarray:
    """Elongation measure of a 3x3 normal matrix: ~ smallest / largest eigenvalue.

    ``det / (sum of principal 2x2 minors)`` estimates the smallest eigenvalue (within a factor 3,
    exact as it goes to 0); divided by ``trace / 2``. Two equally weighted rays at angle ``a``
    give ``sin^2(a / 2)``.
    """
    h00, h01, h02, h11, h12, h22 = h
    minors = (h11 * h22 - h12 * h12) + (h00 * h22 - h02 * h02) + (h00 * h11 - h01 * h01)
    det = h00 * (h11 * h22 - h12 * h12) - h01 * (h01 * h22 - h02 * h12) + h02 * (h01 * h12 - h02 * h11)
    trace = h00 + h11 + h22
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((minors > 0) & (trace > 0), det / minors / (trace / 2), 0.0)


def undistort_observations(lenses: Lenses, u, v, options: TriangulationOptions):
    """(V, M) pixels -> ``(x, y, pixel)``: undistorted normalized coordinates (V, M) as the linear
    solution uses them, and the lens linearised there, ``pixel`` = :meth:`Lenses.pixel_jacobian`."""
    xd, yd = lenses.from_pixels(u, v)
    x, y, jacobian = lenses.undistort(xd, yd, options.undistort_iterations)
    return x, y, lenses.pixel_jacobian(jacobian)


def triangulate_chunk(lenses: Lenses, u, v, w, options: TriangulationOptions, observations=None):
    """One chunk of :func:`triangulate_flat` (single thread): ``points (M, 3)``, ``ok (M,)``.

    observations: optional ``(x, y, pixel)`` of ``u, v`` from :func:`undistort_observations` when
    the caller has them already.
    """
    usable = w > 0
    enough = np.count_nonzero(usable, axis=0) >= 2
    x, y, pixel = undistort_observations(lenses, u, v, options) if observations is None else observations
    points, normal, _ = linear_solution(lenses, x, y, w)
    if options.iterations:
        points, normal, in_front = gauss_newton(lenses, points, u, v, w, options.iterations,
                                                pixel_at_observations=pixel)
    else:
        in_front = lenses.normalized_view(lenses.to_cam(points))[3]
    ok = enough & np.isfinite(points).all(axis=1)
    if options.min_ray_angle_deg > 0:
        limit = np.sin(np.radians(options.min_ray_angle_deg) / 2) ** 2
        ok &= ray_spread(normal) >= limit
    ok &= np.all(in_front | (w <= 0), axis=0)  # in front of every camera that observed it
    points[~ok] = np.nan
    return points, ok
