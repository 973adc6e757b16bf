"""How far one calibration of a rig is from another (a reference), in frame-free measures.

Conventions in :mod:`geometry.camera`. Two calibrations of the same rig agree only up to the
choice of world frame (and, without metric information, a scale), so the measures are invariant
to it:

- *relative rotation error* per camera pair (a, b): the angle of
  ``(R_b R_a^T)_estimate ((R_b R_a^T)_reference)^T``, degrees;
- *centre error* per camera: distance between the camera centres after the similarity transform
  (Umeyama: rotation, translation and, unless the estimate is metric and told so, scale) that
  maps the estimate's centres onto the reference's best in least squares, metres;
- *rotation error* per camera after the same alignment's rotation, degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geometry import Rig, rotation_angle_deg

__all__ = ["Similarity", "umeyama", "RigAgreement", "rig_agreement"]


@dataclass(frozen=True, kw_only=True)
class Similarity:
    """``y = scale * R @ x + t``: R (3, 3), t (3,), scale > 0."""

    R: np.ndarray
    t: np.ndarray
    scale: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """points (..., 3) -> (..., 3)."""
        return self.scale * np.asarray(points) @ self.R.T + self.t


def umeyama(source: np.ndarray, target: np.ndarray, *, with_scale: bool = True) -> Similarity:
    """The similarity that maps ``source`` (N, 3) onto ``target`` (N, 3) in least squares (N >= 3,
    not all on one line for a unique rotation; Umeyama 1991)."""
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"source/target have shapes {x.shape}/{y.shape}, expected the same (N, 3), N >= 2")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    cov = yc.T @ xc / len(x)
    U, S, Vt = np.linalg.svd(cov)
    D = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2, 2] = -1
    R = U @ D @ Vt
    var_x = float(np.mean(np.sum(xc**2, axis=1)))
    scale = float(np.trace(np.diag(S) @ D) / var_x) if with_scale and var_x > 0 else 1.0
    return Similarity(R=R, t=my - scale * R @ mx, scale=scale)


@dataclass(frozen=True, kw_only=True)
class RigAgreement:
    """An estimate against a reference (cameras matched by name, in the reference's order).

    names: (V,) camera names. pairs: (P,) ``(a, b)`` name pairs, a before b.
    relative_rotation_error_deg: (P,) per pair. center_error_m: (V,) after the similarity
    alignment (estimate units scaled to the reference's). rotation_error_deg: (V,) camera
    orientations after the alignment's rotation. scale: the alignment's scale.
    max_baseline_m: the largest distance between two reference cameras.
    """

    names: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    relative_rotation_error_deg: np.ndarray
    center_error_m: np.ndarray
    rotation_error_deg: np.ndarray
    scale: float
    max_baseline_m: float

    @property
    def center_error_fraction(self) -> np.ndarray:
        """(V,) centre error over the largest reference baseline."""
        return self.center_error_m / self.max_baseline_m


def rig_agreement(estimate: Rig, reference: Rig, *, with_scale: bool = True) -> RigAgreement:
    """Frame-free differences of ``estimate`` from ``reference`` (see the module docstring).

    with_scale: False when both rigs are metric and the scale itself is under test.
    """
    missing = [n for n in reference.names if n not in estimate.names]
    if missing:
        raise ValueError(f"the estimate has no cameras {', '.join(missing)} (it has {', '.join(estimate.names)})")
    est = estimate.subset(list(reference.names))
    V = len(reference)
    if V < 2:
        raise ValueError("comparing rigs needs at least 2 cameras")
    pairs, errors = [], []
    for a in range(V):
        for b in range(a + 1, V):
            rel_est = est.R[b] @ est.R[a].T
            rel_ref = reference.R[b] @ reference.R[a].T
            pairs.append((reference.names[a], reference.names[b]))
            errors.append(float(rotation_angle_deg(rel_est, rel_ref)))
    centers_est, centers_ref = est.centers, reference.centers
    if V >= 3:
        sim = umeyama(centers_est, centers_ref, with_scale=with_scale)
    else:  # two cameras: align the first, scale by the baseline; the rotation from the cameras
        scale = (np.linalg.norm(centers_ref[1] - centers_ref[0]) / max(np.linalg.norm(centers_est[1] - centers_est[0]),
                                                                        1e-12)) if with_scale else 1.0
        R = reference.R[0].T @ est.R[0]
        sim = Similarity(R=R, t=centers_ref[0] - scale * R @ centers_est[0], scale=float(scale))
    aligned = sim.apply(centers_est)
    # camera orientation in the reference world: R_cam_from_ref_world = R_est @ sim.R^T
    rot_err = rotation_angle_deg(est.R @ sim.R.T, reference.R)
    baselines = np.linalg.norm(centers_ref[:, None] - centers_ref[None], axis=-1)
    return RigAgreement(names=tuple(reference.names), pairs=tuple(pairs),
                        relative_rotation_error_deg=np.asarray(errors),
                        center_error_m=np.linalg.norm(aligned - centers_ref, axis=1),
                        rotation_error_deg=np.asarray(rot_err), scale=sim.scale,
                        max_baseline_m=float(baselines.max()))
