"""The demo's report pictures: what was recorded, where the cameras are, what the labels look like.

- ``capture_board.png`` / ``capture_person.png``: one frameset of each part, every view tiled;
- ``calibration_cameras.png``: the camera centres and viewing directions of the true rig, the
  board calibration and the keypoint calibration, from above and from the side;
- ``labels_<frame>.png``: detections and reprojected pseudo-labels on the recorded frames
  (:func:`labeling.report.draw_overlay`), for a few framesets spread over the take.
The calibration reports of :mod:`calibration.report` are written next to them by stage 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rigkit_files import write_atomic

__all__ = ["frameset_mosaic", "write_capture_figures", "write_camera_figure", "write_label_overlays"]


def _png(path: Path, image: np.ndarray) -> Path:
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path.name} as PNG")
    write_atomic(path, data.tobytes())
    return path


def frameset_mosaic(images: list[np.ndarray | None], names, *, width_px: int = 1280) -> np.ndarray:
    """V BGR images tiled in rows of up to 4 (missing views grey), captioned, ``width_px`` wide."""
    import cv2

    shape = next(i.shape for i in images if i is not None)
    columns = min(4, len(images))
    rows = -(-len(images) // columns)
    tile_w = width_px // columns
    tile_h = int(round(shape[0] * tile_w / shape[1]))
    canvas = np.full((rows * tile_h, columns * tile_w, 3), 64, np.uint8)
    for v, (image, name) in enumerate(zip(images, names)):
        y, x = divmod(v, columns)
        if image is not None:
            canvas[y * tile_h:(y + 1) * tile_h, x * tile_w:(x + 1) * tile_w] = cv2.resize(
                image, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
        cv2.putText(canvas, name if image is not None else f"{name} (missing)", (x * tile_w + 8, y * tile_h + tile_h - 10),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return canvas


def write_capture_figures(session, folder: Path, *, board_frameset: int, person_frameset: int) -> list[Path]:
    written = []
    for name, index in (("capture_board.png", board_frameset), ("capture_person.png", person_frameset)):
        frameset = session[index]
        written.append(_png(folder / name, frameset_mosaic(frameset.images, session.names)))
    return written


def _in_truth_world(rig, truth):
    """Camera centres (V, 3) and optical axes (V, 3) of ``rig`` in the true world, the two rigs
    made to agree at the first camera."""
    from calibration import rig_in_camera_frame

    local = rig_in_camera_frame(rig.subset(list(truth.names)), 0)
    first = truth[0]
    centres = (local.centers - first.t) @ first.R
    axes = local.R[:, 2, :] @ first.R
    return centres, axes


def write_camera_figure(folder: Path, truth, rigs: dict) -> Path:
    """Top and side views of the true rig and each estimate in ``rigs`` (label -> Rig)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    styles = [("truth", truth, dict(color="black", marker="o", s=70, facecolors="none"))]
    colours = ["tab:blue", "tab:orange", "tab:green"]
    styles += [(label, rig, dict(color=c, marker="x", s=50)) for (label, rig), c in zip(rigs.items(), colours)]
    low, high = truth.centers.min(axis=0) - 1.5, truth.centers.max(axis=0) + 1.5  # the plot: the rig + 1.5 m
    for ax, (i, j, title) in zip(axes, ((0, 1, "from above (x, y)"), (0, 2, "from the side (x, z)"))):
        for label, rig, style in styles:
            centres, view = _in_truth_world(rig, truth) if rig is not truth else (truth.centers, truth.R[:, 2, :])
            outside = int((~((centres >= low) & (centres <= high)).all(axis=1)).sum())
            if outside:
                label = f"{label} ({outside} off the plot)"
            ax.scatter(centres[:, i], centres[:, j], label=label, **style)
            for c, d in zip(centres, view):
                ax.plot([c[i], c[i] + 0.6 * d[i]], [c[j], c[j] + 0.6 * d[j]], color=style["color"], lw=1)
        for name, c in zip(truth.names, truth.centers):
            ax.annotate(name, (c[i], c[j]), textcoords="offset points", xytext=(6, 6), fontsize=8)
        ax.set_xlim(low[i], high[i])
        ax.set_ylim(low[j], high[j])
        ax.set_title(title)
        ax.set_xlabel("m")
        ax.set_ylabel("m")
        ax.set_aspect("equal", adjustable="box")
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.legend(loc="best", fontsize=8)
    figure.suptitle("camera poses: truth and the two calibrations (lines: viewing direction)")
    figure.tight_layout()
    path = folder / "calibration_cameras.png"
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    write_atomic(path, buffer.getvalue())
    return path


def write_label_overlays(labels_dir: Path, session, folder: Path, *, count: int = 3) -> list[Path]:
    """Detections (circles) and accepted labels reprojected (crosses) on the recorded frames."""
    from labeling import LabelIndex, read_shard
    from labeling.report import draw_overlay

    index = LabelIndex.read(labels_dir)
    min_score = float(index.job["options"]["min_score"])
    bones = np.asarray(index.job.get("bones") or np.zeros((0, 2)), dtype=np.int64).reshape(-1, 2)
    offsets = np.cumsum([0] + [e.num_samples for e in index.shards])
    picks = np.unique(np.linspace(0, max(index.num_samples - 1, 0), count).round().astype(int))
    written = []
    for position in picks:
        shard = int(np.searchsorted(offsets, position, side="right") - 1)
        data = read_shard(labels_dir / index.shards[shard].file)
        row = int(position - offsets[shard])
        frame = int(data["frame_index"][row])
        frameset = session[frame]
        images = [frameset.images[session.names.index(name)] for name in data["rig"].names]
        canvas = draw_overlay(data["rig"], data, row, bones=bones, min_score=min_score, images=images)
        written.append(_png(folder / f"labels_{frame:06d}.png", canvas))
    return written
