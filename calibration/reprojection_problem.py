"""The reprojection model of bundle adjustment: residuals and analytic per-observation Jacobians.

Conventions in :mod:`geometry.camera`. Used by :mod:`calibration.bundle_adjustment` (which
documents the problem) and solved by :mod:`calibration.schur_lm` or ``scipy.optimize.least_squares``.

Parameter vector layout: ``[6 per free camera (rvec, t)] [intrinsics per camera] [structure]``.
The camera-side part (the first ``num_a`` entries) is small; the structure part (6 per board
pose or 3 per point) is large and block-diagonal in the normal equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from geometry import Rig, rotation_from_rvec, skew
from geometry.lens import (OPENCV_DISTORTION_LENGTHS, distort_jacobian, distort_normalized,
                           distortion_coefficient_jacobian)

from .lens_model import IntrinsicsAnchor, LensPriors, lens_prior_rows

__all__ = ["BoardStructure", "PointStructure", "Intrinsics", "CaptureMotion", "ReprojectionProblem", "Linearization",
           "right_jacobian"]

_MIN_DEPTH_M = 1e-6  # points at or behind a camera are projected from this depth (finite residual)
_SCALE_GAUGE_WEIGHT = 100.0  # px-equivalent per unit relative change of the gauge distance
_MAX_PRIOR_ROWS = 23  # per camera: square pixels, cx, cy, 8 distortion coefficients; 12 anchor rows


@dataclass(frozen=True)
class Linearization:
    """residuals: (M, 2) px; J: (M, 2, k) blocks in the columns of ``ReprojectionProblem.columns``
    (None when not asked for); gauge_residual: float or None; gauge_gradient: (6,) over the gauge
    camera's pose parameters or None."""

    residuals: np.ndarray
    J: np.ndarray | None
    gauge_residual: float | None
    gauge_gradient: np.ndarray | None

    def flat_residuals(self) -> np.ndarray:
        flat = self.residuals.reshape(-1)
        return flat if self.gauge_residual is None else np.append(flat, self.gauge_residual)


# -- rotation derivatives ---------------------------------------------------------------------
def right_jacobian(rvec: np.ndarray) -> np.ndarray:
    """SO(3) right Jacobian: (..., 3) -> (..., 3, 3), ``R(r + d) ~ R(r) Exp(J_r(r) d)``."""
    theta = np.linalg.norm(rvec, axis=-1)
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 0.5 - theta**2 / 24, (1 - np.cos(safe)) / safe**2)
    b = np.where(small, 1 / 6 - theta**2 / 120, (safe - np.sin(safe)) / safe**3)
    W = skew(rvec)
    return np.eye(3) - a[..., None, None] * W + b[..., None, None] * (W @ W)


def _times_skew(A: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``A @ [p]x`` row by row: A (M, 2, 3), p (M, 3) -> (M, 2, 3) (row i is ``A_i x p``)."""
    return np.cross(A, p[:, None, :])


def _bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched small matrix product (M, i, j) x (M, j, k) -> (M, i, k)."""
    return np.einsum("mij,mjk->mik", a, b)


# -- structure parameterizations --------------------------------------------------------------
class BoardStructure:
    """X_world = R(r_f) corners[c] + t_f, 6 parameters per frame."""

    kind = "board"
    width = 6

    def __init__(self, corners: np.ndarray, corner_index: np.ndarray, frame_index: np.ndarray):
        self.corners = corners
        self.corner_index = corner_index
        self.frame_index = frame_index

    def subset(self, mask):
        return BoardStructure(self.corners, self.corner_index[mask], self.frame_index[mask])

    def world_points(self, params: np.ndarray) -> np.ndarray:
        poses = params.reshape(-1, 6)
        R = rotation_from_rvec(poses[:, :3])
        in_world = np.einsum("fij,cj->fci", R, self.corners) + poses[:, None, 3:]  # (F, C, 3)
        return in_world[self.frame_index, self.corner_index]

    def jacobian(self, params: np.ndarray, d_pixel_d_world: np.ndarray) -> np.ndarray:
        """(M, 2, 6): d pixel / d (rvec_f, t_f) given d pixel / d X_world (M, 2, 3)."""
        poses = params.reshape(-1, 6)
        R = rotation_from_rvec(poses[:, :3])[self.frame_index]
        Jr = right_jacobian(poses[:, :3])[self.frame_index]
        d_rot = -_bmm(_times_skew(_bmm(d_pixel_d_world, R), self.corners[self.corner_index]), Jr)
        return np.concatenate([d_rot, d_pixel_d_world], axis=2)

    def unpack(self, params):
        poses = params.reshape(-1, 6)
        return rotation_from_rvec(poses[:, :3]), poses[:, 3:].copy(), np.zeros((0, 3))


class PointStructure:
    """X_world = points[n], 3 parameters per point."""

    kind = "points"
    width = 3

    def __init__(self, point_index: np.ndarray):
        self.point_index = point_index

    def subset(self, mask):
        return PointStructure(self.point_index[mask])

    def world_points(self, params: np.ndarray) -> np.ndarray:
        return params.reshape(-1, 3)[self.point_index]

    def jacobian(self, params: np.ndarray, d_pixel_d_world: np.ndarray) -> np.ndarray:
        return d_pixel_d_world

    def unpack(self, params):
        return np.zeros((0, 3, 3)), np.zeros((0, 3)), params.reshape(-1, 3).copy()


# -- capture-time offsets (variable projection) ------------------------------------------------
class CaptureMotion:
    """Each view (a camera's image of one board pose) exposed at its own unknown instant.

    The corners of view g moved by ``o_g * velocity`` (px) between the board pose's instant and the
    view's exposure; ``o_g`` (frames) has a Gaussian prior of weight ``weight`` (px^2 per frame^2).
    The offsets are eliminated in closed form: the view's stacked residual ``r`` (2n) becomes
    ``(I - alpha u u^T) r`` with ``u`` its unit velocity pattern and ``(1 - alpha)^2 = weight /
    (|v|^2 + weight)``, whose squared norm is ``min_o |r - o v|^2 + weight o^2``; the Jacobian gets the
    same projection. All observations of a view share their Jacobian columns (camera, intrinsics,
    board pose), so the block pattern is unchanged.

    velocity: (M, 2) px per frame of each observation; group: (M,) int, its view.
    """

    def __init__(self, velocity: np.ndarray, group: np.ndarray, weight: float):
        self.velocity = np.asarray(velocity, dtype=np.float64)
        self.group = np.asarray(group, dtype=np.int64)
        self.weight = float(weight)
        _, self.inverse = np.unique(self.group, return_inverse=True)
        G, M = int(self.inverse.max()) + 1 if self.group.size else 0, self.group.size
        self.sum_over_view = scipy.sparse.csr_matrix((np.ones(M), (self.inverse, np.arange(M))), shape=(G, M))
        self.speed_sq = self.sum_over_view @ np.sum(self.velocity**2, axis=1)  # (G,) |v|^2 per view
        norm = np.sqrt(self.speed_sq)
        self.unit = self.velocity / np.where(norm > 0, norm, 1.0)[self.inverse, None]
        self.alpha = np.where(self.speed_sq > 0, 1 - np.sqrt(self.weight / (self.speed_sq + self.weight)), 0.0)

    def subset(self, mask: np.ndarray) -> "CaptureMotion":
        return CaptureMotion(self.velocity[mask], self.group[mask], self.weight)

    def project(self, residuals: np.ndarray, J: np.ndarray | None):
        """(M, 2) residuals and (M, 2, k) Jacobian blocks with each view's offset eliminated."""
        dot = self.sum_over_view @ np.einsum("md,md->m", self.unit, residuals)  # (G,)
        scaled = (self.alpha[self.inverse])[:, None] * self.unit  # (M, 2)
        residuals = residuals - scaled * dot[self.inverse, None]
        if J is not None:
            c = self.sum_over_view @ np.einsum("md,mdk->mk", self.unit, J)  # (G, k)
            J = J - scaled[:, :, None] * c[self.inverse][:, None, :]
        return residuals, J

    def offsets(self, residuals: np.ndarray) -> np.ndarray:
        """(M,) the offset (frames) of each observation's view that the plain ``residuals``
        (projected - observed, (M, 2)) imply: positive when the view was exposed later."""
        dot = self.sum_over_view @ np.einsum("md,md->m", self.velocity, residuals)
        return (-dot / (self.speed_sq + self.weight))[self.inverse]


# -- intrinsics parameterization --------------------------------------------------------------
class Intrinsics:
    """Per-camera intrinsic parameters: which are free, how to rebuild K and dist, and their priors.

    priors: :class:`calibration.lens_model.LensPriors` on the free intrinsics (principal point
    near the image centre, square pixels, sane distortion; the rows of
    :func:`calibration.lens_model.lens_prior_rows`), or None for none. A fisheye lens's
    coefficients get no prior (the rows are the OpenCV model's).
    anchors: per camera an :class:`calibration.lens_model.IntrinsicsAnchor` (a separate estimate
    and its uncertainty, weighed like the priors against ``priors.corner_noise_px``) or None.
    """

    def __init__(self, rig: Rig, mode: str, num_free_distortion: int | tuple[int, ...] | None,
                 priors: LensPriors | None = None, anchors: tuple[IntrinsicsAnchor | None, ...] | None = None):
        self.mode = mode
        if anchors is not None and len(anchors) != len(rig):
            raise ValueError(f"{len(anchors)} intrinsics anchors for {len(rig)} cameras")
        if anchors is not None and priors is None:
            priors = LensPriors(distortion_px=np.inf, principal_point_px=np.inf, pixel_aspect=np.inf)
        self.priors = priors
        self.anchors = anchors
        self.sizes = [cam.size for cam in rig]
        self.models = [cam.model for cam in rig]
        counts = []
        per_camera = (num_free_distortion if isinstance(num_free_distortion, tuple)
                      else (num_free_distortion,) * len(rig))  # one count per camera
        for cam, num_free_distortion in zip(rig, per_camera):
            if self.mode != "full":
                counts.append(0)
            elif cam.model == "fisheye":
                counts.append(4 if num_free_distortion is None else min(num_free_distortion, 4))
            else:
                # k1, k2, p1, p2, k3 by default; the rational k4..k6 only when asked for (they trade
                # off against k1..k3 unless the views reach far into the image corners).
                default = min(cam.dist.size, 5) if cam.dist.size else 5
                counts.append(default if num_free_distortion is None else num_free_distortion)
        self.num_dist_free = np.array(counts, dtype=np.int64)
        self.num_linear = {"fixed": 0, "focal": 2, "pinhole": 4, "full": 4}[self.mode]
        self.width = self.num_linear + int(self.num_dist_free.max(initial=0))
        self.K = np.stack([cam.K for cam in rig])
        self.dist = [cam.dist_padded for cam in rig]

    def initial(self) -> np.ndarray:
        x = np.zeros((len(self.K), self.width))
        if self.num_linear:
            x[:, 0], x[:, 1] = self.K[:, 0, 0], self.K[:, 1, 1]
        if self.num_linear == 4:
            x[:, 2], x[:, 3] = self.K[:, 0, 2], self.K[:, 1, 2]
        for v, n in enumerate(self.num_dist_free):
            x[v, self.num_linear:self.num_linear + n] = self.dist[v][:n]
        return x.reshape(-1)

    def current(self, params: np.ndarray):
        """(V, 3, 3) K and a list of V padded distortion vectors for parameters ``params``."""
        K = self.K.copy()
        dist = [d.copy() for d in self.dist]
        if not self.width:
            return K, dist
        x = params.reshape(len(K), self.width)
        if self.num_linear:
            K[:, 0, 0], K[:, 1, 1] = x[:, 0], x[:, 1]
        if self.num_linear == 4:
            K[:, 0, 2], K[:, 1, 2] = x[:, 2], x[:, 3]
        for v, n in enumerate(self.num_dist_free):
            dist[v][:n] = x[v, self.num_linear:self.num_linear + n]
        return K, dist

    def prior_rows(self, params: np.ndarray):
        """Prior residuals (V, k) and their Jacobian (V, k, width) over each camera's free
        intrinsics (px-noise units; rows of zeros pad cameras with fewer), or None without priors."""
        if self.priors is None or not self.width:
            return None
        K, dist = self.current(params)
        V, k = len(K), _MAX_PRIOR_ROWS
        r = np.zeros((V, k))
        J = np.zeros((V, k, self.width))
        for v in range(V):
            A = np.zeros((12, self.width))
            A[0, 0] = A[1, 1] = 1.0
            if self.num_linear == 4:
                A[2, 2] = A[3, 3] = 1.0
            n = int(self.num_dist_free[v]) if self.models[v] == "opencv" else 0
            A[4 + np.arange(n), self.num_linear + np.arange(n)] = 1.0
            theta = np.zeros(12)
            theta[:4] = K[v, 0, 0], K[v, 1, 1], K[v, 0, 2], K[v, 1, 2]
            if self.models[v] == "opencv":
                theta[4:] = dist[v][:8]
            rows, jac = lens_prior_rows(theta, A, self.sizes[v], self.priors)
            anchor = None if self.anchors is None else self.anchors[v]
            if anchor is not None:
                weight = self.priors.corner_noise_px
                rows = np.concatenate([rows, weight * anchor.sqrt_information @ (theta - anchor.theta)])
                jac = np.concatenate([jac, weight * anchor.sqrt_information @ A])
            r[v, :len(rows)], J[v, :len(rows)] = rows, jac
        return r, J

    def cameras(self, rig: Rig, params: np.ndarray, R: np.ndarray, t: np.ndarray) -> Rig:
        K, dist = self.current(params)
        cams = []
        for v, cam in enumerate(rig):
            own = cam.dist.size
            n = max(own, int(self.num_dist_free[v]))
            if cam.model == "opencv":
                n = next(k for k in OPENCV_DISTORTION_LENGTHS if k >= n)
            cams.append(cam.replace(K=K[v], dist=dist[v][:n], R=R[v], t=t[v]))
        return Rig(cams)


# -- residuals and Jacobian -------------------------------------------------------------------
class ReprojectionProblem:
    """Residuals and the analytic sparse Jacobian for one set of observations."""

    def __init__(self, rig, obs, structure, intrinsics: Intrinsics, fixed_camera,
                 num_structure_params, x_cam_fixed, scale_gauge, motion: CaptureMotion | None = None):
        self.rig, self.obs, self.structure, self.intr = rig, obs, structure, intrinsics
        self.motion = motion
        self.V = len(rig)
        self.fixed = fixed_camera
        self.x_cam_fixed = x_cam_fixed  # (6,) rvec, t of the fixed camera
        self.free_cams = np.array([v for v in range(self.V) if v != fixed_camera], dtype=np.int64)
        self.n_cam = 6 * len(self.free_cams)
        self.n_intr = self.V * intrinsics.width
        self.n_struct = num_structure_params
        self.n = self.n_cam + self.n_intr + self.n_struct
        self.scale_gauge = scale_gauge  # (camera index, initial distance) or None
        self._build_pattern()

    # parameter layout: [free cameras 6 each][intrinsics per camera][structure]
    def pack(self, x_cams: np.ndarray, x_intr: np.ndarray, x_struct: np.ndarray) -> np.ndarray:
        return np.concatenate([x_cams[self.free_cams].reshape(-1), x_intr, x_struct])

    def cameras(self, x: np.ndarray) -> np.ndarray:
        x_cams = np.empty((self.V, 6))
        x_cams[self.fixed] = self.x_cam_fixed
        x_cams[self.free_cams] = x[:self.n_cam].reshape(-1, 6)
        return x_cams

    def _build_pattern(self) -> None:
        M = self.obs.size
        cam_slot = np.full(self.V, -1, dtype=np.int64)
        cam_slot[self.free_cams] = np.arange(len(self.free_cams))
        slot = cam_slot[self.obs.camera]
        cols = []
        cam_cols = 6 * slot[:, None] + np.arange(6)
        cam_cols[slot < 0] = -1
        cols.append(cam_cols)
        if self.intr.width:
            cols.append(self.n_cam + self.intr.width * self.obs.camera[:, None] + np.arange(self.intr.width))
        w = self.structure.width
        cols.append(self.n_cam + self.n_intr + w * self.obs.point[:, None] + np.arange(w))
        cols = np.concatenate(cols, axis=1)  # (M, k)
        self.columns = cols  # (M, k) parameter index of every Jacobian column, -1 when held fixed
        self.num_a = self.n_cam + self.n_intr  # camera-side parameters (cameras + intrinsics)
        k = cols.shape[1]
        rows = np.repeat(2 * np.arange(M)[:, None] + np.arange(2)[None, :], k, axis=1)  # (M, 2k)
        cols2 = np.concatenate([cols, cols], axis=1)
        self._keep = (cols2 >= 0).reshape(-1)
        self._rows = rows.reshape(-1)[self._keep]
        self._cols = cols2.reshape(-1)[self._keep]
        self._k = k
        self.num_residuals = 2 * M + (1 if self.scale_gauge is not None else 0)
        if self.scale_gauge is not None:
            v = self.scale_gauge[0]
            gauge_cols = 6 * cam_slot[v] + np.arange(6)
            self._rows = np.concatenate([self._rows, np.full(6, 2 * M)])
            self._cols = np.concatenate([self._cols, gauge_cols])
        self.has_prior = self.intr.priors is not None and self.intr.width > 0
        if self.has_prior:  # dense (k, width) block per camera after the other residuals
            k, width = _MAX_PRIOR_ROWS, self.intr.width
            v, i, j = np.meshgrid(np.arange(self.V), np.arange(k), np.arange(width), indexing="ij")
            self._rows = np.concatenate([self._rows, (self.num_residuals + v * k + i).reshape(-1)])
            self._cols = np.concatenate([self._cols, (self.n_cam + width * v + j).reshape(-1)])
            self.num_residuals += self.V * k

    def _evaluate(self, x: np.ndarray, jacobian: bool, plain: bool = False):
        lin = self._evaluate_plain(x, jacobian)
        if self.motion is None or plain:
            return lin
        residuals, J = self.motion.project(lin.residuals, lin.J)
        return Linearization(residuals, J, lin.gauge_residual, lin.gauge_gradient)

    def _evaluate_plain(self, x: np.ndarray, jacobian: bool):
        obs = self.obs
        x_cams = self.cameras(x)
        x_intr = x[self.n_cam:self.n_cam + self.n_intr]
        x_struct = x[self.n_cam + self.n_intr:]
        K, dist = self.intr.current(x_intr)
        R_cams = rotation_from_rvec(x_cams[:, :3])
        X = self.structure.world_points(x_struct)
        Rv = R_cams[obs.camera]
        Xc = np.einsum("mij,mj->mi", Rv, X) + x_cams[obs.camera, 3:]
        z = np.maximum(Xc[:, 2], _MIN_DEPTH_M)
        xy = Xc[:, :2] / z[:, None]
        Kv = K[obs.camera]
        M = obs.size
        xd = np.empty((M, 2))
        d_xd_d_xy = np.empty((M, 2, 2)) if jacobian else None
        d_xd_d_dist = np.zeros((M, 2, self.intr.width - self.intr.num_linear)) if jacobian else None
        for model in ("opencv", "fisheye"):
            cams = [v for v in range(self.V) if self.intr.models[v] == model]
            if not cams:
                continue
            sel = np.isin(obs.camera, cams)
            if not np.any(sel):
                continue
            slot = np.full(self.V, -1, dtype=np.int64)
            slot[cams] = np.arange(len(cams))
            D = np.stack([dist[v] for v in cams])[slot[obs.camera[sel]]]  # (m, 8|4)
            p = xy[sel]
            if not jacobian:
                xd[sel] = distort_normalized(p, D, model)
                continue
            xd[sel], d_xd_d_xy[sel] = distort_jacobian(p, D, model)  # analytic (geometry.lens)
            width = min(d_xd_d_dist.shape[2], D.shape[1])
            if width:
                free = np.arange(width) < self.intr.num_dist_free[obs.camera[sel]][:, None]  # (m, width)
                d_dist = distortion_coefficient_jacobian(p, D, model)[:, :, :width]
                d_xd_d_dist[sel, :, :width] = d_dist * free[:, None, :]
        u = Kv[:, 0, 0] * xd[:, 0] + Kv[:, 0, 1] * xd[:, 1] + Kv[:, 0, 2]
        v = Kv[:, 1, 1] * xd[:, 1] + Kv[:, 1, 2]
        residuals = np.stack([u, v], axis=1) - obs.pixels
        gauge_residual = None  # the points case's scale gauge
        if self.scale_gauge is not None:
            vg, d0 = self.scale_gauge
            c = self._center(x_cams[vg]) - self._center(x_cams[self.fixed])
            gauge_residual = _SCALE_GAUGE_WEIGHT * (np.linalg.norm(c) / d0 - 1)
        if not jacobian:
            return Linearization(residuals, None, gauge_residual, None)
        # d pixel / d Xc = Kxy (2x2) @ d_xd_d_xy (2x2) @ d_xy_d_Xc (2x3), written out elementwise.
        fx, skew_px, fy = Kv[:, 0, 0], Kv[:, 0, 1], Kv[:, 1, 1]
        B = np.empty((M, 2, 3))
        B[:, :, 0] = d_xd_d_xy[:, :, 0] / z[:, None]
        B[:, :, 1] = d_xd_d_xy[:, :, 1] / z[:, None]
        B[:, :, 2] = -(d_xd_d_xy[:, :, 0] * xy[:, 0:1] + d_xd_d_xy[:, :, 1] * xy[:, 1:2]) / z[:, None]
        A = np.empty((M, 2, 3))
        A[:, 0] = fx[:, None] * B[:, 0] + skew_px[:, None] * B[:, 1]
        A[:, 1] = fy[:, None] * B[:, 1]
        d_pixel_d_world = _bmm(A, Rv)
        Jr = right_jacobian(x_cams[:, :3])[obs.camera]
        blocks = [-_bmm(_times_skew(d_pixel_d_world, X), Jr), A]
        if self.intr.width:
            J_intr = np.zeros((M, 2, self.intr.width))
            J_intr[:, 0, 0] = xd[:, 0]
            J_intr[:, 1, 1] = xd[:, 1]
            if self.intr.num_linear == 4:
                J_intr[:, 0, 2] = 1
                J_intr[:, 1, 3] = 1
            if d_xd_d_dist.shape[2]:
                dd = d_xd_d_dist
                J_intr[:, 0, self.intr.num_linear:] = fx[:, None] * dd[:, 0] + skew_px[:, None] * dd[:, 1]
                J_intr[:, 1, self.intr.num_linear:] = fy[:, None] * dd[:, 1]
            blocks.append(J_intr)
        blocks.append(self.structure.jacobian(x_struct, d_pixel_d_world))
        J = np.concatenate(blocks, axis=2)  # (M, 2, k), columns as in self.columns
        gauge_gradient = None
        if gauge_residual is not None:
            vg, d0 = self.scale_gauge
            c = self._center(x_cams[vg]) - self._center(x_cams[self.fixed])
            gauge_gradient = _SCALE_GAUGE_WEIGHT / d0 * (c / np.linalg.norm(c)) @ self._d_center(x_cams[vg])
        return Linearization(residuals, J, gauge_residual, gauge_gradient)

    @staticmethod
    def _center(x_cam: np.ndarray) -> np.ndarray:
        R = rotation_from_rvec(x_cam[:3])
        return -R.T @ x_cam[3:]

    @staticmethod
    def _d_center(x_cam: np.ndarray) -> np.ndarray:
        """d(-R^T t)/d(rvec, t): (3, 6). R(r)^T = R(-r), so d(R^T t)/dr = R^T [t]x J_r(-r)."""
        r, t = x_cam[:3], x_cam[3:]
        Rt = rotation_from_rvec(r).T
        d_r = -(Rt @ skew(t) @ right_jacobian(-r))
        return np.concatenate([d_r, -Rt], axis=1)

    def linearize(self, x: np.ndarray, *, jacobian: bool = True) -> "Linearization":
        """Residuals (and Jacobian blocks) at parameters ``x`` (capture offsets eliminated)."""
        return self._evaluate(x, jacobian)

    def plain_residuals(self, x: np.ndarray) -> np.ndarray:
        """(M, 2) projected minus observed px, before any capture-offset elimination."""
        return self._evaluate(x, False, plain=True).residuals

    def prior(self, x: np.ndarray):
        """The intrinsics priors at ``x``: residuals (V, k) and Jacobian (V, k, width) over each
        camera's intrinsics columns (px-noise units, no robust loss), or None without priors."""
        if not self.has_prior:
            return None
        return self.intr.prior_rows(x[self.n_cam:self.n_cam + self.n_intr])

    # -- the flat interface of scipy.optimize.least_squares ----------------------------------
    def residuals(self, x: np.ndarray) -> np.ndarray:
        flat = self._evaluate(x, False).flat_residuals()
        prior = self.prior(x)
        return flat if prior is None else np.concatenate([flat, prior[0].reshape(-1)])

    def jacobian(self, x: np.ndarray) -> scipy.sparse.csr_matrix:
        lin = self._evaluate(x, True)
        data = lin.J.reshape(-1)[self._keep]
        if lin.gauge_gradient is not None:
            data = np.concatenate([data, lin.gauge_gradient])
        prior = self.prior(x)
        if prior is not None:
            data = np.concatenate([data, prior[1].reshape(-1)])
        return scipy.sparse.csr_matrix((data, (self._rows, self._cols)), shape=(self.num_residuals, self.n))


