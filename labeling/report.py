"""``rigkit label report``: per-joint acceptance (with the reasons for rejections) and overlays.

Overlays draw, for a few framesets spread over the take, every view side by side: the 2D
detections as circles (green: inlier view of an accepted label, orange: inlier of a rejected
label, red: outlier view, grey: not used because of a low score) and the accepted 3D labels
reprojected into each view as blue crosses joined by the skeleton's bones. The background is the
recorded frame when the session's images are available, otherwise a blank canvas of the camera's
size. Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .index import LabelIndex
from .shards import RejectReason, read_shard, write_atomic

__all__ = ["LabelReport", "acceptance_table", "draw_overlay", "write_report"]

_PANEL_HEIGHT_PX = 480
_SHORT = {"NOT_TRIANGULATED": "no_3d", "TOO_FEW_INLIER_VIEWS": "few_views",
          "REPROJECTION_ERROR": "reproj_px", "BONE_LENGTH": "bone_len"}
_BGR = {"inlier": (60, 180, 60), "rejected": (0, 150, 255), "outlier": (40, 40, 220),
        "unused": (150, 150, 150), "reprojection": (255, 255, 255), "bone": (255, 255, 255)}
_OUTLINE = (0, 0, 0)  # labels are drawn white on a black outline: visible on any limb or background


def _outlined_line(panel, a, b) -> None:
    import cv2

    cv2.line(panel, a, b, _OUTLINE, 4, cv2.LINE_AA)
    cv2.line(panel, a, b, _BGR["bone"], 2, cv2.LINE_AA)


def _outlined_cross(panel, xy) -> None:
    import cv2

    cv2.drawMarker(panel, xy, _OUTLINE, cv2.MARKER_CROSS, 14, 5, cv2.LINE_AA)
    cv2.drawMarker(panel, xy, _BGR["reprojection"], cv2.MARKER_CROSS, 12, 2, cv2.LINE_AA)


@dataclass(frozen=True, kw_only=True)
class LabelReport:
    """Per joint: accepted count, framesets, and counts per :class:`RejectReason` bit."""

    joint_names: tuple[str, ...]
    accepted: np.ndarray        # (J,) int64
    num_framesets: int
    reasons: dict[str, np.ndarray]  # reason name -> (J,) int64
    median_reprojection_error_px: np.ndarray  # (J,) float64 over inlier views of accepted labels
    overlay_paths: tuple[Path, ...] = ()

    def table(self) -> str:
        names = list(self.reasons)
        header = f"{'joint':<18} {'accepted':>9} {'share':>7} {'med px':>7} " + " ".join(
            f"{_SHORT.get(n, n.lower()):>10}" for n in names)
        lines = [f"{self.num_framesets} framesets; rejections by reason (a label may have "
                 "several): no_3d = not triangulated, few_views = too few inlier views, "
                 "reproj_px = reprojection error, bone_len = bone length jump", header]
        for j, joint in enumerate(self.joint_names):
            share = self.accepted[j] / max(self.num_framesets, 1)
            lines.append(f"{joint:<18} {self.accepted[j]:>9} {share:>7.1%} "
                         f"{self.median_reprojection_error_px[j]:>7.2f} "
                         + " ".join(f"{self.reasons[n][j]:>10}" for n in names))
        return "\n".join(lines)


def acceptance_table(root: str | os.PathLike) -> LabelReport:
    """Acceptance statistics over every shard listed in ``root/index.json``."""
    index = LabelIndex.read(root)
    root = Path(root)
    joint_names = tuple(index.job["joint_names"])
    J = len(joint_names)
    accepted = np.zeros(J, dtype=np.int64)
    bits = [r for r in RejectReason if r != RejectReason.NONE]
    reasons = {r.name: np.zeros(J, dtype=np.int64) for r in bits}
    errors: list[list[np.ndarray]] = [[] for _ in range(J)]
    total = 0
    for entry in index.shards:
        data = read_shard(root / entry.file, fields=("valid", "inliers", "reprojection_error_px",
                                                     "reject_reason"))
        valid, reason = data["valid"], data["reject_reason"]
        accepted += valid.sum(axis=0)
        total += valid.shape[0]
        for r in bits:
            reasons[r.name] += ((reason & np.uint8(r)) != 0).sum(axis=0)
        use = data["inliers"] & valid[:, None, :]
        for j in range(J):
            errors[j].append(data["reprojection_error_px"][:, :, j][use[:, :, j]])
    medians = np.array([np.median(np.concatenate(e)) if sum(x.size for x in e) else np.nan
                        for e in errors])
    return LabelReport(joint_names=joint_names, accepted=accepted, num_framesets=total,
                       reasons=reasons, median_reprojection_error_px=medians)


def draw_overlay(rig, labels: dict, row: int, *, bones: np.ndarray, min_score: float,
                 images: list[np.ndarray] | None = None) -> np.ndarray:
    """One frameset of a shard drawn for every view, side by side.

    labels: arrays of a shard (:func:`labeling.shards.read_shard`); row: the frameset's row.
    images: optional V BGR frames (H, W, 3) uint8 in the cameras' order.
    Returns a BGR image (H', W', 3) uint8: V square panels zoomed on the subject.
    """
    import cv2

    points_3d = labels["keypoints_3d"][row].astype(np.float64)  # (J, 3)
    reprojected = rig.project(points_3d)  # (V, J, 2)
    panels = []
    for v, camera in enumerate(rig):
        # Zoom on the subject: a box around the detections and reprojections (whole image if none).
        detected = labels["keypoints_2d"][row, v].astype(np.float64)
        x0, y0, side = _subject_box(np.concatenate([detected, reprojected[v]]), camera.size)
        scale = _PANEL_HEIGHT_PX / side
        size = (_PANEL_HEIGHT_PX, _PANEL_HEIGHT_PX)
        if images is not None and images[v] is not None:
            affine = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
            panel = cv2.warpAffine(images[v], affine, size, flags=cv2.INTER_AREA,
                                   borderValue=(32, 32, 32))
        else:
            panel = np.full((size[1], size[0], 3), 32, dtype=np.uint8)
        origin = np.array([x0, y0])
        scores = labels["scores_2d"][row, v]
        inlier = labels["inliers"][row, v]
        valid = labels["valid"][row]
        for a, b in bones:
            pa, pb = reprojected[v, a], reprojected[v, b]
            if valid[a] and valid[b] and np.isfinite(pa).all() and np.isfinite(pb).all():
                _outlined_line(panel, _pt(pa, origin, scale), _pt(pb, origin, scale))
        for j in range(detected.shape[0]):
            if np.isfinite(detected[j]).all():
                kind = ("unused" if not scores[j] >= min_score else
                        "outlier" if not inlier[j] else "inlier" if valid[j] else "rejected")
                cv2.circle(panel, _pt(detected[j], origin, scale), 6, _OUTLINE, 4, cv2.LINE_AA)
                cv2.circle(panel, _pt(detected[j], origin, scale), 6, _BGR[kind], 2, cv2.LINE_AA)
        for j in range(detected.shape[0]):  # the labels on top of the detections
            if valid[j] and np.isfinite(reprojected[v, j]).all():
                _outlined_cross(panel, _pt(reprojected[v, j], origin, scale))
        cv2.putText(panel, f"{camera.name}  frame {int(labels['frame_index'][row])}", (8, 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    height = max(p.shape[0] for p in panels)
    panels = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0))) for p in panels]
    canvas = np.concatenate(panels, axis=1)
    _legend(canvas)
    return canvas


def _pt(xy: np.ndarray, origin: np.ndarray, scale: float) -> tuple[int, int]:
    return int(round((xy[0] - origin[0]) * scale)), int(round((xy[1] - origin[1]) * scale))


def _subject_box(points: np.ndarray, size: tuple[int, int]) -> tuple[float, float, float]:
    """Square ``(x0, y0, side)`` px around the finite ``points`` (M, 2) with a 25% margin;
    the whole image (its larger side) when there are fewer than two."""
    finite = points[np.isfinite(points).all(axis=1)]
    finite = finite[(finite >= -size[0]).all(axis=1) & (finite[:, 0] < 2 * size[0])
                    & (finite[:, 1] < 2 * size[1])]
    if len(finite) < 2:
        return 0.0, 0.0, float(max(size))
    low, high = finite.min(axis=0), finite.max(axis=0)
    side = max(float((high - low).max()) * 1.5, 64.0)
    centre = (low + high) / 2
    return float(centre[0] - side / 2), float(centre[1] - side / 2), side


def _legend(canvas: np.ndarray) -> None:
    import cv2

    y = canvas.shape[0] - 10
    x = 8
    cv2.rectangle(canvas, (0, y - 16), (canvas.shape[1], canvas.shape[0]), (32, 32, 32), -1)
    for label, key in (("inlier", "inlier"), ("inlier, label rejected", "rejected"),
                       ("outlier", "outlier"), ("low score", "unused"),
                       ("3D label reprojected (white on black)", "reprojection")):
        if key == "reprojection":
            _outlined_cross(canvas, (x + 5, y - 4))
        else:
            cv2.circle(canvas, (x + 5, y - 4), 5, _BGR[key], 2)
        cv2.putText(canvas, label, (x + 14, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
        (width, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
        x += 14 + width + 24


def write_report(root: str | os.PathLike, *, out_dir: str | os.PathLike | None = None,
                 num_overlays: int = 4, session: str | os.PathLike | None = None) -> LabelReport:
    """Write ``acceptance.txt`` and ``overlay-<frame>.png`` files; return the report.

    out_dir: default ``root/report``. session: a recorded session whose frames are drawn under
    the labels (``capture.open_session``); without it the overlays use blank canvases.
    """
    import cv2

    root = Path(root)
    report = acceptance_table(root)
    out_dir = Path(out_dir) if out_dir is not None else root / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    index = LabelIndex.read(root)
    min_score = float(index.job["options"]["min_score"])
    bones = np.asarray(index.job.get("bones") or np.zeros((0, 2)), dtype=np.int64).reshape(-1, 2)
    recorded = index.job["provenance"].get("session")
    if session is not None and not recorded:
        raise ValueError("these labels were made from imported detections, whose frame numbers "
                         "need not be the session's framesets; run the report without --session")
    if session is None and recorded and Path(recorded).is_dir():
        session = recorded  # labels from a session: draw on its frames when it is still there
    opened = _open_session(session)
    frames = None if opened is None else _frames_of(opened)
    total = index.num_samples
    picks = np.unique(np.linspace(0, max(total - 1, 0), min(num_overlays, total)).round().astype(int))
    paths = []
    offsets = np.cumsum([0] + [e.num_samples for e in index.shards])
    for position in picks:
        shard = int(np.searchsorted(offsets, position, side="right") - 1)
        data = read_shard(root / index.shards[shard].file)
        row = int(position - offsets[shard])
        frame = int(data["frame_index"][row])
        images = frames(frame, data["rig"].names) if frames else None
        canvas = draw_overlay(data["rig"], data, row, bones=bones, min_score=min_score,
                              images=images)
        ok, encoded = cv2.imencode(".png", canvas)
        if not ok:
            raise OSError(f"could not encode the overlay of frame {frame} as PNG")
        path = out_dir / f"overlay-{frame:08d}.png"
        write_atomic(path, encoded.tobytes())
        paths.append(path)
    if opened is not None:
        opened.close()
    write_atomic(out_dir / "acceptance.txt", (report.table() + "\n").encode())
    return LabelReport(**{**report.__dict__, "overlay_paths": tuple(paths)})


def _open_session(session):
    """``capture.open_session(session)``, or None without a session."""
    if session is None:
        return None
    from capture import open_session

    return open_session(session)


def _frames_of(opened):
    """A function (frame_index, camera names) -> V BGR images (None where a view is missing)."""

    def frames(frame_index: int, names):
        # The session path stores session frameset positions as frame_index.
        frameset = opened[frame_index]
        return [frameset.images[opened.names.index(name)] for name in names]

    return frames
