"""2D detections of a block of framesets -> gated, optionally smoothed, bone-checked 3D labels.

Conventions in :mod:`geometry.camera` (V views, F framesets, J joints, metres, pixels, NaN for
missing). The arrays produced are in the shard layout of :mod:`labeling.shards` (``N = F``).

Steps, all vectorized over framesets x joints (no per-frame Python loop):
1. detections with a score below ``min_score`` are not used (they stay in ``keypoints_2d``);
2. ``geometry.robust_triangulation.triangulate_robust`` on all F*J points at once, with the
   inlier threshold of each camera and joint group (:mod:`labeling.gating`: ``k`` sigma of the
   noise estimated from the take, or the fixed ``threshold_px``);
3. gating (the same rule): at least ``min_inlier_views`` inlier views, no inlier view further
   than its gate from the reprojected point, and a person present in the frameset (score-aware,
   over time: :func:`labeling.gating.person_present`);
4. optional gap-aware temporal smoothing of the accepted points (never across a missing or
   rejected frame, nor across a jump in ``frame_index``);
5. bone-length consistency: each bone's length against its robust (median) length over the take;
   where a bone deviates, the joint that explains most deviating bones is flagged (iteratively),
   and so is a joint on a deviating bone that no good bone vouches for. Long bones (rigid limb
   segments) get no extra tolerance for a spread over the take: a spread there comes from errors
   (left/right swaps that two views agree on), not from the body.
Every rejection is recorded as bits of ``shards.RejectReason``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from geometry import reprojection_error
from geometry.options import check_fields, check_range, option

from .detections import Detections
from .gating import GatingMode, NoiseEstimate, estimate_noise, person_present, triangulate_gated
from .shards import LABEL_FIELDS, RejectReason

__all__ = ["Smoothing", "BoneCheck", "LabelOptions", "PseudoLabels", "compute_pseudo_labels",
           "reference_bone_lengths", "bone_lengths_m", "context_framesets", "noise_for",
           "long_bone_mask"]

Smoothing = Literal["none", "savgol", "median"]
BoneCheck = Literal["off", "flag", "reject"]


@dataclass(frozen=True, kw_only=True)
class LabelOptions:
    """Every threshold of pseudo-labeling; all are recorded in each shard.

    gating: ``"adaptive"`` (default): the inlier threshold and the label gate of each camera and
        joint group are ``clip(threshold_sigmas * sigma, threshold_min_fraction * diagonal,
        threshold_max_fraction * diagonal)``, sigma the detection noise estimated from the take
        (:mod:`labeling.gating`; groups with fewer than ``min_noise_samples`` residuals use the
        camera's or the take's pooled estimate), diagonal the camera's image diagonal in pixels.
        ``"fixed"``: ``threshold_px`` and ``max_reprojection_error_px`` in every camera.
    threshold_px: fixed mode: inlier threshold of the robust triangulation (distance of a
        detection from the reprojected point), pixels.
    min_inlier_views: a label needs at least this many agreeing views (>= 2).
    max_reprojection_error_px: fixed mode: reject a label when any inlier view is further than
        this, pixels.
    min_score: detections below this detector confidence are not used for triangulation.
    presence_min_score, presence_window_frames: labels are kept only in framesets that show a
        person: the median confidence of the detections used by the frameset's triangulated
        joints, as a running median over ``presence_window_frames`` framesets, is at least
        ``presence_min_score`` (0 turns the test off). Both gating modes apply it.
    smoothing: ``"none"``, ``"savgol"`` (Savitzky-Golay, polynomial ``smoothing_polyorder``) or
        ``"median"`` (running median), over ``smoothing_window_frames`` consecutive framesets;
        gap-aware: stretches shorter than the window are left as they are.
    bone_check: ``"off"``, ``"flag"`` (record ``BONE_LENGTH`` but keep the label) or ``"reject"``.
    bone_length_tolerance_fraction, bone_length_tolerance_min_m, bone_length_tolerance_sigmas:
        a bone "jumps" when its length differs from its take-wide median by more than
        ``max(fraction * median, min_m, sigmas * spread)``, spread being the robust standard
        deviation (1.4826 MAD) of its length over the take: "bones" that are not rigid (a
        skeleton's ear-shoulder line) vary a lot and so tolerate more.
    long_bone_tolerance_fraction: the long bones (upper arm, forearm, thigh, shank, found by
        joint names: :func:`long_bone_mask`) are rigid, so they jump when they differ from their
        median by more than this fraction, whatever their spread: a large spread of a rigid
        segment's length comes from gross 3D errors (left/right swaps that two views agree on).
    min_bone_samples: a bone is checked only when at least this many framesets give its length.
    """

    gating: GatingMode = option("adaptive", choices=("adaptive", "fixed"))
    threshold_sigmas: float = option(4.0, low=0, low_open=True)
    threshold_min_fraction: float = option(0.002, low=0, high=1, low_open=True, high_open=True)
    threshold_max_fraction: float = option(0.03, low=0, high=1, low_open=True, high_open=True)
    min_noise_samples: int = option(30, low=1)
    threshold_px: float = option(15.0, low=0, low_open=True, note="pixels")
    min_inlier_views: int = option(2, low=2, note="one view cannot triangulate")
    max_reprojection_error_px: float = option(10.0, low=0, low_open=True, note="pixels")
    min_score: float = option(0.2, low=0, high=1, note="a confidence")
    presence_min_score: float = option(0.5, low=0, high=1, note="a confidence; 0: no presence test")
    presence_window_frames: int = option(15, low=1, odd=True)
    smoothing: Smoothing = option("none", choices=("none", "savgol", "median"))
    smoothing_window_frames: int = 9
    smoothing_polyorder: int = 2
    bone_check: BoneCheck = option("reject", choices=("off", "flag", "reject"))
    bone_length_tolerance_fraction: float = option(0.2, low=0, low_open=True)
    bone_length_tolerance_min_m: float = option(0.03, low=0)
    bone_length_tolerance_sigmas: float = option(4.0, low=0)
    long_bone_tolerance_fraction: float = option(0.12, low=0, high=1, low_open=True, high_open=True)
    min_bone_samples: int = option(10, low=1)

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.threshold_min_fraction <= self.threshold_max_fraction:
            raise ValueError(f"threshold_min_fraction {self.threshold_min_fraction} is above "
                             f"threshold_max_fraction {self.threshold_max_fraction} (fractions of the "
                             "image diagonal)")
        if self.smoothing != "none":
            check_range(self, "smoothing_window_frames", low=3, odd=True)
            if self.smoothing == "savgol":
                check_range(self, "smoothing_polyorder", low=0, high=self.smoothing_window_frames, high_open=True,
                            integer=True, note="below smoothing_window_frames")

    def to_json(self) -> dict:
        return asdict(self)


def context_framesets(options: LabelOptions) -> int:
    """Framesets of context a block needs on each side so its labels do not depend on where the
    take is cut into blocks (the presence test reaches half its window away, and smoothing, on
    top, at most one window minus one frame)."""
    presence = options.presence_window_frames // 2 if options.presence_min_score > 0 else 0
    return presence + (0 if options.smoothing == "none" else options.smoothing_window_frames - 1)


@dataclass(frozen=True, kw_only=True)
class PseudoLabels:
    """Labels of F framesets in the shard layout (see :mod:`labeling.shards`).

    keypoints_3d (F, J, 3) float32 m world, NaN where not valid; valid (F, J) bool;
    keypoints_2d (F, V, J, 2) float32 px; scores_2d (F, V, J) float32; inliers (F, V, J) bool;
    reprojection_error_px (F, V, J) float32 to the triangulated (and, if smoothing, smoothed)
    point, also where the label was rejected, NaN where no detection or no point;
    frame_index (F,) int64; timestamp_s (F,) float64; num_inlier_views (F, J) uint8;
    reject_reason (F, J) uint8 bits of ``RejectReason``.
    """

    keypoints_3d: np.ndarray
    valid: np.ndarray
    keypoints_2d: np.ndarray
    scores_2d: np.ndarray
    inliers: np.ndarray
    reprojection_error_px: np.ndarray
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    num_inlier_views: np.ndarray
    reject_reason: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields of :data:`labeling.shards.LABEL_FIELDS`, as the schema's dtypes."""
        return {name: np.asarray(getattr(self, name), dtype=dtype)
                for name, (dtype, _) in LABEL_FIELDS.items()}

    def __len__(self) -> int:
        return int(self.frame_index.shape[0])

    def subset(self, start: int, stop: int) -> "PseudoLabels":
        """Framesets ``start:stop`` (positions along F)."""
        return PseudoLabels(**{name: getattr(self, name)[start:stop] for name in LABEL_FIELDS})


def noise_for(rig, detections: Detections, options: LabelOptions) -> NoiseEstimate:
    """The thresholds of ``options.gating`` for these detections (:func:`labeling.gating.estimate_noise`)."""
    V = detections.num_views
    if len(rig) != V:
        raise ValueError(f"the rig has {len(rig)} cameras but the detections have {V} views")
    return estimate_noise(rig, detections, options)


def _check_noise(noise: NoiseEstimate, rig, J: int) -> None:
    if tuple(noise.camera_names) != tuple(rig.names) or noise.joint_group.shape != (J,):
        raise ValueError(f"the noise estimate is for cameras {', '.join(noise.camera_names)} and "
                         f"{noise.joint_group.size} joints, not for these {len(rig)} cameras and "
                         f"{J} joints")


def _triangulate(rig, detections: Detections, options: LabelOptions, noise: NoiseEstimate):
    """Robust triangulation of every (frameset, joint) at once with the noise's thresholds.

    Returns ``(points (F, J, 3), inliers (V, F, J), error_px (V, F, J), triangulated (F, J))``.
    """
    V, F, J, _ = detections.points_2d.shape
    if len(rig) != V:
        raise ValueError(f"the rig has {len(rig)} cameras but the detections have {V} views")
    _check_noise(noise, rig, J)
    usable = detections.scores >= options.min_score  # NaN scores compare False
    points = np.where(usable[..., None], detections.points_2d, np.nan)
    weights = np.where(usable, detections.scores, 0.0)
    return triangulate_gated(rig, points, weights, noise.per_joint(noise.threshold_px))


def bone_lengths_m(points_3d: np.ndarray, bones: np.ndarray) -> np.ndarray:
    """(..., J, 3) metres and (B, 2) joint indices -> (..., B) bone lengths, NaN if an end is NaN."""
    bones = np.asarray(bones, dtype=np.int64).reshape(-1, 2)
    return np.linalg.norm(points_3d[..., bones[:, 0], :] - points_3d[..., bones[:, 1], :], axis=-1)


def _gate(triangulated, detections: Detections, options: LabelOptions, noise: NoiseEstimate):
    """Inlier views, their count and the reject reasons (F, J) of a triangulation."""
    points, inliers, error, valid = triangulated
    inliers = inliers & valid[None]
    num_inliers = inliers.sum(axis=0)
    gate = noise.per_joint(noise.gate_px)[:, None, :]  # (V, 1, J)
    too_far = (inliers & (np.nan_to_num(error, nan=np.inf) > gate)).any(axis=0)
    present = person_present(detections.scores, inliers, detections.frame_index, options)
    reason = np.zeros(valid.shape, dtype=np.uint8)
    reason[~valid] |= np.uint8(RejectReason.NOT_TRIANGULATED)
    reason[num_inliers < options.min_inlier_views] |= np.uint8(RejectReason.TOO_FEW_INLIER_VIEWS)
    reason[too_far] |= np.uint8(RejectReason.REPROJECTION_ERROR)
    reason[~present & valid.any(axis=1)] |= np.uint8(RejectReason.NO_PERSON)
    return points, inliers, num_inliers, reason


def reference_bone_lengths(rig, detections: Detections, bones: np.ndarray, *,
                           options: LabelOptions, noise: NoiseEstimate | None = None,
                           max_framesets: int = 2000) -> np.ndarray:
    """Take-wide robust length of each bone from gated, unsmoothed labels.

    Uses at most ``max_framesets`` framesets spread evenly over the take (a median needs no more).
    noise: the take's thresholds (:func:`noise_for` when None).
    Returns (B, 2) float64 metres: the median length and its robust spread (1.4826 * median
    absolute deviation); NaN rows for bones with fewer than ``min_bone_samples`` lengths.
    """
    bones = np.asarray(bones, dtype=np.int64).reshape(-1, 2)
    F = detections.num_frames
    out = np.full((len(bones), 2), np.nan)
    if F == 0 or bones.size == 0:
        return out
    noise = noise_for(rig, detections, options) if noise is None else noise
    pick = np.unique(np.linspace(0, F - 1, min(F, max_framesets)).round().astype(np.int64))
    subset = Detections(points_2d=detections.points_2d[:, pick], scores=detections.scores[:, pick],
                        camera_names=detections.camera_names, joint_names=detections.joint_names,
                        frame_index=detections.frame_index[pick],
                        timestamp_s=detections.timestamp_s[pick])
    points, _, _, reason = _gate(_triangulate(rig, subset, options, noise), subset, options, noise)
    points = np.where((reason == 0)[..., None], points, np.nan)
    lengths = bone_lengths_m(points, bones)
    enough = np.isfinite(lengths).sum(axis=0) >= options.min_bone_samples
    if enough.any():
        median = np.nanmedian(lengths[:, enough], axis=0)
        out[enough, 0] = median
        out[enough, 1] = 1.4826 * np.nanmedian(np.abs(lengths[:, enough] - median), axis=0)
    return out


def _runs(ok: np.ndarray, frame_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run labels for (F, J) ``ok``: consecutive framesets, no frame_index jump. Returns
    ``(run_id (F, J) int64, run_length (F, J) int64)``, run_id -1 where not ok."""
    F, J = ok.shape
    contiguous = np.ones(F, dtype=bool)
    contiguous[1:] = np.diff(frame_index) == 1
    starts = ok & ~(np.vstack([np.zeros((1, J), bool), ok[:-1]]) & contiguous[:, None])
    run_id = np.cumsum(starts.T.reshape(-1)).reshape(J, F).T - 1
    run_id = np.where(ok, run_id, -1)
    lengths = np.bincount(run_id[ok], minlength=int(run_id.max()) + 1 if ok.any() else 0)
    run_length = np.where(ok, lengths[np.maximum(run_id, 0)] if lengths.size else 0, 0)
    return run_id, run_length


def _smooth(points: np.ndarray, ok: np.ndarray, frame_index: np.ndarray,
            options: LabelOptions) -> np.ndarray:
    """Gap-aware smoothing along F of (F, J, 3) points where ``ok``; others returned unchanged.

    Each run of consecutive ok framesets at least one window long is filtered on its own: the
    runs of all joints are laid end to end, filtered once, and frames whose window would cross a
    run boundary use the filter's polynomial fit to the run's own ends (``mode="interp"``).
    """
    window = options.smoothing_window_frames
    half = window // 2
    run_id, run_length = _runs(ok, frame_index)
    target = ok & (run_length >= window)
    if not target.any():
        return points
    out = points.copy()
    # Gather, per joint, the positions of the long runs: position within run and run bounds.
    F, J = ok.shape
    f_idx, j_idx = np.nonzero(target)
    order = np.lexsort((f_idx, run_id[f_idx, j_idx]))
    f_idx, j_idx = f_idx[order], j_idx[order]
    ids = run_id[f_idx, j_idx]
    first = np.r_[True, ids[1:] != ids[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(ids.size), 0))
    length = run_length[f_idx, j_idx]
    pos = np.arange(ids.size) - start  # position within the run
    series = points[f_idx, j_idx]  # (M, 3), runs laid end to end
    # Window centre clamped to the run, so every window stays inside its own run.
    centre = start + np.clip(pos, half, length - 1 - half)
    offsets = np.arange(-half, half + 1)
    windows = series[centre[:, None] + offsets[None, :]]  # (M, window, 3)
    if options.smoothing == "median":
        smoothed = np.median(windows, axis=1)
    else:
        # Evaluate the window's least-squares polynomial at the sample's offset from the centre.
        smoothed = np.empty_like(series)
        shift = pos - np.clip(pos, half, length - 1 - half)
        # Least-squares polynomial over the window (Savitzky-Golay): fit = pinv(A) @ y,
        # evaluated at offset s from the window centre.
        A = np.vander(offsets.astype(np.float64), options.smoothing_polyorder + 1, increasing=True)
        fit = np.linalg.pinv(A)  # (polyorder + 1, window)
        for s in np.unique(shift):
            coeffs = (float(s) ** np.arange(options.smoothing_polyorder + 1)) @ fit
            rows = shift == s
            smoothed[rows] = np.einsum("w,mwc->mc", coeffs, windows[rows])
    out[f_idx, j_idx] = smoothed
    return out


_LONG_BONES = (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"))


def long_bone_mask(joint_names, bones: np.ndarray) -> np.ndarray:
    """(B,) bool: the bones that are an upper arm, forearm, thigh or shank, by their joints'
    names (e.g. ``left_elbow``-``left_wrist``, ``RKnee``-``RAnkle``; both ends on one side)."""
    names = [str(n).lower() for n in joint_names]

    parts = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")

    def part(name):
        return next((p for p in parts if p in name), None)

    def side(name):
        rest = name
        for p in parts:
            rest = rest.replace(p, "")
        rest = rest.strip("_ -.")
        return rest if rest in ("l", "r", "left", "right") else None

    out = []
    for a, b in np.asarray(bones, dtype=np.int64).reshape(-1, 2):
        pa, pb = part(names[a]), part(names[b])
        sa, sb = side(names[a]), side(names[b])
        out.append(sa is not None and sa == sb and ((pa, pb) in _LONG_BONES or (pb, pa) in _LONG_BONES))
    return np.array(out, dtype=bool)


def _bone_flags(points: np.ndarray, valid: np.ndarray, bones: np.ndarray,
                reference_m: np.ndarray, options: LabelOptions, long_bones: np.ndarray) -> np.ndarray:
    """(F, J) bool: joints blamed for bones whose length jumps from the reference."""
    F, J = valid.shape
    known = np.isfinite(reference_m).all(axis=1)
    bones, median, spread = bones[known], reference_m[known, 0], reference_m[known, 1]
    long_bones = long_bones[known]
    flagged = np.zeros((F, J), dtype=bool)
    if bones.size == 0:
        return flagged
    lengths = bone_lengths_m(np.where(valid[..., None], points, np.nan), bones)  # (F, B)
    checked = np.isfinite(lengths)
    tolerance = np.maximum.reduce([options.bone_length_tolerance_fraction * median,
                                   np.full_like(median, options.bone_length_tolerance_min_m),
                                   options.bone_length_tolerance_sigmas * spread])
    tolerance = np.where(long_bones, options.long_bone_tolerance_fraction * median, tolerance)
    deviation = np.abs(np.nan_to_num(lengths) - median)
    bad = checked & (deviation > tolerance)
    gross = checked & (deviation > 2 * tolerance)
    incidence = np.zeros((len(bones), J), dtype=np.int64)
    incidence[np.arange(len(bones)), bones[:, 0]] = 1
    incidence[np.arange(len(bones)), bones[:, 1]] = 1
    initially_bad, initially_good, checked_any = bad.copy(), checked & ~bad, checked.copy()
    rows = np.arange(F)
    for _ in range(len(bones)):
        if not bad.any():
            break
        num_bad = bad.astype(np.int64) @ incidence
        num_ok = (checked & ~bad).astype(np.int64) @ incidence
        # Blame the joint with the most deviating bones; ties go to the one with fewer good bones.
        key = num_bad * (len(bones) + 1) - num_ok
        key = np.where(num_bad > 0, key, np.iinfo(np.int64).min)
        joint = np.argmax(key, axis=1)
        active = num_bad[rows, joint] > 0
        flagged[rows[active], joint[active]] = True
        touched = incidence[:, joint].T.astype(bool) & active[:, None]  # (F, B)
        bad &= ~touched
        checked &= ~touched
    # A joint on a deviating bone, or next to a joint flagged for a gross deviation (over twice
    # the tolerance), that no good bone to a kept joint vouches for is not trusted either: a
    # wrist swapped to the other arm with its elbow is not saved by the elbow being the one
    # blamed (nor by the elbow's being missing).
    suspect = initially_bad.astype(np.int64) @ incidence > 0
    flagged_gross = flagged & (gross.astype(np.int64) @ incidence > 0)
    # A joint held only by long bones (a COCO wrist or ankle) must have one of them checked: a
    # swapped wrist whose elbow did not triangulate has nothing else to tell it apart.
    only_long = ((incidence * ~long_bones[:, None]).sum(axis=0) == 0) & (incidence.sum(axis=0) > 0)
    suspect |= only_long[None, :] & valid & ((checked_any.astype(np.int64) @ incidence) == 0)
    for _ in range(J):
        kept_end = ~flagged[:, bones]  # (F, B, 2)
        grossly_flagged_end = flagged_gross[:, bones]
        to_flagged = initially_good & (grossly_flagged_end[..., 0] | grossly_flagged_end[..., 1])
        vouching = initially_good & kept_end[..., 0] & kept_end[..., 1]
        doubt = (suspect | (to_flagged.astype(np.int64) @ incidence > 0)) & ~flagged
        drop = doubt & ((vouching.astype(np.int64) @ incidence) == 0)
        if not drop.any():
            break
        flagged |= drop
        flagged_gross |= drop
    return flagged


def compute_pseudo_labels(rig, detections: Detections, *, options: LabelOptions,
                          bones: np.ndarray | None = None,
                          reference_bone_lengths_m: np.ndarray | None = None,
                          noise: NoiseEstimate | None = None) -> PseudoLabels:
    """Pseudo-labels of a block of framesets.

    rig: ``geometry.Rig`` whose cameras are the detections' views, in the same order.
    detections: ``labeling.Detections`` (V, F, J) of the block (with any context framesets).
    bones: (B, 2) joint indices for the bone check (None: no check).
    reference_bone_lengths_m: (B, 2) take-wide lengths from :func:`reference_bone_lengths`; when
        None they are computed from this block.
    noise: the take's :class:`labeling.gating.NoiseEstimate` (thresholds per camera and joint
        group, :func:`noise_for`); when None it is estimated from this block.
    Returns a :class:`PseudoLabels` of the F framesets.
    """
    noise = noise_for(rig, detections, options) if noise is None else noise
    return _labels_from(rig, detections, _triangulate(rig, detections, options, noise),
                        options=options, bones=bones,
                        reference_bone_lengths_m=reference_bone_lengths_m, noise=noise)


def _take_triangulation(triangulated, index: np.ndarray):
    """The samples ``index`` (positions along F) of a :func:`_triangulate` result."""
    points, inliers, error, valid = triangulated
    return points[index], inliers[:, index], error[:, index], valid[index]


def _labels_from(rig, detections: Detections, triangulated, *, options: LabelOptions,
                 bones: np.ndarray | None, reference_bone_lengths_m: np.ndarray | None,
                 noise: NoiseEstimate) -> PseudoLabels:
    """:func:`compute_pseudo_labels` after the triangulation (``triangulated``: what
    :func:`_triangulate` returns for these detections): gates, smoothing, bone check, errors."""
    J = detections.num_joints
    points, inliers, num_inliers, reason = _gate(triangulated, detections, options, noise)
    ok = reason == 0
    if options.smoothing != "none":
        points = _smooth(points, ok, detections.frame_index, options)
    if bones is not None and options.bone_check != "off" and len(bones):
        bones = np.asarray(bones, dtype=np.int64).reshape(-1, 2)
        if bones.min() < 0 or bones.max() >= J:
            raise ValueError(f"bones index joints outside 0..{J - 1}")
        if reference_bone_lengths_m is None:
            reference_bone_lengths_m = reference_bone_lengths(rig, detections, bones,
                                                              options=options, noise=noise)
        reference = np.asarray(reference_bone_lengths_m, dtype=np.float64)
        if reference.shape != (len(bones), 2):
            raise ValueError(f"reference_bone_lengths_m has shape {reference.shape}, "
                             f"expected ({len(bones)}, 2) (median, spread)")
        flagged = _bone_flags(points, ok, bones, reference, options,
                              long_bone_mask(detections.joint_names, bones))
        reason[flagged] |= np.uint8(RejectReason.BONE_LENGTH)
    blocking = np.uint8(0xFF if options.bone_check == "reject" else ~np.uint8(RejectReason.BONE_LENGTH))
    valid = (reason & blocking) == 0
    # Reprojection error of what is stored (the smoothed point where smoothing ran).
    error = reprojection_error(rig, points, detections.points_2d)  # (V, F, J), compiled
    return PseudoLabels(
        keypoints_3d=np.where(valid[..., None], points, np.nan).astype(np.float32),
        valid=valid,
        keypoints_2d=np.moveaxis(detections.points_2d, 0, 1).astype(np.float32),
        scores_2d=np.moveaxis(detections.scores, 0, 1).astype(np.float32),
        inliers=np.moveaxis(inliers, 0, 1),
        reprojection_error_px=np.moveaxis(error, 0, 1).astype(np.float32),
        frame_index=detections.frame_index.copy(),
        timestamp_s=detections.timestamp_s.copy(),
        num_inlier_views=np.minimum(num_inliers, 255).astype(np.uint8),
        reject_reason=reason)
