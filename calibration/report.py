"""Calibration reports: summary tables and PNG figures written next to the calibration file.

Conventions in :mod:`geometry.camera`. Figures use matplotlib's Agg backend (no display needed):
the rig in 3D with the board positions (or the keypoint cloud), and per camera the detected
corners with their reprojection residuals drawn as magnified arrows on a canvas of the image's
size (or on a frame of the camera when one is given). Every file is written whole or not at all.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from geometry import Rig

from .board_extrinsics import BoardExtrinsics
from .files import write_atomic
from .keypoint_extrinsics import KeypointExtrinsics

__all__ = ["board_summary", "keypoint_summary", "residual_field", "write_board_report", "write_keypoint_report",
           "heldout_table", "intrinsics_verdict", "write_lens_uncertainty", "LENS_TRUSTED_MIN_FRACTION",
           "INTRINSICS_HELDOUT_LIMIT_PX"]

log = logging.getLogger(__name__)

_MAX_BOARDS_DRAWN = 80  # board outlines in the 3D figure (evenly spread over the used frames)
_MAX_CLOUD_POINTS = 4000  # keypoints in the 3D figure


# -- text -------------------------------------------------------------------------------------
def board_summary(result: BoardExtrinsics) -> str:
    """Per camera views used, RMS and the bundle adjustment's 1-sigma pose uncertainty (relative to
    the reference camera), per pair shared / consistent views, and the BA totals."""
    bundle = result.bundle
    lines = [f"{'camera':<12} {'views used':>10} {'corners':>8} {'rms px':>7} {'1-sigma deg':>11} {'1-sigma mm':>10}"]
    for v, name in enumerate(result.rig.names):
        lines.append(f"{name:<12} {int(result.views_used[v]):>10} {int(bundle.num_observations_per_camera[v]):>8} "
                     f"{bundle.rms_px_per_camera[v]:>7.3f} {bundle.rotation_sigma_deg[v]:>11.3f} "
                     f"{bundle.center_sigma_m[v] * 1000:>10.1f}")
    lines.append("")
    lines.append(f"{'pair':<25} {'shared views':>12} {'consistent':>10} {'spread deg':>10}  tree")
    for link in result.pairs:
        spread = f"{link.rotation_spread_deg:.3f}" if np.isfinite(link.rotation_spread_deg) else "-"
        lines.append(f"{link.a + ' - ' + link.b:<25} {link.shared_views:>12} {link.inlier_views:>10} "
                     f"{spread:>10}  {'yes' if link.in_tree else ''}")
    lines.append("")
    lines.append(f"bundle adjustment: rms {bundle.rms_px:.3f} px over {bundle.num_observations} corners "
                 f"({bundle.num_rejected} rejected as outliers), {int(result.frame_used.sum())} board poses, "
                 f"{bundle.iterations} iterations, {bundle.solver_time_s:.2f} s")
    return "\n".join(lines)


def keypoint_summary(result: KeypointExtrinsics) -> str:
    """Per camera observations and RMS, per pair inliers / parallax / agreement, and the scale."""
    bundle = result.bundle
    lines = [f"{'camera':<12} {'joints used':>11} {'rms px':>7}"]
    for v, name in enumerate(result.rig.names):
        lines.append(f"{name:<12} {int(bundle.num_observations_per_camera[v]):>11} {bundle.rms_px_per_camera[v]:>7.3f}")
    lines.append("")
    lines.append(f"{'pair':<25} {'shared':>7} {'inliers':>7} {'parallax deg':>12} {'disagree deg':>12}  status")
    for pair in result.pairs:
        parallax = f"{pair.median_triangulation_angle_deg:.1f}" if np.isfinite(pair.median_triangulation_angle_deg) else "-"
        disagree = f"{pair.rotation_disagreement_deg:.3f}" if np.isfinite(pair.rotation_disagreement_deg) else "-"
        status = f"WEAK: {pair.reason}" if pair.weak else "ok"
        lines.append(f"{pair.a + ' - ' + pair.b:<25} {pair.correspondences:>7} {pair.inliers:>7} {parallax:>12} "
                     f"{disagree:>12}  {status}")
    lines.append("")
    scale = ("no known length: unit = the seed pair's baseline" if not np.isfinite(result.measured_length)
             else f"scale x{result.scale:.4f} from a known length (reconstructed as {result.measured_length:.4f})")
    lines.append(f"bundle adjustment: rms {bundle.rms_px:.3f} px over {bundle.num_observations} observations "
                 f"({bundle.num_rejected} rejected), {bundle.iterations} iterations, {bundle.solver_time_s:.2f} s; "
                 f"{scale}; seed pair {' - '.join(result.initial_pair)}")
    return "\n".join(lines)


# -- figures ----------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    write_atomic(path, buffer.getvalue())
    return path


def _draw_rig(ax, rig: Rig, scale_m: float, label_offset_m: float) -> np.ndarray:
    """Cameras as small pyramids (apex at the centre, base towards the view), each named beside it,
    away from the rig's middle (labels that would still crowd each other are moved apart in z).
    Returns the (V, 3) label positions (so that the axes include them)."""
    middle = rig.centers.mean(axis=0)
    placed = []
    for cam in rig:
        w, h = cam.size
        corners_px = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
        rays = cam.rays(corners_px)
        if not np.all(np.isfinite(rays)):
            rays = np.array([[-1, -1, 2], [1, -1, 2], [1, 1, 2], [-1, 1, 2]]) @ cam.R
        base = cam.center + scale_m * rays
        for corner in base:
            ax.plot(*np.stack([cam.center, corner]).T, color="tab:blue", linewidth=0.8)
        ax.plot(*np.vstack([base, base[:1]]).T, color="tab:blue", linewidth=0.8)
        outward = cam.center - middle
        outward[2] = 0.0
        norm = float(np.linalg.norm(outward))
        outward = outward / norm if norm > 1e-9 else np.array([1.0, 0.0, 0.0])
        position = cam.center + label_offset_m * outward
        for _ in range(len(rig)):  # move up until clear of the labels already placed
            if all(np.linalg.norm(position - other) >= label_offset_m for other in placed):
                break
            position = position + np.array([0.0, 0.0, label_offset_m])
        placed.append(position)
        ax.text(*position, cam.name, fontsize=8, ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    return np.array(placed).reshape(-1, 3)


def _set_equal_3d(ax, points: np.ndarray) -> None:
    """Axes fitted to ``points`` (N, 3) with a 5% margin, one metre as long on every axis."""
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.05 * max(float((high - low).max()), 1e-3)
    low, high = low - margin, high + margin
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_zlim(low[2], high[2])
    ax.set_box_aspect(tuple(high - low))  # equal units: a 1 m step is as long along x, y and z
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_zlabel("z (m)")


def _rig_figure(rig: Rig, title: str, draw_scene):
    plt = _pyplot()
    figure = plt.figure(figsize=(8, 7))
    ax = figure.add_subplot(111, projection="3d")
    spread = float(np.linalg.norm(rig.centers - rig.centers.mean(axis=0), axis=1).max()) if len(rig) > 1 else 1.0
    scene_points = draw_scene(ax)
    labels = _draw_rig(ax, rig, 0.12 * max(spread, 0.1), 0.15 * max(spread, 0.1))
    _set_equal_3d(ax, np.vstack([rig.centers, scene_points, labels]))
    ax.set_title(title, fontsize=10)
    return figure


_RESIDUAL_GRID = (8, 6)  # image regions (columns, rows) of the residual field
_MIN_PER_REGION = 3      # corners a region needs for its mean vector


def residual_field(observed_px: np.ndarray, residual_px: np.ndarray, size: tuple[int, int], *,
                   grid: tuple[int, int] = _RESIDUAL_GRID, min_count: int = _MIN_PER_REGION):
    """Per-region mean residual: the image cut into ``grid = (columns, rows)`` regions.

    observed_px, residual_px: (N, 2) px. Returns ``(centres (R, 2) px, mean (R, 2) px,
    rms (R,) px, count (R,) int)`` over the regions holding at least ``min_count`` points;
    ``centres`` is where a region's points are (their mean). A lens or pose error leaves a
    systematic pattern that survives the mean; noise averages out.
    """
    w, h = size
    columns, rows = grid
    col = np.clip((observed_px[:, 0] / w * columns).astype(int), 0, columns - 1)
    row = np.clip((observed_px[:, 1] / h * rows).astype(int), 0, rows - 1)
    region = row * columns + col
    count = np.bincount(region, minlength=columns * rows)
    keep = np.flatnonzero(count >= min_count)
    sums = np.stack([np.bincount(region, residual_px[:, k], minlength=columns * rows) for k in (0, 1)], axis=1)
    squares = np.bincount(region, (residual_px ** 2).sum(axis=1), minlength=columns * rows)
    mean = sums[keep] / count[keep, None]
    rms = np.sqrt(squares[keep] / count[keep])
    at = np.stack([np.bincount(region, observed_px[:, k], minlength=columns * rows) for k in (0, 1)], axis=1)
    centres = at[keep] / count[keep, None]  # where the region's points are
    return centres, mean, rms, count[keep]


def _residual_figure(camera, observed_px: np.ndarray, residual_px: np.ndarray, inliers: np.ndarray,
                     image: np.ndarray | None, title: str):
    """The image (or a blank canvas), the corners as faint dots, and one arrow per region: the mean
    residual of its corners, coloured by their RMS residual."""
    plt = _pyplot()
    w, h = camera.size
    figure, ax = plt.subplots(figsize=(9, 9 * h / w + 0.6))
    if image is not None:
        ax.imshow(image[..., ::-1] if image.ndim == 3 else image, cmap="gray", extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                  alpha=0.6)
    else:
        ax.set_facecolor("0.93")
    good = inliers
    ax.scatter(observed_px[good, 0], observed_px[good, 1], s=2, color="0.3", alpha=0.35, linewidths=0)
    centres, mean, rms, count = residual_field(observed_px[good], residual_px[good], (w, h))
    columns, rows = _RESIDUAL_GRID
    cell = min(w / columns, h / rows)
    longest = float(np.linalg.norm(mean, axis=1).max()) if len(mean) else 0.0
    magnify = max(1.0, float(np.round(0.8 * cell / max(longest, 1e-6))))  # the longest mean arrow ~0.8 region
    top = max(float(rms.max()) if len(rms) else 1.0, 1e-6)
    arrows = ax.quiver(centres[:, 0], centres[:, 1], mean[:, 0] * magnify, mean[:, 1] * magnify, rms,
                       angles="xy", scale_units="xy", scale=1, width=0.006, cmap="plasma", clim=(0, top),
                       pivot="tail", edgecolor="black", linewidth=0.4)
    for x in np.arange(1, columns) * w / columns:
        ax.axvline(x, color="white", linewidth=0.4, alpha=0.5)
    for y in np.arange(1, rows) * h / rows:
        ax.axhline(y, color="white", linewidth=0.4, alpha=0.5)
    if (~good).any():
        ax.scatter(observed_px[~good, 0], observed_px[~good, 1], marker="x", s=18, color="tab:red",
                   label=f"rejected ({int((~good).sum())})")
        ax.legend(loc="upper right", fontsize=8)
    figure.colorbar(arrows, ax=ax, fraction=0.03, pad=0.01, label="RMS residual in the region (px)")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_title(f"{title}\nmean residual per region (>= {_MIN_PER_REGION} corners), arrows x{magnify:g}",
                 fontsize=10)
    return figure


def write_board_report(result: BoardExtrinsics, corners_in_board: np.ndarray, folder, *, stem: str = "calibration",
                       frames: dict | None = None) -> list[Path]:
    """Write ``<stem>_summary.txt``, ``<stem>_rig.png`` and ``<stem>_residuals_<camera>.png``.

    corners_in_board: (C, 3) metres. frames: optional ``{camera name: image (H, W[, 3]) uint8 BGR}``
    drawn under that camera's residuals (a blank canvas of the image size otherwise).
    Returns the paths written.
    """
    folder = Path(folder)
    rig = result.rig
    written = []
    path = folder / f"{stem}_summary.txt"
    write_atomic(path, board_summary(result) + "\n")
    written.append(path)
    used = np.flatnonzero(result.frame_used)
    drawn = used[np.linspace(0, len(used) - 1, min(len(used), _MAX_BOARDS_DRAWN)).round().astype(int)] if used.size else used
    outline = _board_outline(corners_in_board)

    def draw_boards(ax):
        points = [np.zeros((0, 3))]
        for f in drawn:
            in_world = outline @ result.world_from_board_R[f].T + result.world_from_board_t[f]
            ax.plot(*np.vstack([in_world, in_world[:1]]).T, color="tab:green", linewidth=0.6, alpha=0.7)
            points.append(in_world)
        return np.vstack(points)

    figure = _rig_figure(rig, f"{len(rig)} cameras and {len(used)} board poses "
                              f"(rms {result.bundle.rms_px:.3f} px)", draw_boards)
    written.append(_save(figure, folder / f"{stem}_rig.png"))
    for v, cam in enumerate(rig):
        mine = result.observation_camera == v
        figure = _residual_figure(cam, result.observation_px[mine], result.bundle.residuals_px[mine],
                                  result.bundle.inliers[mine], (frames or {}).get(cam.name),
                                  f"{cam.name}: {int(mine.sum())} corners in {int(result.views_used[v])} views, "
                                  f"rms {result.bundle.rms_px_per_camera[v]:.3f} px")
        written.append(_save(figure, folder / f"{stem}_residuals_{cam.name}.png"))
    log.info("report written: %s", ", ".join(p.name for p in written))
    return written


def write_keypoint_report(result: KeypointExtrinsics, folder, *, stem: str = "calibration") -> list[Path]:
    """Write ``<stem>_summary.txt`` and ``<stem>_rig.png`` (cameras and the keypoint cloud)."""
    folder = Path(folder)
    written = []
    path = folder / f"{stem}_summary.txt"
    write_atomic(path, keypoint_summary(result) + "\n")
    written.append(path)
    cloud = result.points_in_world.reshape(-1, 3)
    cloud = cloud[np.all(np.isfinite(cloud), axis=1)]
    if len(cloud) > _MAX_CLOUD_POINTS:
        cloud = cloud[np.linspace(0, len(cloud) - 1, _MAX_CLOUD_POINTS).round().astype(int)]

    def draw_cloud(ax):
        ax.scatter(*cloud.T, s=1, color="tab:green", alpha=0.4)
        return cloud if len(cloud) else np.zeros((0, 3))

    units = "m" if np.isfinite(result.measured_length) else "seed-baseline units"
    figure = _rig_figure(result.rig, f"{len(result.rig)} cameras and the reconstructed keypoints ({units}); "
                                     f"rms {result.bundle.rms_px:.2f} px, weak pairs: {len(result.weak_pairs)}",
                         draw_cloud)
    written.append(_save(figure, folder / f"{stem}_rig.png"))
    return written


def _board_outline(corners_in_board: np.ndarray) -> np.ndarray:
    """(4, 3) the rectangle spanned by the corners, board frame."""
    corners = np.asarray(corners_in_board, dtype=np.float64)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    return np.array([[lo[0], lo[1], 0], [hi[0], lo[1], 0], [hi[0], hi[1], 0], [lo[0], hi[1], 0]])


# -- held-out validation and lens uncertainty -----------------------------------------------------
INTRINSICS_HELDOUT_LIMIT_PX = 1.0  # held-out corners of views left out of the lens fit; sharp boards ~0.1-0.4 px
LENS_TRUSTED_MIN_FRACTION = 0.5  # a lens trusted (< 1 px) over less of the image than this is worth re-recording


def heldout_table(heldout, note: str = "framesets the solver did not use") -> str:
    """Per camera held-out observations and RMS (a :class:`calibration.validation.HeldOutError`)."""
    lines = [f"held-out {heldout.kind} ({note}):",
             f"{'camera':<12} {'observations':>12} {'rms px':>7}"]
    for name, count, rms in zip(heldout.names, heldout.num_observations_per_camera, heldout.rms_px_per_camera):
        lines.append(f"{name:<12} {int(count):>12} {rms:>7.3f}" if np.isfinite(rms) else f"{name:<12} {int(count):>12} {'-':>7}")
    lines.append(f"{'all':<12} {int(heldout.num_observations_per_camera.sum()):>12} {heldout.rms_px:>7.3f}")
    if heldout.num_rejected:
        lines.append(f"({heldout.num_rejected} held-out {heldout.kind} left out {heldout.rejected_why})")
    return "\n".join(lines)


def intrinsics_verdict(results):
    """The verdict of ``rigkit calibrate intrinsics``: held-out corners per camera (views left out of
    the cross-validation folds) and where the lens model cannot be trusted."""
    from .validation import HeldOutError, verdict

    solved = [r for r in results if r.success]
    names = tuple(r.camera.name for r in solved)
    rms = np.array([r.heldout_rms_px for r in solved], dtype=np.float64)
    counts = np.array([r.views_used for r in solved], dtype=np.int64)  # each view is held out once
    finite = rms[np.isfinite(rms)]
    heldout = HeldOutError(names=names, rms_px_per_camera=rms, num_observations_per_camera=counts,
                           rms_px=float(np.sqrt(np.mean(finite**2))) if finite.size else float("nan"),
                           num_points=len(solved), kind="corners")
    notes = {}
    for r in solved:
        u = r.uncertainty
        if u is not None and u.trusted_fraction < LENS_TRUSTED_MIN_FRACTION:
            notes[r.camera.name] = [
                f"lens model trusted (under {u.trust_px:g} px) in only {u.trusted_fraction:.0%} of the image "
                f"({u.max_px:.1f} px at worst, board coverage {r.coverage:.0%}) -> record the board near the image "
                f"corners and edges, tilted 30-45 deg"]
    if not np.isfinite(rms).all():  # fisheye: no cross-validation; judge by the fit alone
        for r in solved:
            if not np.isfinite(r.heldout_rms_px) and r.rms_px > INTRINSICS_HELDOUT_LIMIT_PX:
                notes.setdefault(r.camera.name, []).append(f"fit RMS {r.rms_px:.2f} px is high -> check focus and blur")
        keep = np.isfinite(rms)
        heldout = HeldOutError(names=tuple(np.asarray(names)[keep]), rms_px_per_camera=rms[keep],
                               num_observations_per_camera=counts[keep], rms_px=heldout.rms_px,
                               num_points=int(keep.sum()), kind="corners")
    result = verdict(heldout, max_rms_px=INTRINSICS_HELDOUT_LIMIT_PX, min_observations=1, notes=notes)
    if result.good:
        line = (f"good (held-out corners of views left out of the fit: {heldout.rms_px:.2f} px RMS; lens trusted "
                f"under 1 px over {min(r.uncertainty.trusted_fraction for r in solved if r.uncertainty):.0%}+ of "
                "the image)") if any(r.uncertainty for r in solved) else result.lines[0]
        result = type(result)(good=True, lines=(line,))
    return result


def write_lens_uncertainty(results, folder, *, stem: str = "calibration") -> list[Path]:
    """``<stem>_lens_<camera>.png``: the lens model's projection uncertainty over the image (px, 1
    sigma), contour at 1 px, with the corners of the views used."""
    plt = _pyplot()
    folder = Path(folder)
    written = []
    for r in results:
        if not r.success or r.uncertainty is None:
            continue
        u = r.uncertainty
        w, h = r.camera.size
        figure, ax = plt.subplots(figsize=(8, 8 * h / w + 0.6))
        sigma = np.where(np.isfinite(u.sigma_px), u.sigma_px, 1e3)  # inf: the model folds there
        xs, ys = u.grid_px[0, :, 0], u.grid_px[:, 0, 1]
        mesh = ax.pcolormesh(xs, ys, np.log10(np.maximum(sigma, 1e-3)), cmap="magma_r", shading="gouraud",
                             vmin=-1.5, vmax=1.5)
        ax.contour(xs, ys, sigma, levels=[u.trust_px], colors="tab:cyan", linewidths=1.2)
        bar = figure.colorbar(mesh, ax=ax, fraction=0.03, pad=0.01)
        bar.set_label("projection uncertainty, log10 px")
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_title(f"{r.camera.name}: {r.model} lens model, coverage {r.coverage:.0%} (cyan line: {u.trust_px:g} px)\n"
                     f"{u.sentence()}", fontsize=9)
        written.append(_save(figure, folder / f"{stem}_lens_{r.camera.name}.png"))
    return written
