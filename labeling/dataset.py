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
    with ``crops=True`` and crops in the shards: images (V, S, S, 3) uint8 RGB, crop_box_px (V, 4)
    float32 ``(x0, y0, width, height)``, has_crop (V,) bool.

Files are opened lazily in the process that reads (never an h5py handle shared across a fork),
with a tuned HDF5 chunk cache (``rdcc_nbytes``), and read a whole chunk of samples at a time
into a small per-process block cache, so a DataLoader reading neighbouring samples touches HDF5
once per chunk rather than once per sample and field.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .index import LabelIndex
from .shards import LABEL_FIELDS

__all__ = ["ShardDataset", "ShardIterableDataset"]

DEFAULT_RDCC_NBYTES = 8 << 20  # per open file: a few chunks of crops fit, labels fit whole


class _ShardReader:
    """Lazily opened shards and a small LRU of decoded whole-chunk blocks (one per process)."""

    def __init__(self, root: Path, index: LabelIndex, *, crops: bool, block_cache_size: int,
                 rdcc_nbytes: int, max_open_files: int = 32):
        self.root = root
        self.files = [entry.file for entry in index.shards]
        self.crops = crops
        self.block_cache_size = block_cache_size
        self.rdcc_nbytes = rdcc_nbytes
        self.max_open_files = max_open_files
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._handles: OrderedDict[int, object] = OrderedDict()
        self._blocks: OrderedDict[tuple[int, int], dict] = OrderedDict()
        self._chunk_rows: dict[int, int] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"], state["_blocks"] = OrderedDict(), OrderedDict()
        return state

    def _file(self, shard: int):
        import h5py

        if os.getpid() != self._pid:
            # Inherited through fork: forget the parent's handles without closing them here.
            self._orphans = getattr(self, "_orphans", []) + list(self._handles.values())
            self._reset()
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
        rows = self._chunk_rows.get(shard)
        if rows is None:
            dataset = self._file(shard)["keypoints_3d"]
            rows = dataset.chunks[0] if dataset.chunks else max(1, dataset.shape[0])
            self._chunk_rows[shard] = rows
        return rows

    def block(self, shard: int, chunk: int) -> dict:
        """Every field of rows ``chunk * rows : (chunk + 1) * rows`` of one shard, ready to slice."""
        key = (shard, chunk)
        block = self._blocks.get(key)
        if block is not None and os.getpid() == self._pid:
            self._blocks.move_to_end(key)
            return block
        f = self._file(shard)
        rows = self.chunk_rows(shard)
        start = chunk * rows
        stop = min(start + rows, f["keypoints_3d"].shape[0])
        raw = {name: f[name][start:stop] for name in LABEL_FIELDS}
        block = _masked_block(raw)
        if self.crops and "crops_jpeg" in f:
            block["crops_jpeg"] = f["crops_jpeg"][start:stop]
            block["crop_box_px"] = torch.from_numpy(f["crop_box_px"][start:stop])
            block["crop_size_px"] = int(f.attrs["crop_size_px"])
        self._blocks[key] = block
        if len(self._blocks) > self.block_cache_size:
            self._blocks.popitem(last=False)
        return block


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
           "timestamp_s": raw["timestamp_s"]}
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in out.items()}


def _decode_crops(block: dict, row: int) -> dict:
    import cv2

    size = block["crop_size_px"]
    encoded = block["crops_jpeg"][row]
    images = np.zeros((len(encoded), size, size, 3), dtype=np.uint8)
    has_crop = np.zeros(len(encoded), dtype=bool)
    for v, data in enumerate(encoded):
        if len(data):
            image = cv2.imdecode(np.asarray(data, dtype=np.uint8), cv2.IMREAD_COLOR)
            if image is not None and image.shape[:2] == (size, size):
                images[v] = image[..., ::-1]
                has_crop[v] = True
    return {"images": torch.from_numpy(images), "has_crop": torch.from_numpy(has_crop),
            "crop_box_px": block["crop_box_px"][row]}


def _sample(block: dict, row: int, shard: int, sample: int, crops: bool) -> dict:
    out = {name: value[row] for name, value in block.items()
           if isinstance(value, torch.Tensor) and name != "crop_box_px"}
    out["shard"] = torch.tensor(shard, dtype=torch.int64)
    out["sample"] = torch.tensor(sample, dtype=torch.int64)
    if crops and "crops_jpeg" in block:
        out.update(_decode_crops(block, row))
    return out


class ShardDataset(Dataset):
    """Map-style dataset over every sample of a labeling output folder.

    root: the output folder (holding ``index.json``) or the index file itself.
    crops: decode stored image crops into ``images`` (ValueError if ``True`` and none stored is
        not raised: samples then simply lack ``images``).
    only_valid: keep only samples with at least one valid joint.
    block_cache_size: whole-chunk blocks kept per process (a few: neighbouring indices hit them).
    rdcc_nbytes: HDF5 chunk cache per open file, bytes.
    """

    def __init__(self, root: str | os.PathLike, *, crops: bool = False, only_valid: bool = False,
                 block_cache_size: int = 8, rdcc_nbytes: int = DEFAULT_RDCC_NBYTES):
        root = Path(root)
        self.index = LabelIndex.read(root)
        self.root = root if root.is_dir() else root.parent
        self.crops = crops
        self._reader = _ShardReader(self.root, self.index, crops=crops,
                                    block_cache_size=block_cache_size, rdcc_nbytes=rdcc_nbytes)
        counts = np.array([entry.num_samples for entry in self.index.shards], dtype=np.int64)
        self._shard_of = np.repeat(np.arange(len(counts)), counts)
        self._shard_offsets = np.cumsum(counts) - counts
        self._row_of = np.arange(counts.sum()) - np.repeat(self._shard_offsets, counts)
        if only_valid:
            keep = self._any_valid()
            self._shard_of, self._row_of = self._shard_of[keep], self._row_of[keep]

    def _any_valid(self) -> np.ndarray:
        import h5py

        parts = []
        for entry in self.index.shards:
            with h5py.File(self.root / entry.file, "r") as f:
                parts.append(f["valid"][()].any(axis=1))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self.index.job.get("joint_names", ()))

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.index.job.get("camera_names", ()))

    def __len__(self) -> int:
        return int(self._shard_of.size)

    def _locate(self, index: int) -> tuple[int, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index %= len(self)
        return int(self._shard_of[index]), int(self._row_of[index])

    def __getitem__(self, index: int) -> dict:
        shard, row = self._locate(int(index))
        rows = self._reader.chunk_rows(shard)
        block = self._reader.block(shard, row // rows)
        return _sample(block, row % rows, shard, int(index) % len(self), self.crops)

    def __getitems__(self, indices: list[int]) -> list[dict]:
        """A batch: the DataLoader's batched fetch; indices are grouped by chunk before reading."""
        located = [self._locate(int(i)) for i in indices]
        order = sorted(range(len(indices)), key=lambda k: located[k])
        out: list[dict | None] = [None] * len(indices)
        for k in order:
            shard, row = located[k]
            rows = self._reader.chunk_rows(shard)
            block = self._reader.block(shard, row // rows)
            out[k] = _sample(block, row % rows, shard, int(indices[k]) % len(self), self.crops)
        return out


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
    """

    def __init__(self, root: str | os.PathLike, *, seed: int = 0, epoch: int = 0,
                 shuffle: bool = True, buffer_size: int = 1024, rank: int | None = None,
                 world_size: int | None = None, equal_per_rank: bool = True, crops: bool = False,
                 rdcc_nbytes: int = DEFAULT_RDCC_NBYTES):
        if buffer_size < 1:
            raise ValueError(f"buffer_size is {buffer_size}, expected >= 1")
        self._map = ShardDataset(root, crops=crops, block_cache_size=2, rdcc_nbytes=rdcc_nbytes)
        self.seed, self.epoch, self.shuffle, self.buffer_size = seed, epoch, shuffle, buffer_size
        self.rank, self.world_size = _distributed_defaults(rank, world_size)
        self.equal_per_rank = equal_per_rank
        self._units = self._all_units()

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
            block = reader.block(shard, chunk)
            rows = np.arange(int(keep[u]))
            if self.shuffle:
                rows = rng.permutation(rows)
            for row in rows:
                position = int(self._map._shard_offsets[shard]) + first + int(row)
                sample = _sample(block, int(row), shard, position, self._map.crops)
                if not self.shuffle:
                    yield sample
                    continue
                if len(buffer) < self.buffer_size:
                    buffer.append(sample)
                    continue
                k = int(rng.integers(len(buffer)))
                buffer[k], sample = sample, buffer[k]
                yield sample
        rng.shuffle(buffer)
        yield from buffer
