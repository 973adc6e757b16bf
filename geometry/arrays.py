"""Shape checks and the one flatten/unflatten helper for leading batch dimensions.

Every function in ``geometry`` that accepts ``(..., k)`` arrays goes through
:func:`flatten_leading` / :func:`unflatten_leading` instead of branching on ``ndim``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_float_array", "flatten_leading", "unflatten_leading", "require_shape"]


def as_float_array(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as a float64 array; raises ValueError naming ``name`` if it is not numeric."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}") from error


def require_shape(x: np.ndarray, name: str, expected: str, *, trailing: tuple[int, ...] = (),
                  ndim: int | None = None) -> None:
    """Raise ValueError unless ``x`` ends in ``trailing`` and, when given, has ``ndim`` dims.

    ``expected`` is the human-readable shape used in the message, e.g. ``"(V, N, 2)"``.
    """
    shape = x.shape
    ok = len(shape) >= len(trailing) and (not trailing or shape[len(shape) - len(trailing):] == trailing)
    if ndim is not None:
        ok = ok and x.ndim == ndim
    if not ok:
        raise ValueError(f"{name} has shape {shape}, expected {expected}")


def flatten_leading(x: np.ndarray, trailing_ndim: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Collapse all but the last ``trailing_ndim`` axes: ``(..., *T) -> (M, *T)``.

    Returns the flattened array (a view when possible) and the leading shape to undo it.
    """
    leading = x.shape[: x.ndim - trailing_ndim]
    return x.reshape((-1,) + x.shape[x.ndim - trailing_ndim:]), leading


def unflatten_leading(x: np.ndarray, leading: tuple[int, ...]) -> np.ndarray:
    """Inverse of :func:`flatten_leading`: ``(M, *T) -> (*leading, *T)``."""
    return x.reshape(tuple(leading) + x.shape[1:])
