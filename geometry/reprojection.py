"""Reprojection error of 3D points against their 2D observations, in pixels.

Conventions (frames, pixels, dimension letters, NaN for missing) are in :mod:`geometry.camera`.
"""

from __future__ import annotations

import numpy as np

from .arrays import as_float_array, require_shape
from .rig import Rig

__all__ = ["reprojection_error"]


def reprojection_error(rig: Rig, points_3d: np.ndarray, points_2d: np.ndarray) -> np.ndarray:
    """Distance in pixels between each view's observation and the projection of its 3D point.

    rig: the V cameras.
    points_3d: (..., 3) float64 world points, metres (NaN allowed: e.g. an untriangulated point).
    points_2d: (V, ..., 2) float64 distorted pixels; NaN where not observed.
    Returns (V, ...) float64 pixels, measured in the distorted image; NaN where the view did not
    observe the point, the point is NaN, or the point is not in front of that camera.
    """
    if not isinstance(rig, Rig):
        raise ValueError(f"rig must be a geometry.Rig, got {type(rig).__name__}")
    points_3d = as_float_array(points_3d, "points_3d")
    points_2d = as_float_array(points_2d, "points_2d")
    require_shape(points_3d, "points_3d", "(..., 3)", trailing=(3,))
    expected = (len(rig),) + points_3d.shape[:-1] + (2,)
    if points_2d.shape != expected:
        raise ValueError(f"points_2d has shape {points_2d.shape}, expected {expected} "
                         "(V views, the leading shape of points_3d, 2)")
    from ._kernels import pack_rig, project_points  # numba loads with the first call

    flat_2d = points_2d.reshape(len(rig), -1, 2)
    u, v = project_points(pack_rig(rig), points_3d.reshape(-1, 3))
    error = np.hypot(u - flat_2d[..., 0], v - flat_2d[..., 1])
    return error.reshape(expected[:-1])
