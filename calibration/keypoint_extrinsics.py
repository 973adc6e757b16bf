"""Extrinsics without a board: from synchronized 2D keypoints of people moving through the rig.

Conventions (frames, pixels, dimension letters, units) in :mod:`geometry.camera`. The seed
method of EpipolarPose-style pipelines, made robust to detector outliers:

1. Every camera pair: relative rotation and translation direction from the essential matrix with
   RANSAC (:func:`geometry.relative_pose.relative_pose`) on the joints both views detected;
   quality = inliers, inlier ratio, median triangulation angle.
2. Initial rig: the strongest pair (most inliers with enough parallax) fixes the frame of its
   first camera and the unit baseline; its inlier joints are triangulated; every further camera is
   registered by PnP + RANSAC against the joints already triangulated (the camera with the most
   such joints first, so the scale propagates through shared points), and the joints are
   triangulated again (:func:`geometry.robust_triangulation.triangulate_robust`).
3. Bundle adjustment over cameras and points (:func:`calibration.bundle_adjustment.bundle_adjust_points`,
   robust loss, outlier rejection), twice with a re-triangulation between.
4. World frame: the first camera of the rig. Metric scale from one known length
   (:class:`KnownLength`): a distance between two joints, or the person's height; without one
   the unit is the strongest pair's baseline.
5. Per-pair diagnostics, including how far the final rig's relative rotation is from the pair's
   own essential-matrix estimate; pairs that failed or disagree are reported as weak.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

from geometry import Rig, compose, invert, rotation_angle_deg, rotation_from_rvec
from geometry.options import check_fields, option
from geometry.relative_pose import relative_pose
from geometry.robust_triangulation import triangulate_robust

from .bundle_adjustment import BundleAdjustmentOptions, BundleAdjustmentResult, bundle_adjust_points
from .keypoint_cleaning import fix_swaps, swap_permutation, temporal_outliers

__all__ = ["KnownLength", "KeypointExtrinsicsOptions", "KeypointPair", "KeypointExtrinsics",
           "keypoint_extrinsics", "person_height_m"]

log = logging.getLogger(__name__)

# Standing height over the chain ankle -> knee -> hip -> shoulder -> nose (midpoints of the left
# and right joints): ankle height ~0.04 H and nose height ~0.92 H (Drillis & Contini segment
# proportions), so the chain covers ~0.88 H; segment sums do not shrink when the knees bend.
_CHAIN_FRACTION_OF_HEIGHT = 0.88
_HEIGHT_CHAIN = (("left_ankle", "right_ankle"), ("left_knee", "right_knee"), ("left_hip", "right_hip"),
                 ("left_shoulder", "right_shoulder"), ("nose", "nose"))


@dataclass(frozen=True, kw_only=True)
class KnownLength:
    """One length in the scene that sets the metric scale.

    kind: ``"joint_distance"``: the distance between joints ``joints = (i, j)`` (a rigid segment or
        a wand, measured per frame, median taken); ``"person_height"``: the standing height of the
        person (from the ankle-knee-hip-shoulder-nose chain, needs ``joint_names``).
    length_m: the true length, metres.
    """

    kind: Literal["joint_distance", "person_height"]
    length_m: float
    joints: tuple[int, int] = (-1, -1)

    def __post_init__(self) -> None:
        if self.kind not in ("joint_distance", "person_height"):
            raise ValueError(f"kind is {self.kind!r}, expected 'joint_distance' or 'person_height'")
        if not 0.01 < self.length_m < 100:
            raise ValueError(f"length_m is {self.length_m}, expected metres (0.01 .. 100); "
                             "was it given in millimetres?")
        if self.kind == "joint_distance" and (len(self.joints) != 2 or min(self.joints) < 0
                                              or self.joints[0] == self.joints[1]):
            raise ValueError(f"joints is {self.joints}, expected two different joint indices")


@dataclass(frozen=True, kw_only=True)
class KeypointExtrinsicsOptions:
    """How to run :func:`keypoint_extrinsics`.

    min_score: detections with a lower confidence are ignored.
    pair_threshold_px: RANSAC inlier threshold (Sampson distance) of the relative poses; about 2-3
        times the detector's noise.
    max_pair_correspondences: at most this many joints (drawn at random) per pair go into its
        essential-matrix RANSAC: the pair pose only seeds the rig and rates the pair, and a few
        hundred well-spread joints pin it down as well as thousands.
    min_pair_inliers: a pair with fewer essential-matrix inliers is weak.
    min_triangulation_angle_deg: a pair whose inliers have a smaller median parallax is weak.
    max_rotation_disagreement_deg: a pair whose own relative rotation differs from the final
        rig's by more is weak (an inconsistent pair: a pair estimate from a few hundred noisy
        joints is typically within 0.5-3 deg of the jointly refined rig; a wrong one is far off).
    triangulation_threshold_px: inlier threshold of the robust triangulation.
    min_pnp_points: a camera needs this many triangulated joints to be registered.
    known_length: the metric scale; None keeps the strongest pair's baseline as the unit.
    max_jump: detections farther than this fraction of the person's image height from the same
        joint's median in the 2 frames on each side are dropped (hallucinated, jumping joints;
        :func:`calibration.keypoint_cleaning.temporal_outliers`); None keeps every detection.
    fix_swaps: relabel views whose left/right joints are swapped, judged by the other cameras
        (:func:`calibration.keypoint_cleaning.fix_swaps`; needs ``joint_names`` and 3+ cameras).
    bundle_adjustment: options of the refinement (``fixed_camera`` is set to the first camera).
    """

    min_score: float = option(0.3, low=0, high=1, high_open=True)
    pair_threshold_px: float = option(4.0, low=0, low_open=True)
    max_pair_correspondences: int = 800
    min_pair_inliers: int = option(30, low=8)
    min_triangulation_angle_deg: float = 2.0
    max_rotation_disagreement_deg: float = option(5.0, low=0, low_open=True)
    triangulation_threshold_px: float = option(8.0, low=0, low_open=True)
    min_pnp_points: int = option(12, low=6)
    known_length: KnownLength | None = None
    max_jump: float | None = 0.12
    fix_swaps: bool = True
    bundle_adjustment: BundleAdjustmentOptions = option(
        factory=lambda: BundleAdjustmentOptions(loss_scale_px=3.0, min_outlier_threshold_px=4.0))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.max_pair_correspondences < self.min_pair_inliers:
            raise ValueError("max_pair_correspondences must be >= min_pair_inliers")


@dataclass(frozen=True, kw_only=True)
class KeypointPair:
    """Diagnostics of one camera pair.

    a, b: camera names. correspondences: joints both views detected. inliers: essential-matrix
    RANSAC inliers. median_triangulation_angle_deg: parallax of the inliers (NaN on failure).
    rotation_disagreement_deg: angle between the pair's own relative rotation and the final rig's
    (NaN when the pair failed). success: the relative pose was found. weak: unreliable (failed,
    too few inliers, too little parallax, or disagreeing); reason says why ("" when strong).
    """

    a: str
    b: str
    correspondences: int
    inliers: int
    median_triangulation_angle_deg: float
    rotation_disagreement_deg: float
    success: bool
    weak: bool
    reason: str


@dataclass(frozen=True, kw_only=True)
class KeypointExtrinsics:
    """The calibrated rig and how it was reached.

    rig: final rig; world = the first camera's frame; metres when ``known_length`` was given.
    points_in_world: (F, J, 3) refined joints (NaN where not reconstructed), same units.
    scale: factor applied after bundle adjustment to reach metres (1.0 without a known length).
    measured_length: the known length as reconstructed before scaling (NaN without one).
    pairs: one :class:`KeypointPair` per camera pair (a before b in rig order).
    initial_pair: the two cameras that seeded the reconstruction.
    registration_order: camera names in the order they were registered.
    bundle: the final :class:`BundleAdjustmentResult` (before scaling: its rig and points are in
        the reconstruction's own unit).
    num_jumping: detections dropped as temporal outliers. num_swapped: view-frames relabelled
        left <-> right.
    """

    rig: Rig
    points_in_world: np.ndarray
    scale: float
    measured_length: float
    pairs: tuple[KeypointPair, ...]
    initial_pair: tuple[str, str]
    registration_order: tuple[str, ...]
    bundle: BundleAdjustmentResult
    num_jumping: int = 0
    num_swapped: int = 0

    @property
    def weak_pairs(self) -> tuple[KeypointPair, ...]:
        return tuple(p for p in self.pairs if p.weak)


# -- inputs -----------------------------------------------------------------------------------
def _check_inputs(rig: Rig, points_2d, scores, min_score) -> np.ndarray:
    points = np.asarray(points_2d, dtype=np.float64)
    if points.ndim != 4 or points.shape[-1] != 2:
        raise ValueError(f"points_2d has shape {points.shape}, expected (V, F, J, 2)")
    if points.shape[0] != len(rig):
        raise ValueError(f"points_2d has {points.shape[0]} views but the rig has {len(rig)} cameras "
                         f"({', '.join(rig.names)})")
    points = points.copy()
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != points.shape[:-1]:
            raise ValueError(f"scores has shape {scores.shape}, expected {points.shape[:-1]}")
        points[~(scores >= min_score)] = np.nan
    points[~np.all(np.isfinite(points), axis=-1)] = np.nan
    return points


# -- step 1: pairs ----------------------------------------------------------------------------
def _pair_poses(rig: Rig, flat: np.ndarray, options, rng):
    """Relative pose of every pair: dict (a, b) -> RelativePose or None, and correspondence counts."""
    V = len(rig)
    poses, counts = {}, {}
    for a in range(V):
        for b in range(a + 1, V):
            both = np.flatnonzero(np.all(np.isfinite(flat[a]), axis=1) & np.all(np.isfinite(flat[b]), axis=1))
            counts[a, b] = int(both.size)
            if counts[a, b] < options.min_pair_inliers:
                poses[a, b] = None
                continue
            if both.size > options.max_pair_correspondences:
                both = np.sort(rng.choice(both, options.max_pair_correspondences, replace=False))
            pose = relative_pose(flat[a, both], flat[b, both], rig.K[a], rig.K[b], dist_a=rig[a].dist,
                                 dist_b=rig[b].dist, distortion_model_a=rig[a].model,
                                 distortion_model_b=rig[b].model,
                                 threshold_px=options.pair_threshold_px, rng=rng)
            inliers = np.zeros(flat.shape[1], dtype=bool)
            inliers[both[pose.inliers]] = True
            poses[a, b] = replace(pose, inliers=inliers)  # inliers over all N joints
    return poses, counts


def _pair_is_usable(pose, options) -> bool:
    return (pose is not None and pose.success and pose.num_inliers >= options.min_pair_inliers
            and pose.median_triangulation_angle_deg >= options.min_triangulation_angle_deg)


# -- step 2: incremental registration ---------------------------------------------------------
def _register(rig: Rig, flat: np.ndarray, poses, options):
    """Initial poses (V, 3, 3), (V, 3) in the frame of the seed pair's first camera, and the order."""
    V = len(rig)
    usable = {k: p for k, p in poses.items() if _pair_is_usable(p, options)}
    if not usable:
        raise ValueError("no camera pair has a reliable relative pose from the keypoints (each needs "
                         f"{options.min_pair_inliers} consistent joints with "
                         f"{options.min_triangulation_angle_deg:g} deg of parallax): record people "
                         "walking through the whole volume")
    a, b = max(usable, key=lambda k: usable[k].num_inliers)
    R = np.broadcast_to(np.eye(3), (V, 3, 3)).copy()
    t = np.zeros((V, 3))
    R[b], t[b] = usable[a, b].R, usable[a, b].t
    registered = [a, b]
    seed_mask = np.zeros(flat.shape[1], dtype=bool)
    seed_mask[usable[a, b].inliers] = True
    points = _triangulate(rig, R, t, registered, flat, options, only=seed_mask)
    while len(registered) < V:
        known = np.all(np.isfinite(points), axis=1)
        candidates = [v for v in range(V) if v not in registered]
        support = [int((known & np.all(np.isfinite(flat[v]), axis=1)).sum()) for v in candidates]
        best = candidates[int(np.argmax(support))]
        if max(support) < options.min_pnp_points:
            names = ", ".join(rig.names[v] for v in candidates)
            raise ValueError(f"cameras {names} share fewer than {options.min_pnp_points} reliably "
                             f"triangulated joints with {', '.join(rig.names[v] for v in registered)}: "
                             "record people walking where both groups see them")
        pose = _resection(rig[best], points, flat[best], known, options)
        if pose is None:
            raise ValueError(f"camera {rig.names[best]} could not be placed from the keypoints "
                             "(PnP found no consistent pose): check its intrinsics and its detections")
        R[best], t[best] = pose
        registered.append(best)
        points = _triangulate(rig, R, t, registered, flat, options)
    return R, t, (a, b), registered


def _triangulate(rig: Rig, R, t, registered, flat, options, only=None) -> np.ndarray:
    """(N, 3) joints from the registered cameras (NaN where not valid)."""
    sub = rig.with_poses(R, t).subset(registered)
    observations = flat[registered]
    if only is not None:
        observations = np.where(only[None, :, None], observations, np.nan)
    result = triangulate_robust(sub, observations, threshold_px=options.triangulation_threshold_px)
    points = np.where(result.valid[:, None], result.points_3d, np.nan)
    return points


def _resection(camera, points, pixels, known, options):
    """cam_from_world of one camera by PnP + RANSAC on undistorted normalized coordinates."""
    use = known & np.all(np.isfinite(pixels), axis=1)
    normalized = camera.normalize(pixels[use])
    ok = np.all(np.isfinite(normalized), axis=1)
    obj = np.ascontiguousarray(points[use][ok]).reshape(-1, 1, 3)
    img = np.ascontiguousarray(normalized[ok]).reshape(-1, 1, 2)
    if len(obj) < options.min_pnp_points:
        return None
    threshold = options.triangulation_threshold_px / camera.K[0, 0]
    found, rvec, tvec, inliers = cv2.solvePnPRansac(obj, img, np.eye(3), None, iterationsCount=500,
                                                    reprojectionError=threshold, confidence=0.9999,
                                                    flags=cv2.SOLVEPNP_SQPNP)
    if not found or inliers is None or len(inliers) < options.min_pnp_points:
        return None
    keep = inliers.reshape(-1)
    rvec, tvec = cv2.solvePnPRefineLM(obj[keep], img[keep], np.eye(3), None, rvec, tvec)
    return rotation_from_rvec(rvec.reshape(3)), tvec.reshape(3)


# -- step 3: bundle adjustment ----------------------------------------------------------------
def _refine(rig: Rig, flat: np.ndarray, options, rounds: int = 2):
    bundle = None
    for round_index in range(rounds):
        # The first round only needs to bring the rig close: one rejection pass is enough there;
        # the views it wrongly dropped come back with the re-triangulation of the next round.
        ba_options = options.bundle_adjustment if round_index == rounds - 1 else replace(
            options.bundle_adjustment, rejection_rounds=min(1, options.bundle_adjustment.rejection_rounds))
        result = triangulate_robust(rig, flat, threshold_px=options.triangulation_threshold_px)
        valid = result.valid
        use = result.inliers & valid[None, :]
        cam, point = np.nonzero(use)
        if point.size == 0:
            raise ValueError("no joint could be triangulated consistently from the keypoints")
        slots = np.flatnonzero(valid)
        slot = np.full(flat.shape[1], -1)
        slot[slots] = np.arange(len(slots))
        bundle = bundle_adjust_points(rig, result.points_3d[slots], cam, slot[point], flat[cam, point],
                                      options=ba_options)
        rig = bundle.rig
    views = np.bincount(slot[point][bundle.inliers], minlength=len(slots))
    keep = views >= 2  # a joint needs two inlier views after the refinement
    points = np.full((flat.shape[1], 3), np.nan)
    points[slots[keep]] = bundle.points_in_world[keep]
    return rig, points, bundle


# -- step 4: metric scale ---------------------------------------------------------------------
def person_height_m(points_in_world: np.ndarray, joint_names) -> float:
    """Standing height estimated from a skeleton's ankle-knee-hip-shoulder-nose chain.

    points_in_world: (F, J, 3) joints, NaN where missing; joint_names: J names (COCO-style
    ``left_ankle`` ... ``nose``). Per segment the median length over frames; their sum over
    :data:`_CHAIN_FRACTION_OF_HEIGHT`. Returns NaN when a segment was never reconstructed.
    """
    names = list(joint_names)
    missing = sorted({n for pair in _HEIGHT_CHAIN for n in pair} - set(names))
    if missing:
        raise ValueError(f"person height needs the joints {', '.join(missing)}; the keypoints have "
                         f"{', '.join(names)}")
    mids = [0.5 * (points_in_world[:, names.index(l)] + points_in_world[:, names.index(r)])
            for l, r in _HEIGHT_CHAIN]
    total = 0.0
    for lower, upper in zip(mids[:-1], mids[1:]):
        length = np.linalg.norm(upper - lower, axis=-1)
        length = length[np.isfinite(length)]
        if length.size == 0:
            return float("nan")
        total += float(np.median(length))
    return total / _CHAIN_FRACTION_OF_HEIGHT


def _measure(known: KnownLength, points: np.ndarray, joint_names) -> float:
    if known.kind == "person_height":
        return person_height_m(points, joint_names)
    i, j = known.joints
    if max(i, j) >= points.shape[1]:
        raise ValueError(f"known length joints {known.joints} are outside the {points.shape[1]} joints")
    length = np.linalg.norm(points[:, i] - points[:, j], axis=-1)
    length = length[np.isfinite(length)]
    return float(np.median(length)) if length.size else float("nan")


# -- the whole method -------------------------------------------------------------------------
def keypoint_extrinsics(rig: Rig, points_2d: np.ndarray, *, scores: np.ndarray | None = None,
                        joint_names=None, options: KeypointExtrinsicsOptions = KeypointExtrinsicsOptions(),
                        rng: np.random.Generator | None = None) -> KeypointExtrinsics:
    """Calibrate the camera poses of ``rig`` from people's 2D keypoints.

    rig: V cameras with intrinsics (poses ignored).
    points_2d: (V, F, J, 2) float64 distorted pixels of synchronized framesets; NaN where a view
        has no detection of a joint.
    scores: optional (V, F, J) detector confidences; below ``options.min_score`` is ignored.
    joint_names: J names (needed for ``KnownLength(kind="person_height")``).
    rng: randomness of RANSAC (default ``np.random.default_rng(0)``).
    Raises ValueError with the cameras involved when the keypoints cannot connect the rig.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    points = _check_inputs(rig, points_2d, scores, options.min_score)
    V, F, J, _ = points.shape
    if V < 2:
        raise ValueError("keypoint extrinsics need at least 2 cameras")
    if options.known_length is not None and options.known_length.kind == "person_height":
        if joint_names is None:
            raise ValueError("a person height needs joint_names (which joint is which)")
        person_height_m(np.full((1, J, 3), np.nan), joint_names)  # names the missing joints now
    if joint_names is not None and len(joint_names) != J:
        raise ValueError(f"{len(joint_names)} joint names for {J} joints")
    num_jumping = 0
    if options.max_jump is not None:
        jumping = temporal_outliers(points, max_jump=options.max_jump)
        points[jumping] = np.nan
        num_jumping = int(jumping.sum())
    flat = points.reshape(V, F * J, 2)
    poses, counts = _pair_poses(rig, flat, options, rng)
    R0, t0, seed, order = _register(rig, flat, poses, options)
    # world = the first camera's frame
    R_w, t_w = invert(R0[0], t0[0])
    R0, t0 = compose(R0, t0, np.broadcast_to(R_w, R0.shape), np.broadcast_to(t_w, t0.shape))
    initial = rig.with_poses(R0, t0)
    options_ba = replace(options, bundle_adjustment=replace(options.bundle_adjustment, fixed_camera=0))
    perm = swap_permutation(joint_names) if options.fix_swaps else None
    swapped = np.zeros((V, F), dtype=bool)
    if perm is not None:
        points, swapped = fix_swaps(initial, points, perm, threshold_px=options.triangulation_threshold_px)
        flat = points.reshape(V, F * J, 2)
    refined, points_3d, bundle = _refine(initial, flat, options_ba)
    if perm is not None:  # once more against the refined rig
        points, again = fix_swaps(refined, points, perm, threshold_px=options.triangulation_threshold_px)
        swapped ^= again
        if again.any():
            flat = points.reshape(V, F * J, 2)
            refined, points_3d, bundle = _refine(refined, flat, options_ba)
    scale, measured = 1.0, float("nan")
    if options.known_length is not None:
        measured = _measure(options.known_length, points_3d.reshape(F, J, 3), joint_names)
        if not (np.isfinite(measured) and measured > 0):
            raise ValueError("the known length could not be measured in the reconstruction (its joints "
                             "were never triangulated)")
        scale = options.known_length.length_m / measured
    final = refined.with_poses(refined.R, refined.t * scale)
    pairs = _diagnostics(final, poses, counts, options)
    for pair in pairs:
        if pair.weak:
            log.warning("weak camera pair %s-%s: %s", pair.a, pair.b, pair.reason)
    return KeypointExtrinsics(rig=final, points_in_world=points_3d.reshape(F, J, 3) * scale, scale=scale,
                              measured_length=measured, pairs=pairs,
                              initial_pair=(rig.names[seed[0]], rig.names[seed[1]]),
                              registration_order=tuple(rig.names[v] for v in order), bundle=bundle,
                              num_jumping=num_jumping, num_swapped=int(swapped.sum()))


def _diagnostics(rig: Rig, poses, counts, options) -> tuple[KeypointPair, ...]:
    pairs = []
    for (a, b), pose in sorted(poses.items()):
        rel = rig.R[b] @ rig.R[a].T
        if pose is None or not pose.success:
            reason = (f"only {counts[a, b]} joints seen by both" if pose is None
                      else f"no relative pose ({pose.reason})")
            pairs.append(KeypointPair(a=rig.names[a], b=rig.names[b], correspondences=counts[a, b],
                                      inliers=0 if pose is None else pose.num_inliers,
                                      median_triangulation_angle_deg=float("nan"),
                                      rotation_disagreement_deg=float("nan"), success=False, weak=True,
                                      reason=reason))
            continue
        disagreement = float(rotation_angle_deg(pose.R, rel))
        reasons = []
        if pose.num_inliers < options.min_pair_inliers:
            reasons.append(f"{pose.num_inliers} inliers")
        if pose.median_triangulation_angle_deg < options.min_triangulation_angle_deg:
            reasons.append(f"{pose.median_triangulation_angle_deg:.1f} deg parallax")
        if disagreement > options.max_rotation_disagreement_deg:
            reasons.append(f"its rotation differs from the rig's by {disagreement:.2f} deg")
        pairs.append(KeypointPair(a=rig.names[a], b=rig.names[b], correspondences=counts[a, b],
                                  inliers=pose.num_inliers,
                                  median_triangulation_angle_deg=float(pose.median_triangulation_angle_deg),
                                  rotation_disagreement_deg=disagreement, success=True, weak=bool(reasons),
                                  reason="; ".join(reasons)))
    return tuple(pairs)
