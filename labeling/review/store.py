"""What the review server reads: framesets streamed from the shards, a compact summary, frames.

Conventions in :mod:`geometry.camera`. ``N`` framesets (samples) of the label set, ``V`` views,
``J`` joints, ``B`` timeline bins.

Bounded memory: shards are never read whole. A frameset is read as h5py slices of a block of
:data:`BLOCK_ROWS` rows around it (an LRU of :data:`MAX_BLOCKS` blocks, so stepping through
neighbours touches HDF5 once per block); at most :data:`MAX_OPEN_FILES` shards are open. The
summary behind the timeline, the filters and camera health is built shard by shard (one shard's
residuals in memory at a time): 6 bytes per label, 4 per (frameset, view) and 20 per frameset,
14 MB for 100,000 framesets x 4 views x 17 joints (the server adds 2 bytes per label for the
review's masks).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..index import LabelIndex
from ..lru import LruCache
from ..shards import LABEL_FIELDS, RejectReason, read_shard_attributes, rig_from_shard

__all__ = ["LabelStore", "Summary", "FrameSource", "VideoFrames", "QUERY_REASONS", "BLOCK_ROWS"]

log = logging.getLogger(__name__)
BLOCK_ROWS = 64
MAX_BLOCKS = 32
MAX_OPEN_FILES = 16
# reason filter -> predicate on (reject_reason uint8, valid bool) per label
QUERY_REASONS = {
    "any": None, "invalid": "invalid", "valid": "valid",
    **{r.name.lower(): int(r) for r in RejectReason if r != RejectReason.NONE},
}


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` (symlinks resolved) lies in ``folder`` (symlinks resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Summary:
    """Per-frameset and per-label facts behind the timeline, the filters and camera health.

    valid, reject_reason, num_inlier_views: (N, J) as in the shards. max_residual_px: (N, J)
    float16, the largest residual of a joint over the views that detected it (NaN when none).
    outlier_views: (N, J) uint8 bit v set where view v detected the joint but was not an inlier.
    median_residual_px: (N,) float32 over every detected label of the frameset (NaN when none).
    camera_residual_px: (N, V) float32 median residual of each view over its joints.
    """

    valid: np.ndarray
    reject_reason: np.ndarray
    num_inlier_views: np.ndarray
    max_residual_px: np.ndarray
    outlier_views: np.ndarray
    median_residual_px: np.ndarray
    camera_residual_px: np.ndarray
    frame_index: np.ndarray
    timestamp_s: np.ndarray


def _nan_median(values: np.ndarray, axis) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows stay NaN on purpose
        return np.nanmedian(values, axis=axis).astype(np.float32)


class LabelStore:
    """A labeling output folder opened for review (``index.json`` + shards).

    Raises ValueError when the folder is not a label set or its index names a shard outside it.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.index = LabelIndex.read(self.root)
        if not self.index.shards:
            raise ValueError(f"{self.root} holds no complete shard yet")
        for entry in self.index.shards:
            if not inside(self.root / entry.file, self.root):
                raise ValueError(f"{self.root}/index.json names shard {entry.file!r} outside the folder")
        counts = np.array([e.num_samples for e in self.index.shards], dtype=np.int64)
        self.first_positions = np.cumsum(counts) - counts
        self.num_samples = int(counts.sum())
        self._lock = threading.RLock()
        self._files: OrderedDict[int, object] = OrderedDict()
        self._blocks = LruCache(MAX_BLOCKS)  # (shard, block) -> label fields
        f = self._file(0)
        self.attributes = read_shard_attributes(f)
        self.rig = rig_from_shard(f)
        self.joint_names = self.attributes["joint_names"]
        self.camera_names = self.attributes["camera_names"]
        self.bones = self.attributes["bones"]
        if not len(self.bones) and self.index.job.get("bones"):
            self.bones = np.asarray(self.index.job["bones"], dtype=np.int64).reshape(-1, 2)
        self._summary: Summary | None = None
        self._summary_error: str | None = None
        self._stop = threading.Event()

    # -- shards -----------------------------------------------------------------------------
    def _file(self, shard: int):
        import h5py

        with self._lock:
            handle = self._files.get(shard)
            if handle is None:
                handle = h5py.File(self.root / self.index.shards[shard].file, "r")
                self._files[shard] = handle
                if len(self._files) > MAX_OPEN_FILES:
                    self._files.popitem(last=False)[1].close()
            else:
                self._files.move_to_end(shard)
            return handle

    def locate(self, sample: int) -> tuple[int, int]:
        """(shard, row) of a sample position; ValueError when out of range."""
        if not 0 <= sample < self.num_samples:
            raise ValueError(f"sample {sample} out of range 0..{self.num_samples - 1}")
        shard = int(np.searchsorted(self.first_positions, sample, side="right") - 1)
        return shard, int(sample - self.first_positions[shard])

    def _block(self, shard: int, block: int) -> dict:
        with self._lock:
            return self._blocks.get((shard, block), lambda: self._read_block(shard, block))

    def _read_block(self, shard: int, block: int) -> dict:
        f = self._file(shard)
        start = block * BLOCK_ROWS
        stop = min(start + BLOCK_ROWS, self.index.shards[shard].num_samples)
        return {name: f[name][start:stop] for name in LABEL_FIELDS}

    def sample_arrays(self, sample: int) -> dict[str, np.ndarray]:
        """Every label field of one frameset (shapes without the N dimension)."""
        shard, row = self.locate(sample)
        block = self._block(shard, row // BLOCK_ROWS)
        return {name: value[row % BLOCK_ROWS] for name, value in block.items()}

    def close(self) -> None:
        """Close every shard; a summary being built stops at its next shard. (Closing under the
        lock: no request thread is inside h5py afterwards, so the interpreter can exit; a thread
        frozen at exit inside h5py would hold its global lock and hang the shutdown.)"""
        self._stop.set()
        with self._lock:
            for handle in self._files.values():
                handle.close()
            self._files.clear()
            self._blocks.clear()

    # -- summary ----------------------------------------------------------------------------
    @property
    def summary(self) -> Summary | None:
        """The summary once :meth:`build_summary` has run (None before)."""
        return self._summary

    @property
    def summary_error(self) -> str | None:
        return self._summary_error

    def build_summary(self) -> Summary | None:
        """Read the shards one at a time into a :class:`Summary` (see the module docstring);
        None when :meth:`close` stopped it."""
        import h5py

        N, V, J = self.num_samples, len(self.camera_names), len(self.joint_names)
        out = Summary(valid=np.zeros((N, J), bool), reject_reason=np.zeros((N, J), np.uint8),
                      num_inlier_views=np.zeros((N, J), np.uint8),
                      max_residual_px=np.full((N, J), np.nan, np.float16),
                      outlier_views=np.zeros((N, J), np.uint8),
                      median_residual_px=np.full(N, np.nan, np.float32),
                      camera_residual_px=np.full((N, V), np.nan, np.float32),
                      frame_index=np.zeros(N, np.int64), timestamp_s=np.zeros(N, np.float64))
        bits = (1 << np.arange(V, dtype=np.uint16)).astype(np.uint16)[None, :, None]
        try:
            for shard, entry in enumerate(self.index.shards):
                if self._stop.is_set():  # the server is stopping
                    return None
                lo, hi = int(self.first_positions[shard]), int(self.first_positions[shard]) + entry.num_samples
                with self._lock, h5py.File(self.root / entry.file, "r") as f:
                    for name in ("valid", "reject_reason", "num_inlier_views", "frame_index", "timestamp_s"):
                        getattr(out, name)[lo:hi] = f[name][()]
                    residual = f["reprojection_error_px"][()]  # (n, V, J)
                    detected = np.isfinite(f["keypoints_2d"][:, :, :, 0])
                    inliers = f["inliers"][()]
                with np.errstate(invalid="ignore"):
                    out.max_residual_px[lo:hi] = np.fmax.reduce(residual, axis=1)
                outliers = detected & ~inliers
                out.outlier_views[lo:hi] = (outliers * bits).sum(axis=1).astype(np.uint8) if V <= 8 else 0
                out.median_residual_px[lo:hi] = _nan_median(residual.reshape(len(residual), -1), axis=1)
                out.camera_residual_px[lo:hi] = _nan_median(residual, axis=2)
        except Exception as error:  # reported to the page; the frameset view works without it
            self._summary_error = f"{type(error).__name__}: {error}"
            log.exception("could not build the review summary")
            raise
        self._summary = out
        return out


def timeline(summary: Summary, rejected: np.ndarray | None, bins: int) -> dict:
    """Per-bin facts for the timeline and camera health (JSON-able lists, None for NaN).

    rejected: (N, J) bool labels rejected by the reviewer, or None.
    """
    N, J = summary.valid.shape
    V = summary.camera_residual_px.shape[1]
    bins = int(max(1, min(bins, N)))
    edges = np.linspace(0, N, bins + 1).astype(np.int64)
    starts = edges[:-1]
    valid = summary.valid if rejected is None else summary.valid & ~rejected
    acceptance = np.add.reduceat(valid.mean(axis=1), starts) / np.diff(edges)
    invalid_any = np.add.reduceat((~valid).any(axis=1).astype(np.int64), starts)
    med = summary.median_residual_px
    finite = np.isfinite(med)
    med_sum = np.add.reduceat(np.where(finite, med, 0), starts)
    med_count = np.add.reduceat(finite.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = med_sum / med_count
    # per bin and camera: quantiles of the per-frameset camera residuals (bins as rows of a
    # NaN-padded matrix, so one vectorised nanpercentile does every bin)
    widest = int(np.diff(edges).max())
    rows = starts[:, None] + np.arange(widest)[None, :]
    inside_bin = rows < edges[1:, None]
    health = []
    for v in range(V):
        values = np.where(inside_bin, summary.camera_residual_px[np.minimum(rows, N - 1), v], np.nan)
        p50, p90 = _row_quantiles(values, (0.5, 0.9))
        health.append({"p50": _json_list(p50, 2), "p90": _json_list(p90, 2)})
    return {"bins": bins, "edges": edges.tolist(), "acceptance": _json_list(acceptance, 3),
            "framesets_with_invalid": invalid_any.tolist(), "median_residual_px": _json_list(residual, 2),
            "camera_health": health}


def _row_quantiles(values: np.ndarray, quantiles) -> list[np.ndarray]:
    """Linear-interpolation quantiles of each row of ``values (R, C)`` over its finite entries
    (NaN for a row without any): numpy's nanpercentile along an axis loops in Python per row."""
    ordered = np.sort(values, axis=1)  # NaN sort last
    count = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(len(values))
    out = []
    for q in quantiles:
        position = q * np.maximum(count - 1, 0)
        low = np.floor(position).astype(np.int64)
        high = np.minimum(low + 1, np.maximum(count - 1, 0))
        weight = position - low
        value = ordered[rows, low] * (1 - weight) + ordered[rows, high] * weight
        out.append(np.where(count > 0, value, np.nan))
    return out


def _json_list(values: np.ndarray, digits: int) -> list:
    values = np.asarray(values, dtype=np.float64)
    return [None if not np.isfinite(x) else round(x, digits) for x in values.tolist()]


@dataclass(frozen=True, kw_only=True)
class Query:
    """A filter of framesets: a frameset matches when one of its labels satisfies every criterion.

    reason: a key of :data:`QUERY_REASONS` (``invalid``: the label is not valid, shard or review;
    a reject-reason name: that bit is set). joint, camera: indices or -1 for any (camera: that
    view's detection of the joint was an outlier). person: 0 or -1 (one subject per frameset).
    min_residual_px: the joint's largest residual is at least this. max_inlier_views: at most this
    many views agreed (-1: any). bone: the bone-length bit is set. sort: ``worst`` (largest
    residual among the matching labels first), ``count`` (most matching labels first) or ``take``.
    """

    reason: str = "any"
    joint: int = -1
    camera: int = -1
    person: int = -1
    min_residual_px: float = 0.0
    max_inlier_views: int = -1
    bone: bool = False
    sort: str = "worst"
    limit: int = 20000

    def __post_init__(self) -> None:
        if self.reason not in QUERY_REASONS and self.reason != "reviewed":
            raise ValueError(f"reason {self.reason!r}, expected one of {', '.join(QUERY_REASONS)}")
        if self.sort not in ("worst", "count", "take"):
            raise ValueError(f"sort {self.sort!r}, expected worst, count or take")


def run_query(summary: Summary, query: Query, rejected: np.ndarray | None,
              reviewed: np.ndarray | None = None, *, bins: int = 0) -> dict:
    """Matching sample positions (sorted, at most ``query.limit``), their total count and, with
    ``bins``, how many match in each timeline bin (the timeline's marks).

    rejected, reviewed: (N, J) bool labels the reviewer rejected / gave any verdict, or None."""
    N, J = summary.valid.shape
    valid = summary.valid if rejected is None else summary.valid & ~rejected
    match = np.ones((N, J), dtype=bool)
    predicate = QUERY_REASONS.get(query.reason)
    if query.reason == "invalid":
        match &= ~valid
    elif query.reason == "valid":
        match &= valid
    elif query.reason == "reviewed":
        match &= reviewed if reviewed is not None else False
    elif isinstance(predicate, int):
        match &= (summary.reject_reason & np.uint8(predicate)) != 0
    if query.bone:
        match &= (summary.reject_reason & np.uint8(RejectReason.BONE_LENGTH)) != 0
    if query.joint >= 0:
        keep = np.zeros(J, dtype=bool)
        keep[min(query.joint, J - 1)] = True
        match &= keep[None, :]
    if query.camera >= 0:
        match &= (summary.outlier_views & np.uint8(1 << min(query.camera, 7))) != 0
    if query.person > 0:
        match &= False  # one subject per frameset: person 0 only
    if query.min_residual_px > 0:
        with np.errstate(invalid="ignore"):
            match &= summary.max_residual_px.astype(np.float32) >= query.min_residual_px
    if query.max_inlier_views >= 0:
        match &= summary.num_inlier_views <= query.max_inlier_views
    counts = match.sum(axis=1)
    samples = np.flatnonzero(counts)
    if query.sort == "worst":
        worst = np.where(match, np.nan_to_num(summary.max_residual_px.astype(np.float32), nan=0.0), -1).max(axis=1)
        samples = samples[np.lexsort((-counts[samples], -worst[samples]))]
    elif query.sort == "count":
        samples = samples[np.argsort(-counts[samples], kind="stable")]
    out = {"total": int(samples.size), "samples": samples[: query.limit].tolist()}
    if bins:
        edges = np.linspace(0, N, int(max(1, min(bins, N))) + 1)
        out["marks"] = np.histogram(np.flatnonzero(counts), bins=edges)[0].tolist()
    return out


class _CachedJpegs:
    """The JPEG of one view of one frameset through a small LRU (``cache_frames`` entries);
    subclasses set ``cache_frames`` and read a frame in ``_read(frame_index, view)``."""

    cache_frames: int

    def __init__(self) -> None:
        self._cache = LruCache(self.cache_frames)  # (frame_index, view) -> JPEG bytes or None
        self._lock = threading.Lock()

    def jpeg(self, frame_index: int, view: int) -> bytes | None:
        """The JPEG of view ``view`` (label-set camera order) of a frameset, None if not recorded."""
        key = (int(frame_index), int(view))
        with self._lock:
            return self._cache.get(key, lambda: self._read(*key))

    def _read(self, frame_index: int, view: int) -> bytes | None:
        raise NotImplementedError


class FrameSource(_CachedJpegs):
    """JPEG frames of the recorded session the labels were made from, on demand.

    The session's frames are stored as JPEG: a frame no wider than ``max_width_px`` is sent as
    recorded (no decode, no re-encode); a wider one is decoded at half or quarter size and
    re-encoded. A small LRU (``cache_frames``) keeps the last frames. ``frame_index`` is the
    session frameset position (what ``rigkit label --session`` stores).
    """

    def __init__(self, session_path: str | os.PathLike, camera_names, *, max_width_px: int = 1280,
                 cache_frames: int = 64, jpeg_quality: int = 85):
        from capture import open_session

        self.session = open_session(session_path, threads=1)
        self.path = Path(session_path)
        self.views = [self.session.names.index(n) if n in self.session.names else -1 for n in camera_names]
        self.max_width_px = max_width_px
        self.cache_frames = cache_frames
        self.jpeg_quality = jpeg_quality
        super().__init__()

    def _read(self, frame_index: int, view: int) -> bytes | None:
        import cv2

        if not 0 <= view < len(self.views) or self.views[view] < 0 or not 0 <= frame_index < len(self.session):
            return None
        camera = self.views[view]
        seq = int(self.session.sequence[frame_index, camera])
        if seq < 0:
            return None
        index = self.session.camera_index(camera)
        width = int(index.width[index.position(seq)])
        if width <= self.max_width_px:
            return self.session.encoded_frame(camera, seq)
        flags = cv2.IMREAD_REDUCED_COLOR_2 if width <= 2 * self.max_width_px else cv2.IMREAD_REDUCED_COLOR_4
        image = self.session.frame(camera, seq, flags=flags)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        return data.tobytes() if ok else None

    def close(self) -> None:
        self.session.close()


class VideoFrames(_CachedJpegs):
    """JPEG frames read from one video file (or image folder) per camera (``frame_index`` = the
    video's frame number), for labels made from videos rather than a recorded session.

    videos: camera name -> path, for some or all of ``camera_names``. Each video stays open;
    reading the next frame is a plain decode, any other frame a seek. Frames wider than
    ``max_width_px`` are halved (or quartered) before the JPEG encoding; a small LRU keeps the
    last frames. frame_map: camera name -> {frame_index: the video's frame}, for labels whose
    frames were paired with offsets or by recorded times (a camera's frameset missing from its
    map has no frame); without it a frameset's ``frame_index`` is every video's frame number.
    """

    def __init__(self, videos: dict, camera_names, *, max_width_px: int = 1280, cache_frames: int = 64,
                 jpeg_quality: int = 85, frame_map: dict[str, dict[int, int]] | None = None):
        import cv2

        unknown = sorted(set(videos) - set(camera_names))
        if unknown:
            raise ValueError(f"no camera named {', '.join(unknown)} in the label set "
                             f"(cameras: {', '.join(camera_names)})")
        self.paths = {}
        for name, path in videos.items():
            if not Path(path).exists():
                raise ValueError(f"video {path} of camera {name} does not exist")
            self.paths[camera_names.index(name)] = Path(path)
        self._folders: dict = {}  # view -> capture.frames.ImageFolderSource (an image folder per camera)
        self.max_width_px, self.cache_frames, self.jpeg_quality = max_width_px, cache_frames, jpeg_quality
        self.frame_map = None if frame_map is None else {
            list(camera_names).index(name): frames for name, frames in frame_map.items() if name in camera_names}
        self._captures: dict[int, list] = {}  # view -> [cv2.VideoCapture, next frame number]
        super().__init__()
        self._cv2 = cv2

    def _read(self, frame_index: int, view: int) -> bytes | None:
        cv2 = self._cv2
        if self.frame_map is not None:
            frame_index = self.frame_map.get(view, {}).get(frame_index, -1)
        if view not in self.paths or frame_index < 0:
            return None
        if self.paths[view].is_dir():
            image = self._folder_image(view, frame_index)
            if image is None:
                return None
            return self._encode(image)
        entry = self._captures.get(view)
        if entry is None:
            capture = cv2.VideoCapture(str(self.paths[view]))
            if not capture.isOpened():
                raise OSError(f"cannot open video {self.paths[view]}")
            entry = self._captures[view] = [capture, 0]
        capture, position = entry
        if frame_index != position:
            capture.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
        ok, image = capture.read()
        entry[1] = frame_index + 1 if ok else -1
        if not ok:
            return None
        return self._encode(image)

    def _folder_image(self, view: int, frame_index: int):
        from capture.frames import CameraSource, open_source

        if view not in self._folders:
            self._folders[view] = open_source(CameraSource(str(view), self.paths[view]))
        folder = self._folders[view]
        if frame_index >= folder.num_frames:
            return None
        return next((image for _, image in folder.frames([frame_index])), None)

    def _encode(self, image) -> bytes | None:
        cv2 = self._cv2
        while image.shape[1] > self.max_width_px:
            image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        return data.tobytes() if ok else None

    def close(self) -> None:
        with self._lock:
            for capture, _ in self._captures.values():
                capture.release()
            self._captures.clear()
