"""The association's geometry for one frameset (private to :mod:`labeling.people`).

The rig as the association uses it (:class:`_Geometry`: poses, focal lengths, essential
matrices, the compiled lens inverse), the epipolar affinity of candidate pairs, and the three
per-frameset steps -- the claim costs of tracks for candidates, the triangulation of groups of
candidates, the affinity of each chosen candidate -- each as the compiled kernel of
:mod:`labeling._people_kernels` with its numpy reference beside it (the tests compare them).
Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import numpy as np

from geometry import normalized_from_distorted

__all__ = ["pair_epipolar_px"]


def pair_epipolar_px(x_a: np.ndarray, x_b: np.ndarray, E_ab: np.ndarray, focal_a: np.ndarray,
                     focal_b: np.ndarray, *, min_common_joints: int) -> np.ndarray:
    """Median symmetric epipolar distance of K candidate pairs (pixels).

    x_a, x_b: (K, J, 2) undistorted normalized coordinates in views a and b (NaN missing).
    E_ab: (K, 3, 3) with ``x_b^T E_ab x_a = 0``. focal_a, focal_b: (K,) focal lengths, pixels.
    Returns (K,) float64; inf where fewer than ``min_common_joints`` joints are in both.
    """
    ha = np.concatenate([x_a, np.ones(x_a.shape[:-1] + (1,))], axis=-1)
    hb = np.concatenate([x_b, np.ones(x_b.shape[:-1] + (1,))], axis=-1)
    line_b = np.einsum("kij,kmj->kmi", E_ab, ha)  # lines in b
    line_a = np.einsum("kji,kmj->kmi", E_ab, hb)  # lines in a (E^T x_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        d_b = np.abs((hb * line_b).sum(-1)) / np.hypot(line_b[..., 0], line_b[..., 1]) * focal_b[:, None]
        d_a = np.abs((ha * line_a).sum(-1)) / np.hypot(line_a[..., 0], line_a[..., 1]) * focal_a[:, None]
    return _lower_median((d_a + d_b) / 2, min_common_joints)


def _lower_median(values: np.ndarray, min_count: int) -> np.ndarray:
    """Lower median over the last axis ignoring NaN; inf where fewer than ``min_count`` values."""
    count = np.isfinite(values).sum(axis=-1)
    ordered = np.sort(np.where(np.isfinite(values), values, np.inf), axis=-1)
    pick = np.clip((count - 1) // 2, 0, None)[..., None]
    median = np.take_along_axis(ordered, pick, axis=-1)[..., 0]
    return np.where(count >= max(min_count, 1), median, np.inf)


class _Geometry:
    """The rig as the association needs it: poses, focal lengths, essential matrices."""

    def __init__(self, rig):
        from .association import _essentials

        self.R = np.asarray(rig.R, dtype=np.float64)
        self.t = np.asarray(rig.t, dtype=np.float64)
        self.centres = -np.einsum("vji,vj->vi", self.R, self.t)  # (V, 3) world
        self.focal = (rig.K[:, 0, 0] + rig.K[:, 1, 1]) / 2
        self.essential = _essentials(rig)
        self.rig = rig

    def normalize(self, points_2d: np.ndarray) -> np.ndarray:
        """(V, ..., 2) distorted pixels -> undistorted normalized (V, ..., 2) (the triangulators'
        compiled lens inverse, to 1e-12 px with 5 Newton steps; NaN stays NaN)."""
        return normalized_from_distorted(self.rig, points_2d, newton_steps=5)

    def rays(self, normalized: np.ndarray) -> np.ndarray:
        """(V, ..., 2) normalized -> (V, ..., 3) unit ray directions in the world."""
        h = np.concatenate([normalized, np.ones(normalized.shape[:-1] + (1,))], axis=-1)
        V = h.shape[0]
        d = (h.reshape(V, -1, 3) @ self.R).reshape(h.shape)  # R^T h per view
        return d / np.sqrt((d * d).sum(axis=-1, keepdims=True))

    def to_normalized(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 3) world -> ((V, ..., 2) normalized, (V, ...) depth); NaN behind a camera."""
        V = len(self.R)
        flat = points.reshape(-1, 3)
        cam = self.R @ flat.T + self.t[:, :, None]  # (V, 3, N)
        z = cam[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = (cam[:, :2] / z[:, None]).transpose(0, 2, 1)
        xy[~(z > 1e-6)] = np.nan
        return xy.reshape((V,) + points.shape[:-1] + (2,)), z.reshape((V,) + points.shape[:-1])

    def triangulate(self, rays: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted least-squares intersection of rays. rays: (V, N, 3) unit (any value where the
        weight is 0, not NaN), weights: (V, N) (0: unused). Returns (N, 3); NaN where fewer than
        two views have weight or the rays are parallel."""
        weighted = weights[..., None] * rays  # (V, N, 3)
        A = -(weighted.transpose(1, 2, 0) @ rays.transpose(1, 0, 2))  # (N, 3, 3)
        A[:, [0, 1, 2], [0, 1, 2]] += weights.sum(axis=0)[:, None]
        along = (rays * self.centres[:, None, :]).sum(axis=-1)  # (V, N): d . C
        b = weights.T @ self.centres - (weighted * along[..., None]).sum(axis=0)
        X = _solve3(A, b)
        X[(weights > 0).sum(axis=0) < 2] = np.nan
        return X


def _solve3(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve N symmetric 3x3 systems by cofactors: (N, 3, 3), (N, 3) -> (N, 3); NaN where
    singular (cheaper than ``np.linalg.solve`` for small N)."""
    a, bb, c = A[:, 0, 0], A[:, 0, 1], A[:, 0, 2]
    d, e, f = A[:, 1, 1], A[:, 1, 2], A[:, 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - bb * f, bb * e - c * d
    c11, c12, c22 = a * f - c * c, bb * c - a * e, a * d - bb * bb
    det = a * c00 + bb * c01 + c * c02
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(np.abs(det) > 1e-12, 1.0 / det, np.nan)
    x = (c00 * b[:, 0] + c01 * b[:, 1] + c02 * b[:, 2]) * inv
    y = (c01 * b[:, 0] + c11 * b[:, 1] + c12 * b[:, 2]) * inv
    z = (c02 * b[:, 0] + c12 * b[:, 1] + c22 * b[:, 2]) * inv
    return np.stack([x, y, z], axis=-1)


def _centroid(points: np.ndarray) -> np.ndarray:
    """(..., J, 3) -> (..., 3) mean of the finite joints (NaN where none)."""
    ok = np.isfinite(points).all(axis=-1)
    count = ok.sum(axis=-1)[..., None]
    total = np.where(ok[..., None], points, 0.0).sum(axis=-2)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def _claim_costs(predicted, normalized, weights, present, geometry: _Geometry, min_common: int):
    """((V, T, P) cost in metres at the track's depth, (V, T, P, J) normalized distances) of
    every candidate for every track's predicted skeleton (compiled; reference below)."""
    from ._people_kernels import claim_costs

    V, P, J, _ = normalized.shape
    T = predicted.shape[0]
    cost = np.empty((V, T, P))
    distance = np.empty((V, T, P, J))
    claim_costs(np.ascontiguousarray(predicted), normalized, weights, present, geometry.R, geometry.t,
                int(min_common), cost, distance)
    return cost, distance


def _affinities(points, predicted, assigned, normalized, geometry: _Geometry) -> np.ndarray:
    """(T, V) pixels: each chosen candidate's distance to its person's skeleton (triangulated
    joints, else predicted) reprojected, lower median over joints; NaN where none (compiled)."""
    from ._people_kernels import affinities

    out = np.empty(assigned.shape)
    affinities(np.ascontiguousarray(points), np.ascontiguousarray(predicted),
               np.ascontiguousarray(assigned, dtype=np.int64), normalized, geometry.R, geometry.t,
               geometry.focal, out)
    return out


def _affinities_numpy(points, predicted, assigned, normalized, geometry: _Geometry) -> np.ndarray:
    """The numpy reference of :func:`_affinities`."""
    V = normalized.shape[0]
    reference = np.where(np.isfinite(points), points, predicted)
    xy, _ = geometry.to_normalized(reference)  # (V, T, J, 2)
    chosen_xy = normalized[np.arange(V)[:, None], np.clip(assigned, 0, None).T]  # (V, T, J, 2)
    distance = np.linalg.norm(chosen_xy - xy, axis=-1) * geometry.focal[:, None, None]
    affinity = np.where((assigned >= 0).T, _lower_median(distance, 1), np.nan).T  # (T, V)
    affinity[~np.isfinite(affinity)] = np.nan
    return affinity


def _claim_costs_numpy(predicted, normalized, weights, present, geometry: _Geometry,
                       min_common: int):
    """The numpy reference of :func:`_claim_costs`."""
    T = predicted.shape[0]
    xy, _ = geometry.to_normalized(predicted)  # (V, T, J, 2)
    _, depth = geometry.to_normalized(_centroid(predicted))  # (V, T)
    diff = xy[:, :, None] - normalized[:, None]  # (V, T, P, J, 2)
    distance = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)
    distance[~(weights[:, None] > 0) | np.isnan(distance)] = np.nan
    cost_m = _lower_median(distance, min_common) * \
        np.where(depth > 0, depth, np.inf)[..., None]  # (V, T, P) metres at the track's depth
    cost_m[~present[:, None].repeat(T, axis=1) | np.isnan(cost_m)] = np.inf
    return cost_m, distance


def _triangulate_groups(assign: np.ndarray, weights: np.ndarray,
                        normalized: np.ndarray, geometry: _Geometry, options,
                        outliers: np.ndarray | None = None):
    """Triangulate G groups (assign (G, V) candidate per view) -> ((G, J, 3), assign without the
    views whose candidate disagrees with the result) (compiled; reference below)."""
    from ._people_kernels import triangulate_groups

    G, V = assign.shape
    J = normalized.shape[2]
    points = np.empty((G, J, 3))
    kept = np.empty((G, V), dtype=np.int64)
    if outliers is None:
        outliers = np.zeros((G, V, J), dtype=bool)
    triangulate_groups(weights, normalized, np.ascontiguousarray(assign, dtype=np.int64),
                       np.ascontiguousarray(outliers), geometry.centres, geometry.R, geometry.t,
                       geometry.focal, float(options.joint_reject_px), float(options.view_reject_px),
                       int(options.min_common_joints), points, kept)
    return points, kept


def _triangulate_groups_numpy(assign: np.ndarray, weights: np.ndarray,
                              normalized: np.ndarray, geometry: _Geometry, options,
                              outliers: np.ndarray | None = None):
    """Triangulate G groups (assign (G, V) candidate per view) -> ((G, J, 3), assign without the
    views whose candidate disagrees with the result). outliers: (G, V, J) joints known to be
    wrong beforehand (far from the track's prediction), left out from the start."""
    G, V = assign.shape
    J = normalized.shape[2]
    if G == 0:
        return np.zeros((0, J, 3)), assign
    assign = assign.copy()
    rays = np.nan_to_num(geometry.rays(normalized))  # (V, P, J, 3), 0 where missing (weight 0)
    for _ in range(2):
        index = np.clip(assign, 0, None)
        views = np.arange(V)[None]
        r = rays[views, index].transpose(1, 0, 2, 3).reshape(V, G * J, 3)
        w = weights[views, index] * (assign >= 0)[..., None]
        if outliers is not None:
            w[outliers] = 0.0
        w = w.transpose(1, 0, 2)  # (V, G, J)
        x = normalized[views, index].transpose(1, 0, 2, 3)  # (V, G, J, 2)
        X = geometry.triangulate(r, w.reshape(V, -1)).reshape(G, J, 3)
        xy, _ = geometry.to_normalized(X)  # (V, G, J, 2)
        error = np.linalg.norm(xy - x, axis=-1) * geometry.focal[:, None, None]
        far = ~(error < options.joint_reject_px) & (w > 0)  # NaN counts as far
        if far.any():
            w = np.where(far, 0.0, w)
            X = geometry.triangulate(r, w.reshape(V, -1)).reshape(G, J, 3)
            xy, _ = geometry.to_normalized(X)
            error = np.linalg.norm(xy - x, axis=-1) * geometry.focal[:, None, None]
        error[~(w > 0)] = np.nan
        per_view = _lower_median(error, options.min_common_joints).T  # (G, V)
        bad = (assign >= 0) & ~(per_view < options.view_reject_px)
        if not bad.any():
            break
        assign[bad] = -1
    return X, assign
