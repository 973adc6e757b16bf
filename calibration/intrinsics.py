"""Intrinsic calibration of one camera from board views (a video or an image folder).

Conventions in :mod:`geometry.camera`. The pipeline:

1. detect the board in frames (a bounded number: long videos are strided so that at most
   ``max_scanned_frames`` frames are decoded), with a sharpness measure per view;
2. select a well-spread, sharp subset: blurred views (sharpness far below the median) are dropped,
   then views are picked greedily by farthest-point sampling over position, size and perspective
   (tilt) of the board in the image, with a bonus for image cells not yet covered, so 2,000
   near-identical frames become ``max_views`` different ones;
3. solve the lens model: by default (``model="auto"``) the complexity (focal only, + principal
   point, + k1/k2, + p1/p2/k3, rational) chosen by cross-validation over the views, with priors
   that keep the distortion sane where the board never went (:mod:`calibration.lens_model`);
   or the OpenCV model asked for (``cv2.calibrateCameraExtended``, or ``cv2.fisheye.calibrate``);
4. drop views whose RMS error is far above the rest and solve again;
5. report RMS reprojection error, per-view errors, the image coverage (fraction of a grid of
   cells that hold at least one corner of a used view), the held-out error (corners of views
   left out of each cross-validation fold, posed by PnP with the fitted lens) and the lens
   model's projection uncertainty over the image.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from geometry import Camera, rotation_from_rvec
from geometry.options import check_fields, option

from .boards import Board, BoardDetection, DetectionEffort, detect_board, diagnose_board
from .lens_model import LensFit, LensPriors, LensSelection, LensUncertainty, projection_uncertainty, select_lens_model

__all__ = ["LensModel", "IntrinsicsOptions", "BoardView", "IntrinsicsResult", "detect_views", "select_views",
           "solve_intrinsics", "calibrate_intrinsics", "image_coverage"]

logger = logging.getLogger(__name__)

LensModel = Literal["auto", "standard", "rational", "fisheye"]

# When to tell the user how to record a better intrinsics video (IntrinsicsResult.advice).
ADVICE_MIN_COVERAGE = 0.4  # fraction of image cells with a corner
ADVICE_MIN_TILT_DEG = 20.0  # views all within this of fronto-parallel: focal length is weak
ADVICE_MIN_VIEWS = 10
ADVICE_MAX_RMS_PX = 1.0


@dataclass(frozen=True, kw_only=True)
class IntrinsicsOptions:
    """How to calibrate one camera's intrinsics.

    model: ``"standard"`` (k1, k2, p1, p2, k3), ``"rational"`` (+ k4, k5, k6), ``"fisheye"`` (OpenCV's
        solvers), or ``"auto"``: the complexity chosen by cross-validation over the views, with
        priors (:func:`calibration.lens_model.select_lens_model`, ``priors``, ``folds``).
    max_views: views given to the solver after selection.
    max_scanned_frames: frames decoded at most (the stride grows for long videos).
    stride: the minimum frame stride.
    min_corners: views with fewer corners are not used (checkerboards are all or nothing).
    min_views: fewer usable views than this is a failed calibration (``success`` False).
    blur_ratio: views whose sharpness is below ``blur_ratio`` x the median are dropped.
    outlier_ratio, outlier_min_px: a view is an outlier when its RMS exceeds both
        ``outlier_ratio`` x the median view RMS and ``outlier_min_px``.
    max_rejection_rounds: re-solves after dropping outliers.
    grid_cells: cells along the longer image side for coverage (square cells).
    effort: board detection effort; ``"auto"``: thorough for image folders of <= 200 images.
    """

    model: LensModel = option("auto", choices=("auto", "standard", "rational", "fisheye"))
    max_views: int = option(40, low=1)
    max_scanned_frames: int = option(400, low=1)
    stride: int = option(1, low=1)
    min_corners: int = option(8, low=4, note="a homography needs 4")
    min_views: int = option(3, low=1)
    blur_ratio: float = option(0.35, low=0, high=1, high_open=True)
    outlier_ratio: float = option(3.0, low=1, low_open=True)
    outlier_min_px: float = option(1.0, low=0, low_open=True)
    max_rejection_rounds: int = 3
    grid_cells: int = option(10, low=1)
    rational_min_views: int = 15
    rational_min_coverage: float = 0.5
    k3_min_views: int = 8
    effort: DetectionEffort | Literal["auto"] = option("auto", choices=("auto", "fast", "thorough"))
    priors: LensPriors = option(factory=LensPriors)
    folds: int = 5

    def __post_init__(self) -> None:
        check_fields(self)
        if self.min_views > self.max_views:
            raise ValueError(f"min_views ({self.min_views}) exceeds max_views ({self.max_views})")


@dataclass(frozen=True, eq=False)
class BoardView:
    """One frame in which the board was found.

    frame_index: index of the frame in its source.
    detection: the corners (ids, corners_px).
    sharpness: variance of the Laplacian over the board's bounding box (higher is sharper).
    """

    frame_index: int
    detection: BoardDetection
    sharpness: float


@dataclass(frozen=True, eq=False)
class IntrinsicsResult:
    """One camera's intrinsic calibration.

    camera: the calibrated camera with the identity pose; None when ``success`` is False.
    success: False when too few usable views were found (see ``message``).
    message: one sentence on what happened (why it failed, or a summary).
    rms_px: RMS reprojection error over every corner of the used views, pixels (NaN on failure).
    per_view_rms_px: (U,) float64 RMS per used view, pixels.
    view_frames: (U,) int64 frame index of each used view.
    rejected_frames: (R,) int64 frames dropped as outliers after a solve.
    coverage: fraction of image grid cells holding a corner of a used view, in [0, 1].
    frames_scanned: frames searched for the board; frames_with_board: of those, with a usable view.
    model: the lens model solved (``"standard"``, ``"rational"``, ``"fisheye"``).
    max_tilt_deg: the largest angle between the board's normal and the optical axis over the used
        views (views all facing the camera leave the focal length poorly determined).
    advice: sentences on how to get a better calibration (low coverage, no tilt, few views, high RMS).
    heldout_rms_px: RMS of corners of views the solver did not use (cross-validation folds: each
        view's corners predicted by the lens fitted without it), px; NaN when not measured.
    selection: the candidate models' scores and the reason for the choice (``model="auto"``).
    uncertainty: the lens model's projection uncertainty over the image (None for fisheye).
    lens_fit: the fit behind ``camera`` (covariance, per-view poses); None for OpenCV's solvers.
    """

    camera: Camera | None
    success: bool
    message: str
    rms_px: float
    per_view_rms_px: np.ndarray
    view_frames: np.ndarray
    rejected_frames: np.ndarray
    coverage: float
    frames_scanned: int
    frames_with_board: int
    model: str
    image_size: tuple[int, int]
    max_tilt_deg: float = float("nan")
    advice: tuple[str, ...] = ()
    heldout_rms_px: float = float("nan")
    selection: LensSelection | None = None
    uncertainty: LensUncertainty | None = None
    lens_fit: LensFit | None = None

    @property
    def views_used(self) -> int:
        return int(self.view_frames.size)

    @property
    def views_rejected(self) -> int:
        return int(self.rejected_frames.size)


# -- detection -----------------------------------------------------------------------------------
def _sharpness(image: np.ndarray, corners_px: np.ndarray) -> float:
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    x0, y0 = np.floor(corners_px.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners_px.max(axis=0)).astype(int) + 1
    crop = gray[max(y0, 0):max(y1, 1), max(x0, 0):max(x1, 1)]
    if crop.size < 16:
        return 0.0
    return float(cv2.Laplacian(crop, cv2.CV_64F).var())


def _usable(board: Board, detection: BoardDetection, min_corners: int) -> bool:
    if detection.num_corners < min(min_corners, board.num_corners):
        return False
    xy = board.corners_in_board()[detection.ids, :2]
    spread = np.linalg.svd(xy - xy.mean(axis=0), compute_uv=False)
    return bool(spread[-1] > 0.5 * board.square_length_m)  # not all on one line


def detect_views(board: Board, frames: Iterable[tuple[int, np.ndarray]], *, min_corners: int = 8,
                 effort: DetectionEffort = "fast", progress=None, samples: list | None = None) -> tuple[list[BoardView], int]:
    """Detect the board in ``(frame_index, image)`` pairs.

    progress: an optional tqdm-like object (``update``, ``set_postfix_str``).
    samples: when given, a few frames are appended to it (for :func:`diagnose_board` on failure).
    Returns the usable views and the number of frames searched.
    """
    views: list[BoardView] = []
    scanned = 0
    for frame_index, image in frames:
        scanned += 1
        if samples is not None and len(samples) < 2 and scanned % 7 == 1:
            samples.append(image)
        detection = detect_board(board, image, effort=effort)
        if _usable(board, detection, min_corners):
            views.append(BoardView(frame_index=int(frame_index), detection=detection,
                                   sharpness=_sharpness(image, detection.corners_px)))
        if progress is not None:
            progress.update(1)
            progress.set_postfix_str(f"{len(views)} views", refresh=False)
    return views, scanned


# -- selection -----------------------------------------------------------------------------------
def _grid_shape(image_size: tuple[int, int], cells: int) -> tuple[int, int]:
    w, h = image_size
    side = max(w, h) / cells
    return max(1, int(np.ceil(w / side))), max(1, int(np.ceil(h / side)))


def _cells(corners_px: np.ndarray, image_size: tuple[int, int], grid: tuple[int, int]) -> set[int]:
    w, h = image_size
    gx = np.clip((corners_px[:, 0] + 0.5) / w * grid[0], 0, grid[0] - 1).astype(int)
    gy = np.clip((corners_px[:, 1] + 0.5) / h * grid[1], 0, grid[1] - 1).astype(int)
    return set((gy * grid[0] + gx).tolist())


def image_coverage(corners_px: Sequence[np.ndarray], image_size: tuple[int, int], *, cells: int = 10) -> float:
    """Fraction of a grid of square cells (``cells`` along the longer side) holding a corner.

    corners_px: per view (C, 2) pixels. Returns a float in [0, 1].
    """
    grid = _grid_shape(image_size, cells)
    covered: set[int] = set()
    for corners in corners_px:
        covered |= _cells(np.asarray(corners).reshape(-1, 2), image_size, grid)
    return len(covered) / (grid[0] * grid[1])


def _view_features(board: Board, view: BoardView, image_size: tuple[int, int]) -> np.ndarray:
    """Position, size and perspective of the board in the image, normalized to comparable scales."""
    w, h = image_size
    scale = max(w, h)
    board_xy = board.corners_in_board()[view.detection.ids, :2] / board.square_length_m
    pixels = view.detection.corners_px / scale
    H, _ = cv2.findHomography(board_xy, pixels, 0)
    centre = pixels.mean(axis=0)
    size = np.log(np.sqrt(max(cv2.contourArea(cv2.convexHull(pixels.astype(np.float32))), 1e-9)))
    if H is None:
        return np.array([centre[0], centre[1], size, 0.0, 0.0])
    H = H / H[2, 2]
    # h31, h32 scaled by the square's image size: the board's tilt about its y and x axes.
    unit = np.sqrt(abs(np.linalg.det(H[:2, :2]))) + 1e-12
    tilt = H[2, :2] / unit * 0.05
    return np.array([centre[0], centre[1], 0.5 * size, tilt[0], tilt[1]])


def select_views(board: Board, views: Sequence[BoardView], image_size: tuple[int, int], *,
                 max_views: int, blur_ratio: float = 0.35, grid_cells: int = 10) -> list[BoardView]:
    """A well-spread, sharp subset of at most ``max_views`` views (deterministic).

    With more than ``max_views`` views: drops views with sharpness below ``blur_ratio`` x the
    median, then greedily picks the view
    farthest (in position / size / tilt of the board) from those already picked, weighted up by
    the image cells it would newly cover. Returns views in frame order.
    """
    views = list(views)
    if len(views) <= max_views:  # every view counts when there are few
        return views
    sharpness = np.array([v.sharpness for v in views])
    sharp = sharpness >= blur_ratio * np.median(sharpness)
    if sharp.sum() < len(views):
        logger.debug("dropping %d blurred views of %d", len(views) - sharp.sum(), len(views))
    views = [v for v, keep in zip(views, sharp) if keep]
    if len(views) <= max_views:
        return views
    features = np.stack([_view_features(board, v, image_size) for v in views])
    grid = _grid_shape(image_size, grid_cells)
    cells = [_cells(v.detection.corners_px, image_size, grid) for v in views]
    sharpness = np.array([v.sharpness for v in views])
    sharp_weight = 0.75 + 0.25 * np.minimum(sharpness / np.median(sharpness), 1.0)
    first = int(np.argmax([len(c) * s for c, s in zip(cells, sharp_weight)]))
    chosen = [first]
    covered = set(cells[first])
    distance = np.linalg.norm(features - features[first], axis=-1)
    while len(chosen) < max_views:
        new_cells = np.array([len(c - covered) / max(len(c), 1) for c in cells])
        score = distance * (1.0 + new_cells) * sharp_weight
        score[chosen] = -1.0
        best = int(np.argmax(score))
        if score[best] <= 0:
            break
        chosen.append(best)
        covered |= cells[best]
        distance = np.minimum(distance, np.linalg.norm(features - features[best], axis=-1))
    return [views[i] for i in sorted(chosen)]


# -- solving -------------------------------------------------------------------------------------
def _resolve_model(options: IntrinsicsOptions, num_views: int, coverage: float) -> str:
    return options.model  # "auto": chosen by cross-validation in _solve_selected


def _selection_views(views: Sequence[BoardView]):
    return [(v.detection.ids, v.detection.corners_px.astype(np.float64)) for v in views]


def _solve_selected(board: Board, views: Sequence[BoardView], image_size, options: IntrinsicsOptions, name: str):
    """The cross-validated, prior-held lens: (K, dist, per_view_rms, tilts_deg, selection)."""
    selection = select_lens_model(board.corners_in_board(), _selection_views(views), image_size,
                                  folds=options.folds, priors=options.priors, name=name)
    fit = selection.fit
    return fit.camera.K, fit.camera.dist, fit.per_view_rms_px, _tilts_deg(fit.rvecs), selection


def _solve_once(board: Board, views: Sequence[BoardView], image_size, model: str, options: IntrinsicsOptions):
    corners_3d = board.corners_in_board()
    object_points = [corners_3d[v.detection.ids].astype(np.float64).reshape(-1, 1, 3) for v in views]
    image_points = [v.detection.corners_px.astype(np.float64).reshape(-1, 1, 2) for v in views]
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    if model == "fisheye":
        # OpenCV 5 moved the fisheye flags into the main namespace.
        namespace = cv2.fisheye if hasattr(cv2.fisheye, "CALIB_FIX_SKEW") else cv2
        flags = namespace.CALIB_RECOMPUTE_EXTRINSIC | namespace.CALIB_FIX_SKEW
        # fisheye.calibrate wants (1, N, 3) / (1, N, 2) per view (OpenCV 5 rejects (N, 1, 3)).
        object_points = [o.reshape(1, -1, 3) for o in object_points]
        image_points = [i.reshape(1, -1, 2) for i in image_points]
        rms, K, dist, rvecs, tvecs = cv2.fisheye.calibrate(
            object_points, image_points, image_size, np.eye(3), np.zeros(4), flags=flags, criteria=criteria)
        per_view = []
        for obj, img, rvec, tvec in zip(object_points, image_points, rvecs, tvecs):
            projected, _ = cv2.fisheye.projectPoints(obj, rvec, tvec, K, dist)
            per_view.append(np.sqrt(np.mean(np.sum((projected - img) ** 2, axis=-1))))
        return K, np.asarray(dist).reshape(-1)[:4], np.asarray(per_view), _tilts_deg(rvecs)
    flags = 0
    if model == "rational":
        flags |= cv2.CALIB_RATIONAL_MODEL
    elif len(views) < options.k3_min_views:
        flags |= cv2.CALIB_FIX_K3
    # Planar targets need a starting K; OpenCV's initCameraMatrix2D is what calibrateCamera uses.
    rms, K, dist, rvecs, tvecs, _, _, per_view = cv2.calibrateCameraExtended(
        [o.astype(np.float32) for o in object_points], [i.astype(np.float32) for i in image_points],
        image_size, None, None, flags=flags, criteria=criteria)
    dist = np.asarray(dist).reshape(-1)[: 8 if model == "rational" else 5]
    return K, dist, np.asarray(per_view).reshape(-1), _tilts_deg(rvecs)


def _tilts_deg(rvecs) -> np.ndarray:
    """Angle between each view's board normal and the optical axis, degrees."""
    R = rotation_from_rvec(np.asarray(rvecs, dtype=np.float64).reshape(-1, 3))
    return np.degrees(np.arccos(np.clip(np.abs(R[:, 2, 2]), 0.0, 1.0)))


def _advice(result_views: int, rms: float, coverage: float, max_tilt_deg: float) -> tuple[str, ...]:
    advice = []
    if coverage < ADVICE_MIN_COVERAGE:
        advice.append(f"the board covered only {coverage:.0%} of the image: show it near the corners and "
                      "edges too, where the lens model is otherwise extrapolated")
    if max_tilt_deg < ADVICE_MIN_TILT_DEG:
        advice.append(f"the board was never tilted more than {max_tilt_deg:.0f} degrees: tilt it 30-45 degrees "
                      "in some views, or the focal length is poorly determined")
    if result_views < ADVICE_MIN_VIEWS:
        advice.append(f"only {result_views} views: 15-40 views at different positions and tilts give a "
                      "steadier principal point")
    if rms > ADVICE_MAX_RMS_PX:
        advice.append(f"RMS {rms:.2f} px is high: check focus, motion blur, a flat board and its dimensions")
    return tuple(advice)


def solve_intrinsics(board: Board, views: Sequence[BoardView], image_size: tuple[int, int], *,
                     name: str = "camera", options: IntrinsicsOptions | None = None,
                     frames_scanned: int | None = None, frames_with_board: int | None = None) -> IntrinsicsResult:
    """Solve the intrinsics from already selected views, rejecting outlier views and re-solving."""
    options = options or IntrinsicsOptions()
    views = list(views)
    scanned = len(views) if frames_scanned is None else frames_scanned
    with_board = len(views) if frames_with_board is None else frames_with_board
    if len(views) < options.min_views:
        return _failure(f"only {len(views)} usable board views (at least {options.min_views} needed)",
                        image_size, scanned, with_board)
    coverage = image_coverage([v.detection.corners_px for v in views], image_size, cells=options.grid_cells)
    model = _resolve_model(options, len(views), coverage)
    rejected: list[int] = []
    selection = None
    for round_ in range(options.max_rejection_rounds + 1):
        try:
            if model == "auto":
                K, dist, per_view, tilts_deg, selection = _solve_selected(board, views, image_size, options, name)
            else:
                K, dist, per_view, tilts_deg = _solve_once(board, views, image_size, model, options)
        except (cv2.error, np.linalg.LinAlgError) as error:
            return _failure(f"the solver failed ({str(error).strip().splitlines()[-1]}); the views may "
                            "be degenerate (all fronto-parallel or too few corners)", image_size, scanned, with_board)
        threshold = max(options.outlier_ratio * float(np.median(per_view)), options.outlier_min_px)
        bad = per_view > threshold
        if not bad.any() or round_ == options.max_rejection_rounds or len(views) - bad.sum() < options.min_views:
            break
        rejected += [v.frame_index for v, b in zip(views, bad) if b]
        logger.info("%s: dropping %d views with RMS above %.2f px and solving again", name, bad.sum(), threshold)
        views = [v for v, b in zip(views, bad) if not b]
    counts = np.array([v.detection.num_corners for v in views], dtype=np.float64)
    rms = float(np.sqrt(np.sum(per_view ** 2 * counts) / counts.sum()))
    coverage = image_coverage([v.detection.corners_px for v in views], image_size, cells=options.grid_cells)
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(dist)) and K[0, 0] > 0 and K[1, 1] > 0):
        return _failure("the solver returned a non-finite camera matrix", image_size, scanned, with_board)
    K = K.copy()
    K[0, 1] = 0.0  # OpenCV's model has no skew
    camera = Camera(name=name, size=image_size, K=K, dist=dist, model="fisheye" if model == "fisheye" else "opencv")
    heldout, uncertainty, fit = float("nan"), None, None
    if selection is not None:
        model = selection.fit.complexity
        fit = selection.fit
        heldout = next(s.heldout_rms_px for s in selection.scores if s.complexity == model)
    elif model in ("standard", "rational") and len(views) >= 3:
        # the same cross-validation and uncertainty for OpenCV's model, fitted without priors
        scored = select_lens_model(board.corners_in_board(), _selection_views(views), image_size,
                                   candidates=(model,), folds=options.folds,
                                   priors=LensPriors(distortion_px=1e6, principal_point_px=1e6, pixel_aspect=1e6),
                                   name=name)
        heldout, fit = scored.scores[0].heldout_rms_px, scored.fit
    if fit is not None:
        try:
            uncertainty = projection_uncertainty(fit)
        except (np.linalg.LinAlgError, ValueError) as error:
            logger.debug("%s: no lens uncertainty (%s)", name, error)
    message = (f"{len(views)} views, RMS {rms:.2f} px, coverage {coverage:.0%}, {model} model"
               + (f", {len(rejected)} outlier views dropped" if rejected else ""))
    max_tilt_deg = float(np.max(tilts_deg))
    advice = _advice(len(views), rms, coverage, max_tilt_deg)
    for sentence in advice:
        logger.debug("%s: %s", name, sentence)  # the result carries it; the caller shows it
    return IntrinsicsResult(
        camera=camera, success=True, message=message, rms_px=rms, per_view_rms_px=per_view.astype(np.float64),
        view_frames=np.array([v.frame_index for v in views], dtype=np.int64),
        rejected_frames=np.array(rejected, dtype=np.int64), coverage=coverage, frames_scanned=scanned,
        frames_with_board=with_board, model=model, image_size=tuple(image_size), max_tilt_deg=max_tilt_deg,
        advice=advice, heldout_rms_px=float(heldout), selection=selection, uncertainty=uncertainty, lens_fit=fit)


def _failure(message: str, image_size, scanned: int, with_board: int) -> IntrinsicsResult:
    return IntrinsicsResult(
        camera=None, success=False, message=message, rms_px=float("nan"), per_view_rms_px=np.zeros(0),
        view_frames=np.zeros(0, np.int64), rejected_frames=np.zeros(0, np.int64), coverage=0.0,
        frames_scanned=scanned, frames_with_board=with_board, model="none", image_size=tuple(image_size))


def calibrate_intrinsics(board: Board, source, *, name: str | None = None,
                         options: IntrinsicsOptions | None = None, progress: bool = False) -> IntrinsicsResult:
    """Calibrate one camera from a :class:`calibration.inputs.FrameSource` (video or image folder).

    progress: show a tqdm bar (rate, ETA) on stderr while detecting.
    Returns an :class:`IntrinsicsResult`; no or too few board views is ``success = False`` with a
    message naming the likely cause (wrong dictionary, size, inverted print, ...), not an exception.
    """
    from .inputs import ImageFolderSource, frame_indices

    options = options or IntrinsicsOptions()
    name = name or source.name
    stride = max(options.stride, int(np.ceil(source.num_frames / options.max_scanned_frames)))
    indices = frame_indices(source.num_frames, stride=stride)
    effort = options.effort
    if effort == "auto":
        effort = "thorough" if isinstance(source, ImageFolderSource) and source.num_frames <= 200 else "fast"
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(indices), desc=f"{name}: detecting", unit="frame", leave=False)
    samples: list[np.ndarray] = []
    try:
        views, scanned = detect_views(board, source.frames(indices), min_corners=options.min_corners,
                                      effort=effort, progress=bar, samples=samples)
    finally:
        if bar is not None:
            bar.close()
    if not views:
        reason = diagnose_board(board, samples) if samples else "no frames could be read"
        return _failure(f"no board corners found in any of {scanned} frames of {source.path}; {reason}",
                        source.size, scanned, 0)
    selected = select_views(board, views, source.size, max_views=options.max_views,
                            blur_ratio=options.blur_ratio, grid_cells=options.grid_cells)
    logger.info("%s: board in %d of %d frames, %d views selected", name, len(views), scanned, len(selected))
    return solve_intrinsics(board, selected, source.size, name=name, options=options,
                            frames_scanned=scanned, frames_with_board=len(views))
