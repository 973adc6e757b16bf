"""Levenberg-Marquardt for bundle adjustment with the structure eliminated (Schur complement).

Conventions in :mod:`geometry.camera`. Solves the problem of
:class:`calibration.reprojection_problem.ReprojectionProblem` with a robust loss by iteratively
reweighted Gauss-Newton steps. The normal equations are block-structured: the structure blocks
(6x6 per board pose, 3x3 per point) are inverted in one batched call and eliminated, leaving a
small dense system over the camera-side parameters (6 pose + intrinsics per camera), solved
exactly. This is the classic BA solver (Triggs et al., "Bundle adjustment - a modern synthesis");
it converges in a handful of iterations where ``least_squares``' iterative LSMR trust-region
steps need dozens on the same problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse

from .reprojection_problem import ReprojectionProblem

__all__ = ["LMReport", "solve_schur_lm", "robust_rho", "camera_covariance"]

_INITIAL_DAMPING = 1e-4
_MAX_DAMPING = 1e12
_MAX_REJECTED_STEPS = 12


@dataclass(frozen=True, kw_only=True)
class LMReport:
    """x: (n,) final parameters; iterations: accepted steps; evaluations: cost evaluations;
    converged: the relative cost decrease or step fell below the tolerance; message: why it stopped."""

    x: np.ndarray
    cost: float
    iterations: int
    evaluations: int
    converged: bool
    message: str


def robust_rho(s: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """rho(s) and rho'(s) of scipy's robust losses, s = squared residual / f_scale^2 (>= 0)."""
    if loss == "linear":
        return s, np.ones_like(s)
    if loss == "soft_l1":
        root = np.sqrt(1 + s)
        return 2 * (root - 1), 1 / root
    if loss == "huber":
        inner = s <= 1
        root = np.sqrt(np.where(inner, 1.0, s))
        return np.where(inner, s, 2 * root - 1), np.where(inner, 1.0, 1 / root)
    if loss == "cauchy":
        return np.log1p(s), 1 / (1 + s)
    raise ValueError(f"unknown loss {loss!r}")


class _Sums:
    """Sums of per-observation arrays grouped by camera, structure and (camera, structure) pair."""

    def __init__(self, camera: np.ndarray, structure: np.ndarray, V: int, S: int):
        M = len(camera)
        ones = np.ones(M)
        self.by_camera = scipy.sparse.csr_matrix((ones, (camera, np.arange(M))), shape=(V, M))
        self.by_structure = scipy.sparse.csr_matrix((ones, (structure, np.arange(M))), shape=(S, M))
        pair_key, pair = np.unique(camera * S + structure, return_inverse=True)
        self.by_pair = scipy.sparse.csr_matrix((ones, (pair, np.arange(M))), shape=(len(pair_key), M))
        self.pair_camera = pair_key // S
        self.pair_structure = pair_key % S


def _cost(problem: ReprojectionProblem, x: np.ndarray, loss: str, f_scale: float) -> float:
    lin = problem.linearize(x, jacobian=False)
    s = np.einsum("mi,mi->m", lin.residuals, lin.residuals) / f_scale**2
    cost = 0.5 * f_scale**2 * float(np.sum(robust_rho(s, loss)[0]))
    if lin.gauge_residual is not None:
        cost += 0.5 * lin.gauge_residual**2
    prior = problem.prior(x)
    if prior is not None:
        cost += 0.5 * float(np.sum(prior[0] ** 2))
    return cost if np.isfinite(cost) else np.inf


def solve_schur_lm(problem: ReprojectionProblem, x0: np.ndarray, *, loss: str, f_scale: float,
                   max_iterations: int, tolerance: float) -> LMReport:
    """Minimize ``0.5 f^2 sum rho(|r_i|^2 / f^2)`` (+ the gauge term) over the parameters.

    x0: (n,) initial parameters in the problem's layout. Returns an :class:`LMReport`.
    """
    layout = _Layout(problem)
    V, S, ka, w = problem.V, layout.S, layout.ka, layout.w
    a_cols, valid = layout.a_cols, layout.valid

    x = np.array(x0, dtype=np.float64)
    cost = _cost(problem, x, loss, f_scale)
    evaluations, iterations = 1, 0
    damping = _INITIAL_DAMPING
    converged, message = False, "maximum number of iterations reached"
    for _ in range(max_iterations):
        U, Vs, W, ga, gs = _normal_blocks(problem, x, layout, loss, f_scale)
        U_diag = np.einsum("vii->vi", U).copy()
        V_diag = np.einsum("sii->si", Vs).copy()
        gradient_norm = np.sqrt(np.sum(ga.reshape(-1)[valid] ** 2) + np.sum(gs**2))
        if gradient_norm < tolerance * 1e-4:
            converged, message = True, "gradient below tolerance"
            break
        for _attempt in range(_MAX_REJECTED_STEPS):
            step = _damped_step(U, Vs, W, ga, gs, U_diag, V_diag, damping, valid)
            if step is None:
                damping *= 10
                continue
            delta_a, delta_s = step
            x_new = x.copy()
            x_new[a_cols.reshape(-1)[valid]] += delta_a.reshape(-1)[valid]
            x_new[problem.num_a:] += delta_s.reshape(-1)
            new_cost = _cost(problem, x_new, loss, f_scale)
            evaluations += 1
            if new_cost < cost:
                break
            damping = min(damping * 4, _MAX_DAMPING)
        else:
            converged, message = True, "no step decreases the cost (at a minimum)"
            break
        decrease = cost - new_cost
        step_norm = np.linalg.norm(x_new - x)
        x, cost = x_new, new_cost
        iterations += 1
        damping = max(damping / 3, 1e-12)
        if decrease < tolerance * cost or step_norm < tolerance * (tolerance + np.linalg.norm(x)):
            converged, message = True, "relative cost decrease or step below tolerance"
            break
    return LMReport(x=x, cost=cost, iterations=iterations, evaluations=evaluations, converged=converged,
                    message=message)


class _Layout:
    """Where each camera's camera-side columns live in the parameter vector, and the sums by group."""

    def __init__(self, problem: ReprojectionProblem):
        V = problem.V
        self.w = problem.structure.width
        self.S = problem.n_struct // self.w
        self.ka = problem.columns.shape[1] - self.w
        self.a_cols = np.full((V, self.ka), -1, dtype=np.int64)  # parameter index of each camera-side column
        for v in range(V):
            first = np.flatnonzero(problem.obs.camera == v)
            if first.size:
                self.a_cols[v] = problem.columns[first[0], :self.ka]
        self.valid = self.a_cols.reshape(-1) >= 0
        self.sums = _Sums(problem.obs.camera, problem.obs.point, V, self.S)
        self.gauge_camera = problem.scale_gauge[0] if problem.scale_gauge is not None else None


def _normal_blocks(problem: ReprojectionProblem, x: np.ndarray, layout: _Layout, loss: str, f_scale: float):
    """The Gauss-Newton normal equations at ``x`` (robust weights by IRLS), by blocks: U (V, ka, ka)
    camera-side, Vs (S, w, w) structure, W (S, V, ka, w) coupling, gradients ga (V, ka), gs (S, w)."""
    V, S, ka, w, sums = problem.V, layout.S, layout.ka, layout.w, layout.sums
    lin = problem.linearize(x)
    r, J = lin.residuals, lin.J
    weight = robust_rho(np.einsum("mi,mi->m", r, r) / f_scale**2, loss)[1]
    Ja, Js = J[:, :, :ka], J[:, :, ka:]
    Jaw = Ja * weight[:, None, None]
    Jsw = Js * weight[:, None, None]
    U = (sums.by_camera @ _outer_sum(Jaw, Ja)).reshape(V, ka, ka)
    Vs = (sums.by_structure @ _outer_sum(Jsw, Js)).reshape(S, w, w)
    Wp = (sums.by_pair @ _outer_sum(Jaw, Js)).reshape(-1, ka, w)
    ga = (sums.by_camera @ np.einsum("mia,mi->ma", Jaw, r)).reshape(V, ka)
    gs = (sums.by_structure @ np.einsum("mia,mi->ma", Jsw, r)).reshape(S, w)
    if layout.gauge_camera is not None:
        gg = np.zeros(ka)
        gg[:6] = lin.gauge_gradient
        U[layout.gauge_camera] += np.outer(gg, gg)
        ga[layout.gauge_camera] += gg * lin.gauge_residual
    prior = problem.prior(x)
    if prior is not None:  # Gaussian priors on each camera's intrinsics (after its 6 pose columns)
        pr, pJ = prior
        width = pJ.shape[2]
        U[:, 6:6 + width, 6:6 + width] += np.einsum("vki,vkj->vij", pJ, pJ)
        ga[:, 6:6 + width] += np.einsum("vki,vk->vi", pJ, pr)
    W = np.zeros((S, V, ka, w))
    W[sums.pair_structure, sums.pair_camera] = Wp
    return U, Vs, W, ga, gs


def camera_covariance(problem: ReprojectionProblem, x: np.ndarray, *, loss: str, f_scale: float,
                      noise_px: float) -> np.ndarray:
    """(V, ka, ka) covariance of each camera's camera-side parameters (6 pose, then intrinsics) at
    ``x``, the structure marginalized (Schur complement of the undamped normal equations) and the
    gauge held (zeros for held columns; NaN when the system is singular). noise_px: the residuals'
    standard deviation per coordinate (px) the information is scaled by."""
    layout = _Layout(problem)
    U, Vs, W, _, _ = _normal_blocks(problem, x, layout, loss, f_scale)
    V, S, ka, w = problem.V, layout.S, layout.ka, layout.w
    index = np.arange(w)
    Vd = Vs.copy()
    Vd[:, index, index] += 1e-12 * (1 + Vs[:, index, index])
    Y = np.einsum("svaw,swx->svax", W, np.linalg.inv(Vd), optimize=True).reshape(S, V * ka, w)
    reduced = -np.einsum("sik,sjk->ij", Y, W.reshape(S, V * ka, w))
    for v in range(V):
        reduced[v * ka:(v + 1) * ka, v * ka:(v + 1) * ka] += U[v]
    out = np.zeros((V * ka, V * ka))
    # Held columns, and free columns no residual depends on (a distortion coefficient of a camera
    # whose own count frees fewer), carry no information: leave them out, not the whole inverse.
    valid = layout.valid & (np.abs(np.diag(reduced)) > 1e-12 * (1 + np.abs(np.diag(reduced)).max()))
    try:
        out[np.ix_(valid, valid)] = noise_px**2 * np.linalg.inv(reduced[np.ix_(valid, valid)])
    except np.linalg.LinAlgError:
        out[np.ix_(valid, valid)] = np.nan
    return np.stack([out[v * ka:(v + 1) * ka, v * ka:(v + 1) * ka] for v in range(V)])


def _outer_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a_m^T b_m`` for every observation: (M, 2, p), (M, 2, q) -> (M, p * q) (no BLAS threads)."""
    out = a[:, 0, :, None] * b[:, 0, None, :] + a[:, 1, :, None] * b[:, 1, None, :]
    return out.reshape(len(a), -1)


def _damped_step(U, Vs, W, ga, gs, U_diag, V_diag, damping, valid):
    """Solve the damped normal equations by eliminating the structure; None if not positive definite."""
    S, V, ka, w = W.shape
    Vd = Vs.copy()
    index = np.arange(w)
    Vd[:, index, index] += damping * V_diag + 1e-12 * (1 + V_diag)
    try:
        Vinv = np.linalg.inv(Vd)
    except np.linalg.LinAlgError:
        return None
    Y = np.einsum("svaw,swx->svax", W, Vinv, optimize=True)  # (S, V, ka, w)
    Yr = Y.reshape(S, V * ka, w)
    # einsum, not a BLAS GEMM: on a shared machine OpenBLAS threads on this tall-skinny product
    # spin for longer than the product takes.
    reduced = -np.einsum("sik,sjk->ij", Yr, W.reshape(S, V * ka, w))
    Ud = U.copy()
    Ud[:, np.arange(ka), np.arange(ka)] += damping * U_diag + 1e-12 * (1 + U_diag)
    for v in range(V):
        reduced[v * ka:(v + 1) * ka, v * ka:(v + 1) * ka] += Ud[v]
    rhs = -(ga.reshape(-1) - np.einsum("sik,sk->i", Yr, gs))
    delta_a = np.zeros(V * ka)
    if np.any(valid):
        try:
            factor = scipy.linalg.cho_factor(reduced[np.ix_(valid, valid)])
        except np.linalg.LinAlgError:
            return None
        delta_a[valid] = scipy.linalg.cho_solve(factor, rhs[valid])
    delta_a = delta_a.reshape(V, ka)
    back = -gs - np.einsum("svaw,va->sw", W, delta_a)
    delta_s = np.einsum("sij,sj->si", Vinv, back)
    return delta_a, delta_s
