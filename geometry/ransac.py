"""A generic, vectorized RANSAC with MSAC scoring and LO-RANSAC local optimization.

Conventions in :mod:`geometry.camera`. A problem (:class:`RansacProblem`) fits *batches* of
models: many minimal samples at once (``fit_minimal``), many weighted non-minimal fits at once
(``fit_weighted``) and the residuals of many models against all data at once (``residuals``).
The loop draws ``batch_size`` samples per step, so the Python overhead is per batch, not per
hypothesis.

Scoring is MSAC (truncated quadratic: ``sum(min(r^2, T^2))``), which ranks hypotheses with the
same inlier count by how well they fit. The iteration count adapts to the best inlier ratio
``w``: ``k = log(1 - confidence) / log(1 - w^s)``. Local optimization follows LO-RANSAC
(Chum et al. 2003; Lebeda et al. 2012): whenever a new best model appears, an inner RANSAC
draws non-minimal samples from its inliers and the best of them is re-fitted iteratively on
its inliers with a threshold shrinking from ``lo_threshold_multiplier * T`` to ``T``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from .options import check_fields, option

__all__ = ["LocalOptimization", "RansacOptions", "RansacProblem", "RansacReport", "RansacResult",
           "ransac", "required_iterations"]

LocalOptimization = Literal["none", "iterative", "inner_ransac"]
_SAMPLING_TABLE_LIMIT = 200_000  # B * N above which samples are drawn by rejection


@dataclass(frozen=True, kw_only=True)
class RansacOptions:
    """Options of :func:`ransac`.

    threshold_px: inlier threshold on the problem's residual (pixels for every rigkit problem).
    confidence: probability of having drawn at least one all-inlier sample when stopping.
    min_iterations, max_iterations: bounds on the number of minimal samples drawn.
    batch_size: minimal samples fitted and scored per vectorized step.
    local_optimization: ``"inner_ransac"`` (LO-RANSAC: inner non-minimal samples, then
        iterative re-fit), ``"iterative"`` (only the iterative re-fit on inliers) or ``"none"``.
    lo_inner_samples: non-minimal samples drawn by the inner RANSAC.
    lo_sample_factor: inner sample size is ``lo_sample_factor * sample_size`` (capped by the
        number of inliers).
    lo_iterations: iterative re-fits; the threshold shrinks from
        ``lo_threshold_multiplier * threshold_px`` to ``threshold_px`` over them.
    lo_threshold_multiplier: >= 1.
    preemptive_points: when the data are more than twice as many, every batch of minimal-sample
        hypotheses is first scored on this many random data and only the best
        ``preemptive_keep`` fraction is scored on all data (0 disables it).
    preemptive_keep: in (0, 1].
    """

    threshold_px: float = option(1.0, low=0, low_open=True, finite=True)
    confidence: float = option(0.9999, low=0, high=1, low_open=True, high_open=True)
    min_iterations: int = 100
    max_iterations: int = 10_000
    batch_size: int = option(100, low=1)
    local_optimization: LocalOptimization = option("inner_ransac", choices=("none", "iterative", "inner_ransac"))
    lo_inner_samples: int = option(10, low=1)
    lo_sample_factor: int = option(4, low=1)
    lo_iterations: int = option(4, low=1)
    lo_threshold_multiplier: float = option(3.0, low=1)
    preemptive_points: int = option(40, low=0)
    preemptive_keep: float = option(0.2, low=0, high=1, low_open=True)

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0 <= self.min_iterations <= self.max_iterations or self.max_iterations < 1:
            raise ValueError(f"iterations: min {self.min_iterations}, max {self.max_iterations}; "
                             "expected 0 <= min <= max and max >= 1")


@dataclass(frozen=True)
class RansacReport:
    """What a RANSAC run did.

    num_iterations: minimal samples drawn. num_inliers: inliers of the returned model.
    inlier_ratio: num_inliers / number of data. success: a model with at least
    ``sample_size`` inliers was found.
    """

    num_iterations: int
    num_inliers: int
    inlier_ratio: float
    success: bool


@dataclass(frozen=True)
class RansacResult:
    """model: the best model (the problem's model array, e.g. (3, 3)), None when no minimal
    sample gave a finite model. inliers: (N,) bool, residual < threshold. report: see above."""

    model: np.ndarray | None
    inliers: np.ndarray
    report: RansacReport


class RansacProblem(Protocol):
    """A robust estimation problem over N data (correspondences, observations, ...)."""

    @property
    def sample_size(self) -> int:
        """Size s of a minimal sample."""

    @property
    def num_data(self) -> int:
        """Number N of data."""

    def fit_minimal(self, samples: np.ndarray) -> np.ndarray:
        """samples (B, s) int indices -> models (H, ...) (H may differ from B: a solver may
        return several solutions per sample or none). Non-finite models are discarded."""

    def fit_weighted(self, weights: np.ndarray) -> np.ndarray:
        """weights (H, N) >= 0 -> models (H, ...): least-squares fits, one per row."""

    def residuals(self, models: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """models (H, ...) -> (H, N) non-negative residuals in the threshold's unit; with
        ``index`` (M,) int only those data: (H, M)."""


def required_iterations(inlier_ratio: float, sample_size: int, confidence: float) -> float:
    """Samples needed to draw one all-inlier sample with probability ``confidence``."""
    p_good = float(inlier_ratio) ** sample_size
    if p_good >= 1.0:
        return 0.0
    if p_good <= 0.0:
        return np.inf
    return np.log1p(-confidence) / np.log1p(-p_good)


def _draw_samples(rng: np.random.Generator, num_data: int, sample_size: int, count: int,
                  pool: np.ndarray | None = None) -> np.ndarray:
    """(count, sample_size) indices, each row without repetition, from ``pool`` (default all)."""
    size = num_data if pool is None else len(pool)
    if sample_size >= size:
        rows = np.tile(np.arange(size), (count, 1))
    elif count * size <= _SAMPLING_TABLE_LIMIT or size < 4 * sample_size:
        # The first sample_size of a random permutation per row.
        rows = np.argpartition(rng.random((count, size)), sample_size - 1, axis=1)[:, :sample_size]
    else:
        # Far more data than a sample: draw with repetition, redraw the rare rows that repeat.
        rows = rng.integers(0, size, (count, sample_size))
        while True:
            ordered = np.sort(rows, axis=1)
            repeated = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1)
            if not repeated.any():
                break
            rows[repeated] = rng.integers(0, size, (int(repeated.sum()), sample_size))
    return rows if pool is None else pool[rows]


def _msac_cost(residuals: np.ndarray, threshold: float) -> np.ndarray:
    return np.minimum(residuals, threshold) ** 2 @ np.ones(residuals.shape[-1])


def _finite_models(models: np.ndarray) -> np.ndarray:
    if len(models) == 0:
        return models
    finite = np.all(np.isfinite(models.reshape(len(models), -1)), axis=1)
    return models[finite]


class _Best:
    """The incumbent model with its residuals and MSAC cost."""

    def __init__(self):
        self.model: np.ndarray | None = None
        self.residuals: np.ndarray | None = None
        self.cost = np.inf

    def offer(self, models: np.ndarray, residuals: np.ndarray, threshold: float) -> bool:
        """Take the cheapest of ``models`` if it beats the incumbent; True if it did."""
        if len(models) == 0:
            return False
        cost = _msac_cost(residuals, threshold)
        k = int(np.argmin(cost))
        if cost[k] < self.cost:
            self.model, self.residuals, self.cost = models[k], residuals[k], float(cost[k])
            return True
        return False


def _evaluate(problem: RansacProblem, models: np.ndarray):
    models = _finite_models(models)
    if len(models) == 0:
        return models, np.zeros((0, problem.num_data))
    residuals = problem.residuals(models)
    keep = np.all(np.isfinite(residuals), axis=1)
    return models[keep], residuals[keep]


def _preselect(problem: RansacProblem, models: np.ndarray, options: RansacOptions,
               rng: np.random.Generator) -> np.ndarray:
    """Preemptive scoring: keep the hypotheses that score best on a random subset of the data."""
    count = options.preemptive_points
    if count == 0 or problem.num_data <= 2 * count or len(models) <= 1:
        return models
    models = _finite_models(models)
    subset = np.sort(rng.choice(problem.num_data, count, replace=False))
    cost = _msac_cost(problem.residuals(models, subset), options.threshold_px)
    keep = max(1, int(np.ceil(options.preemptive_keep * len(models))))
    if keep >= len(models):
        return models
    return models[np.argpartition(np.nan_to_num(cost, nan=np.inf), keep - 1)[:keep]]


def _local_optimization(problem: RansacProblem, best: _Best, options: RansacOptions,
                        rng: np.random.Generator) -> None:
    threshold = options.threshold_px
    if options.local_optimization == "inner_ransac":
        pool = np.flatnonzero(best.residuals < threshold)
        size = min(options.lo_sample_factor * problem.sample_size, len(pool))
        if size > problem.sample_size:
            samples = _draw_samples(rng, problem.num_data, size, options.lo_inner_samples, pool=pool)
            weights = np.zeros((options.lo_inner_samples, problem.num_data))
            np.put_along_axis(weights, samples, 1.0, axis=1)
            best.offer(*_evaluate(problem, problem.fit_weighted(weights)), threshold)
    multipliers = np.linspace(options.lo_threshold_multiplier, 1.0, options.lo_iterations)
    for multiplier in multipliers:
        weights = (best.residuals < multiplier * threshold).astype(np.float64)
        if weights.sum() <= problem.sample_size:
            break
        best.offer(*_evaluate(problem, problem.fit_weighted(weights[None])), threshold)


def ransac(problem: RansacProblem, *, options: RansacOptions | None = None,
           rng: np.random.Generator | None = None) -> RansacResult:
    """Robustly fit ``problem``: batched minimal samples, MSAC scoring, adaptive stopping, LO.

    options: :class:`RansacOptions` (defaults if None). rng: the only source of randomness
    (``np.random.default_rng(0)`` if None, so that a call without one is reproducible).
    Returns a :class:`RansacResult`; ``report.success`` is False (and ``model`` None when no
    finite model was ever produced) when there are fewer data than a minimal sample or no
    model gathers ``sample_size`` inliers.
    """
    options = RansacOptions() if options is None else options
    rng = np.random.default_rng(0) if rng is None else rng
    num_data, sample_size = problem.num_data, problem.sample_size
    threshold = options.threshold_px
    best = _Best()
    iterations = 0
    needed = float(options.max_iterations)
    if num_data >= sample_size:
        while iterations < max(options.min_iterations, min(needed, options.max_iterations)):
            count = min(options.batch_size, options.max_iterations - iterations)
            samples = _draw_samples(rng, num_data, sample_size, count)
            iterations += count
            models = _preselect(problem, problem.fit_minimal(samples), options, rng)
            if not best.offer(*_evaluate(problem, models), threshold):
                continue
            if options.local_optimization != "none":
                _local_optimization(problem, best, options, rng)
            ratio = np.count_nonzero(best.residuals < threshold) / num_data
            needed = required_iterations(ratio, sample_size, options.confidence)
    if best.model is None:
        inliers = np.zeros(num_data, dtype=bool)
    else:
        inliers = best.residuals < threshold
    num_inliers = int(inliers.sum())
    report = RansacReport(num_iterations=iterations, num_inliers=num_inliers,
                          inlier_ratio=num_inliers / num_data if num_data else 0.0,
                          success=best.model is not None and num_inliers >= sample_size)
    return RansacResult(model=best.model, inliers=inliers, report=report)
