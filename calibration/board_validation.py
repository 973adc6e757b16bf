"""Board extrinsics with held-out validation and, when the lenses came from the same frames, a
joint refinement of the intrinsics that the held-out corners must justify.

Conventions in :mod:`geometry.camera`. :func:`validated_board_extrinsics` runs
:func:`calibration.board_extrinsics.board_extrinsics` on every frameset but the held-out ones
(every ``holdout_every``-th, :func:`calibration.validation.heldout_mask`), then triangulates the
held-out corners with the result and reprojects them (:func:`heldout_reprojection`), and ends
with a :class:`calibration.validation.Verdict`.

Joint refinement: when every camera's intrinsics were solved from these same videos (no separate
intrinsics recording), the bundle adjustment may free them with the poses: fx, fy, cx, cy and the
distortion coefficients of the complexity each camera's own cross-validation chose (radial: k1, k2;
standard: + p1, p2, k3; rational: all 8). Whether it does is decided on held-out corners again,
inside the training framesets (every 4th of them is an inner validation set): freed only when it
lowers their RMS by at least ``min_joint_gain`` (10%: on a small board seen from afar the focal
lengths trade off against the distances and the rotations, and a joint solve finds a few % lower
held-out error with camera rotations 5-18 deg away from the reference on the Caliscope recording);
the decision and its figures are reported.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from geometry import Rig

from .board_extrinsics import BoardExtrinsics, BoardExtrinsicsOptions, board_extrinsics
from .validation import HELDOUT_EVERY, HeldOutError, Verdict, heldout_mask, heldout_reprojection, verdict

__all__ = ["JointDecision", "ValidatedBoardCalibration", "validated_board_extrinsics", "DISTORTION_FREED",
           "BOARD_HELDOUT_LIMIT_PX"]

log = logging.getLogger(__name__)

BOARD_HELDOUT_LIMIT_PX = 1.5  # held-out board corners above this RMS: a camera to check
DISTORTION_FREED = {"focal": 0, "pinhole": 0, "radial": 2, "standard": 5, "rational": 8, "fisheye": 4}
_DIST_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")


@dataclass(frozen=True, kw_only=True)
class JointDecision:
    """freed: the intrinsics were refined with the poses. parameters: per camera name, the freed
    parameter names. heldout_fixed_px / heldout_joint_px: inner held-out RMS of both solves.
    reason: one sentence."""

    freed: bool
    parameters: Mapping[str, tuple[str, ...]]
    heldout_fixed_px: float
    heldout_joint_px: float
    reason: str


@dataclass(frozen=True, kw_only=True)
class ValidatedBoardCalibration:
    """result: the calibration (from every frameset unless ``final_on_all`` was False). heldout_framesets: (F,)
    bool. heldout: their reprojection error (None without held-out framesets). joint: the joint
    refinement decision (None when not considered). verdict: the closing lines."""

    result: BoardExtrinsics
    heldout_framesets: np.ndarray
    heldout: HeldOutError | None
    joint: JointDecision | None
    verdict: Verdict


def _solve(rig, corners_px, corners_in_board, options, mask, intrinsics=None, counts=None) -> BoardExtrinsics:
    if intrinsics is not None:
        options = replace(options, bundle_adjustment=replace(options.bundle_adjustment, intrinsics=intrinsics,
                                                             num_free_distortion=counts))
    return board_extrinsics(rig, corners_px[:, mask], corners_in_board, options=options)


def _heldout(rig, corners_px, mask) -> HeldOutError:
    V = corners_px.shape[0]
    return heldout_reprojection(rig, corners_px[:, mask].reshape(V, -1, 2), kind="corners")


def validated_board_extrinsics(rig: Rig, corners_px: np.ndarray, corners_in_board: np.ndarray, *,
                               options: BoardExtrinsicsOptions = BoardExtrinsicsOptions(),
                               lens_complexity: Mapping[str, str] | None = None,
                               holdout_every: int = HELDOUT_EVERY, min_joint_gain: float = 0.1,
                               max_heldout_px: float = BOARD_HELDOUT_LIMIT_PX,
                               notes: Mapping[str, list[str]] | None = None,
                               final_on_all: bool = True) -> ValidatedBoardCalibration:
    """Calibrate with held-out validation (module docstring).

    rig, corners_px (V, F, C, 2), corners_in_board (C, 3): as :func:`board_extrinsics`.
    lens_complexity: per camera name, the complexity its intrinsics were solved with from these
        same frames; when it names every camera and ``options`` keeps the intrinsics fixed, the
        joint refinement is considered. None: the intrinsics came from elsewhere (kept as given).
    notes: further findings per camera for the verdict (e.g. a lens model trusted over little of
        the image: held-out corners from the same small region cannot see that).
    final_on_all: the returned calibration is solved again from every frameset (the same
        choices), as cross-validation does: the held-out figures describe the solve without them.
        False returns the solve the figures describe (the benchmark's measure).
    """
    corners_px = np.asarray(corners_px, dtype=np.float64)
    F = corners_px.shape[1]
    held = heldout_mask(F, holdout_every)
    train = ~held
    if not train.any():
        raise ValueError("no framesets left to solve from after holding out the validation framesets")
    joint = None
    mode, counts = None, None
    same_frames = lens_complexity is not None and all(n in lens_complexity for n in rig.names)
    if same_frames and options.bundle_adjustment.intrinsics == "fixed":
        counts = tuple(DISTORTION_FREED.get(lens_complexity[n], 0) for n in rig.names)
        joint = _decide_joint(rig, corners_px, corners_in_board, options, train, counts, min_joint_gain)
        if joint.freed:
            mode = "full"
    elif lens_complexity is not None and options.bundle_adjustment.intrinsics == "fixed":
        joint = JointDecision(freed=False, parameters={}, heldout_fixed_px=float("nan"),
                              heldout_joint_px=float("nan"),
                              reason="intrinsics kept fixed: some cameras' intrinsics came from the calibration "
                                     "file, not from these frames")
    result = _solve(rig, corners_px, corners_in_board, options, train, mode, counts)
    heldout = _heldout(result.rig, corners_px, held) if held.any() else None
    if final_on_all and held.any():
        result = _solve(rig, corners_px, corners_in_board, options, np.ones(F, dtype=bool), mode, counts)
    if heldout is None:
        lines = ("no held-out framesets (--holdout-every 0): nothing to judge the calibration by",)
        return ValidatedBoardCalibration(result=result, heldout_framesets=held, heldout=None, joint=joint,
                                         verdict=Verdict(good=False, lines=lines))
    return ValidatedBoardCalibration(result=result, heldout_framesets=held, heldout=heldout, joint=joint,
                                     verdict=verdict(heldout, max_rms_px=max_heldout_px, notes=notes))


def _decide_joint(rig, corners_px, corners_in_board, options, train, counts, min_gain) -> JointDecision:
    positions = np.flatnonzero(train)
    inner_val = np.zeros_like(train)
    inner_val[positions[np.arange(len(positions)) % 4 == 3]] = True
    inner_train = train & ~inner_val
    parameters = {name: ("fx", "fy", "cx", "cy") + _DIST_NAMES[:n] for name, n in zip(rig.names, counts)}
    try:
        fixed = _solve(rig, corners_px, corners_in_board, options, inner_train)
        jointly = _solve(rig, corners_px, corners_in_board, options, inner_train, "full", counts)
    except ValueError as error:  # too few framesets for the inner split: keep the simpler solve
        return JointDecision(freed=False, parameters=parameters, heldout_fixed_px=float("nan"),
                             heldout_joint_px=float("nan"), reason=f"intrinsics kept fixed ({error})")
    e_fixed = _heldout(fixed.rig, corners_px, inner_val).rms_px
    e_joint = _heldout(jointly.rig, corners_px, inner_val).rms_px
    freed = bool(np.isfinite(e_joint) and e_joint < (1 - min_gain) * e_fixed)
    change = f"held-out corners {e_fixed:.3f} -> {e_joint:.3f} px"
    if freed:
        reason = (f"intrinsics refined with the poses (they were solved from these same frames; {change}, "
                  f"better by {1 - e_joint / e_fixed:.0%})")
    else:
        reason = (f"intrinsics kept as solved per camera (refining them with the poses: {change}, not "
                  f"{min_gain:.0%} better)")
    log.info("%s", reason)
    return JointDecision(freed=freed, parameters=parameters if freed else {}, heldout_fixed_px=float(e_fixed),
                         heldout_joint_px=float(e_joint), reason=reason)
