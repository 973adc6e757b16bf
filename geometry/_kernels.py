"""Compiled kernels behind the triangulators and the reprojection error (private to ``geometry``).

The lens model lives in :mod:`geometry.lens` and is the reference (constants and the "in front"
rule come from there); the lens kernels here compute the same projection, its inverse and its
Jacobian one observation at a time (tested against :mod:`geometry.lens` over the whole image). The solvers walk a
range of points and do the whole per-point work of :func:`geometry.triangulate` and
:func:`geometry.triangulate_robust` (methods in those modules' docstrings) without leaving machine
code: undistortion of the observations, the weighted linear (DLT) solution as 3x3 normal
equations, Gauss-Newton on the pixel reprojection error with the exact forward lens model, the
checks, and for the robust solver the hypotheses, their scores and the refinement rounds. The
undistortion runs view by view over blocks of _BLOCK points in branch-free loops that the
compiler vectorizes; the per-point solves keep their sums in registers. Scratch per call: one
(V, 6, _BLOCK) block, a few (V,) rows.

Compiled with numba (the reason it is a dependency: 6 views x 20,000 points triangulate 2-3x
faster on one thread than the best numpy formulation, which was memory-bound on its ~40 (V, M)
temporaries, and the robust solver ~2x; see ``benchmarks/bench_triangulation.py``).
``nogil``: the callers run ranges of points on worker threads. ``cache=True``: numba keeps the
machine code beside this file (``__pycache__``, like Python's bytecode; a user cache directory
where that is read-only), so only the first call after an install compiles (~27 s on the 2-core
build machine). Every kernel that a Python caller uses lives in this one file because numba's
cache does not notice edits to other modules.

Layout: a rig is packed into one (V, NUM_PARAMS) float64 array by :func:`pack_rig` (columns in
the constants below); ``u, v, w`` are (V, M) float64 with w = 0 where an observation is not usable
(from ``triangulation.prepare_observations``). Conventions in :mod:`geometry.camera`: ``V`` views,
``M`` flattened points.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .lens import FISHEYE_SMALL_R2, MAX_NORMALIZED, MIN_DEPTH_M
from .rig import Rig

__all__ = ["MIN_DEPTH_M", "MAX_NORMALIZED", "NUM_PARAMS", "pack_rig", "project_points",
           "undistort_pixels", "distort_packed", "compiled_lens_constants", "triangulate_range",
           "robust_range"]

# The lens rule's constants come from geometry.lens (the reference). numba compiles them in as
# literals and its cache only watches this file: compiled_lens_constants() reports the values in
# the machine code, and a test compares them with geometry.lens's.

# Packed per-view parameters: column indices of pack_rig's (V, NUM_PARAMS) array.
FX, FY, SKEW, CX, CY = 0, 1, 2, 3, 4
MODEL = 5  # OPENCV or FISHEYE
KIND = 6  # OpenCV terms in use: NONE, RADIAL (k1, k2, k3 and tangential), RATIONAL (k4..k6 too)
DIST = 7  # 8 coefficients: OpenCV k1, k2, p1, p2, k3, k4, k5, k6; fisheye k1..k4, then zeros
ROT = 15  # R row-major, 9 entries
TRANS = 24  # t, 3 entries
NUM_PARAMS = 27
OPENCV, FISHEYE = 0.0, 1.0
NONE, RADIAL, RATIONAL = 0.0, 1.0, 2.0

_BLOCK = 256  # points undistorted together (the (V, 6, _BLOCK) scratch stays in L1/L2 cache)
# Floating point: strict IEEE (no fastmath). The loops over points are vectorized with a scalar
# remainder whose extent depends on memory alignment; with fused multiply-adds or reassociation
# allowed the two paths round differently, and a point's last bits would depend on where its
# block happened to be allocated. Strict, every point gives the same bits whatever the threads,
# ranges or blocks (tested), which byte-identical shards on resume rely on.
_FASTMATH = False
_jit = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath=_FASTMATH)
_inline = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")


def pack_rig(rig: Rig) -> np.ndarray:
    """(V, NUM_PARAMS) float64: every camera's intrinsics, lens and pose in the kernel layout."""
    params = np.zeros((len(rig), NUM_PARAMS))
    for i, cam in enumerate(rig):
        K = cam.K
        params[i, [FX, FY, SKEW, CX, CY]] = K[0, 0], K[1, 1], K[0, 1], K[0, 2], K[1, 2]
        dist = cam.dist_padded
        params[i, DIST:DIST + dist.size] = dist
        if cam.model == "fisheye":
            params[i, MODEL] = FISHEYE
        else:
            params[i, MODEL] = OPENCV
            params[i, KIND] = RATIONAL if np.any(dist[5:8] != 0) else RADIAL if np.any(dist != 0) else NONE
        params[i, ROT:ROT + 9] = cam.R.ravel()
        params[i, TRANS:TRANS + 3] = cam.t
    return params


# -- forward model ------------------------------------------------------------------------------

@_inline
def _opencv(k1, k2, p1, p2, k3, k4, k5, k6, rational, x, y):
    """Undistorted -> distorted normalized (OpenCV model, coefficients as scalars; ``rational``:
    k4..k6 in use) and the symmetric Jacobian ``(xd, yd, d00, d01, d11)``."""
    xx, yy, xy = x * x, y * y, x * y
    r2 = xx + yy
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    d_radial = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)  # d radial / d r2
    if rational:
        inv_den = 1.0 / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        radial *= inv_den
        d_radial = (d_radial - radial * (k4 + r2 * (2.0 * k5 + 3.0 * k6 * r2))) * inv_den
    xd = x * radial + 2.0 * p1 * xy + p2 * (r2 + 2.0 * xx)
    yd = y * radial + p1 * (r2 + 2.0 * yy) + 2.0 * p2 * xy
    two_d = 2.0 * d_radial
    d00 = radial + xx * two_d + 2.0 * p1 * y + 6.0 * p2 * x
    d01 = xy * two_d + 2.0 * p1 * x + 2.0 * p2 * y
    d11 = radial + yy * two_d + 6.0 * p1 * y + 2.0 * p2 * x
    return xd, yd, d00, d01, d11


@_inline
def _opencv_coefficients(params, i):
    """View i's OpenCV coefficients k1, k2, p1, p2, k3, k4, k5, k6 and whether k4..k6 are used."""
    return (params[i, DIST], params[i, DIST + 1], params[i, DIST + 2], params[i, DIST + 3],
            params[i, DIST + 4], params[i, DIST + 5], params[i, DIST + 6], params[i, DIST + 7],
            params[i, KIND] == RATIONAL)


@_inline
def _distort_opencv(params, i, x, y):
    """Undistorted -> distorted normalized (OpenCV model) of view i and the Jacobian."""
    if params[i, KIND] == NONE:
        return x, y, 1.0, 0.0, 1.0
    k1, k2, p1, p2, k3, k4, k5, k6, rational = _opencv_coefficients(params, i)
    return _opencv(k1, k2, p1, p2, k3, k4, k5, k6, rational, x, y)


@_inline
def _fisheye_theta_d(params, i, theta):
    """The fisheye model's distorted angle and its derivative d theta_d / d theta."""
    k1, k2, k3, k4 = params[i, DIST], params[i, DIST + 1], params[i, DIST + 2], params[i, DIST + 3]
    t2 = theta * theta
    theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
    derivative = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
    return theta_d, derivative


@_inline
def _distort_fisheye(params, i, x, y):
    """Undistorted -> distorted normalized (fisheye model) and the symmetric Jacobian."""
    r2 = x * x + y * y
    if r2 < FISHEYE_SMALL_R2:  # the limits at the axis: scale 1, g = 2 (k1 - 1/3)
        g = 2.0 * (params[i, DIST] - 1.0 / 3.0)
        return x, y, 1.0 + g * x * x, g * x * y, 1.0 + g * y * y
    r = math.sqrt(r2)
    theta_d, derivative = _fisheye_theta_d(params, i, math.atan(r))
    scale = theta_d / r
    g = (derivative / (1.0 + r2) - scale) / r2  # scale'(r) / r
    return x * scale, y * scale, scale + g * x * x, g * x * y, scale + g * y * y


@_inline
def distort(params, i, x, y):
    """Undistorted -> distorted normalized coordinates of view i of the packed params and the
    distortion's Jacobian ``(xd, yd, d00, d01, d11)`` (both models' Jacobians are symmetric)."""
    if params[i, MODEL] == FISHEYE:
        return _distort_fisheye(params, i, x, y)
    return _distort_opencv(params, i, x, y)


@_inline
def _undistort_fisheye(params, i, xd, yd, iterations):
    """Distorted -> undistorted normalized coordinates of a fisheye view (Newton on the angle,
    ``iterations + 1`` steps) and the distortion Jacobian there ``(x, y, d00, d01, d11)``."""
    theta_d = math.sqrt(xd * xd + yd * yd)
    theta = theta_d
    for _ in range(iterations + 1):
        f, df = _fisheye_theta_d(params, i, theta)
        theta -= (f - theta_d) / df
    theta = min(max(theta, 0.0), math.pi / 2 - 1e-6)
    scale = 1.0 if theta_d < 1e-12 else math.tan(theta) / theta_d
    x, y = xd * scale, yd * scale
    _, _, d00, d01, d11 = _distort_fisheye(params, i, x, y)
    return x, y, d00, d01, d11


@_inline
def from_pixel(params, i, u, v):
    """Pixel -> distorted normalized coordinates of one view."""
    yd = (v - params[i, CY]) / params[i, FY]
    return (u - params[i, CX] - params[i, SKEW] * yd) / params[i, FX], yd


@_inline
def to_pixel(params, i, xd, yd):
    """Distorted normalized -> pixel coordinates of one view."""
    return params[i, FX] * xd + params[i, SKEW] * yd + params[i, CX], params[i, FY] * yd + params[i, CY]


@_inline
def to_camera(params, i, X, Y, Z):
    """World point -> the view's camera frame."""
    return (params[i, ROT] * X + params[i, ROT + 1] * Y + params[i, ROT + 2] * Z + params[i, TRANS],
            params[i, ROT + 3] * X + params[i, ROT + 4] * Y + params[i, ROT + 5] * Z + params[i, TRANS + 1],
            params[i, ROT + 6] * X + params[i, ROT + 7] * Y + params[i, ROT + 8] * Z + params[i, TRANS + 2])


@_inline
def seen_by(xc, yc, zc):
    """Whether a camera-frame point is seen: in front (z > MIN_DEPTH_M) and within
    MAX_NORMALIZED of the axis (89.94 deg); False for NaN. Elsewhere a point in the camera plane
    would project to ~1e300 px."""
    if not zc > MIN_DEPTH_M:
        return False
    return abs(xc) < MAX_NORMALIZED * zc and abs(yc) < MAX_NORMALIZED * zc


@_inline
def project_one(params, i, X, Y, Z):
    """World point -> pixel ``(u, v, seen)`` in one view; u, v are NaN where not seen."""
    xc, yc, zc = to_camera(params, i, X, Y, Z)
    if not seen_by(xc, yc, zc):
        return np.nan, np.nan, False
    xd, yd, _, _, _ = distort(params, i, xc / zc, yc / zc)
    u, v = to_pixel(params, i, xd, yd)
    return u, v, True


# -- triangulation -------------------------------------------------------------------------------
# The solvers keep their sums in local scalars, not in scratch arrays: a store to any array may
# alias every other array as far as the compiler knows, which forces reloads and made the
# array-based form ~3x slower.

@_inline
def _solve_symmetric(h00, h01, h02, h11, h12, h22, g0, g1, g2):
    """Solve the symmetric 3x3 system (entries h00 h01 h02 h11 h12 h22) ``X = g``.
    Returns X (NaN where singular) as three floats."""
    c00 = h11 * h22 - h12 * h12
    c01 = h02 * h12 - h01 * h22
    c02 = h01 * h12 - h02 * h11
    det = h00 * c00 + h01 * c01 + h02 * c02
    if not abs(det) > 0.0:
        return np.nan, np.nan, np.nan
    c11 = h00 * h22 - h02 * h02
    c12 = h01 * h02 - h00 * h12
    c22 = h00 * h11 - h01 * h01
    inv = 1.0 / det
    return ((c00 * g0 + c01 * g1 + c02 * g2) * inv,
            (c01 * g0 + c11 * g1 + c12 * g2) * inv,
            (c02 * g0 + c12 * g1 + c22 * g2) * inv)


@_inline
def _fill(array, value):
    """array[:] = value, as a loop (a slice would make a reference-counted view)."""
    for k in range(array.shape[0]):
        array[k] = value


@_inline
def _copy(target, source):
    """target[:] = source, as a loop."""
    for k in range(target.shape[0]):
        target[k] = source[k]


@_inline
def ray_spread(h00, h01, h02, h11, h12, h22) -> float:
    """Elongation of a symmetric 3x3 normal matrix: ~ smallest / largest eigenvalue.

    ``det / (sum of principal 2x2 minors)`` estimates the smallest eigenvalue (within a factor 3,
    exact as it goes to 0); divided by ``trace / 2``. Two equally weighted rays at angle ``a``
    give ``sin^2(a / 2)``.
    """
    minors = (h11 * h22 - h12 * h12) + (h00 * h22 - h02 * h02) + (h00 * h11 - h01 * h01)
    det = h00 * (h11 * h22 - h12 * h12) - h01 * (h01 * h22 - h02 * h12) + h02 * (h01 * h12 - h02 * h11)
    trace = h00 + h11 + h22
    if minors > 0.0 and trace > 0.0:
        return det / minors / (trace / 2.0)
    return 0.0


@_jit
def _opencv_pass(k1, k2, p1, p2, k3, k4, k5, k6, rational, obs, i, count, focal_skew, last):
    """One Newton pass of the OpenCV undistortion over obs[i, :, :count] (rows 0, 1: the iterate,
    rows 2, 3: the distorted target). ``last``: 0 a Newton step, 1 a Newton step that also leaves
    K2 D (focal_skew = fx, fy, skew) of the iterate in rows 2..5, 2 only that. A separate loop per
    pass keeps each loop innermost and branch-free, so it vectorizes."""
    fx, fy, skew = focal_skew
    for b in range(count):
        x, y, xd, yd = obs[i, 0, b], obs[i, 1, b], obs[i, 2, b], obs[i, 3, b]
        px, py, d00, d01, d11 = _opencv(k1, k2, p1, p2, k3, k4, k5, k6, rational, x, y)
        if last < 2:  # a Newton step
            px -= xd
            py -= yd
            inv_det = 1.0 / (d00 * d11 - d01 * d01)
            obs[i, 0, b] = x - (d11 * px - d01 * py) * inv_det
            obs[i, 1, b] = y - (d00 * py - d01 * px) * inv_det
        if last > 0:  # the lens linearised at this iterate
            obs[i, 2, b], obs[i, 3, b] = fx * d00 + skew * d01, fx * d01 + skew * d11
            obs[i, 4, b], obs[i, 5, b] = fy * d01, fy * d11


@_jit
def _observe_opencv(params, u, v, start, count, iterations, obs, i, rational):
    """:func:`_observe` for an OpenCV view with distortion: the fixed-point step, then one
    vectorized pass per Newton step (2 steps reach ~1e-12 over a typical image). The Jacobian
    comes from the last step, i.e. the previous iterate, which linearises the lens at the
    observation as well."""
    k1, k2, p1, p2, k3, k4, k5, k6, _ = _opencv_coefficients(params, i)
    focal_skew = (params[i, FX], params[i, FY], params[i, SKEW])
    for b in range(count):
        xd, yd = from_pixel(params, i, u[i, start + b], v[i, start + b])
        px, py, _, _, _ = _opencv(k1, k2, p1, p2, k3, k4, k5, k6, rational, xd, yd)
        obs[i, 0, b] = xd * (xd / px) if px != 0.0 else xd
        obs[i, 1, b] = yd * (yd / py) if py != 0.0 else yd
        obs[i, 2, b], obs[i, 3, b] = xd, yd
    if iterations == 0:
        _opencv_pass(k1, k2, p1, p2, k3, k4, k5, k6, rational, obs, i, count, focal_skew, 2)
    for step in range(iterations):
        last = 1 if step == iterations - 1 else 0
        if last:
            _opencv_pass(k1, k2, p1, p2, k3, k4, k5, k6, rational, obs, i, count, focal_skew, 1)
        else:
            _opencv_pass(k1, k2, p1, p2, k3, k4, k5, k6, rational, obs, i, count, focal_skew, 0)


@_jit
def _observe(params, u, v, start, count, iterations, obs):
    """Undistort the observations of points ``start:start + count`` (all, usable or not: unusable
    ones hold u = v = 0) into obs (V, 6, count): ``x, y`` undistorted normalized and
    ``a00, a01, a10, a11`` = K2 D, d(pixel) / d(x, y), the lens linearised there."""
    for i in range(params.shape[0]):
        if params[i, MODEL] == OPENCV and params[i, KIND] == RADIAL:
            _observe_opencv(params, u, v, start, count, iterations, obs, i, False)
        elif params[i, MODEL] == OPENCV and params[i, KIND] == RATIONAL:
            _observe_opencv(params, u, v, start, count, iterations, obs, i, True)
        else:  # fisheye (one observation at a time), or no distortion
            fx, fy, skew = params[i, FX], params[i, FY], params[i, SKEW]
            fisheye = params[i, MODEL] == FISHEYE
            for b in range(count):
                xd, yd = from_pixel(params, i, u[i, start + b], v[i, start + b])
                x, y, d00, d01, d11 = xd, yd, 1.0, 0.0, 1.0
                if fisheye:
                    x, y, d00, d01, d11 = _undistort_fisheye(params, i, xd, yd, iterations)
                obs[i, 0, b], obs[i, 1, b] = x, y
                obs[i, 2, b], obs[i, 3, b] = fx * d00 + skew * d01, fx * d01 + skew * d11
                obs[i, 4, b], obs[i, 5, b] = fy * d01, fy * d11


@_inline
def _dlt_rows(params, i, x, y):
    """View i's DLT normal-matrix entries (6) and right-hand side (3), unweighted, as 9 floats.

    The rows ``a = x r3 - r1``, ``b = y r3 - r2`` (r = rows of R) with right-hand sides
    ``t1 - x t3``, ``t2 - y t3``, scaled to pixels by fx, fy.
    """
    fa, fb = params[i, FX] * params[i, FX], params[i, FY] * params[i, FY]
    r30, r31, r32 = params[i, ROT + 6], params[i, ROT + 7], params[i, ROT + 8]
    a0, a1, a2 = x * r30 - params[i, ROT], x * r31 - params[i, ROT + 1], x * r32 - params[i, ROT + 2]
    b0, b1, b2 = y * r30 - params[i, ROT + 3], y * r31 - params[i, ROT + 4], y * r32 - params[i, ROT + 5]
    t2 = params[i, TRANS + 2]
    ra, rb = fa * (params[i, TRANS] - x * t2), fb * (params[i, TRANS + 1] - y * t2)
    a0f, a1f, a2f, b0f, b1f, b2f = fa * a0, fa * a1, fa * a2, fb * b0, fb * b1, fb * b2
    return (a0f * a0 + b0f * b0, a0f * a1 + b0f * b1, a0f * a2 + b0f * b2, a1f * a1 + b1f * b1,
            a1f * a2 + b1f * b2, a2f * a2 + b2f * b2, a0 * ra + b0 * rb, a1 * ra + b1 * rb,
            a2 * ra + b2 * rb)


@_jit
def _linear_block(params, start, count, w, obs, obs_start, acc):
    """The weighted DLT normal equations of points ``start:start + count`` into acc (9, count)
    (6 entries, right-hand side): one vectorized loop per view. w[i, b] > 0 marks a used view."""
    for k in range(9):
        for b in range(count):
            acc[k, b] = 0.0
    for i in range(params.shape[0]):
        for b in range(count):
            # an unused view weighs 0 and its (maybe non-finite) coordinates are replaced by 0,
            # so that it adds exact zeros without a branch (the loop vectorizes)
            use = w[i, b] > 0.0
            wi = w[i, b] if use else 0.0
            x = obs[i, 0, obs_start + b] if use else 0.0
            y = obs[i, 1, obs_start + b] if use else 0.0
            e00, e01, e02, e11, e12, e22, f0, f1, f2 = _dlt_rows(params, i, x, y)
            acc[0, b] += wi * e00
            acc[1, b] += wi * e01
            acc[2, b] += wi * e02
            acc[3, b] += wi * e11
            acc[4, b] += wi * e12
            acc[5, b] += wi * e22
            acc[6, b] += wi * f0
            acc[7, b] += wi * f1
            acc[8, b] += wi * f2


@_inline
def _gauss_newton_project(pose, X, w, i, b, acc):
    """Point b of X (3, count) in view i (pose: R row-major, t): ``(x, y, inv_z, weight)``;
    counts a used view that does not see the point in acc[9, b] (a row of the same scratch,
    not an array of its own: one array fewer for the compiler to check for overlaps, which lets
    the loop vectorize). A view that is unused or does not see the point weighs 0 and computes
    with x = y = inv_z = 0, so it adds exact zeros without a branch (the loops vectorize); a
    NaN point stays NaN, as it should."""
    R0, R1, R2, R3, R4, R5, R6, R7, R8, T0, T1, T2 = pose
    X0, X1, X2 = X[0, b], X[1, b], X[2, b]
    xc = R0 * X0 + R1 * X1 + R2 * X2 + T0
    yc = R3 * X0 + R4 * X1 + R5 * X2 + T1
    zc = R6 * X0 + R7 * X1 + R8 * X2 + T2
    seen = (zc > MIN_DEPTH_M) & (abs(xc) < MAX_NORMALIZED * zc) & (abs(yc) < MAX_NORMALIZED * zc)
    used = w[i, b] > 0.0
    acc[9, b] += 1.0 if used and not seen else 0.0
    weight = w[i, b] if seen & used else 0.0
    inv_z = 1.0 / zc if seen else 0.0
    return xc * inv_z, yc * inv_z, inv_z, weight


@_inline
def _gauss_newton_add(intrinsics, pose, u, v, n, i, b, obs, c, at_observations, x, y, inv_z, weight,
                      distorted, acc):
    """Add point b's weighted J^T J and J^T r in view i to acc (9, count), from its undistorted
    (x, y), the distortion ``(xd, yd, d00, d01, d11)`` there and the observation (u, v)[i, n];
    the Jacobian takes the lens at the observation obs[i, 2:6, c] when ``at_observations``."""
    fx, fy, skew, cx, cy = intrinsics
    R0, R1, R2, R3, R4, R5, R6, R7, R8, _, _, _ = pose
    xd, yd, d00, d01, d11 = distorted
    ru = fx * xd + skew * yd + cx - u[i, n]
    rv = fy * yd + cy - v[i, n]
    a00 = obs[i, 2, c] if at_observations else fx * d00 + skew * d01
    a01 = obs[i, 3, c] if at_observations else fx * d01 + skew * d11
    a10 = obs[i, 4, c] if at_observations else fy * d01
    a11 = obs[i, 5, c] if at_observations else fy * d11
    # d(pixel)/d(camera frame), then times R: world-frame rows of the Jacobian
    cu0, cu1, cu2 = a00 * inv_z, a01 * inv_z, -(a00 * x + a01 * y) * inv_z
    cv0, cv1, cv2 = a10 * inv_z, a11 * inv_z, -(a10 * x + a11 * y) * inv_z
    ju0, ju1, ju2 = (cu0 * R0 + cu1 * R3 + cu2 * R6, cu0 * R1 + cu1 * R4 + cu2 * R7,
                     cu0 * R2 + cu1 * R5 + cu2 * R8)
    jv0, jv1, jv2 = (cv0 * R0 + cv1 * R3 + cv2 * R6, cv0 * R1 + cv1 * R4 + cv2 * R7,
                     cv0 * R2 + cv1 * R5 + cv2 * R8)
    wu0, wu1, wu2 = weight * ju0, weight * ju1, weight * ju2
    wv0, wv1, wv2 = weight * jv0, weight * jv1, weight * jv2
    acc[0, b] += wu0 * ju0 + wv0 * jv0
    acc[1, b] += wu0 * ju1 + wv0 * jv1
    acc[2, b] += wu0 * ju2 + wv0 * jv2
    acc[3, b] += wu1 * ju1 + wv1 * jv1
    acc[4, b] += wu1 * ju2 + wv1 * jv2
    acc[5, b] += wu2 * ju2 + wv2 * jv2
    acc[6, b] += wu0 * ru + wv0 * rv
    acc[7, b] += wu1 * ru + wv1 * rv
    acc[8, b] += wu2 * ru + wv2 * rv


@_jit
def _gauss_newton_view(params, i, u, v, start, count, w, obs, obs_start, X, acc, at_observations):
    """View i's part of one Gauss-Newton step on ``sum w |project(X) - (u, v)|^2`` for points
    ``start:start + count`` at X (3, count): adds its weighted J^T J and J^T r to acc[:9] and
    counts in acc[9] whether view i was used but did not see the point. The Jacobian takes the lens linearised at the
    observations (obs, when ``at_observations``) or at the projection. One branch-free loop per
    lens model, so that it vectorizes (the OpenCV loop computes every term: unused ones are 0)."""
    intrinsics = (params[i, FX], params[i, FY], params[i, SKEW], params[i, CX], params[i, CY])
    pose = (params[i, ROT], params[i, ROT + 1], params[i, ROT + 2], params[i, ROT + 3],
            params[i, ROT + 4], params[i, ROT + 5], params[i, ROT + 6], params[i, ROT + 7],
            params[i, ROT + 8], params[i, TRANS], params[i, TRANS + 1], params[i, TRANS + 2])
    k1, k2, p1, p2, k3, k4, k5, k6, _ = _opencv_coefficients(params, i)
    if params[i, MODEL] == FISHEYE:
        for b in range(count):
            x, y, inv_z, weight = _gauss_newton_project(pose, X, w, i, b, acc)
            _gauss_newton_add(intrinsics, pose, u, v, start + b, i, b, obs, obs_start + b,
                              at_observations, x, y, inv_z, weight,
                              _distort_fisheye(params, i, x, y), acc)
    else:
        for b in range(count):
            x, y, inv_z, weight = _gauss_newton_project(pose, X, w, i, b, acc)
            _gauss_newton_add(intrinsics, pose, u, v, start + b, i, b, obs, obs_start + b,
                              at_observations, x, y, inv_z, weight,
                              _opencv(k1, k2, p1, p2, k3, k4, k5, k6, True, x, y), acc)


@_jit
def _solve_block(params, u, v, start, count, w, obs, obs_start, iterations, min_spread, acc, X, ok):
    """Triangulate points ``start:start + count`` with the weights w (V, >= count) (0 = not
    used) from their observations obs[:, :, obs_start:obs_start + count] (from _observe).

    Linear solution, then ``iterations`` Gauss-Newton steps (the first takes the lens Jacobian at
    the observations, later ones at the projection). Writes X (3, >= count) and ok (>= count):
    a valid triangulation has >= 2 views, is finite, its rays are not closer to parallel than
    ``min_spread`` (see ray_spread), and it is in front of every camera used, at the last
    evaluation; X is NaN where not ok. acc (10, >= count): scratch.
    """
    num_views = params.shape[0]
    _linear_block(params, start, count, w, obs, obs_start, acc)
    for b in range(count):
        X[0, b], X[1, b], X[2, b] = _solve_symmetric(acc[0, b], acc[1, b], acc[2, b], acc[3, b],
                                                     acc[4, b], acc[5, b], acc[6, b], acc[7, b], acc[8, b])
    for step in range(iterations):
        for k in range(10):
            for b in range(count):
                acc[k, b] = 0.0
        for i in range(num_views):
            _gauss_newton_view(params, i, u, v, start, count, w, obs, obs_start, X, acc, step == 0)
        for b in range(count):
            s0, s1, s2 = _solve_symmetric(acc[0, b], acc[1, b], acc[2, b], acc[3, b], acc[4, b],
                                          acc[5, b], acc[6, b], acc[7, b], acc[8, b])
            X[0, b] -= s0
            X[1, b] -= s1
            X[2, b] -= s2
    if iterations == 0:
        for b in range(count):
            acc[9, b] = 0.0
            for i in range(num_views):
                xc, yc, zc = to_camera(params, i, X[0, b], X[1, b], X[2, b])
                acc[9, b] += 1.0 if w[i, b] > 0.0 and not seen_by(xc, yc, zc) else 0.0
    for b in range(count):
        valid = math.isfinite(X[0, b]) and math.isfinite(X[1, b]) and math.isfinite(X[2, b])
        num_used = 0
        for i in range(num_views):
            num_used += w[i, b] > 0.0
        valid = valid and num_used >= 2 and acc[9, b] == 0.0
        if min_spread > 0.0:
            valid = valid and ray_spread(acc[0, b], acc[1, b], acc[2, b], acc[3, b], acc[4, b],
                                         acc[5, b]) >= min_spread
        ok[b] = valid
        if not valid:
            X[0, b], X[1, b], X[2, b] = np.nan, np.nan, np.nan


@_jit
def triangulate_range(params, u, v, w, start, stop, iterations, undistort_iterations, min_spread,
                      points, ok):
    """:func:`geometry.triangulate` for points ``start:stop``: writes points (M, 3) (NaN where
    not triangulated) and ok (M,)."""
    num_views = params.shape[0]
    obs = np.empty((num_views, 6, _BLOCK))
    weight = np.empty((num_views, _BLOCK))
    acc = np.empty((10, _BLOCK))
    X = np.empty((3, _BLOCK))
    for block in range(start, stop, _BLOCK):
        count = min(_BLOCK, stop - block)
        for i in range(num_views):
            for b in range(count):
                weight[i, b] = w[i, block + b]
        _observe(params, u, v, block, count, undistort_iterations, obs)
        _solve_block(params, u, v, block, count, weight, obs, 0, iterations, min_spread, acc, X,
                     ok[block:block + count])
        for b in range(count):
            points[block + b, 0], points[block + b, 1], points[block + b, 2] = X[0, b], X[1, b], X[2, b]


# -- robust ---------------------------------------------------------------------------------------

@_jit
def _errors(params, u, v, n, usable, X, col, error):
    """Pixel reprojection error of the point X[:, col] in every usable view of point n; NaN
    where not usable, not seen, or the point is NaN."""
    for i in range(params.shape[0]):
        error[i] = np.nan
        if usable[i]:
            pu, pv, seen = project_one(params, i, X[0, col], X[1, col], X[2, col])
            if seen:
                error[i] = math.hypot(pu - u[i, n], pv - v[i, n])


@_jit
def _score(params, obs, b, contributions, usable, w, members, threshold_sq, error_weight, min_spread,
           inliers) -> float:
    """Score the hypothesis made from the usable views in ``members`` (V,) bool.

    Its linear solution is projected into every view; an observation is an inlier when its error,
    with the lens linearised at the observation (``|K D (x - x_obs)|``: well under 1% off within
    the threshold), is under the threshold, and votes ``w (1 - error_weight (e / t)^2)``.
    Returns the score (-inf for an invalid hypothesis: < 2 views, parallel rays, singular, or
    behind one of the cameras it was made from) and writes inliers (V,).
    """
    num_views = params.shape[0]
    h00 = h01 = h02 = h11 = h12 = h22 = g0 = g1 = g2 = 0.0
    count = 0
    for i in range(num_views):
        if members[i] and usable[i]:
            count += 1
            h00 += contributions[i, 0]
            h01 += contributions[i, 1]
            h02 += contributions[i, 2]
            h11 += contributions[i, 3]
            h12 += contributions[i, 4]
            h22 += contributions[i, 5]
            g0 += contributions[i, 6]
            g1 += contributions[i, 7]
            g2 += contributions[i, 8]
    _fill(inliers, False)
    if count < 2 or not ray_spread(h00, h01, h02, h11, h12, h22) >= min_spread:
        return -np.inf
    X, Y, Z = _solve_symmetric(h00, h01, h02, h11, h12, h22, g0, g1, g2)
    if not (math.isfinite(X) and math.isfinite(Y) and math.isfinite(Z)):
        return -np.inf
    score = 0.0
    for i in range(num_views):
        xc, yc, zc = to_camera(params, i, X, Y, Z)
        if not seen_by(xc, yc, zc):
            if members[i] and usable[i]:
                _fill(inliers, False)
                return -np.inf
            continue
        if not usable[i]:
            continue
        ex = xc / zc - obs[i, 0, b]
        ey = yc / zc - obs[i, 1, b]
        du = obs[i, 2, b] * ex + obs[i, 3, b] * ey
        dv = obs[i, 4, b] * ex + obs[i, 5, b] * ey
        ratio = (du * du + dv * dv) / threshold_sq
        if ratio < 1.0:
            inliers[i] = True
            score += w[i] * (1.0 - error_weight * ratio)
    return score


@_inline
def _unsupported_pair(best, usable, w) -> bool:
    """Whether the inliers best (V,) are a pair of views that the other views outvote.

    Two views always agree when one is off along the epipolar line of the other, which a gross
    outlier sometimes is, so a two-view consensus is only kept while it holds more than a third
    of the usable views' weight: unweighted, a pair among at most five usable views. Where four
    or more views contradict a pair, it is as likely a chance agreement of an outlier with the
    last clean view as the truth (each of the 4 outliers that the issue-2 benchmark kept before
    this rule, 20,000 points, 10% outliers, was of this kind).
    """
    pair, against, num_best = 0.0, 0.0, 0
    for i in range(w.shape[0]):
        if best[i]:
            num_best += 1
            pair += w[i]
        elif usable[i]:
            against += w[i]
    return num_best == 2 and against >= 2.0 * pair


@_jit
def _best_hypothesis(params, obs, b, contributions, usable, w, threshold_sq, error_weight, min_spread,
                     members, candidate, best):
    """Inliers (into best (V,)) of the best hypothesis, in two stages: the V leave-one-out
    hypotheses (all usable views but one); where the best has every other view as an inlier, the
    left-out view was the only outlier. Otherwise one hypothesis per view pair. No inliers where
    the best is an unsupported pair (see :func:`_unsupported_pair`)."""
    num_views = params.shape[0]
    num_usable = 0
    for i in range(num_views):
        num_usable += usable[i]
    _fill(best, False)
    best_score = -np.inf
    for j in range(num_views):
        _fill(members, True)
        members[j] = False
        score = _score(params, obs, b, contributions, usable, w, members, threshold_sq, error_weight,
                       min_spread, candidate)
        if score > best_score:
            best_score = score
            _copy(best, candidate)
    num_best = 0
    for i in range(num_views):
        num_best += best[i]
    if num_best < num_usable - 1:
        _fill(best, False)
        best_score = -np.inf
        for i in range(num_views):
            for j in range(i + 1, num_views):
                _fill(members, False)
                members[i] = True
                members[j] = True
                score = _score(params, obs, b, contributions, usable, w, members, threshold_sq,
                               error_weight, min_spread, candidate)
                if score > best_score:
                    best_score = score
                    _copy(best, candidate)
    if _unsupported_pair(best, usable, w):
        _fill(best, False)


@_inline
def _solve_one(params, u, v, n, weights, obs, b, iterations, min_spread, w1, acc1, X1, ok1):
    """:func:`_solve_block` for the single point n (observations obs[:, :, b]) with the weights
    (V,): writes X1 (3, 1), returns whether it is valid. w1, acc1, ok1: scratch."""
    for i in range(params.shape[0]):
        w1[i, 0] = weights[i]
    _solve_block(params, u, v, n, 1, w1, obs, b, iterations, min_spread, acc1, X1, ok1)
    return ok1[0]


@_jit
def robust_range(params, u, v, w, start, stop, threshold_px, min_views, max_rounds, error_weight,
                 soft_scale_px, soft_rounds, iterations, undistort_iterations, min_spread,
                 points, inliers_out, error_out):
    """:func:`geometry.triangulate_robust` for points ``start:stop``: writes points (M, 3),
    inliers (V, M) and error (V, M) (NaN / False where the point is not valid).
    soft_scale_px <= 0: no soft re-weighting."""
    num_views = params.shape[0]
    threshold_sq = threshold_px * threshold_px
    obs = np.empty((num_views, 6, _BLOCK))
    contributions = np.empty((num_views, 9))
    usable = np.empty(num_views, dtype=np.bool_)
    weight = np.empty(num_views)
    solve_w = np.empty(num_views)
    inliers = np.empty(num_views, dtype=np.bool_)
    new_inliers = np.empty(num_views, dtype=np.bool_)
    members = np.empty(num_views, dtype=np.bool_)
    candidate = np.empty(num_views, dtype=np.bool_)
    error, new_error = np.empty(num_views), np.empty(num_views)
    # the block's first solve (all usable views) and the one-point solves after it
    block_w, block_acc = np.empty((num_views, _BLOCK)), np.empty((10, _BLOCK))
    block_X, block_ok = np.empty((3, _BLOCK)), np.empty(_BLOCK, dtype=np.bool_)
    w1, acc1, ok1 = np.empty((num_views, 1)), np.empty((10, 1)), np.empty(1, dtype=np.bool_)
    X, new_X = np.empty((3, 1)), np.empty((3, 1))
    for block in range(start, stop, _BLOCK):
        count = min(_BLOCK, stop - block)
        _observe(params, u, v, block, count, undistort_iterations, obs)
        for i in range(num_views):
            for b in range(count):
                block_w[i, b] = w[i, block + b]
        _solve_block(params, u, v, block, count, block_w, obs, 0, iterations, min_spread, block_acc,
                     block_X, block_ok)
        for b in range(count):
            n = block + b
            num_usable = 0
            for i in range(num_views):
                weight[i] = w[i, n]
                usable[i] = w[i, n] > 0.0
                num_usable += usable[i]
            # 1. all usable views together; done where every one of them is an inlier
            ok = block_ok[b]
            X[0, 0], X[1, 0], X[2, 0] = block_X[0, b], block_X[1, b], block_X[2, b]
            _errors(params, u, v, n, usable, X, 0, error)
            num_inliers = 0
            for i in range(num_views):
                inliers[i] = usable[i] and error[i] < threshold_px
                num_inliers += inliers[i]
            done = ok and num_inliers == num_usable and num_usable >= min_views
            if not done and num_usable >= min_views:
                # 2. the best hypothesis, 3. refined from its inliers until the inlier set is stable
                for i in range(num_views):
                    if usable[i]:
                        row = _dlt_rows(params, i, obs[i, 0, b], obs[i, 1, b])
                        for k in range(9):
                            contributions[i, k] = row[k]
                _best_hypothesis(params, obs, b, contributions, usable, weight, threshold_sq, error_weight,
                                 min_spread, members, candidate, inliers)
                good = False
                for _ in range(max_rounds):
                    for i in range(num_views):
                        solve_w[i] = weight[i] if inliers[i] else 0.0
                    ok = _solve_one(params, u, v, n, solve_w, obs, b, iterations, min_spread, w1,
                                    acc1, new_X, ok1)
                    _errors(params, u, v, n, usable, new_X, 0, new_error)
                    changed = False
                    num_inliers = 0
                    for i in range(num_views):
                        new_inliers[i] = usable[i] and new_error[i] < threshold_px
                        num_inliers += new_inliers[i]
                        changed |= new_inliers[i] != inliers[i]
                    good = ok and num_inliers >= min_views
                    for k in range(3):
                        X[k, 0] = new_X[k, 0]
                    _copy(inliers, new_inliers)
                    _copy(error, new_error)
                    if not (changed and good):
                        break
                done = good
            if done and soft_scale_px > 0.0:
                # Cauchy re-weighting of the inliers; the inlier sets are kept
                scale_sq = soft_scale_px * soft_scale_px
                for _ in range(soft_rounds):
                    for i in range(num_views):
                        e = error[i] if math.isfinite(error[i]) else 0.0
                        solve_w[i] = weight[i] / (1.0 + e * e / scale_sq) if inliers[i] else 0.0
                    done = _solve_one(params, u, v, n, solve_w, obs, b, iterations, min_spread, w1,
                                      acc1, X, ok1)
                    _errors(params, u, v, n, usable, X, 0, error)
            if done:
                points[n, 0], points[n, 1], points[n, 2] = X[0, 0], X[1, 0], X[2, 0]
                for i in range(num_views):
                    inliers_out[i, n] = inliers[i]
                    error_out[i, n] = error[i]
            else:
                points[n, 0], points[n, 1], points[n, 2] = np.nan, np.nan, np.nan
                for i in range(num_views):
                    inliers_out[i, n] = False
                    error_out[i, n] = np.nan


# -- vectorized entry points (reprojection error, tests) -----------------------------------------

@_jit
def _project_points(params, points, u, v):
    for i in range(params.shape[0]):
        for n in range(points.shape[0]):
            u[i, n], v[i, n], _ = project_one(params, i, points[n, 0], points[n, 1], points[n, 2])


def project_points(params: np.ndarray, points: np.ndarray):
    """(M, 3) world points -> pixel u, v (V, M); NaN where not seen (behind the camera, in its
    plane, beyond MAX_NORMALIZED, or a NaN point); :meth:`Rig.project` agrees everywhere else."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    u = np.empty((params.shape[0], points.shape[0]))
    v = np.empty_like(u)
    _project_points(params, points, u, v)
    return u, v


@_jit
def _undistort_pixels(params, u, v, iterations, out):
    obs = np.empty((params.shape[0], 6, _BLOCK))
    for block in range(0, u.shape[1], _BLOCK):
        count = min(_BLOCK, u.shape[1] - block)
        _observe(params, u, v, block, count, iterations, obs)
        for k in range(6):
            for i in range(params.shape[0]):
                for b in range(count):
                    out[k, i, block + b] = obs[i, k, b]


def undistort_pixels(params: np.ndarray, u: np.ndarray, v: np.ndarray, iterations: int = 2):
    """(V, M) pixels -> undistorted normalized ``x, y`` (V, M) and the lens linearised there,
    ``(a00, a01, a10, a11)`` = K2 D, d(pixel) / d(x, y) (each (V, M)): the triangulators' path."""
    out = np.empty((6,) + np.shape(u))
    _undistort_pixels(params, np.ascontiguousarray(u, dtype=np.float64),
                      np.ascontiguousarray(v, dtype=np.float64), int(iterations), out)
    return out[0], out[1], (out[2], out[3], out[4], out[5])


@_jit
def compiled_lens_constants():
    """The lens constants as compiled into the kernels: (MIN_DEPTH_M, MAX_NORMALIZED, FISHEYE_SMALL_R2)."""
    return MIN_DEPTH_M, MAX_NORMALIZED, FISHEYE_SMALL_R2


@_jit
def _distort_packed(params, x, y, out):
    for i in range(params.shape[0]):
        for n in range(x.shape[1]):
            xd, yd, d00, d01, d11 = distort(params, i, x[i, n], y[i, n])
            out[0, i, n], out[1, i, n], out[2, i, n], out[3, i, n], out[4, i, n] = xd, yd, d00, d01, d11


def distort_packed(params: np.ndarray, x: np.ndarray, y: np.ndarray):
    """(V, M) undistorted normalized -> distorted ``xd, yd`` (V, M) and the Jacobian
    ``(d00, d01, d11)`` (each (V, M)), for the packed rig (the kernels' lens, for tests)."""
    out = np.empty((5,) + x.shape)
    _distort_packed(params, np.ascontiguousarray(x, dtype=np.float64),
                        np.ascontiguousarray(y, dtype=np.float64), out)
    return out[0], out[1], (out[2], out[3], out[4])
