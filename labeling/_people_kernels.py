"""Compiled per-frameset kernels of :mod:`labeling.people` (private).

The association walks the take frameset by frameset (tracking is sequential), and each
frameset's work is small (a few people, a few views, ~20 joints): numpy spent most of its time
in call overhead there (~40 calls per frameset for these steps, ~1.7 ms of the ~2.7 ms a
frameset took with 5 people in 8 views). Compiled with numba (a dependency already, for the
triangulation kernels) and cached beside this file. Each kernel is the loop form of a numpy
reference in :mod:`labeling._people_geometry` (``_claim_costs_numpy``,
``_triangulate_groups_numpy``, ``_affinities_numpy``, ``pair_epipolar_px``), which the tests
compare against. Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["claim_costs", "triangulate_groups"]

_jit = numba.njit(nogil=True, cache=True, error_model="numpy")


@_jit
def _lower_median(values, count):
    """Lower median of the first ``count`` entries of ``values`` (insertion-sorted in place: a
    skeleton's ~20 joints, no allocation)."""
    for i in range(1, count):
        x = values[i]
        k = i - 1
        while k >= 0 and values[k] > x:
            values[k + 1] = values[k]
            k -= 1
        values[k + 1] = x
    return values[(count - 1) // 2]


@_jit
def claim_costs(predicted, normalized, weights, present, R, t, min_common, cost, distance):
    """Cost of every candidate for every track in every view.

    predicted: (T, J, 3) world metres (NaN joints unknown); normalized: (V, P, J, 2);
    weights: (V, P, J) (0: missing); present: (V, P) bool; R (V, 3, 3), t (V, 3).
    Writes cost (V, T, P): lower median over joints of the normalized distance to the projected
    prediction times the track's depth (metres at the person), inf where fewer than
    ``min_common`` joints or not present; distance (V, T, P, J): normalized distances (NaN).
    """
    T, J = predicted.shape[0], predicted.shape[1]
    V, P = normalized.shape[0], normalized.shape[1]
    xy = np.empty((J, 2))
    buffer = np.empty(J)
    for v in range(V):
        for k in range(T):
            cx = cy = cz = 0.0
            n = 0
            for j in range(J):
                X, Y, Z = predicted[k, j, 0], predicted[k, j, 1], predicted[k, j, 2]
                xc = R[v, 0, 0] * X + R[v, 0, 1] * Y + R[v, 0, 2] * Z + t[v, 0]
                yc = R[v, 1, 0] * X + R[v, 1, 1] * Y + R[v, 1, 2] * Z + t[v, 1]
                zc = R[v, 2, 0] * X + R[v, 2, 1] * Y + R[v, 2, 2] * Z + t[v, 2]
                if zc > 1e-6:
                    xy[j, 0], xy[j, 1] = xc / zc, yc / zc
                else:
                    xy[j, 0] = xy[j, 1] = np.nan
                if not (math.isnan(X) or math.isnan(Y) or math.isnan(Z)):
                    cx += X
                    cy += Y
                    cz += Z
                    n += 1
            depth = np.nan
            if n > 0:
                cx, cy, cz = cx / n, cy / n, cz / n
                depth = R[v, 2, 0] * cx + R[v, 2, 1] * cy + R[v, 2, 2] * cz + t[v, 2]
            for p in range(P):
                count = 0
                for j in range(J):
                    d = np.nan
                    if weights[v, p, j] > 0:
                        dx, dy = xy[j, 0] - normalized[v, p, j, 0], xy[j, 1] - normalized[v, p, j, 1]
                        d = math.sqrt(dx * dx + dy * dy)
                    distance[v, k, p, j] = d
                    if not math.isnan(d):
                        buffer[count] = d
                        count += 1
                if not present[v, p] or count < max(min_common, 1) or not depth > 0:
                    cost[v, k, p] = np.inf
                else:
                    cost[v, k, p] = _lower_median(buffer, count) * depth


@_jit
def _solve_joint(rays, w, centres, j, V):
    """Weighted least-squares intersection of the rays of joint j; NaN with < 2 views."""
    a00 = a01 = a02 = a11 = a12 = a22 = 0.0
    b0 = b1 = b2 = 0.0
    views = 0
    for v in range(V):
        wv = w[v, j]
        if wv <= 0:
            continue
        views += 1
        dx, dy, dz = rays[v, j, 0], rays[v, j, 1], rays[v, j, 2]
        m00, m01, m02 = 1.0 - dx * dx, -dx * dy, -dx * dz
        m11, m12, m22 = 1.0 - dy * dy, -dy * dz, 1.0 - dz * dz
        a00 += wv * m00
        a01 += wv * m01
        a02 += wv * m02
        a11 += wv * m11
        a12 += wv * m12
        a22 += wv * m22
        cx, cy, cz = centres[v, 0], centres[v, 1], centres[v, 2]
        b0 += wv * (m00 * cx + m01 * cy + m02 * cz)
        b1 += wv * (m01 * cx + m11 * cy + m12 * cz)
        b2 += wv * (m02 * cx + m12 * cy + m22 * cz)
    if views < 2:
        return np.nan, np.nan, np.nan
    c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
    c11, c12, c22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
    det = a00 * c00 + a01 * c01 + a02 * c02
    if not abs(det) > 1e-12:
        return np.nan, np.nan, np.nan
    return ((c00 * b0 + c01 * b1 + c02 * b2) / det, (c01 * b0 + c11 * b1 + c12 * b2) / det,
            (c02 * b0 + c12 * b1 + c22 * b2) / det)


@_jit
def _reprojection_px(X, v, R, t, focal, x, y):
    xc = R[v, 0, 0] * X[0] + R[v, 0, 1] * X[1] + R[v, 0, 2] * X[2] + t[v, 0]
    yc = R[v, 1, 0] * X[0] + R[v, 1, 1] * X[1] + R[v, 1, 2] * X[2] + t[v, 1]
    zc = R[v, 2, 0] * X[0] + R[v, 2, 1] * X[1] + R[v, 2, 2] * X[2] + t[v, 2]
    if not zc > 1e-6:
        return np.nan
    dx, dy = xc / zc - x, yc / zc - y
    return math.sqrt(dx * dx + dy * dy) * focal[v]


@_jit
def _view_errors_px(X, v, p, w, normalized, R, t, focal, out):
    """Reprojection errors (pixels) of candidate p of view v from the joints X (J, 3): writes
    out[j], NaN where the joint is not used (w[v, j] == 0) or does not project. False (nothing
    written) when the view has no candidate (p < 0)."""
    if p < 0:
        return False
    for j in range(X.shape[0]):
        out[j] = np.nan
        if w[v, j] > 0:
            out[j] = _reprojection_px(X[j], v, R, t, focal, normalized[v, p, j, 0],
                                      normalized[v, p, j, 1])
    return True


@_jit
def triangulate_groups(weights, normalized, assign, outliers, centres, R, t, focal,
                       joint_reject_px, view_reject_px, min_common, points, kept):
    """Triangulate G groups of candidates and release the views that disagree.

    weights (V, P, J) (0: missing); normalized (V, P, J, 2) (each joint's world unit ray
    ``R^T (x, y, 1) / |.|`` is formed where its weight is > 0); assign (G, V) candidate per view (-1 none); outliers (G, V, J) joints
    left out from the start. Per group, up to twice: solve every joint, drop joints reprojecting
    further than ``joint_reject_px`` and solve again, then release views whose lower-median joint
    error is not below ``view_reject_px`` (or with fewer than ``min_common`` joints); stop when
    no view is released. Writes points (G, J, 3) (NaN: unsolved) and kept (G, V).
    """
    G, V = assign.shape
    J = normalized.shape[2]
    r = np.empty((V, J, 3))
    w = np.empty((V, J))
    X = np.empty((J, 3))
    errors = np.empty(J)
    for g in range(G):
        for v in range(V):
            kept[g, v] = assign[g, v]
        for _ in range(2):
            for v in range(V):
                p = kept[g, v]
                for j in range(J):
                    if p < 0 or outliers[g, v, j]:
                        w[v, j] = 0.0
                    else:
                        w[v, j] = weights[v, p, j]
                        x, y = normalized[v, p, j, 0], normalized[v, p, j, 1]
                        dx = R[v, 0, 0] * x + R[v, 1, 0] * y + R[v, 2, 0]  # R^T (x, y, 1)
                        dy = R[v, 0, 1] * x + R[v, 1, 1] * y + R[v, 2, 1]
                        dz = R[v, 0, 2] * x + R[v, 1, 2] * y + R[v, 2, 2]
                        norm = math.sqrt(dx * dx + dy * dy + dz * dz)
                        r[v, j, 0], r[v, j, 1], r[v, j, 2] = dx / norm, dy / norm, dz / norm
            for j in range(J):
                X[j, 0], X[j, 1], X[j, 2] = _solve_joint(r, w, centres, j, V)
            far = False
            for v in range(V):
                if _view_errors_px(X, v, kept[g, v], w, normalized, R, t, focal, errors):
                    for j in range(J):
                        if w[v, j] > 0 and not errors[j] < joint_reject_px:
                            w[v, j] = 0.0
                            far = True
            if far:
                for j in range(J):
                    X[j, 0], X[j, 1], X[j, 2] = _solve_joint(r, w, centres, j, V)
            released = False
            for v in range(V):
                if not _view_errors_px(X, v, kept[g, v], w, normalized, R, t, focal, errors):
                    continue
                count = 0
                for j in range(J):  # the finite errors to the front (count <= j)
                    if not math.isnan(errors[j]):
                        errors[count] = errors[j]
                        count += 1
                if count < max(min_common, 1) or not _lower_median(errors, count) < view_reject_px:
                    kept[g, v] = -1
                    released = True
            if not released:
                break
        for j in range(J):
            points[g, j, 0], points[g, j, 1], points[g, j, 2] = X[j, 0], X[j, 1], X[j, 2]


@_jit
def pairwise_epipolar(normalized, views, slots, essential, focal, min_common, cost):
    """Symmetric epipolar distance (pixels, lower median over joints) of every pair of the n
    candidates ``(views[i], slots[i])`` in different views; inf on the diagonal, within a view and
    with fewer than ``min_common`` shared joints. normalized (V, P, J, 2); essential (V, V, 3, 3)
    with ``x_b^T E[a, b] x_a = 0``; writes cost (n, n)."""
    n = views.shape[0]
    J = normalized.shape[2]
    buffer = np.empty(J)
    for i in range(n):
        cost[i, i] = np.inf
        for k in range(i + 1, n):
            a, b = views[i], views[k]
            if a == b:
                cost[i, k] = cost[k, i] = np.inf
                continue
            count = 0
            for j in range(J):
                xa, ya = normalized[a, slots[i], j, 0], normalized[a, slots[i], j, 1]
                xb, yb = normalized[b, slots[k], j, 0], normalized[b, slots[k], j, 1]
                if math.isnan(xa) or math.isnan(ya) or math.isnan(xb) or math.isnan(yb):
                    continue
                E = essential[a, b]
                l0 = E[0, 0] * xa + E[0, 1] * ya + E[0, 2]  # line in b of the point in a
                l1 = E[1, 0] * xa + E[1, 1] * ya + E[1, 2]
                l2 = E[2, 0] * xa + E[2, 1] * ya + E[2, 2]
                m0 = E[0, 0] * xb + E[1, 0] * yb + E[2, 0]  # line in a of the point in b (E^T x_b)
                m1 = E[0, 1] * xb + E[1, 1] * yb + E[2, 1]
                m2 = E[0, 2] * xb + E[1, 2] * yb + E[2, 2]
                nb, na = math.sqrt(l0 * l0 + l1 * l1), math.sqrt(m0 * m0 + m1 * m1)
                if not (nb > 0 and na > 0):
                    continue
                d_b = abs(l0 * xb + l1 * yb + l2) / nb * focal[b]
                d_a = abs(m0 * xa + m1 * ya + m2) / na * focal[a]
                buffer[count] = (d_a + d_b) / 2
                count += 1
            value = np.inf
            if count >= max(min_common, 1):
                value = _lower_median(buffer, count)
            cost[i, k] = cost[k, i] = value


@_jit
def affinities(points, predicted, assigned, normalized, R, t, focal, out):
    """Distance (pixels, lower median over joints) of each chosen candidate to its person's
    skeleton reprojected: points (T, J, 3) triangulated (NaN joints fall back to ``predicted``);
    assigned (T, V); normalized (V, P, J, 2). Writes out (T, V), NaN where no candidate."""
    T, V = assigned.shape
    J = points.shape[1]
    buffer = np.empty(J)
    X = np.empty(3)
    for k in range(T):
        for v in range(V):
            out[k, v] = np.nan
            p = assigned[k, v]
            if p < 0:
                continue
            count = 0
            for j in range(J):
                for c in range(3):
                    X[c] = points[k, j, c]
                    if math.isnan(X[c]):
                        X[c] = predicted[k, j, c]
                e = _reprojection_px(X, v, R, t, focal, normalized[v, p, j, 0], normalized[v, p, j, 1])
                if not math.isnan(e):
                    buffer[count] = e
                    count += 1
            if count:
                out[k, v] = _lower_median(buffer, count)
