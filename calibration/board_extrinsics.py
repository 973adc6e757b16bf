"""Extrinsics of a rig from a calibration board seen by several cameras at the same instants.

Conventions (frames, pixels, dimension letters, units) in :mod:`geometry.camera`. The board
frame is OpenCV's (z into the board, corners in ``z = 0``); poses are ``cam_from_board`` /
``world_from_board``.

Pipeline (:func:`board_extrinsics`):

1. Per camera and frame the board pose by PnP on undistorted normalized points (IPPE for a planar
   board, SQPnP otherwise, then Levenberg-Marquardt), rejected when too few corners, nearly
   collinear corners or a high reprojection error in pixels.
2. Per camera pair, every frame both saw gives one relative pose ``cam_b_from_cam_a``; a robust
   average (a chordal geometric median as seed, inliers by angle and distance to it, then the
   chordal mean and the mean translation of the inliers) gives the pair's estimate and quality.
3. A maximum spanning tree over the pairs (weight: consistent shared views, discounted by their
   spread) chains the relative poses from the reference camera. A disconnected graph stops with
   a message naming the groups of cameras that never shared a board view.
4. Board poses per frame from the cameras that saw it, then sparse bundle adjustment
   (:mod:`calibration.bundle_adjustment`) over cameras, board poses and optionally intrinsics.
5. World frame: the reference camera, or a board pose (a board on the floor: origin at its first
   corner, x along its columns, z up). The board's square length fixes the metric scale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree

from geometry import Rig, average_rotations, compose, invert, rotation_angle_deg, rotation_from_rvec
from geometry.options import check_fields, option

from .bundle_adjustment import BundleAdjustmentOptions, BundleAdjustmentResult, bundle_adjust_board

__all__ = ["WorldFrame", "BoardExtrinsicsOptions", "CameraPairLink", "BoardExtrinsics", "board_extrinsics",
           "board_poses_by_pnp", "robust_average_pose"]

log = logging.getLogger(__name__)

WorldFrame = Literal["camera", "board"]

_WEISZFELD_ITERATIONS = 20
_BOARD_FROM_FLOOR = np.diag([1.0, -1.0, -1.0])  # axes of the z-up floor frame in the board frame (z into the board)


@dataclass(frozen=True, kw_only=True)
class BoardExtrinsicsOptions:
    """How to run :func:`board_extrinsics`.

    min_corners: a view with fewer detected corners gets no pose (>= 4).
    min_spread: the corners' second singular value over their first (board frame) must reach
        this, or the view is too close to a line for a pose.
    max_pnp_error_px: a view whose PnP pose reprojects its corners with a larger RMS is dropped
        (after one retry without the corners beyond this error, when they are at most a fifth).
    min_shared_views: a camera pair needs this many consistent simultaneous board views to link.
    outlier_factor: a view's relative pose is an outlier when its angle (distance) to the pair's
        robust seed exceeds ``outlier_factor`` times the median angle (distance) and the floors
        ``min_outlier_deg`` / ``min_outlier_fraction`` (of the pair's baseline).
    reference_camera: name of the camera whose frame seeds the tree and holds the BA gauge
        (default: the first camera).
    world: ``"camera"`` (world = the reference camera's frame) or ``"board"`` (world = the board
        at ``world_board_frame``: origin at its first corner, x along its columns, y against its
        rows, z up out of the printed side; a board lying printed side up on the floor gives a
        z-up floor frame).
    world_board_frame: frame index of the board pose that defines the world (``world="board"``);
        None picks the frame seen by the most cameras.
    bundle_adjustment: options of the final refinement (its ``fixed_camera`` is set to the
        reference camera).
    """

    min_corners: int = option(6, low=4, note="PnP needs 4 points")
    min_spread: float = option(0.05, low=0, high=1, high_open=True)
    max_pnp_error_px: float = option(3.0, low=0, low_open=True)
    min_shared_views: int = option(2, low=1)
    outlier_factor: float = option(4.0, low=1, low_open=True)
    min_outlier_deg: float = option(1.0, low=0, low_open=True)
    min_outlier_fraction: float = option(0.02, low=0, low_open=True)
    reference_camera: str | None = None
    world: WorldFrame = option("camera", choices=("camera", "board"))
    world_board_frame: int | None = None
    bundle_adjustment: BundleAdjustmentOptions = option(factory=BundleAdjustmentOptions)

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class CameraPairLink:
    """What one camera pair saw together.

    a, b: camera names. shared_views: frames where both had a board pose. inlier_views: those
    consistent with the pair's robust relative pose. rotation_spread_deg / translation_spread_m:
    median deviation of the inlier views from it (NaN without views). in_tree: the pair is an edge
    of the spanning tree that initialized the rig. R, t: ``cam_b_from_cam_a`` (identity / zeros
    when the pair shared no views).
    """

    a: str
    b: str
    shared_views: int
    inlier_views: int
    rotation_spread_deg: float
    translation_spread_m: float
    in_tree: bool
    R: np.ndarray
    t: np.ndarray


@dataclass(frozen=True, kw_only=True)
class BoardExtrinsics:
    """The calibrated rig and how it was reached.

    rig: final rig (world frame as asked, metres).
    initial_rig: the spanning-tree initialization (reference camera frame), before refinement.
    world_from_board_R, world_from_board_t: (F, 3, 3), (F, 3) refined board pose per frame;
        identity / NaN where ``frame_used`` is False.
    frame_used: (F,) bool, frames that entered the bundle adjustment.
    pnp_valid: (V, F) bool, views with an accepted PnP pose. pnp_rms_px: (V, F) their RMS (NaN
        where no pose was attempted or it failed).
    views_used: (V,) int, frames each camera contributed to the bundle adjustment.
    pairs: one :class:`CameraPairLink` per camera pair (a before b in rig order).
    observation_camera, observation_frame, observation_corner: (M,) int of every corner in the
        bundle adjustment; ``bundle.residuals_px`` / ``bundle.inliers`` follow this order.
    observation_px: (M, 2) observed pixels.
    bundle: the :class:`BundleAdjustmentResult` (rms_px, per camera rms, rejections, timing).
    """

    rig: Rig
    initial_rig: Rig
    world_from_board_R: np.ndarray
    world_from_board_t: np.ndarray
    frame_used: np.ndarray
    pnp_valid: np.ndarray
    pnp_rms_px: np.ndarray
    views_used: np.ndarray
    pairs: tuple[CameraPairLink, ...]
    observation_camera: np.ndarray
    observation_frame: np.ndarray
    observation_corner: np.ndarray
    observation_px: np.ndarray
    bundle: BundleAdjustmentResult


# -- step 1: PnP per view ---------------------------------------------------------------------
def board_poses_by_pnp(rig: Rig, corners_px: np.ndarray, corners_in_board: np.ndarray, *,
                       min_corners: int = 6, min_spread: float = 0.05, max_error_px: float = 3.0):
    """Board pose in every camera and frame by PnP.

    rig: V cameras with intrinsics (poses unused).
    corners_px: (V, F, C, 2) float64 distorted pixels of corner ``c`` (row ``c`` of
        ``corners_in_board``); NaN where not detected.
    corners_in_board: (C, 3) float64 board frame, metres.
    Returns ``(R (V, F, 3, 3), t (V, F, 3), valid (V, F) bool, rms_px (V, F))`` cam_from_board;
    identity / NaN / NaN where not ``valid``.
    """
    corners_px, corners = _check_corners(rig, corners_px, corners_in_board)
    V, F, C, _ = corners_px.shape
    normalized = rig.normalize(corners_px)  # (V, F, C, 2)
    seen = np.all(np.isfinite(normalized), axis=-1)
    planar = np.ptp(corners[:, 2]) < 1e-9
    R = np.broadcast_to(np.eye(3), (V, F, 3, 3)).copy()
    t = np.full((V, F, 3), np.nan)
    rms = np.full((V, F), np.nan)
    valid = np.zeros((V, F), dtype=bool)
    counts = seen.sum(axis=-1)
    for v, f in zip(*np.nonzero(counts >= min_corners)):
        mask = seen[v, f]
        obj = corners[mask]
        centered = obj - obj.mean(axis=0)
        singular = np.linalg.svd(centered, compute_uv=False)
        if singular[0] <= 0 or singular[1] / singular[0] < min_spread:
            continue
        pose = _solve_pnp(obj, normalized[v, f, mask], planar)
        if pose is None:
            continue
        errors = _pnp_errors(rig[v], obj, corners_px[v, f, mask], pose)
        # A few mis-detected corners must not cost the whole view: drop those far off (at most
        # a fifth of them) and solve again; the bundle adjustment judges them again later.
        far = errors > max_error_px
        if far.any() and far.sum() <= 0.2 * far.size and (~far).sum() >= min_corners:
            retry = _solve_pnp(obj[~far], normalized[v, f, mask][~far], planar)
            if retry is not None:
                pose = retry
                errors = _pnp_errors(rig[v], obj[~far], corners_px[v, f, mask][~far], pose)
        error = float(np.sqrt(np.mean(errors**2)))
        rms[v, f] = error
        if np.isfinite(error) and error <= max_error_px:
            R[v, f], t[v, f], valid[v, f] = pose[0], pose[1], True
    return R, t, valid, rms


def _pnp_errors(camera, obj, pixels, pose) -> np.ndarray:
    """(N,) reprojection error in pixels of board points under pose (R, t) cam_from_board."""
    projected = camera.project_from_cam(obj @ pose[0].T + pose[1])
    return np.linalg.norm(projected - pixels, axis=-1)


def _solve_pnp(obj: np.ndarray, normalized: np.ndarray, planar: bool):
    """cam_from_board from board points and undistorted normalized image points (K = I)."""
    image = np.ascontiguousarray(normalized.reshape(-1, 1, 2))
    obj = np.ascontiguousarray(obj.reshape(-1, 1, 3))
    K = np.eye(3)
    flags = cv2.SOLVEPNP_IPPE if planar else cv2.SOLVEPNP_SQPNP
    try:
        count, rvecs, tvecs, errors = cv2.solvePnPGeneric(obj, image, K, None, flags=flags)
    except cv2.error:
        return None
    if not count:
        return None
    best = int(np.argmin(np.asarray(errors).reshape(-1))) if errors is not None else 0
    rvec, tvec = rvecs[best].copy(), tvecs[best].copy()
    rvec, tvec = cv2.solvePnPRefineLM(obj, image, K, None, rvec, tvec)
    R = rotation_from_rvec(rvec.reshape(3))
    t = tvec.reshape(3)
    if np.any((obj.reshape(-1, 3) @ R.T + t)[:, 2] <= 0):
        return None
    return R, t


def _check_corners(rig: Rig, corners_px, corners_in_board):
    corners_px = np.asarray(corners_px, dtype=np.float64)
    corners = np.asarray(corners_in_board, dtype=np.float64)
    if corners.ndim != 2 or corners.shape[1] != 3:
        raise ValueError(f"corners_in_board has shape {corners.shape}, expected (C, 3)")
    expected = f"({len(rig)}, F, {len(corners)}, 2)"
    if corners_px.ndim != 4 or corners_px.shape[0] != len(rig) or corners_px.shape[2:] != (len(corners), 2):
        raise ValueError(f"corners_px has shape {corners_px.shape}, expected {expected} "
                         f"(one row per camera of the rig, one column per board corner)")
    return corners_px, corners


# -- step 2: robust averaging of relative poses -----------------------------------------------
def robust_average_pose(R: np.ndarray, t: np.ndarray, *, outlier_factor: float = 4.0,
                        min_outlier_deg: float = 1.0, min_outlier_m: float = 0.01):
    """Robust mean of poses that should agree.

    R: (N, 3, 3), t: (N, 3) poses (N >= 1). Seed: chordal geometric median of the rotations
    (Weiszfeld) and geometric median of the translations; inliers lie within
    ``max(outlier_factor * median, floor)`` of the seed in angle and distance.
    Returns ``(R_mean (3, 3), t_mean (3,), inliers (N,) bool, rotation_spread_deg,
    translation_spread_m)`` (spreads: median deviation of the inliers from the mean).
    """
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if R.ndim != 3 or R.shape[1:] != (3, 3) or t.shape != (len(R), 3) or len(R) == 0:
        raise ValueError(f"R/t have shapes {R.shape}/{t.shape}, expected (N, 3, 3)/(N, 3) with N >= 1")
    seed_R = average_rotations(R)
    seed_t = np.median(t, axis=0)
    for _ in range(_WEISZFELD_ITERATIONS):
        distance = np.linalg.norm((R - seed_R).reshape(len(R), -1), axis=1)
        seed_R = average_rotations(R, weights=1 / np.maximum(distance, 1e-9))
        seed_t = np.average(t, axis=0, weights=1 / np.maximum(np.linalg.norm(t - seed_t, axis=1), 1e-12))
    angle = rotation_angle_deg(np.broadcast_to(seed_R, R.shape), R)
    offset = np.linalg.norm(t - seed_t, axis=1)
    inliers = ((angle <= max(outlier_factor * np.median(angle), min_outlier_deg))
               & (offset <= max(outlier_factor * np.median(offset), min_outlier_m)))
    if not inliers.any():
        inliers[int(np.argmin(angle))] = True
    R_mean = average_rotations(R[inliers])
    t_mean = t[inliers].mean(axis=0)
    spread_deg = float(np.median(rotation_angle_deg(np.broadcast_to(R_mean, R[inliers].shape), R[inliers])))
    spread_m = float(np.median(np.linalg.norm(t[inliers] - t_mean, axis=1)))
    return R_mean, t_mean, inliers, spread_deg, spread_m


def _pair_links(names, R_cb, t_cb, valid, options: BoardExtrinsicsOptions) -> list[CameraPairLink]:
    V = len(names)
    links = []
    for a in range(V):
        for b in range(a + 1, V):
            shared = np.flatnonzero(valid[a] & valid[b])
            if shared.size == 0:
                links.append(CameraPairLink(a=names[a], b=names[b], shared_views=0, inlier_views=0,
                                            rotation_spread_deg=float("nan"), translation_spread_m=float("nan"),
                                            in_tree=False, R=np.eye(3), t=np.zeros(3)))
                continue
            # cam_b_from_cam_a = cam_b_from_board @ board_from_cam_a, one per shared frame
            R_ab_inv, t_ab_inv = invert(R_cb[a, shared], t_cb[a, shared])
            R_rel, t_rel = compose(R_cb[b, shared], t_cb[b, shared], R_ab_inv, t_ab_inv)
            baseline = float(np.median(np.linalg.norm(t_rel, axis=1)))
            R_mean, t_mean, inliers, spread_deg, spread_m = robust_average_pose(
                R_rel, t_rel, outlier_factor=options.outlier_factor, min_outlier_deg=options.min_outlier_deg,
                min_outlier_m=options.min_outlier_fraction * max(baseline, 1e-3))
            links.append(CameraPairLink(a=names[a], b=names[b], shared_views=int(shared.size),
                                        inlier_views=int(inliers.sum()), rotation_spread_deg=spread_deg,
                                        translation_spread_m=spread_m, in_tree=False, R=R_mean, t=t_mean))
    return links


# -- step 3: spanning tree --------------------------------------------------------------------
def _link_weight(link: CameraPairLink) -> float:
    """More consistent shared views = stronger; a wide spread (in degrees) discounts them."""
    spread = link.rotation_spread_deg if np.isfinite(link.rotation_spread_deg) else 0.0
    return link.inlier_views / (1.0 + spread)


def _disconnected_message(names, components, root_component, links, valid, options) -> str:
    V = len(names)
    usable = valid.any(axis=1)
    parts = []
    blind = [names[v] for v in range(V) if not usable[v]]
    if blind:
        parts.append(f"{_cameras(blind)} never had a usable board view (at least {options.min_corners} "
                     f"corners with a pose reprojecting within {options.max_pnp_error_px:g} px)")
    root_names = [names[v] for v in range(V) if components[v] == root_component]
    for label in sorted(set(components.tolist()) - {root_component}):
        group = [names[v] for v in range(V) if components[v] == label and usable[v]]
        if not group:
            continue
        shared = sum(link.shared_views for link in links
                     if (link.a in group and link.b in root_names) or (link.b in group and link.a in root_names))
        if shared == 0:
            parts.append(f"{_cameras(group)} never saw the board at the same time as {', '.join(root_names)}")
        else:
            parts.append(f"{_cameras(group)} shared fewer than {options.min_shared_views} consistent board "
                         f"views with {', '.join(root_names)}")
    return "; ".join(parts) + ": record a board pass visible to both groups"


def _cameras(group: list[str]) -> str:
    return f"camera {group[0]}" if len(group) == 1 else f"cameras {', '.join(group)}"


def _spanning_tree(names, links, root: int, valid, options):
    """cam_from_ref poses (V, 3, 3), (V, 3) and the links marked in_tree; ValueError if disconnected."""
    V = len(names)
    index = {name: i for i, name in enumerate(names)}
    cost = np.zeros((V, V))
    for link in links:
        if link.inlier_views >= options.min_shared_views:
            a, b = index[link.a], index[link.b]
            cost[a, b] = cost[b, a] = 1.0 / _link_weight(link)
    graph = csr_matrix(cost)
    count, components = connected_components(graph, directed=False)
    if count > 1:
        raise ValueError(_disconnected_message(names, components, components[root], links, valid, options))
    tree = minimum_spanning_tree(graph)
    tree = ((tree + tree.T) > 0).astype(np.float64)
    order, predecessors = breadth_first_order(tree, root, directed=False)
    by_pair = {(index[link.a], index[link.b]): link for link in links}
    R = np.broadcast_to(np.eye(3), (V, 3, 3)).copy()
    t = np.zeros((V, 3))
    tree_pairs = set()
    for v in order[1:]:
        parent = predecessors[v]
        key = (min(parent, v), max(parent, v))
        link = by_pair[key]
        tree_pairs.add(key)
        R_rel, t_rel = (link.R, link.t) if key[0] == parent else invert(link.R, link.t)  # cam_v_from_parent
        R[v], t[v] = compose(R_rel, t_rel, R[parent], t[parent])
    marked = [replace(link, in_tree=(index[link.a], index[link.b]) in tree_pairs) for link in links]
    return R, t, marked


# -- step 4: board poses and bundle adjustment ------------------------------------------------
def _initial_board_poses(R_cams, t_cams, R_cb, t_cb, valid, min_views: int):
    """world_from_board per frame from every camera with a pose; frames with >= min_views."""
    V, F = valid.shape
    used = valid.sum(axis=0) >= min_views
    R_out = np.broadcast_to(np.eye(3), (F, 3, 3)).copy()
    t_out = np.full((F, 3), np.nan)
    R_wc, t_wc = invert(R_cams, t_cams)  # world_from_cam
    for f in np.flatnonzero(used):
        views = np.flatnonzero(valid[:, f])
        R_wb, t_wb = compose(R_wc[views], t_wc[views], R_cb[views, f], t_cb[views, f])
        R_out[f] = average_rotations(R_wb)
        t_out[f] = t_wb.mean(axis=0)
    return R_out, t_out, used


def board_extrinsics(rig: Rig, corners_px: np.ndarray, corners_in_board: np.ndarray, *,
                     options: BoardExtrinsicsOptions = BoardExtrinsicsOptions(),
                     velocity_px: np.ndarray | None = None) -> BoardExtrinsics:
    """Calibrate the poses of ``rig``'s cameras (and optionally refine intrinsics) from a board.

    rig: V cameras with intrinsics; their poses are ignored (found here).
    corners_px: (V, F, C, 2) float64 distorted pixels: corner ``c`` of the board seen by camera
        ``v`` at frameset ``f`` (frames synchronized across cameras); NaN where not detected.
    corners_in_board: (C, 3) float64 board corners in the board frame, metres.
    velocity_px: (V, F, C, 2) each corner's image motion, px per frame
        (:func:`calibration.capture_jitter.image_velocity`): the bundle adjustment then gives every
        view its own capture offset (cameras not triggered together); None: views simultaneous.
    Raises ValueError when the cameras do not form one connected group through shared board
    views (naming the groups), or when the inputs do not match the rig.
    """
    corners_px, corners = _check_corners(rig, corners_px, corners_in_board)
    names = rig.names
    root = 0 if options.reference_camera is None else rig.index(options.reference_camera)
    R_cb, t_cb, valid, rms = board_poses_by_pnp(rig, corners_px, corners, min_corners=options.min_corners,
                                                min_spread=options.min_spread,
                                                max_error_px=options.max_pnp_error_px)
    log.info("board poses by PnP: %s", ", ".join(f"{n} {k}" for n, k in zip(names, valid.sum(axis=1))))
    links = _pair_links(names, R_cb, t_cb, valid, options)
    R_init, t_init, links = _spanning_tree(names, links, root, valid, options)
    initial_rig = rig.with_poses(R_init, t_init)
    ba_options = replace(options.bundle_adjustment, fixed_camera=root)
    min_views = 1 if ba_options.intrinsics != "fixed" else 2
    board_R, board_t, frame_used = _initial_board_poses(R_init, t_init, R_cb, t_cb, valid, min_views)
    if not frame_used.any():
        raise ValueError(f"no frame has a board pose in {min_views} or more cameras")
    use = (valid & frame_used[None, :])[:, :, None] & np.all(np.isfinite(corners_px), axis=-1)
    cam, frame, corner = np.nonzero(use)
    pixels = corners_px[cam, frame, corner]
    frames = np.flatnonzero(frame_used)
    frame_slot = np.full(len(frame_used), -1)
    frame_slot[frames] = np.arange(len(frames))
    if velocity_px is not None and np.shape(velocity_px) != corners_px.shape:
        raise ValueError(f"velocity_px has shape {np.shape(velocity_px)}, expected {corners_px.shape}")
    velocity = None if velocity_px is None else np.asarray(velocity_px, dtype=np.float64)[cam, frame, corner]
    bundle = bundle_adjust_board(initial_rig, corners, board_R[frames], board_t[frames], cam, frame_slot[frame],
                                 corner, pixels, options=ba_options, velocity_px=velocity)
    R_wb = np.broadcast_to(np.eye(3), board_R.shape).copy()
    t_wb = np.full(board_t.shape, np.nan)
    R_wb[frames], t_wb[frames] = bundle.world_from_board_R, bundle.world_from_board_t
    final = bundle.rig
    if options.world == "board":
        final, R_wb, t_wb = _board_world(final, R_wb, t_wb, frame_used, valid, options.world_board_frame)
    views_used = np.array([np.unique(frame[(cam == v) & bundle.inliers]).size for v in range(len(rig))])
    return BoardExtrinsics(rig=final, initial_rig=initial_rig, world_from_board_R=R_wb, world_from_board_t=t_wb,
                           frame_used=frame_used, pnp_valid=valid, pnp_rms_px=rms, views_used=views_used,
                           pairs=tuple(links), observation_camera=cam, observation_frame=frame,
                           observation_corner=corner, observation_px=pixels, bundle=bundle)


def _board_world(rig: Rig, R_wb, t_wb, frame_used, valid, world_board_frame):
    """Re-express everything in the z-up frame of one board pose (see BoardExtrinsicsOptions.world)."""
    if world_board_frame is None:
        seen = np.where(frame_used, valid.sum(axis=0), -1)
        f0 = int(np.argmax(seen))
    else:
        f0 = int(world_board_frame)
        if not (0 <= f0 < len(frame_used)) or not frame_used[f0]:
            raise ValueError(f"world_board_frame {world_board_frame} has no board pose seen by enough cameras")
    # old_world_from_new_world = old_world_from_board @ board_from_floor
    R_on, t_on = R_wb[f0] @ _BOARD_FROM_FLOOR, t_wb[f0]
    R_no, t_no = invert(R_on, t_on)
    R_cams, t_cams = compose(rig.R, rig.t, R_on, t_on)
    used = np.flatnonzero(frame_used)
    R_new, t_new = R_wb.copy(), t_wb.copy()
    R_new[used], t_new[used] = compose(R_no, t_no, R_wb[used], t_wb[used])
    return rig.with_poses(R_cams, t_cams), R_new, t_new
