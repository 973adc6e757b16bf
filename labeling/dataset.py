"""PyTorch datasets over a labeling output folder (``index.json`` + shards) for trainers.

Shard schema in :mod:`labeling.shards`. Each sample is a dict of torch tensors (``V`` views, ``J``
joints, shapes without the batch dimension the DataLoader adds):

    keypoints_3d (J, 3) float32 metres world; 0 where ``valid`` is False.
    valid (J,) bool.
    keypoints_2d (V, J, 2) float32 px; 0 where ``detected`` is False.
    detected (V, J) bool: the view has a detection of the joint.
    scores_2d (V, J) float32; 0 where ``detected`` is False.
    inliers (V, J) bool.
    reprojection_error_px (V, J) float32; 0 where it is not defined (no detection or no point).
    num_inlier_views (J,) uint8 and reject_reason (J,) uint8 (bits of ``shards.RejectReason``).
    frame_index () int64, timestamp_s () float64 (NaN when unknown), shard () int64,
    sample () int64 (position in the dataset).
    person_id () int64 (the person, stable over the take; 0 in single-person and version-1
    shards), identity_uncertain () bool.
    with ``crops=True`` and crops in the shards: images (V, S, S, 3) uint8 RGB, crop_box_px (V, 4)
    float32 ``(x0, y0, width, height)``, has_crop (V,) bool.

Files are opened lazily in the process that reads (never an h5py handle shared across a fork),
with a tuned HDF5 chunk cache (``rdcc_nbytes``), and read a whole chunk of samples at a time
into a small per-process block cache, so a DataLoader reading neighbouring samples touches HDF5
once per chunk rather than once per sample and field.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .index import LabelIndex
from .lru import LruCache
from .shards import LABEL_FIELDS, identity_defaults

__all__ = ["ShardDataset", "ShardIterableDataset", "SampleBatch", "collate_samples"]

DEFAULT_RDCC_NBYTES = 8 << 20  # per open file: several 16-row chunks of JPEG crops
DEFAULT_BLOCK_CACHE_BYTES = 256 << 20  # per process: ~170k samples of labels (V=4, J=17)
WHOLE_SHARD_BYTES = 16 << 20  # label blocks up to this size are read as one block per shard


class _ShardReader:
    """Lazily opened shards and an LRU of decoded whole-chunk label blocks (one per process).

    Labels are small (about 1.5 kB a sample with V=4, J=17), so a byte budget of a few hundred MB
    keeps every chunk a worker has touched: a shuffled sampler then reads each chunk from disk
    once per worker instead of once per sample. Crops are large and decoded per sample, so they
    are read row by row, through HDF5's own chunk cache (``rdcc_nbytes``).
    """

    def __init__(self, root: Path, index: LabelIndex, *, crops: bool, block_cache_bytes: int,
                 rdcc_nbytes: int, max_open_files: int = 32):
        self.root = root
        self.files = [entry.file for entry in index.shards]
        self.crops = crops
        self.block_cache_bytes = block_cache_bytes
        self.rdcc_nbytes = rdcc_nbytes
        self.max_open_files = max_open_files
        self.first_positions = [entry.first_position for entry in index.shards]
        self.review, self.joint_names = None, ()  # set by ShardDataset (labeling.review)
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._handles: OrderedDict[int, object] = OrderedDict()
        self._blocks = LruCache(self.block_cache_bytes, weigh=_block_bytes)  # (shard, chunk) -> block
        self._chunk_rows: dict[int, int] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"], state["_blocks"] = OrderedDict(), LruCache(self.block_cache_bytes, weigh=_block_bytes)
        state.pop("_orphans", None)
        return state

    def _check_process(self) -> None:
        if os.getpid() != self._pid:
            # Inherited through fork: never use the parent's HDF5 handles here; keep them
            # referenced (closing them in the child is not safe either) and start afresh.
            self._orphans = getattr(self, "_orphans", []) + list(self._handles.values())
            self._reset()

    def file(self, shard: int):
        import h5py

        self._check_process()
        handle = self._handles.get(shard)
        if handle is None:
            handle = h5py.File(self.root / self.files[shard], "r", rdcc_nbytes=self.rdcc_nbytes,
                               rdcc_nslots=10007)
            self._handles[shard] = handle
            if len(self._handles) > self.max_open_files:
                self._handles.popitem(last=False)[1].close()
        else:
            self._handles.move_to_end(shard)
        return handle

    def chunk_rows(self, shard: int) -> int:
        """Rows per cached block: the whole shard when its labels are small (a few MB: one read
        of every chunk), else the HDF5 chunk."""
        self._check_process()
        rows = self._chunk_rows.get(shard)
        if rows is None:
            f = self.file(shard)
            dataset = f["keypoints_3d"]
            total = max(1, dataset.shape[0])
            row_bytes = sum(f[name].dtype.itemsize * int(np.prod(f[name].shape[1:]))
                            for name in LABEL_FIELDS)
            rows = dataset.chunks[0] if dataset.chunks else total
            if total * row_bytes <= WHOLE_SHARD_BYTES:
                rows = total
            self._chunk_rows[shard] = rows
        return rows

    def block(self, shard: int, chunk: int) -> dict:
        """Every label field of rows ``chunk * rows : (chunk + 1) * rows`` of one shard."""
        self._check_process()
        return self._blocks.get((shard, chunk), lambda: self._read_block(shard, chunk))

    def _read_block(self, shard: int, chunk: int) -> dict:
        f = self.file(shard)
        rows = self.chunk_rows(shard)
        start = chunk * rows
        stop = min(start + rows, f["keypoints_3d"].shape[0])
        raw = {name: f[name][start:stop] for name in LABEL_FIELDS}
        defaults = identity_defaults(stop - start, raw["keypoints_2d"].shape[1])
        raw.update({name: f[name][start:stop] if name in f else defaults[name]
                    for name in ("person_id", "identity_uncertain")})
        return _masked_block(raw)

    def read_crops(self, shard: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
        """JPEG bytes (len(rows), V) object, boxes (len(rows), V, 4), crop size; rows increasing."""
        f = self.file(shard)
        if "crops_jpeg" not in f:
            return None
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        jpeg = f["crops_jpeg"][unique][inverse]
        boxes = f["crop_box_px"][unique][inverse]
        return jpeg, boxes, int(f.attrs["crop_size_px"])


def _block_bytes(block: dict) -> int:
    """Bytes held by a decoded block's tensors."""
    return sum(t.numel() * t.element_size() for t in block.values())


def _masked_block(raw: dict) -> dict:
    """Label arrays of a block -> torch tensors with NaN replaced by 0 under the masks."""
    valid = raw["valid"]
    detected = np.isfinite(raw["keypoints_2d"]).all(axis=-1)
    keypoints_3d = np.where(valid[..., None], raw["keypoints_3d"], 0).astype(np.float32)
    keypoints_2d = np.where(detected[..., None], raw["keypoints_2d"], 0).astype(np.float32)
    scores = np.where(detected, raw["scores_2d"], 0).astype(np.float32)
    error = np.nan_to_num(raw["reprojection_error_px"], nan=0.0, posinf=0.0).astype(np.float32)
    out = {"keypoints_3d": keypoints_3d, "valid": valid, "keypoints_2d": keypoints_2d,
           "detected": detected, "scores_2d": scores, "inliers": raw["inliers"],
           "reprojection_error_px": error, "num_inlier_views": raw["num_inlier_views"],
           "reject_reason": raw["reject_reason"], "frame_index": raw["frame_index"],
           "timestamp_s": raw["timestamp_s"], "person_id": raw["person_id"],
           "identity_uncertain": raw["identity_uncertain"]}
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in out.items()}


def _decode_views(encoded, size: int, images: np.ndarray, has_crop: np.ndarray) -> None:
    """V JPEG byte arrays -> ``images (V, size, size, 3)`` uint8 RGB and ``has_crop (V,)``."""
    import cv2

    for v, data in enumerate(encoded):
        if len(data):
            image = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if image is not None and image.shape[:2] == (size, size):
                cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=images[v])
                has_crop[v] = True


def _columns(reader: _ShardReader, shard: int, rows: np.ndarray, positions: np.ndarray,
             crops: bool, crops_out: dict | None = None, targets: np.ndarray | None = None
             ) -> dict[str, np.ndarray]:
    """Batched fields (leading dim = len(rows)) of ``rows`` (increasing) of one shard, read
    whole-chunk and gathered with one vectorized index per field and chunk.

    crops_out, targets: decode crops straight into ``crops_out`` arrays (batch of B) at rows
    ``targets`` instead of returning them (large: they are never copied after decoding).
    """
    chunk_rows = reader.chunk_rows(shard)
    chunks = rows // chunk_rows
    parts: dict[str, list[np.ndarray]] = {}
    for chunk in np.unique(chunks):
        block = reader.block(shard, int(chunk))
        local = rows[chunks == chunk] - chunk * chunk_rows
        for name, value in block.items():
            parts.setdefault(name, []).append(value.numpy()[local])
    columns = {name: value[0] if len(value) == 1 else np.concatenate(value)
               for name, value in parts.items()}
    count = len(rows)
    if reader.review is not None and len(reader.review):  # the reviewer's verdicts (review.json)
        from .review.verdicts import apply_review

        columns["valid"] = apply_review(columns["valid"], reader.first_positions[shard] + rows,
                                        reader.review, reader.joint_names)
        columns["keypoints_3d"] = np.where(columns["valid"][..., None], columns["keypoints_3d"], 0)
    columns["shard"] = np.full(count, shard, dtype=np.int64)
    columns["sample"] = np.asarray(positions, dtype=np.int64)
    if crops:
        found = reader.read_crops(shard, rows)
        if found is not None:
            jpeg, boxes, size = found
            out = crops_out if crops_out is not None else {}
            if "images" not in out:
                total = count if targets is None else out["batch_size"]
                out["images"] = np.zeros((total, jpeg.shape[1], size, size, 3), dtype=np.uint8)
                out["has_crop"] = np.zeros((total, jpeg.shape[1]), dtype=bool)
                out["crop_box_px"] = np.zeros((total, jpeg.shape[1], 4), dtype=np.float32)
            where = np.arange(count) if targets is None else targets
            if out["images"].shape[2] != size:
                raise ValueError(f"shard {reader.files[shard]} has {size} px crops, others "
                                 f"{out['images'].shape[2]} px; read them in separate datasets")
            for k in range(count):
                _decode_views(jpeg[k], size, out["images"][where[k]], out["has_crop"][where[k]])
            out["crop_box_px"][where] = boxes
            if crops_out is None:
                columns.update(out)
    return columns


class SampleBatch(Sequence):
    """Samples already gathered as batched arrays; a sequence of per-sample dicts of tensors.

    What :meth:`ShardDataset.__getitems__` returns: torch's default collate indexes it sample by
    sample (and stacks again); :func:`collate_samples` takes the batched arrays as they are.
    """

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns["sample"])

    def __getitem__(self, k: int) -> dict:
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        return {name: torch.from_numpy(np.array(value[k])) for name, value in self.columns.items()}


def _merge(parts: list[tuple[np.ndarray, dict[str, np.ndarray]]], count: int) -> dict:
    """Columns of several shards -> one set of columns in the requested order (one copy)."""
    if len(parts) == 1 and np.array_equal(parts[0][0], np.arange(count)):
        return parts[0][1]
    names = [n for n in parts[0][1] if all(n in p[1] for p in parts)]
    out = {}
    for name in names:
        first = parts[0][1][name]
        column = np.empty((count,) + first.shape[1:], dtype=first.dtype)
        for members, columns in parts:
            column[members] = columns[name]
        out[name] = column
    return out


class ShardDataset(Dataset):
    """Map-style dataset over every sample of a labeling output folder.

    root: the output folder (holding ``index.json``) or the index file itself.
    crops: decode the stored JPEG crops into ``images`` (shards without crops give samples
        without ``images``).
    only_valid: keep only samples with at least one valid joint.
    people: keep only the samples of these person ids (``index.json`` lists the tracks); None
        keeps everyone.
    block_cache_bytes: budget of the per-process cache of decoded whole-chunk label blocks.
    rdcc_nbytes: HDF5 chunk cache per open file (used for crops), bytes.
    allow_incomplete: read the shards of an interrupted run (with a warning); by default such a
        folder is refused (ValueError), so that a trainer never takes part of a take for all of it.
    review: apply the folder's ``review.json`` (``rigkit label review``): a label a reviewer
        rejected reads as invalid (``labeling.review.verdicts``).
    """

    def __init__(self, root: str | os.PathLike, *, crops: bool = False, only_valid: bool = False,
                 people: int | Sequence[int] | None = None,
                 block_cache_bytes: int = DEFAULT_BLOCK_CACHE_BYTES,
                 rdcc_nbytes: int = DEFAULT_RDCC_NBYTES, allow_incomplete: bool = False,
                 review: bool = True):
        root = Path(root)
        self.index = LabelIndex.read(root)
        if not self.index.complete:
            if not allow_incomplete:
                raise ValueError(self.index.incomplete_note(root) + " (or pass allow_incomplete=True)")
            warnings.warn(self.index.incomplete_note(root), stacklevel=2)
        self.root = root if root.is_dir() else root.parent
        self.crops = crops
        self._reader = _ShardReader(self.root, self.index, crops=crops,
                                    block_cache_bytes=block_cache_bytes, rdcc_nbytes=rdcc_nbytes)
        if review:
            from .review.verdicts import load_review

            self._reader.review = load_review(self.root, job_id=self.index.job_id)
            self._reader.joint_names = self.joint_names
        counts = np.array([entry.num_samples for entry in self.index.shards], dtype=np.int64)
        self._shard_of = np.repeat(np.arange(len(counts)), counts)
        self._shard_offsets = np.cumsum(counts) - counts
        self._row_of = np.arange(counts.sum()) - np.repeat(self._shard_offsets, counts)
        keep = np.ones(self._shard_of.size, dtype=bool)
        if only_valid:
            keep &= self._per_sample(
                lambda f, entry: self._reviewed_valid(f["valid"][()], entry).any(axis=1)).astype(bool)
        if people is not None:
            wanted = np.atleast_1d(np.asarray(people, dtype=np.int64))
            keep &= np.isin(self._per_sample(
                lambda f, entry: f["person_id"][()] if "person_id" in f
                else np.zeros(f["valid"].shape[0], dtype=np.int64)), wanted)
        if not keep.all():
            self._shard_of, self._row_of = self._shard_of[keep], self._row_of[keep]

    def _per_sample(self, read) -> np.ndarray:
        """``read(h5py.File, index entry)`` of every shard, concatenated over samples."""
        import h5py

        parts = []
        for entry in self.index.shards:
            with h5py.File(self.root / entry.file, "r") as f:
                parts.append(read(f, entry))
        return np.concatenate(parts) if parts else np.zeros(0)

    def _reviewed_valid(self, valid: np.ndarray, entry) -> np.ndarray:
        """A shard's ``valid`` (rows of ``entry``) with the review's verdicts applied."""
        review = self._reader.review
        if review is not None and len(review):
            from .review.verdicts import apply_review

            valid = apply_review(valid, entry.first_position + np.arange(len(valid)), review,
                                 self._reader.joint_names)
        return valid

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self.index.job.get("joint_names", ()))

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.index.job.get("camera_names", ()))

    def __len__(self) -> int:
        return int(self._shard_of.size)

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> SampleBatch:
        """A batch (the DataLoader's batched fetch): grouped by shard and chunk, read whole-chunk."""
        positions = np.asarray(indices, dtype=np.int64).reshape(-1)
        if positions.size and not (-len(self) <= positions.min() and positions.max() < len(self)):
            bad = positions[(positions < -len(self)) | (positions >= len(self))][0]
            raise IndexError(f"sample {bad} out of range for {len(self)} samples")
        positions = positions % max(len(self), 1)
        shards, rows = self._shard_of[positions], self._row_of[positions]
        parts = []
        crops_out = {"batch_size": len(positions)}
        for shard in np.unique(shards):
            members = np.flatnonzero(shards == shard)
            members = members[np.argsort(rows[members], kind="stable")]
            parts.append((members, _columns(self._reader, int(shard), rows[members],
                                            positions[members], self.crops, crops_out, members)))
        columns = _merge(parts, len(positions))
        if "images" in crops_out:
            columns.update({k: crops_out[k] for k in ("images", "has_crop", "crop_box_px")})
        return SampleBatch(columns)


_PACK_LIMIT_BYTES = 1 << 20  # columns smaller than this share one buffer in a batch


def _packed(columns: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Tensors of a batch; the small columns are views into one shared byte buffer, so that a
    DataLoader worker hands the main process one shared-memory segment per batch instead of one
    per field (measured: per-segment costs dominated reading labels with workers)."""
    arrays = {name: np.ascontiguousarray(value) for name, value in columns.items()}
    small = [name for name, a in arrays.items() if a.nbytes < _PACK_LIMIT_BYTES]
    offsets, total = {}, 0
    for name in small:
        offsets[name] = total
        total += -(-max(arrays[name].nbytes, 1) // 64) * 64  # 64-byte aligned views
    buffer = torch.empty(total, dtype=torch.uint8)
    raw = buffer.numpy()
    out = {}
    for name, array in arrays.items():
        if name not in offsets:
            out[name] = torch.from_numpy(array)
            continue
        start = offsets[name]
        raw[start:start + array.nbytes] = array.reshape(-1).view(np.uint8)
        dtype = torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype
        out[name] = buffer[start:start + array.nbytes].view(dtype).view(array.shape)
    return out


def collate_samples(samples) -> dict:
    """Stack samples of these datasets into a batch (``DataLoader(collate_fn=collate_samples)``).

    The same result as torch's default collate for these dicts. A :class:`SampleBatch` (what
    ``ShardDataset`` hands the DataLoader) is already stacked and passes as it is; a list of
    dicts is stacked through numpy (torch's threaded ``stack`` of large uint8 crops was measured
    10-40x slower on a busy 2-core machine, ``benchmarks/bench_labeling.py``). The label fields
    share one buffer (one shared-memory segment per batch from a worker).
    """
    if isinstance(samples, SampleBatch):
        return _packed(samples.columns)
    return _packed({name: np.stack([np.asarray(sample[name]) for sample in samples])
                    for name in samples[0]})


def _distributed_defaults(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None or world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
    rank, world_size = (0 if rank is None else int(rank)), (1 if world_size is None else int(world_size))
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} / world_size {world_size}: expected 0 <= rank < world_size")
    return rank, world_size


class ShardIterableDataset(IterableDataset):
    """Shuffling iterable over shards, split by DataLoader worker and by distributed rank.

    The unit of work is one HDF5 chunk of one shard (read whole). Each epoch, the chunks of all
    shards are permuted with ``np.random.default_rng([seed, epoch])``, dealt to the ranks, then to
    each rank's DataLoader workers; samples pass through a shuffle buffer of ``buffer_size``.
    The same seed, epoch, rank and world size give the same samples in the same order.

    rank, world_size: default to ``torch.distributed`` when it is initialised, else 0 and 1.
    equal_per_rank: every rank yields the same number of samples (the smallest share), so that
        distributed training steps stay in lock-step; the few surplus samples of an epoch are
        dropped (different ones each epoch).
    shuffle: False reads chunks in order with no buffer (for evaluation).
    people: only the samples of these person ids (None: everyone).
    """

    def __init__(self, root: str | os.PathLike, *, seed: int = 0, epoch: int = 0,
                 shuffle: bool = True, buffer_size: int = 1024, rank: int | None = None,
                 world_size: int | None = None, equal_per_rank: bool = True, crops: bool = False,
                 rdcc_nbytes: int = DEFAULT_RDCC_NBYTES, people: int | Sequence[int] | None = None,
                 allow_incomplete: bool = False):
        if buffer_size < 1:
            raise ValueError(f"buffer_size is {buffer_size}, expected >= 1")
        self._map = ShardDataset(root, crops=crops, block_cache_bytes=2 * WHOLE_SHARD_BYTES,
                                 rdcc_nbytes=rdcc_nbytes, allow_incomplete=allow_incomplete)
        self.seed, self.epoch, self.shuffle, self.buffer_size = seed, epoch, shuffle, buffer_size
        self.rank, self.world_size = _distributed_defaults(rank, world_size)
        self.equal_per_rank = equal_per_rank
        self._units = self._all_units()
        self._rows = None  # per unit, the rows of the people asked for (None: every row)
        if people is not None:
            wanted = np.atleast_1d(np.asarray(people, dtype=np.int64))
            person = self._map._per_sample(
                lambda f, entry: f["person_id"][()] if "person_id" in f
                else np.zeros(f["valid"].shape[0], dtype=np.int64))
            offsets = self._map._shard_offsets
            self._rows = [first + np.flatnonzero(np.isin(
                person[offsets[shard] + first:offsets[shard] + first + count], wanted))
                for shard, _, first, count in self._units]
            self._units = self._units.copy()
            self._units[:, 3] = [len(rows) for rows in self._rows]

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch (like ``DistributedSampler.set_epoch``) to reshuffle."""
        self.epoch = int(epoch)

    def _all_units(self) -> np.ndarray:
        """(U, 4) int64 rows ``(shard, chunk, first_row, num_rows)`` over every shard."""
        import h5py

        units = []
        for shard, entry in enumerate(self._map.index.shards):
            with h5py.File(self._map.root / entry.file, "r") as f:
                dataset = f["keypoints_3d"]
                rows = dataset.chunks[0] if dataset.chunks else max(1, entry.num_samples)
            for chunk, first in enumerate(range(0, entry.num_samples, rows)):
                units.append((shard, chunk, first, min(rows, entry.num_samples - first)))
        return np.array(units, dtype=np.int64).reshape(-1, 4)

    def _rank_units(self, rank: int) -> tuple[np.ndarray, int]:
        """This epoch's units of ``rank`` in order, and how many samples the rank yields."""
        order = np.arange(len(self._units))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self._units))
        dealt = [self._units[order[r::self.world_size]] for r in range(self.world_size)]
        counts = [int(d[:, 3].sum()) for d in dealt]
        quota = min(counts) if self.equal_per_rank else counts[rank]
        return dealt[rank], quota

    def __len__(self) -> int:
        """Samples this rank yields per epoch (over all of its DataLoader workers)."""
        return self._rank_units(self.rank)[1]

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (0, 1) if info is None else (info.id, info.num_workers)
        units, quota = self._rank_units(self.rank)
        # The rank's stream is its units in order, cut at ``quota`` samples; worker w reads
        # every num_workers-th unit of it.
        ends = np.cumsum(units[:, 3])
        keep = np.clip(quota - (ends - units[:, 3]), 0, units[:, 3])
        rng = np.random.default_rng([self.seed, self.epoch, self.rank, worker, 1])
        reader = self._map._reader
        buffer: list[dict] = []
        for u in range(worker, len(units), num_workers):
            shard, chunk, first, _ = (int(x) for x in units[u])
            if keep[u] == 0:
                continue
            rows = (first + np.arange(int(keep[u])) if self._rows is None
                    else self._rows[u][: int(keep[u])])
            positions = int(self._map._shard_offsets[shard]) + rows
            samples = SampleBatch(_columns(reader, shard, rows, positions, self._map.crops))
            if not self.shuffle:
                yield from samples
                continue
            for sample in (samples[int(k)] for k in rng.permutation(len(samples))):
                if len(buffer) < self.buffer_size:
                    buffer.append(sample)
                    continue
                k = int(rng.integers(len(buffer)))
                buffer[k], sample = sample, buffer[k]
                yield sample
        rng.shuffle(buffer)
        yield from buffer
