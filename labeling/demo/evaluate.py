"""How good the demo's outputs are, against the synthetic session's ground truth.

Calibrations are compared camera by camera after putting both rigs in the frame of the first
camera (:func:`calibration.compare_rigs`). Pseudo-labels live in the calibration's world (the
first camera's frame): the true joints are carried into that frame through the first camera,
true pose to estimated pose, so the MPJPE includes every calibration error and no alignment is
fitted to the labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CalibrationError", "LabelQuality", "calibration_error", "label_quality", "truth_in_estimate_frame"]


@dataclass(frozen=True, kw_only=True)
class CalibrationError:
    """Per camera: center_error_mm (V,), rotation_error_deg (V,); the first camera is the reference
    (zero by construction) and is left out of the median and max."""

    center_error_mm: np.ndarray
    rotation_error_deg: np.ndarray

    def text(self) -> str:
        c, r = self.center_error_mm[1:], self.rotation_error_deg[1:]
        return (f"centres {np.median(c):.1f} mm (max {c.max():.1f}), "
                f"rotations {np.median(r):.3f} deg (max {r.max():.3f})")


def calibration_error(estimate, truth) -> CalibrationError:
    from calibration import compare_rigs

    comparison = compare_rigs(estimate, truth)
    return CalibrationError(center_error_mm=comparison.center_error_m * 1e3,
                            rotation_error_deg=np.asarray(comparison.rotation_error_deg))


def truth_in_estimate_frame(points_in_true_world: np.ndarray, estimate, truth) -> np.ndarray:
    """(..., 3) true world points -> the estimated rig's world, through the first camera."""
    true_cam, est_cam = truth[0], estimate[truth.names[0]]
    in_cam = points_in_true_world @ true_cam.R.T + true_cam.t
    return (in_cam - est_cam.t) @ est_cam.R


@dataclass(frozen=True, kw_only=True)
class LabelQuality:
    """Pseudo-labels against the truth. framesets: labeled framesets; accepted / joints: accepted
    joint labels of all; mpjpe_mm, median_mm, p95_mm: 3D error of the accepted labels."""

    framesets: int
    accepted: int
    joints: int
    mpjpe_mm: float
    median_mm: float
    p95_mm: float

    @property
    def acceptance(self) -> float:
        return self.accepted / max(self.joints, 1)


def label_quality(labels_dir: Path, session, estimate) -> LabelQuality:
    """Read every shard with plain h5py and compare its accepted labels with the truth."""
    import h5py

    from labeling import LabelIndex

    truth = session.truth
    index = LabelIndex.read(labels_dir)
    errors, accepted, joints, framesets = [], 0, 0, 0
    for entry in index.shards:
        with h5py.File(labels_dir / entry.file, "r") as f:
            points, valid, frame = f["keypoints_3d"][()], f["valid"][()], f["frame_index"][()]
        seq = session.sequence[frame].max(axis=1)  # every synthetic camera shares the frame number
        true = truth_in_estimate_frame(truth.joints_in_world[seq], estimate, truth.rig)
        errors.append(np.linalg.norm(points[valid] - true[valid], axis=-1))
        accepted += int(valid.sum())
        joints += valid.size
        framesets += valid.shape[0]
    errors = np.concatenate(errors) * 1e3 if errors else np.zeros(0)
    stats = (float(errors.mean()), float(np.median(errors)), float(np.percentile(errors, 95))) if errors.size \
        else (float("nan"),) * 3
    return LabelQuality(framesets=framesets, accepted=accepted, joints=joints, mpjpe_mm=stats[0],
                        median_mm=stats[1], p95_mm=stats[2])
