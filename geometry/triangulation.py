"""Multi-view triangulation: weighted linear solution refined to the pixel-space optimum.

Conventions (frames, pixels, distortion, dimension letters, NaN for missing) are in
:mod:`geometry.camera`.

Method, per point and fully vectorized over points (no Python loop over points, views or
subsets):

1. Usable observations: finite pixels with a positive weight (NaN weights count as 0).
2. Linear solution: the observations are undistorted (an approximate inverse of the lens model is
   enough here) and the weighted DLT equations ``(x r3 - r1) . X = t1 - x t3`` (rows scaled to
   pixels by the focal lengths) are solved as a batch of 3x3 normal equations in closed form.
3. Refinement: Gauss-Newton on the weighted reprojection error in pixels of the distorted image,
   ``sum_v w_v |project_v(X) - u_v|^2``, with the exact forward lens model and its Jacobian.
   This is the nonlinear least-squares optimum (what ``scipy.optimize.least_squares`` finds one
   point at a time), not an approximation of it.
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

# Points per chunk: keeps the ~40 (V, chunk) temporaries of one Gauss-Newton step in L2 cache.
_CHUNK = 4096


@dataclass(frozen=True, kw_only=True)
class TriangulationOptions:
    """Options of :func:`triangulate`.

    iterations: Gauss-Newton steps after the linear solution. Two reach the pixel-space optimum to
        ~1e-6 px with 1 px noise on a typical rig; more only matter for exact, noise-free data.
    min_ray_angle_deg: a point whose rays are closer to parallel than this is flagged (NaN).
        Measured as the elongation of the triangulation's uncertainty ellipsoid: two equally
        weighted rays at this angle are the threshold. At 1 deg the depth is ~57x less certain than
        the lateral position (1 px of noise at 4 m and f = 1400 px: ~17 cm in depth).
    undistort_iterations: Newton steps (after one fixed-point step) of the approximate
        undistortion used for the linear solution only; the refinement uses the exact forward
        model, so this only changes how close the starting point is.
    threads: worker threads over chunks of points (numpy releases the GIL in its kernels).
        None: one per CPU core, at most 4. Results do not depend on it.
    """

    iterations: int = 2
    min_ray_angle_deg: float = 1.0
    undistort_iterations: int = 0
    threads: int | None = None

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
        points[part], ok[part] = _triangulate_chunk(lenses, *contiguous_chunk(part, u, v, w), options)

    map_chunks(run, num_points, options.threads)
    return points, ok


def contiguous_chunk(part: slice, *arrays: np.ndarray) -> list[np.ndarray]:
    """Contiguous copies of ``array[:, part]`` (strided views make every kernel ~2x slower)."""
    return [np.ascontiguousarray(array[:, part]) for array in arrays]


def map_chunks(fn, num_points: int, threads: int | None, chunk: int = _CHUNK) -> None:
    """Call ``fn(slice)`` on consecutive chunks of ``num_points``, on worker threads if several."""
    parts = [slice(start, min(start + chunk, num_points)) for start in range(0, num_points, chunk)]
    threads = min(os.cpu_count() or 1, 4) if threads is None else threads
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
    R, t = lenses.R, lenses.t
    num_views, num_points = x.shape
    rows = np.empty((num_views, 3, 2, num_points))
    for i in range(3):
        np.multiply(x, R[:, 2, i, None], out=rows[:, i, 0])
        rows[:, i, 0] -= R[:, 0, i, None]
        np.multiply(y, R[:, 2, i, None], out=rows[:, i, 1])
        rows[:, i, 1] -= R[:, 1, i, None]
    rhs = np.empty((num_views, 2, num_points))
    np.multiply(x, t[:, 2], out=rhs[:, 0])
    np.subtract(t[:, 0], rhs[:, 0], out=rhs[:, 0])
    np.multiply(y, t[:, 2], out=rhs[:, 1])
    np.subtract(t[:, 1], rhs[:, 1], out=rhs[:, 1])
    weight = np.empty((num_views, 2, num_points))
    np.multiply(w, lenses.fx * lenses.fx, out=weight[:, 0])
    np.multiply(w, lenses.fy * lenses.fy, out=weight[:, 1])
    return normal_equations_solve(rows, weight, rhs)


def gauss_newton(lenses: Lenses, points: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray,
                 iterations: int):
    """Gauss-Newton on ``sum_v w |project_v(X) - (u, v)|^2`` in pixels; points (M, 3) updated.

    Returns the refined ``points (M, 3)`` and the last normal matrix (6 entries, pixel^2 / m^2).
    """
    num_views, num_points = u.shape
    normal = None
    RT = np.ascontiguousarray(np.swapaxes(lenses.R, 1, 2))
    for _ in range(iterations):
        in_cam = lenses.to_cam(points)
        z = in_cam[:, 2]
        in_front = z > 0
        inv_z = np.divide(1.0, z, out=np.zeros_like(z), where=in_front)
        x = in_cam[:, 0] * inv_z
        y = in_cam[:, 1] * inv_z
        xd, yd, (d00, d01, d10, d11) = lenses.distort(x, y, jacobian=True)
        residual = np.empty((num_views, 2, num_points))
        pu, pv = lenses.to_pixels(xd, yd)
        np.subtract(pu, u, out=residual[:, 0])
        np.subtract(pv, v, out=residual[:, 1])
        # Pixel Jacobian w.r.t. the normalized point: K2 @ D, then through the pinhole (1/z).
        a0 = lenses.fx * d00
        a1 = lenses.fx * d01
        if lenses.has_skew:
            a0 += lenses.skew * d10
            a1 += lenses.skew * d11
        b0 = lenses.fy * d10
        b1 = lenses.fy * d11
        rows_in_cam = np.empty((num_views, 3, 2, num_points))
        np.multiply(a0, inv_z, out=rows_in_cam[:, 0, 0])
        np.multiply(a1, inv_z, out=rows_in_cam[:, 1, 0])
        np.multiply(b0, inv_z, out=rows_in_cam[:, 0, 1])
        np.multiply(b1, inv_z, out=rows_in_cam[:, 1, 1])
        np.negative(rows_in_cam[:, 0, 0] * x + rows_in_cam[:, 1, 0] * y, out=rows_in_cam[:, 2, 0])
        np.negative(rows_in_cam[:, 0, 1] * x + rows_in_cam[:, 1, 1] * y, out=rows_in_cam[:, 2, 1])
        # World-frame rows: d(pixel)/dX = row_in_cam @ R.
        rows = np.matmul(RT, rows_in_cam.reshape(num_views, 3, 2 * num_points))
        weight = np.where(in_front, w, 0.0)[:, None, :]
        step, normal, _ = normal_equations_solve(rows.reshape(num_views, 3, 2, num_points),
                                                 weight, residual)
        points = points - step
    return points, normal


def normal_equations_solve(rows: np.ndarray, weight: np.ndarray, rhs: np.ndarray):
    """Solve ``sum_vk weight J J^T X = sum_vk weight J rhs`` for every point.

    rows: (V, 3, 2, M) the two rows of every view; weight: (V, 2 or 1, M); rhs: (V, 2, M).
    Returns ``solution (M, 3)``, the normal matrix as 6 entries (h00, h01, h02, h11, h12, h22)
    and its determinant (M,).
    """
    weight = np.broadcast_to(weight, rhs.shape)
    normal = np.einsum("vikm,vjkm,vkm->ijm", rows, rows, weight)
    g = np.einsum("vikm,vkm,vkm->im", rows, rhs, weight)
    h = [normal[0, 0], normal[0, 1], normal[0, 2], normal[1, 1], normal[1, 2], normal[2, 2]]
    solution, det = solve_symmetric_3x3(h, list(g))
    return solution, h, det


def solve_symmetric_3x3(h, g):
    """Closed-form solve of symmetric 3x3 systems.

    h: 6 arrays (...,) ``(h00, h01, h02, h11, h12, h22)``; g: 3 arrays (...,).
    Returns ``x (..., 3)`` (NaN where singular) and the determinant (...,).
    """
    h00, h01, h02, h11, h12, h22 = h
    c00 = h11 * h22 - h12 * h12
    c01 = h02 * h12 - h01 * h22
    c02 = h01 * h12 - h02 * h11
    c11 = h00 * h22 - h02 * h02
    c12 = h01 * h02 - h00 * h12
    c22 = h00 * h11 - h01 * h01
    det = h00 * c00 + h01 * c01 + h02 * c02
    singular = ~(np.abs(det) > 0)
    inv_det = 1.0 / np.where(singular, 1.0, det)
    inv_det[singular] = np.nan
    g0, g1, g2 = g
    x = np.empty(det.shape + (3,))
    x[..., 0] = (c00 * g0 + c01 * g1 + c02 * g2) * inv_det
    x[..., 1] = (c01 * g0 + c11 * g1 + c12 * g2) * inv_det
    x[..., 2] = (c02 * g0 + c12 * g1 + c22 * g2) * inv_det
    return x, det


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


def in_front_of_observers(lenses: Lenses, points: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(M,) True where the points lie in front of every camera with a positive weight."""
    z = lenses.to_cam(np.nan_to_num(points))[:, 2]
    return np.all((z > 0) | (w <= 0), axis=0)


def _triangulate_chunk(lenses: Lenses, u, v, w, options: TriangulationOptions):
    usable = w > 0
    enough = np.count_nonzero(usable, axis=0) >= 2
    xd, yd = lenses.from_pixels(u, v)
    x, y = lenses.undistort(xd, yd, options.undistort_iterations)
    points, normal, _ = linear_solution(lenses, x, y, w)
    if options.iterations:
        points, normal = gauss_newton(lenses, points, u, v, w, options.iterations)
    ok = enough & np.isfinite(points).all(axis=1)
    if options.min_ray_angle_deg > 0:
        limit = np.sin(np.radians(options.min_ray_angle_deg) / 2) ** 2
        ok &= ray_spread(normal) >= limit
    ok &= in_front_of_observers(lenses, points, w)
    points[~ok] = np.nan
    return points, ok
