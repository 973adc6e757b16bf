"""``rigkit label report``: per-joint acceptance (with the reasons for rejections) and overlays.

Overlays draw, for a few framesets spread over the take, every view side by side: the 2D
detections as circles (green: inlier view of an accepted label, orange: inlier of a rejected
label, red: outlier view, grey: not used because of a low score) and the accepted 3D labels
reprojected into each view as blue crosses joined by the skeleton's bones. The background is the
recorded frame when the frames are at hand (the session, or the videos / image folders the labels
were detected on, read with the same frame pairing and offsets, padded or cropped to the
calibrated size as :mod:`labeling.frame_fit` says), otherwise a blank canvas of the camera's size.
Conventions in :mod:`geometry.camera`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigkit_files import write_atomic

from .index import LabelIndex
from .shards import RejectReason, read_shard

__all__ = ["LabelReport", "acceptance_table", "draw_overlay", "write_report", "noise_table"]

_PANEL_HEIGHT_PX = 480
_SHORT = {"NOT_TRIANGULATED": "no_3d", "TOO_FEW_INLIER_VIEWS": "few_views",
          "REPROJECTION_ERROR": "reproj_px", "BONE_LENGTH": "bone_len", "NO_PERSON": "no_person"}
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
    noise: dict | None = None  # index.json's job.noise (schema >= 2): NoiseEstimate.to_json()
    tracks: tuple[dict, ...] = ()  # per person (labeling.pipeline.summarize_tracks), when several

    def table(self) -> str:
        names = list(self.reasons)
        header = f"{'joint':<18} {'accepted':>9} {'share':>7} {'med px':>7} " + " ".join(
            f"{_SHORT.get(n, n.lower()):>10}" for n in names)
        counted = "samples (one per person per frameset)" if self.tracks else "framesets"
        lines = [f"{self.num_framesets} {counted}; rejections by reason (a label may have "
                 "several): no_3d = not triangulated, few_views = too few inlier views, "
                 "reproj_px = reprojection error, bone_len = bone length jump, no_person = no "
                 "person in the frameset", header]
        for j, joint in enumerate(self.joint_names):
            share = self.accepted[j] / max(self.num_framesets, 1)
            lines.append(f"{joint:<18} {self.accepted[j]:>9} {share:>7.1%} "
                         f"{self.median_reprojection_error_px[j]:>7.2f} "
                         + " ".join(f"{self.reasons[n][j]:>10}" for n in names))
        if self.tracks:
            lines.append(f"{len(self.tracks)} people, one track each (uncertain: fewer than two of "
                         "the person's views were unambiguous)")
            lines.append(f"{'person':<7} {'framesets':>9} {'frames':>13} {'accepted':>9} "
                         f"{'uncertain':>9}  uncertain frames")
            for t in self.tracks:
                frames = f"{t['frame_index_first']}-{t['frame_index_last']}"
                lines.append(f"{t['person_id']:<7} {t['num_framesets']:>9} {frames:>13} "
                             f"{t['mean_acceptance']:>9.1%} {t['uncertain_framesets']:>9}  "
                             f"{_ranges(t.get('uncertain_frames', []))}")
        return "\n".join(lines + noise_table(self.noise))




def noise_table(noise: dict | None) -> list[str]:
    """Lines of the per-camera noise and thresholds (``NoiseEstimate.to_json()``); none for
    labels written before schema 2."""
    if not noise:
        return []
    groups = noise["group_names"]
    fixed = noise["mode"] == "fixed"
    lines = ["", f"gating: {noise['mode']}; per camera and joint group: estimated noise sigma "
                 "(px per coordinate, from the take's inlier residuals; n = residuals) -> inlier "
                 "threshold / label gate (px)" + (" (fixed thresholds)" if fixed else ""),
             None]

    def px(value):
        return "  -" if value is None else f"{value:.1f}"

    rows = []
    for v, camera in enumerate(noise["camera_names"]):
        cells = []
        for g in range(len(groups)):
            sigma, count = noise["sigma_px"][v][g], noise["num_samples"][v][g]
            cells.append(f"{px(sigma)} (n={count}) -> {px(noise['threshold_px'][v][g])}/"
                         f"{px(noise['gate_px'][v][g])}")
        rows.append((camera, cells))
    width = max([len(g) for g in groups] + [len(c) for _, cells in rows for c in cells])
    name_width = max([len("camera")] + [len(camera) for camera, _ in rows])
    lines[-1] = f"{'camera':<{name_width}}  " + "  ".join(f"{g:>{width}}" for g in groups)
    lines += [f"{camera:<{name_width}}  " + "  ".join(f"{c:>{width}}" for c in cells) for camera, cells in rows]
    return lines


def _ranges(frames, limit: int = 12) -> str:
    """[3, 4, 5, 9] -> '3-5, 9' (at most ``limit`` runs, then how many more)."""
    frames = sorted(int(f) for f in frames)
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    text = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs[:limit])
    if len(runs) > limit:
        text += f", ... ({len(runs) - limit} more runs)"
    return text or "none"


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
    tracks = ()
    if "people" in index.job:
        from .pipeline import summarize_tracks

        tracks = tuple(summarize_tracks(root))
    return LabelReport(joint_names=joint_names, accepted=accepted, num_framesets=total,
                       reasons=reasons, median_reprojection_error_px=medians,
                       noise=index.job.get("noise"), tracks=tracks)


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
    provenance = index.job["provenance"]
    recorded = provenance.get("session")
    if session is not None and not recorded:
        raise ValueError("these labels were not made from a session (their frame numbers need not "
                         "be its framesets); run the report without --session")
    if session is None and recorded and Path(recorded).is_dir():
        session = recorded  # labels from a session: draw on its frames when it is still there
    opened = _open_recording(session, provenance)
    frames = None if opened is None else _frames_of(opened, provenance.get("camera_map", {}))
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
        if images is not None:
            from .frame_fit import fit_image

            images = [None if image is None else fit_image(image, camera.size)
                      for image, camera in zip(images, data["rig"])]
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


def _open_recording(session, provenance: dict):
    """The ``capture.pairing.Recording`` the labels were detected on (a session, or the videos of
    ``provenance`` when their files are still there), or None. The frames are paired as the labels
    were: the recording's ``--frame-offset`` plus any given with ``--detections``
    (``detections_frame_offsets``), each rounded to the nearest frame (the image closest to the
    labels' instant is drawn under them)."""
    from capture.pairing import RecordingSpec

    total = {name: float(o) for name, o in (provenance.get("frame_offsets") or {}).items()}
    renamed = provenance.get("camera_map") or {}
    for name, o in (provenance.get("detections_frame_offsets") or {}).items():
        name = renamed.get(name, name)
        total[name] = total.get(name, 0.0) + float(o)
    offsets = tuple((name, math.floor(o + 0.5)) for name, o in total.items())
    if session is not None:
        return RecordingSpec(session=str(session), offsets=offsets).open()
    videos = provenance.get("videos")
    timestamps = tuple(provenance.get("timestamps") or ())  # paired by recorded times: the same files
    from capture.timestamps import timestamps_file

    files = list(videos.values()) + [timestamps_file(t)[1] for t in timestamps] if videos else []
    if videos and all(Path(p).exists() for p in files):
        return RecordingSpec(cameras=tuple(videos.items()), offsets=offsets, timestamps=timestamps).open()
    return None


def recording_frame_map(provenance: dict) -> dict[str, dict[int, int]] | None:
    """``{camera: {frame_index: the camera's frame}}`` of the videos the labels were detected on,
    paired as they were (offsets, ``--timestamps``); None when the videos are gone or every
    camera's frame is the frame_index (paired by index without offsets)."""
    opened = _open_recording(None, provenance)
    if opened is None:
        return None
    with opened:
        pairing = opened.pairing
    if (pairing.frame_indices == pairing.frameset_index[:, None]).all():
        return None
    return {name: dict(zip(pairing.frameset_index.tolist(), pairing.frames_of(name).tolist()))
            for name in pairing.names}


def _frames_of(opened, camera_map: dict):
    """A function (frame_index, camera names) -> V BGR images (None where a view is missing),
    padded/cropped to each camera's calibrated size by the caller's rig."""
    pairing = opened.pairing
    position_of = {int(f): k for k, f in enumerate(pairing.frameset_index)}

    def frames(frame_index: int, names):
        k = position_of.get(int(frame_index))
        if k is None:
            return None
        images = next(iter(opened.framesets(k, k + 1)))[1]
        return [images[pairing.names.index(camera_map.get(name, name))]
                if camera_map.get(name, name) in pairing.names else None for name in names]

    return frames
