"""The minimal 5-point solver for the essential matrix, batched over samples.

Conventions in :mod:`geometry.camera`; notation in :mod:`geometry.epipolar`. Stewenius, Engels
and Nister, "Recent developments on direct relative orientation" (ISPRS 2006): the 5 epipolar
constraints leave a 4-dimensional null space ``E = x X + y Y + z Z + W``; the cubic constraints
``det(E) = 0`` and ``2 E E^T E - trace(E E^T) E = 0`` give 10 equations in the 20 monomials of
degree <= 3 in (x, y, z). Gauss-Jordan elimination of the 10 cubic monomials leaves the action
matrix of multiplication by x on the 10 monomials of degree <= 2, whose real eigenvectors are
the (up to 10) solutions. Everything is one batched numpy computation over the samples.
"""

from __future__ import annotations

import itertools

import numpy as np

from .epipolar import _check_pair, _homogeneous, _null_vector

__all__ = ["essential_5point"]


def _monomials(max_degree: int) -> list[tuple[int, int, int]]:
    """Exponents (i, j, k) of x^i y^j z^k with degree <= max_degree, highest degree first."""
    exponents = [e for e in itertools.product(range(max_degree + 1), repeat=3) if sum(e) <= max_degree]
    return sorted(exponents, key=lambda e: (-sum(e), [-v for v in e]))


_LINEAR = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0)]  # x, y, z, 1: matches (X, Y, Z, W)
_QUADRATIC = _monomials(2)  # 10
_CUBIC = _monomials(3)  # 20: the 10 of degree 3, then the 10 of degree <= 2 (= _QUADRATIC)


def _product_table(left, right, out) -> np.ndarray:
    table = np.zeros((len(left), len(right), len(out)))
    position = {e: i for i, e in enumerate(out)}
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            table[i, j, position[tuple(p + q for p, q in zip(a, b))]] = 1.0
    return table


_LIN_LIN = _product_table(_LINEAR, _LINEAR, _QUADRATIC)  # (4, 4, 10)
_QUAD_LIN = _product_table(_QUADRATIC, _LINEAR, _CUBIC)  # (10, 4, 20)
_BASIS = _CUBIC[10:]
# Multiplication by x maps each basis monomial either to a cubic one (eliminated: read from the
# Gauss-Jordan rows) or to another basis monomial.
_X_TIMES_BASIS = [(e[0] + 1, e[1], e[2]) for e in _BASIS]
_ROW_SOURCE = [(_CUBIC.index(m), m in _BASIS) for m in _X_TIMES_BASIS]
_X, _Y, _Z, _ONE = (_BASIS.index(e) for e in [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0)])
_REAL_TOLERANCE = 1e-8
_MAX_CONDITION = 1e13


_LIN_LIN_FLAT = _LIN_LIN.reshape(16, 10)
_QUAD_LIN_FLAT = _QUAD_LIN.reshape(40, 20)


def _mul_lin_lin(a, b):
    """Products of linear polynomials (..., 4) x (..., 4) -> quadratic (..., 10)."""
    outer = a[..., :, None] * b[..., None, :]
    return outer.reshape(outer.shape[:-2] + (16,)) @ _LIN_LIN_FLAT


def _mul_quad_lin(a, b):
    """Products of quadratic (..., 10) and linear (..., 4) polynomials -> cubic (..., 20)."""
    outer = a[..., :, None] * b[..., None, :]
    return outer.reshape(outer.shape[:-2] + (40,)) @ _QUAD_LIN_FLAT


def _constraint_matrix(basis: np.ndarray) -> np.ndarray:
    """basis (B, 4, 3, 3) null-space matrices (X, Y, Z, W) -> (B, 10, 20) cubic constraints."""
    E = np.moveaxis(basis, 1, -1)  # (B, 3, 3, 4): entry (i, j) is a linear polynomial
    # det(E) by cofactors along the first row.
    cofactor = [_mul_lin_lin(E[:, 1, 1], E[:, 2, 2]) - _mul_lin_lin(E[:, 1, 2], E[:, 2, 1]),
                _mul_lin_lin(E[:, 1, 2], E[:, 2, 0]) - _mul_lin_lin(E[:, 1, 0], E[:, 2, 2]),
                _mul_lin_lin(E[:, 1, 0], E[:, 2, 1]) - _mul_lin_lin(E[:, 1, 1], E[:, 2, 0])]
    det = sum(_mul_quad_lin(cofactor[j], E[:, 0, j]) for j in range(3))
    EEt = _mul_lin_lin(E[:, :, None, :, :], E[:, None, :, :, :]).sum(axis=3)  # (B, 3, 3, 10)
    trace = np.einsum("biiq->bq", EEt)
    EEtE = _mul_quad_lin(EEt[:, :, :, None, :], E[:, None, :, :, :]).sum(axis=2)  # (B, 3, 3, 20)
    trace_E = _mul_quad_lin(trace[:, None, None, :], E)
    constraints = (2 * EEtE - trace_E).reshape(len(E), 9, 20)
    return np.concatenate([det[:, None], constraints], axis=1)


def essential_5point(xy_a: np.ndarray, xy_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All essential matrices through 5 correspondences, for a batch of samples.

    xy_a, xy_b: (B, 5, 2) float64 undistorted normalized coordinates (more than 5 points gives
        the solutions of the 5 smallest singular directions, i.e. a least-squares variant).
    Returns ``(E, valid)``: E (B, 10, 3, 3) unit-Frobenius candidates and valid (B, 10) bool
    marking the real solutions (between 0 and 10 per sample; degenerate samples have none).
    """
    xy_a, xy_b = _check_pair(xy_a, xy_b, min_points=5)
    if xy_a.ndim != 3:
        raise ValueError(f"xy_a has shape {xy_a.shape}, expected (B, 5, 2)")
    ha, hb = _homogeneous(xy_a), _homogeneous(xy_b)
    Q = (hb[..., :, None] * ha[..., None, :]).reshape(xy_a.shape[:-1] + (9,))
    if Q.shape[-2] < 9:
        Q = np.concatenate([Q, np.zeros(Q.shape[:-2] + (9 - Q.shape[-2], 9))], axis=-2)
    _, _, Vt = np.linalg.svd(Q, full_matrices=False)
    basis = Vt[:, 5:9].reshape(-1, 4, 3, 3)
    A = _constraint_matrix(basis)
    num = len(A)
    E_all = np.zeros((num, 10, 3, 3))
    valid = np.zeros((num, 10), dtype=bool)
    # Degenerate samples (e.g. repeated or collinear points) make the elimination singular.
    solvable = np.linalg.cond(A[:, :, :10]) < _MAX_CONDITION
    if not solvable.any():
        return E_all, valid
    G = np.linalg.solve(A[solvable, :, :10], A[solvable, :, 10:])  # cubic = -G @ basis
    action = np.zeros((len(G), 10, 10))
    for row, (source, in_basis) in enumerate(_ROW_SOURCE):
        if in_basis:
            action[:, row, source - 10] = 1.0
        else:
            action[:, row] = -G[:, source]
    eigenvalues, eigenvectors = np.linalg.eig(action)
    scale = np.maximum(np.abs(eigenvalues), 1.0)
    real = np.abs(eigenvalues.imag) < _REAL_TOLERANCE * scale
    vectors = eigenvectors.real
    one = vectors[:, _ONE]
    real &= np.abs(one) > 1e-12 * np.max(np.abs(vectors), axis=1)
    safe = np.where(real, one, 1.0)
    x, y, z = (vectors[:, k] / safe for k in (_X, _Y, _Z))
    coefficients = np.stack([x, y, z, np.ones_like(x)], axis=-1)  # (S, 10, 4)
    E = np.einsum("skc,scij->skij", coefficients, basis[solvable])
    E /= np.maximum(np.linalg.norm(E, axis=(-2, -1), keepdims=True), 1e-300)
    E_all[solvable] = E
    valid[solvable] = real & np.all(np.isfinite(E), axis=(-2, -1))
    return E_all, valid
