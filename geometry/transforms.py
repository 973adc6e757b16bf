"""Rotation and pose algebra: Rodrigues vectors, composition, inversion, averaging, angles.

Conventions in :mod:`geometry.camera`. A pose is a pair ``(R (..., 3, 3), t (..., 3))`` mapping
``x_dst = R @ x_src + t`` and is named ``<dst>_from_<src>``. Public functions take matrices;
optimizers use Rodrigues vectors (``rvec``), converted here.
"""

from __future__ import annotations

import numpy as np

from .arrays import as_float_array, flatten_leading, require_shape, unflatten_leading

__all__ = [
    "skew",
    "rotation_from_rvec",
    "rvec_from_rotation",
    "compose",
    "invert",
    "rotation_angle_deg",
    "project_to_rotation",
    "average_rotations",
]


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices: v (..., 3) -> (..., 3, 3) with ``skew(a) @ b == cross(a, b)``."""
    v = as_float_array(v, "v")
    require_shape(v, "v", "(..., 3)", trailing=(3,))
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def rotation_from_rvec(rvec: np.ndarray) -> np.ndarray:
    """Rodrigues vectors (axis * angle, radians) -> rotation matrices: (..., 3) -> (..., 3, 3)."""
    rvec = as_float_array(rvec, "rvec")
    require_shape(rvec, "rvec", "(..., 3)", trailing=(3,))
    flat, leading = flatten_leading(rvec, 1)
    theta = np.linalg.norm(flat, axis=-1)
    small = theta < 1e-8
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1-cos(t))/t^2 with Taylor series near zero.
    a = np.where(small, 1 - theta**2 / 6, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta**2 / 24, (1 - np.cos(safe)) / safe**2)
    W = skew(flat)
    R = np.eye(3) + a[:, None, None] * W + b[:, None, None] * (W @ W)
    return unflatten_leading(R, leading)


def rvec_from_rotation(R: np.ndarray) -> np.ndarray:
    """Rotation matrices -> Rodrigues vectors with angle in [0, pi]: (..., 3, 3) -> (..., 3)."""
    R = as_float_array(R, "R")
    require_shape(R, "R", "(..., 3, 3)", trailing=(3, 3))
    flat, leading = flatten_leading(R, 2)
    cos = np.clip((np.trace(flat, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    theta = np.arccos(cos)
    v = np.stack([flat[:, 2, 1] - flat[:, 1, 2], flat[:, 0, 2] - flat[:, 2, 0],
                  flat[:, 1, 0] - flat[:, 0, 1]], axis=-1)
    sin = np.sin(theta)
    out = np.empty_like(v)
    regular = sin > 1e-6
    out[regular] = v[regular] * (theta[regular] / (2 * sin[regular]))[:, None]
    near_zero = (~regular) & (cos > 0)
    out[near_zero] = v[near_zero] / 2  # theta ~ sin(theta)
    near_pi = (~regular) & (cos <= 0)
    if np.any(near_pi):
        # R ~ 2 a a^T - I: the axis is the column of R + I with the largest norm.
        B = (flat[near_pi] + np.eye(3)) / 2
        col = np.argmax(np.einsum("nii->ni", B), axis=-1)
        axis = B[np.arange(len(B)), :, col]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        # Fix the sign with the (small) antisymmetric part when it is informative.
        sign = np.sign(np.einsum("ni,ni->n", axis, v[near_pi]))
        sign[sign == 0] = 1
        out[near_pi] = axis * (sign * theta[near_pi])[:, None]
    return unflatten_leading(out, leading)


def compose(R_ab: np.ndarray, t_ab: np.ndarray, R_bc: np.ndarray, t_bc: np.ndarray):
    """``a_from_c = a_from_b @ b_from_c``. R (..., 3, 3), t (..., 3). Returns (R_ac, t_ac)."""
    R_ab, t_ab, R_bc, t_bc = (as_float_array(x, n) for x, n in
                              ((R_ab, "R_ab"), (t_ab, "t_ab"), (R_bc, "R_bc"), (t_bc, "t_bc")))
    R_ac = R_ab @ R_bc
    t_ac = np.einsum("...ij,...j->...i", R_ab, t_bc) + t_ab
    return R_ac, t_ac


def invert(R: np.ndarray, t: np.ndarray):
    """``src_from_dst`` from ``dst_from_src``: returns (R.T, -R.T t). R (..., 3, 3), t (..., 3)."""
    R = as_float_array(R, "R")
    t = as_float_array(t, "t")
    Rt = np.swapaxes(R, -1, -2)
    return Rt, -np.einsum("...ij,...j->...i", Rt, t)


def rotation_angle_deg(R_a: np.ndarray, R_b: np.ndarray) -> np.ndarray:
    """Geodesic angle between rotations, degrees: (..., 3, 3) x (..., 3, 3) -> (...).

    Computed from the Rodrigues vector of ``R_a^T R_b`` (accurate for small angles, unlike acos).
    """
    R_a = as_float_array(R_a, "R_a")
    R_b = as_float_array(R_b, "R_b")
    delta = np.swapaxes(R_a, -1, -2) @ R_b
    return np.degrees(np.linalg.norm(rvec_from_rotation(delta), axis=-1))


def project_to_rotation(M: np.ndarray) -> np.ndarray:
    """Nearest rotation (Frobenius norm) to each matrix: (..., 3, 3) -> (..., 3, 3)."""
    M = as_float_array(M, "M")
    require_shape(M, "M", "(..., 3, 3)", trailing=(3, 3))
    U, _, Vt = np.linalg.svd(M)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.zeros(M.shape[:-2] + (3,))
    D[..., 0] = 1
    D[..., 1] = 1
    D[..., 2] = d
    return U @ (D[..., :, None] * Vt)


def average_rotations(R: np.ndarray, *, weights: np.ndarray | None = None) -> np.ndarray:
    """Chordal L2 mean of rotations: the rotation closest to the weighted sum of ``R``.

    R: (M, 3, 3) rotations; weights: (M,) non-negative (default equal). Returns (3, 3).
    For robustness to outliers, callers reject outliers first (e.g. by angle to a median seed).
    """
    R = as_float_array(R, "R")
    require_shape(R, "R", "(M, 3, 3)", trailing=(3, 3), ndim=3)
    if len(R) == 0:
        raise ValueError("average_rotations needs at least one rotation")
    w = np.ones(len(R)) if weights is None else as_float_array(weights, "weights").reshape(-1)
    if w.shape != (len(R),) or np.any(w < 0) or not np.any(w > 0):
        raise ValueError(f"weights must be ({len(R)},) non-negative and not all zero")
    return project_to_rotation(np.einsum("m,mij->ij", w, R))
