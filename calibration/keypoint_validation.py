"""Held-out validation of a calibration from people's keypoints, and its check against a board
calibration of the same rig.

Conventions in :mod:`geometry.camera`. The held-out framesets' keypoints go through the same
cleaning as the solver's (confidence threshold, left/right relabelling judged by the other
cameras), are triangulated robustly with the calibration (a real detector's hallucinated joints
are outliers, counted, not averaged in) and reprojected: px RMS per camera. With a board
calibration of the same rig, every camera's rotation and centre (after a similarity alignment,
:mod:`calibration.agreement`) are compared with it.
"""

from __future__ import annotations

import numpy as np

from geometry import Rig

from .agreement import rig_agreement
from .keypoint_cleaning import fix_swaps, swap_permutation
from .validation import HeldOutError, Verdict, heldout_reprojection, verdict

__all__ = ["KEYPOINT_HELDOUT_LIMIT_PX", "BOARD_AGREEMENT_ROTATION_DEG", "BOARD_AGREEMENT_CENTRE_FRACTION",
           "keypoint_heldout_verdict"]

KEYPOINT_HELDOUT_LIMIT_PX = 8.0  # a person detector's keypoints on HD video: 2-5 px when the rig is right
BOARD_AGREEMENT_ROTATION_DEG = 2.0  # a camera farther than this from the board calibration is flagged
BOARD_AGREEMENT_CENTRE_FRACTION = 0.05  # centre difference over the largest inter-camera distance


def keypoint_heldout_verdict(result, points_2d: np.ndarray, *, scores: np.ndarray | None = None,
                             joint_names=None, options=None, check_against: Rig | None = None
                             ) -> tuple[HeldOutError | None, Verdict]:
    """The held-out error and the verdict of a keypoint calibration.

    result: a :class:`calibration.keypoint_extrinsics.KeypointExtrinsics`. points_2d: (V, Fh, J, 2)
    the held-out framesets' keypoints (NaN = missing); scores: (V, Fh, J) or None.
    options: the :class:`KeypointExtrinsicsOptions` used (threshold, min_score).
    check_against: a board calibration of the same cameras (any world frame and scale).
    """
    from .keypoint_extrinsics import KeypointExtrinsicsOptions

    options = options or KeypointExtrinsicsOptions()
    points = np.asarray(points_2d, dtype=np.float64).copy()
    notes: dict[str, list[str]] = {}
    if check_against is not None:
        agreement = rig_agreement(result.rig, check_against.subset(list(result.rig.names)))
        for name, rotation, fraction in zip(agreement.names, agreement.rotation_error_deg,
                                            agreement.center_error_fraction):
            if rotation > BOARD_AGREEMENT_ROTATION_DEG or fraction > BOARD_AGREEMENT_CENTRE_FRACTION:
                notes.setdefault(name, []).append(
                    f"{rotation:.1f} deg and {fraction:.1%} of the rig's size away from the board calibration -> "
                    "check that it did not move between the two recordings; record people walking where it "
                    "and its neighbours overlap")
    if points.shape[1] == 0:
        lines = ("no held-out framesets (--holdout-every 0): nothing to judge the calibration by",)
        return None, Verdict(good=False, lines=lines + tuple(f"check camera {n}: {t}" for n, ts in notes.items()
                                                             for t in ts))
    if scores is not None:
        points[~(np.asarray(scores) >= options.min_score)] = np.nan
    perm = swap_permutation(joint_names) if options.fix_swaps else None
    if perm is not None:
        points, _ = fix_swaps(result.rig, points, perm, threshold_px=options.triangulation_threshold_px)
    V = points.shape[0]
    heldout = heldout_reprojection(result.rig, points.reshape(V, -1, 2), kind="keypoints",
                                   robust_threshold_px=options.triangulation_threshold_px)
    judged = verdict(heldout, max_rms_px=KEYPOINT_HELDOUT_LIMIT_PX, notes=notes)
    if judged.good and check_against is not None:
        judged = Verdict(good=True, lines=judged.lines + (
            f"good (every camera within {BOARD_AGREEMENT_ROTATION_DEG:g} deg and "
            f"{BOARD_AGREEMENT_CENTRE_FRACTION:.0%} of the rig's size of the board calibration)",))
    return heldout, judged
