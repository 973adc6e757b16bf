"""Compare two calibrations of the same rig: camera centre and rotation differences.

Conventions in :mod:`geometry.camera`. Two calibrations agree only up to the choice of world frame
(and, for a calibration without metric information, a scale), so they are compared after putting
both in the frame of one camera (``rig_in_camera_frame``); the scale of the estimate can be set
from the reference where the method had none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geometry import Rig, compose, invert, rotation_angle_deg

__all__ = ["RigComparison", "rig_in_camera_frame", "compare_rigs"]


@dataclass(frozen=True, kw_only=True)
class RigComparison:
    """center_error_m: (V,) distance between camera centres, metres; rotation_error_deg: (V,)
    angle between camera orientations; scale: factor applied to the estimate (1 unless
    ``scale_from_reference``)."""

    center_error_m: np.ndarray
    rotation_error_deg: np.ndarray
    scale: float


def rig_in_camera_frame(rig: Rig, camera: int | str = 0) -> Rig:
    """The same rig with the world frame moved onto one camera (that camera gets R = I, t = 0)."""
    index = rig.index(camera) if isinstance(camera, str) else int(camera)
    R_wc, t_wc = invert(rig.R[index], rig.t[index])  # old world from the camera
    R, t = compose(rig.R, rig.t, np.broadcast_to(R_wc, rig.R.shape), np.broadcast_to(t_wc, rig.t.shape))
    R[index], t[index] = np.eye(3), np.zeros(3)
    return rig.with_poses(R, t)


def compare_rigs(estimate: Rig, reference: Rig, *, camera: int | str = 0,
                 scale_from_reference: bool = False) -> RigComparison:
    """Per-camera pose differences after expressing both rigs in the frame of ``camera``.

    Cameras are matched by name (the estimate may list them in another order).
    scale_from_reference: scale the estimate so that its camera centres have the reference's mean
        distance from ``camera`` (for calibrations without metric scale).
    """
    if sorted(estimate.names) != sorted(reference.names):
        raise ValueError(f"the rigs have different cameras: {estimate.names} vs {reference.names}")
    estimate = estimate.subset(list(reference.names))
    name = camera if isinstance(camera, str) else reference.names[int(camera)]
    est = rig_in_camera_frame(estimate, name)
    ref = rig_in_camera_frame(reference, name)
    scale = 1.0
    if scale_from_reference:
        est_spread = np.linalg.norm(est.centers, axis=1).mean()
        if not est_spread > 0:
            raise ValueError("the estimate's cameras all sit at one point; its scale cannot be set")
        scale = float(np.linalg.norm(ref.centers, axis=1).mean() / est_spread)
    center_error = np.linalg.norm(scale * est.centers - ref.centers, axis=1)
    return RigComparison(center_error_m=center_error, rotation_error_deg=rotation_angle_deg(est.R, ref.R),
                         scale=scale)
