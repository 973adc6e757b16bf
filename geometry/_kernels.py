"""Vectorized per-view lens kernels for the triangulators (private to ``geometry``).

The public camera model lives in :mod:`geometry.camera` and is the reference; these kernels compute
the same projection (tested against :meth:`Rig.project` / :meth:`Rig.normalize`) in the layout the
triangulators need to be fast: planar ``(V, M)`` arrays of x and y (not ``(..., 2)``), per-view
coefficients as ``(V, 1)`` columns, terms the rig does not use (skew, tangential, rational,
fisheye) skipped, and the Jacobian of the distortion returned with it. ``Rig.normalize`` on 6 x
20,000 observations takes ~70 ms (30 Newton steps, general layout); the fixed-count Newton inverse
here reaches the same ~1e-12 in a fraction of that, which is what lets triangulation run at
millions of points per second.

Conventions in :mod:`geometry.camera`: ``V`` views, ``M`` flattened points.
"""

from __future__ import annotations

import numpy as np

from .rig import Rig

__all__ = ["Lenses"]

_FISHEYE_SMALL_R2 = 1e-12  # below this r^2 the fisheye scale uses its Taylor limit
MIN_DEPTH_M = 1e-9  # a point closer to a camera's plane than this is not seen by it
MAX_NORMALIZED = 1e3  # |X/Z| beyond this (89.94 deg off axis) is outside any lens: not seen


def _one_plus_poly(s: np.ndarray, coeffs) -> np.ndarray:
    """``1 + c1 s + c2 s^2 + ...`` by Horner's rule, in place on one new array."""
    out = coeffs[-1] * s
    for c in coeffs[-2::-1]:
        out += c
        out *= s
    out += 1.0
    return out


class _Group:
    """Views sharing one distortion model, with what the kernels need as (Vg, 1) columns."""

    def __init__(self, model: str, index: np.ndarray | slice, dist: np.ndarray):
        self.model = model
        self.index = index
        self.coeffs = [np.ascontiguousarray(dist[:, i:i + 1]) for i in range(dist.shape[1])]
        self.doubled = [2.0 * c for c in self.coeffs]
        self.tripled = [3.0 * c for c in self.coeffs]
        self.sextupled = [6.0 * c for c in self.coeffs]
        if model == "opencv":
            self.radial = bool(np.any(dist[:, [0, 1, 4]] != 0))
            self.tangential = bool(np.any(dist[:, 2:4] != 0))
            self.rational = bool(np.any(dist[:, 5:8] != 0))
        else:
            self.radial = self.tangential = self.rational = False

    # -- forward model ------------------------------------------------------------------------
    def distort(self, x: np.ndarray, y: np.ndarray, *, jacobian: bool):
        """Undistorted -> distorted normalized coordinates, and optionally the 2x2 Jacobian.

        x, y: (Vg, M). Returns ``xd, yd`` and ``(d00, d01, d10, d11)`` (or None).
        """
        if self.model == "fisheye":
            return self._distort_fisheye(x, y, jacobian=jacobian)
        return self._distort_opencv(x, y, jacobian=jacobian)

    def _distort_opencv(self, x, y, *, jacobian):
        k1, k2, p1, p2, k3, k4, k5, k6 = self.coeffs
        if not (self.radial or self.tangential or self.rational):
            if not jacobian:
                return x, y, None
            one, zero = np.ones_like(x), np.zeros_like(x)
            return x, y, (one, zero, zero, one)
        xx, yy, xy = x * x, y * y, x * y
        r2 = xx + yy
        num = _one_plus_poly(r2, (k1, k2, k3))
        if self.rational:
            den = _one_plus_poly(r2, (k4, k5, k6))
            radial = num / den
        else:
            radial = num
        xd = x * radial
        yd = y * radial
        if self.tangential:
            two_p1, two_p2 = self.doubled[2], self.doubled[3]
            xd += two_p1 * xy
            xd += p2 * (r2 + 2.0 * xx)
            yd += p1 * (r2 + 2.0 * yy)
            yd += two_p2 * xy
        if not jacobian:
            return xd, yd, None
        # d radial / d r2, times 2: the radial part of the Jacobian is radial I + 2 drad x x^T.
        two_drad = self.tripled[4] * r2  # 3 k3 r2
        two_drad += self.doubled[1]  # + 2 k2
        two_drad *= r2
        two_drad += k1
        if self.rational:
            dden = self.tripled[7] * r2
            dden += self.doubled[6]
            dden *= r2
            dden += k4
            two_drad -= radial * dden
            two_drad /= den
        two_drad *= 2.0
        d00 = xx * two_drad
        d00 += radial
        d11 = yy * two_drad
        d11 += radial
        d01 = xy * two_drad  # the OpenCV model's Jacobian is symmetric: d10 == d01
        if self.tangential:
            d00 += self.doubled[2] * y
            d00 += self.sextupled[3] * x
            d01 += self.doubled[2] * x
            d01 += self.doubled[3] * y
            d11 += self.sextupled[2] * y
            d11 += self.doubled[3] * x
        return xd, yd, (d00, d01, d01, d11)

    def _theta_d(self, theta, *, derivative: bool):
        k1, k2, k3, k4 = self.coeffs
        t2 = theta * theta
        theta_d = theta * _one_plus_poly(t2, (k1, k2, k3, k4))
        if not derivative:
            return theta_d, None
        dpoly = 9.0 * k4 * t2
        dpoly += 7.0 * k3
        dpoly *= t2
        dpoly += 5.0 * k2
        dpoly *= t2
        dpoly += 3.0 * k1
        dpoly *= t2
        dpoly += 1.0
        return theta_d, dpoly

    def _distort_fisheye(self, x, y, *, jacobian):
        r2 = x * x + y * y
        r = np.sqrt(r2)
        theta = np.arctan(r)
        theta_d, dtheta_d = self._theta_d(theta, derivative=jacobian)
        small = r2 < _FISHEYE_SMALL_R2
        safe_r = np.where(small, 1.0, r)
        scale = np.where(small, 1.0, theta_d / safe_r)
        xd, yd = x * scale, y * scale
        if not jacobian:
            return xd, yd, None
        # scale(r) = theta_d(atan r) / r;  g = scale'(r) / r, with its limit 2 (k1 - 1/3) at r = 0.
        k1 = self.coeffs[0]
        g = np.where(small, 2.0 * (k1 - 1.0 / 3.0),
                     (dtheta_d / (1.0 + r2) - scale) / np.where(small, 1.0, r2))
        cross = g * x * y  # symmetric Jacobian: d10 == d01
        return xd, yd, (scale + g * x * x, cross, cross, scale + g * y * y)

    # -- approximate inverse ------------------------------------------------------------------
    def undistort(self, xd: np.ndarray, yd: np.ndarray, iterations: int):
        """Distorted -> undistorted normalized coordinates, ``iterations`` Newton steps.

        Starts from one fixed-point step (OpenCV's); 2 Newton steps reach ~1e-12 over a typical
        image (tested against :meth:`Rig.normalize`, the reference). Returns ``x, y`` and the
        distortion Jacobian ``(d00, d01, d10, d11)`` there (from the last Newton step, i.e. at
        the previous iterate, which is as good for linearising the lens at the observation).
        """
        if self.model == "fisheye":
            theta_d = np.sqrt(xd * xd + yd * yd)
            theta = theta_d.copy()
            for _ in range(iterations + 1):
                f, df = self._theta_d(theta, derivative=True)
                theta -= (f - theta_d) / df
            np.clip(theta, 0.0, np.pi / 2 - 1e-6, out=theta)
            small = theta_d < 1e-12
            scale = np.where(small, 1.0, np.tan(theta) / np.where(small, 1.0, theta_d))
            x, y = xd * scale, yd * scale
            return x, y, self._distort_fisheye(x, y, jacobian=True)[2]
        if not (self.radial or self.tangential or self.rational):
            x, y = xd.copy(), yd.copy()
            return x, y, self._distort_opencv(x, y, jacobian=True)[2]  # the identity
        x, y = self._fixed_point(xd, yd)
        jacobian = None
        for _ in range(iterations):
            fx, fy, jacobian = self._distort_opencv(x, y, jacobian=True)
            d00, d01, d10, d11 = jacobian
            fx -= xd
            fy -= yd
            det = d00 * d11 - d01 * d10
            x -= (d11 * fx - d01 * fy) / det
            y -= (d00 * fy - d10 * fx) / det
        if jacobian is None:
            jacobian = self._distort_opencv(x, y, jacobian=True)[2]
        return x, y, jacobian

    def _fixed_point(self, xd, yd):
        """One fixed-point step ``x = (xd - tangential(x)) / radial(x)``, evaluated at xd."""
        px, py, _ = self._distort_opencv(xd, yd, jacobian=False)
        return (xd * np.divide(xd, px, out=np.ones_like(xd), where=px != 0),
                yd * np.divide(yd, py, out=np.ones_like(yd), where=py != 0))


def _dlt_coefficients(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(V, 9, 6) per-view constants of the DLT normal equations.

    A view's rows ``a = x r3 - r1``, ``b = y r3 - r2`` with right-hand sides ``t1 - x t3``,
    ``t2 - y t3`` (r = rows of R) give ``wa (a a^T, a ra) + wb (b b^T, b rb)``, which is linear in
    the scalars ``(wa x^2, wb y^2, wa x, wb y, wa, wb)``; column k of a view's (9, 6) block holds
    the coefficients of scalar k as 6 normal-matrix entries ``(00, 01, 02, 11, 12, 22)`` and 3
    right-hand-side entries.
    """
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))

    def sym(p, q):  # entries of p q^T + q p^T over the 6 upper-triangle positions, (V, 6)
        return np.stack([p[:, i] * q[:, j] + q[:, i] * p[:, j] for i, j in pairs], axis=-1)

    r1, r2, r3 = R[:, 0], R[:, 1], R[:, 2]
    t1, t2, t3 = (t[:, i, None] for i in range(3))
    out = np.empty((6, R.shape[0], 9))  # filled as (scalar, view, entry), returned (view, entry, scalar)
    out[0] = np.concatenate([sym(r3, r3) / 2, -t3 * r3], axis=-1)  # wa x^2
    out[1] = np.concatenate([sym(r3, r3) / 2, -t3 * r3], axis=-1)  # wb y^2
    out[2] = np.concatenate([-sym(r3, r1), t1 * r3 + t3 * r1], axis=-1)  # wa x
    out[3] = np.concatenate([-sym(r3, r2), t2 * r3 + t3 * r2], axis=-1)  # wb y
    out[4] = np.concatenate([sym(r1, r1) / 2, -t1 * r1], axis=-1)  # wa
    out[5] = np.concatenate([sym(r2, r2) / 2, -t2 * r2], axis=-1)  # wb
    return np.ascontiguousarray(out.transpose(1, 2, 0))


class Lenses:
    """The rig's per-view constants in kernel layout.

    R (V, 3, 3), t (V, 3, 1); fx, fy, skew, cx, cy: (V, 1) columns.
    """

    def __init__(self, rig: Rig):
        self.num_views = len(rig)
        self.R = np.ascontiguousarray(rig.R)
        self.t = np.ascontiguousarray(rig.t[:, :, None])
        K = rig.K
        self.fx, self.fy = K[:, 0, 0, None].copy(), K[:, 1, 1, None].copy()
        self.skew = K[:, 0, 1, None].copy()
        self.cx, self.cy = K[:, 0, 2, None].copy(), K[:, 1, 2, None].copy()
        self.has_skew = bool(np.any(self.skew != 0))
        self.dlt_coefficients = _dlt_coefficients(self.R, rig.t)
        models = np.array([cam.model for cam in rig])
        self.groups = []
        for model in ("opencv", "fisheye"):
            index = np.flatnonzero(models == model)
            if index.size == 0:
                continue
            dist = np.stack([rig[int(i)].dist_padded for i in index])
            whole = index.size == len(rig)
            self.groups.append(_Group(model, slice(None) if whole else index, dist))

    # -- pixels <-> distorted normalized -----------------------------------------------------
    def to_pixels(self, xd: np.ndarray, yd: np.ndarray):
        """(V, M) distorted normalized -> (V, M) pixel u, v."""
        u = self.fx * xd
        if self.has_skew:
            u += self.skew * yd
        u += self.cx
        v = self.fy * yd
        v += self.cy
        return u, v

    def from_pixels(self, u: np.ndarray, v: np.ndarray):
        """(V, M) pixels -> (V, M) distorted normalized coordinates."""
        yd = (v - self.cy) / self.fy
        xd = u - self.cx
        if self.has_skew:
            xd -= self.skew * yd
        xd /= self.fx
        return xd, yd

    # -- per-group dispatch -------------------------------------------------------------------
    def distort(self, x: np.ndarray, y: np.ndarray, *, jacobian: bool):
        """(V, M) undistorted -> distorted normalized, with the Jacobian entries when asked."""
        if len(self.groups) == 1:
            return self.groups[0].distort(x, y, jacobian=jacobian)
        xd, yd = np.empty_like(x), np.empty_like(y)
        jac = [np.empty_like(x) for _ in range(4)] if jacobian else None
        for group in self.groups:
            gx, gy, gj = group.distort(x[group.index], y[group.index], jacobian=jacobian)
            xd[group.index], yd[group.index] = gx, gy
            if jacobian:
                for out, part in zip(jac, gj):
                    out[group.index] = part
        return xd, yd, (tuple(jac) if jacobian else None)

    def undistort(self, xd: np.ndarray, yd: np.ndarray, iterations: int = 2):
        """(V, M) distorted -> undistorted normalized ``x, y`` and the distortion Jacobian there
        ``(d00, d01, d10, d11)`` (Newton; see _Group.undistort)."""
        if len(self.groups) == 1:
            return self.groups[0].undistort(xd, yd, iterations)
        outputs = [np.empty_like(xd) for _ in range(6)]
        for group in self.groups:
            x, y, jacobian = group.undistort(xd[group.index], yd[group.index], iterations)
            for out, part in zip(outputs, (x, y) + tuple(jacobian)):
                out[group.index] = part
        return outputs[0], outputs[1], tuple(outputs[2:])

    def pixel_jacobian(self, jacobian):
        """``K2 @ D``: (V, M) entries ``(a00, a01, a10, a11)`` of d(pixel)/d(undistorted
        normalized coordinates), from the distortion Jacobian entries ``(d00, d01, d10, d11)``."""
        d00, d01, d10, d11 = jacobian
        a00, a01 = self.fx * d00, self.fx * d01
        if self.has_skew:
            a00 += self.skew * d10
            a01 += self.skew * d11
        return a00, a01, self.fy * d10, self.fy * d11

    def to_cam(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) world points -> (V, 3, M) in every camera's frame.

        One small matrix product per view: each stays under OpenBLAS's multithreading threshold
        (a threaded gemm here costs 100x more on a busy machine, and the triangulators run their
        own threads over chunks of points).
        """
        in_cam = np.matmul(self.R, points.T)
        in_cam += self.t
        return in_cam

    def normalized_view(self, in_cam: np.ndarray):
        """(V, 3, M) points in the cameras -> ``x, y, inv_z, seen`` (V, M).

        ``seen``: in front of the camera (z > MIN_DEPTH_M) and within MAX_NORMALIZED of its axis
        (89.94 deg); elsewhere ``x = y = inv_z = 0`` so that nothing downstream overflows (a
        point in the camera plane would otherwise project to ~1e300 px).
        """
        z = in_cam[:, 2]
        seen = z > MIN_DEPTH_M
        inv_z = np.divide(1.0, z, out=np.zeros_like(z), where=seen)
        x = in_cam[:, 0] * inv_z
        y = in_cam[:, 1] * inv_z
        seen &= (np.abs(x) < MAX_NORMALIZED) & (np.abs(y) < MAX_NORMALIZED)  # NaN compares False
        if not seen.all():
            x[~seen] = 0.0
            y[~seen] = 0.0
            inv_z[~seen] = 0.0
        return x, y, inv_z, seen

    def project(self, points: np.ndarray):
        """(M, 3) world points -> pixel u, v (V, M) and depth z (V, M).

        u, v are NaN where the point is not seen (see :meth:`normalized_view`: behind the camera,
        in its plane, or NaN); the reference :meth:`Rig.project` agrees everywhere else.
        """
        in_cam = self.to_cam(points)
        x, y, _, seen = self.normalized_view(in_cam)
        xd, yd, _ = self.distort(x, y, jacobian=False)
        u, v = self.to_pixels(xd, yd)
        u[~seen] = np.nan
        v[~seen] = np.nan
        return u, v, in_cam[:, 2]
