"""ShardDataset / ShardIterableDataset through a real torch DataLoader with worker processes."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from torch.utils.data import default_collate

from labeling import ShardDataset, ShardIterableDataset, collate_samples
from labeling.shards import ShardLayout
from tests.label_fixtures import write_synthetic_output

SHARD_SIZES = [40, 40, 17]  # uneven last shard, chunks of 16 -> 8 chunks
LAYOUT = ShardLayout(chunk_framesets=16)


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    root = tmp_path_factory.mktemp("labels")
    write_synthetic_output(root, SHARD_SIZES, layout=LAYOUT)
    return root


def _check_sample_content(batch):
    """Known content (tests/label_fixtures): keypoints_3d = (frame, joint, 0.5) where valid."""
    frame = batch["frame_index"].double()
    valid = batch["valid"]
    expected = torch.stack(torch.broadcast_tensors(frame[:, None], torch.arange(9.0)[None, :],
                                                   torch.tensor(0.5)), -1).float()
    assert torch.equal(batch["keypoints_3d"][valid], expected[valid])
    assert torch.all(batch["keypoints_3d"][~valid] == 0)  # NaN replaced by 0 under the mask
    assert torch.isfinite(batch["keypoints_2d"]).all() and torch.isfinite(batch["scores_2d"]).all()
    assert torch.all(batch["keypoints_2d"][~batch["detected"]] == 0)
    assert torch.equal(batch["sample"], batch["frame_index"])  # frames run on across shards


def test_map_dataset_with_two_workers_reads_every_sample_once(output):
    dataset = ShardDataset(output)
    assert len(dataset) == sum(SHARD_SIZES)
    assert int(dataset[0]["frame_index"]) == 0  # opens a handle here, before the workers fork
    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=2,
                        generator=torch.Generator().manual_seed(0), collate_fn=collate_samples)
    seen = []
    for batch in loader:
        assert batch["keypoints_3d"].shape[1:] == (9, 3) and batch["keypoints_2d"].shape[1:] == (4, 9, 2)
        assert batch["valid"].dtype == torch.bool and batch["inliers"].shape[1:] == (4, 9)
        _check_sample_content(batch)
        seen.append(batch["sample"])
    assert sorted(torch.cat(seen).tolist()) == list(range(sum(SHARD_SIZES)))


def test_map_dataset_single_items_and_bounds(output):
    dataset = ShardDataset(output)
    batch = dataset.__getitems__([90, 3, 41, 39, 3])  # across shards, unsorted, repeated
    ours, torchs = collate_samples(batch), default_collate(list(batch))
    assert ours.keys() == torchs.keys()
    for name in ours:
        assert torch.equal(ours[name], torchs[name]), name
    assert ours["sample"].tolist() == [90, 3, 41, 39, 3]
    last = dataset[-1]
    assert int(last["frame_index"]) == sum(SHARD_SIZES) - 1 and int(last["shard"]) == 2
    assert torch.isnan(last["timestamp_s"]).item() is False
    with pytest.raises(IndexError):
        dataset[len(dataset)]
    only = ShardDataset(output, only_valid=True)
    assert all(bool(only[i]["valid"].any()) for i in range(len(only)))


def _epoch(dataset, num_workers):
    loader = DataLoader(dataset, batch_size=5, num_workers=num_workers)
    return torch.cat([b["sample"] for b in loader]).tolist()


def test_iterable_splits_workers_and_ranks_deterministically(output):
    total = sum(SHARD_SIZES)
    ranks = [ShardIterableDataset(output, seed=3, rank=r, world_size=2, buffer_size=16)
             for r in range(2)]
    epochs = [_epoch(d, num_workers=2) for d in ranks]
    # Equal samples per rank (lock-step DDP), disjoint, nearly everything (drop < one chunk).
    assert len(epochs[0]) == len(epochs[1]) == len(ranks[0])
    assert not set(epochs[0]) & set(epochs[1])
    assert len(set(epochs[0]) | set(epochs[1])) > total - 16
    assert len(set(epochs[0])) == len(epochs[0])
    # Same seed and epoch -> same order; another epoch -> another order; shuffled at all.
    assert _epoch(ranks[0], num_workers=2) == epochs[0]
    ranks[0].set_epoch(1)
    assert _epoch(ranks[0], num_workers=2) != epochs[0]
    assert epochs[0] != sorted(epochs[0])


def test_iterable_without_shuffle_reads_all_in_order(output):
    dataset = ShardIterableDataset(output, shuffle=False, equal_per_rank=False)
    assert _epoch(dataset, num_workers=0) == list(range(sum(SHARD_SIZES)))
    with pytest.raises(ValueError, match="rank"):
        ShardIterableDataset(output, rank=2, world_size=2)


def test_crops_are_decoded_per_sample_with_two_workers(tmp_path):
    write_synthetic_output(tmp_path, [20, 13], crop_px=32, layout=ShardLayout(chunk_framesets=8,
                                                                              crop_chunk_framesets=4))
    loader = DataLoader(ShardDataset(tmp_path, crops=True), batch_size=6, shuffle=True,
                        num_workers=2, generator=torch.Generator().manual_seed(1))
    count = 0
    for batch in loader:
        images, frames = batch["images"], batch["frame_index"]
        assert images.shape[1:] == (4, 32, 32, 3) and images.dtype == torch.uint8
        expected = (frames[:, None] + 40 * torch.arange(4)[None, :]) % 200
        has = batch["has_crop"]
        assert torch.equal(has[:, 0], frames % 2 == 0) and has[:, 1:].all()
        grey = images.float().mean(dim=(2, 3, 4))
        assert (grey - expected.float())[has].abs().max() < 3  # JPEG of a flat grey
        assert torch.all(images[~has] == 0)
        count += len(frames)
    assert count == 33
