"""Close the loop: train a 2D->3D lifter on the demo's pseudo-labels, and on the truth, and compare.

The EpipolarPose question on our own data: how close do triangulated pseudo-labels get to real
3D labels as training targets? A small simple-baseline lifter (Martinez et al., ICCV 2017: linear,
residual blocks of Linear + BatchNorm + LeakyReLU + Dropout) maps one view's 2D keypoints to the
3D joints in that camera's frame, root-relative (root: the mid-hip, or the hip the pseudo-labels
hold most often when the detector rarely gets both; the same root for both networks). Two copies
are trained with the same inputs (the built-in detector's 2D keypoints, read from the shards with
``labeling.ShardDataset`` through a DataLoader) and the same schedule: one on the pseudo-labels
(in each camera through the calibration the labels were made with), one on the synthetic truth.
Both are evaluated on the last ``--holdout`` of the take's framesets (never trained on) against the
truth, as root-relative MPJPE in millimetres.

    python examples/train_lifter.py --demo rigkit-demo [--epochs 60] [--workers 2]

Input per sample (one view of one frameset): the detections undistorted to normalized camera
coordinates, made root-relative and divided by their RMS spread (scale-free), 0 where a joint is
not detected, plus one visibility flag per joint. Samples without the root detected are skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from capture import open_session  # noqa: E402
from labeling import ShardDataset, collate_samples, read_shard  # noqa: E402


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.1), nn.Dropout(dropout),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.1), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class Lifter(nn.Module):
    """(B, 3J) normalized 2D + visibility -> (B, J, 3) root-relative metres in the camera frame."""

    def __init__(self, num_joints: int, *, width: int = 256, blocks: int = 2, dropout: float = 0.25):
        super().__init__()
        self.num_joints = num_joints
        self.net = nn.Sequential(
            nn.Linear(3 * num_joints, width), nn.BatchNorm1d(width), nn.LeakyReLU(0.1), nn.Dropout(dropout),
            *[ResidualBlock(width, dropout) for _ in range(blocks)], nn.Linear(width, 3 * num_joints))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1, self.num_joints, 3)


def read_labels(labels_dir: Path, workers: int) -> dict[str, np.ndarray]:
    """Every sample of the shards through ShardDataset and a real DataLoader, as arrays."""
    dataset = ShardDataset(labels_dir)
    loader = DataLoader(dataset, batch_size=64, num_workers=workers, collate_fn=collate_samples)
    parts: dict[str, list] = {}
    for batch in loader:
        for name in ("keypoints_2d", "detected", "keypoints_3d", "valid", "frame_index"):
            parts.setdefault(name, []).append(batch[name].numpy())
    return {name: np.concatenate(value) for name, value in parts.items()}


def choose_root(valid: np.ndarray, hips: tuple[int, int]) -> tuple[int, ...]:
    """Joints averaged into the root: both hips when the labels hold both in at least half of the
    framesets, else the hip they hold most often."""
    both = valid[:, list(hips)].all(axis=1).mean()
    if both >= 0.5:
        return hips
    return (hips[int(np.argmax(valid[:, list(hips)].mean(axis=0)))],)


def per_view_samples(data, rig, truth_rig, truth_joints, hips: tuple[int, ...]):
    """Inputs (S, 3J), pseudo targets (S, J, 3) + mask (S, J), true targets (S, J, 3), frame (S,)."""
    N, V, J, _ = data["keypoints_2d"].shape
    points = np.where(data["detected"][..., None], data["keypoints_2d"], np.nan).astype(np.float64)
    normalized = rig.normalize(np.moveaxis(points, 1, 0))  # (V, N, J, 2)
    root_2d = normalized[:, :, list(hips)].mean(axis=2, keepdims=True)
    centred = normalized - root_2d
    spread = np.sqrt(np.nanmean(np.sum(centred ** 2, axis=-1), axis=-1, keepdims=True))[..., None]
    scaled = centred / spread
    seen = np.isfinite(scaled).all(axis=-1)
    inputs = np.concatenate([np.nan_to_num(scaled).reshape(V, N, 2 * J), seen.astype(np.float64)], axis=-1)
    usable = seen[..., list(hips)].all(axis=-1)  # (V, N)

    def camera_frame(joints_in_world, cameras):
        in_cam = cameras.to_cam(joints_in_world)  # (V, N, J, 3)
        return in_cam - in_cam[:, :, list(hips)].mean(axis=2, keepdims=True)

    pseudo = camera_frame(np.where(data["valid"][..., None], data["keypoints_3d"], np.nan).astype(np.float64), rig)
    truth = camera_frame(truth_joints, truth_rig)
    mask = np.isfinite(pseudo).all(axis=-1) & data["valid"][None, :, :]  # False without a labeled root
    frame = np.broadcast_to(data["frame_index"], (V, N))
    keep = usable
    return (inputs[keep].astype(np.float32), np.nan_to_num(pseudo[keep]).astype(np.float32), mask[keep],
            truth[keep].astype(np.float32), frame[keep])


def train(inputs, targets, mask, *, epochs: int, seed: int, width: int, blocks: int) -> Lifter:
    torch.manual_seed(seed)
    model = Lifter(targets.shape[1], width=width, blocks=blocks)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(epochs, 1))
    data = TensorDataset(torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask))
    loader = DataLoader(data, batch_size=64, shuffle=True, drop_last=len(data) > 64,
                        generator=torch.Generator().manual_seed(seed))
    model.train()
    for _ in range(epochs):
        for x, y, m in loader:
            error = torch.linalg.vector_norm(model(x) - y, dim=-1)  # (B, J) metres
            loss = (error * m).sum() / m.sum().clamp(min=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
    return model.eval()


@torch.inference_mode()
def mpjpe_mm(model: Lifter, inputs, targets, joints: np.ndarray) -> float:
    """Mean per-joint position error over ``joints`` (J,) bool, millimetres."""
    predicted = model(torch.from_numpy(inputs)).numpy()
    return float(np.linalg.norm(predicted - targets, axis=-1)[:, joints].mean() * 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--demo", default="rigkit-demo", help="a `rigkit demo` run folder")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--holdout", type=float, default=0.2, help="last share of the take held out")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers reading the shards")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = Path(args.demo)
    labels_dir = root / "labels"
    if not (labels_dir / "index.json").is_file() or not (root / "session").is_dir():
        print(f"train_lifter: {root} is not a finished `rigkit demo` run (no labels/index.json or session/)",
              file=sys.stderr)
        return 2
    if not 0 < args.holdout < 1 or args.epochs < 1:
        print("train_lifter: --holdout must be in (0, 1) and --epochs >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    started = time.perf_counter()
    data = read_labels(labels_dir, args.workers)
    index = ShardDataset(labels_dir).index
    rig = read_shard(labels_dir / index.shards[0].file, fields=("valid",))["rig"]
    names = list(index.job["joint_names"])
    root_joints = choose_root(data["valid"], (names.index("left_hip"), names.index("right_hip")))
    with open_session(root / "session") as session:
        truth = session.truth
        seq = session.sequence[data["frame_index"]].max(axis=1)
        truth_joints = truth.joints_in_world[seq]
        truth_rig = truth.rig.subset(list(rig.names))
    inputs, pseudo, mask, true, frame = per_view_samples(data, rig, truth_rig, truth_joints, root_joints)
    rare = [n for n, share in zip(names, data["valid"].mean(axis=0)) if share < 0.2]
    split = np.quantile(np.unique(data["frame_index"]), 1 - args.holdout)
    train_rows, test_rows = frame < split, frame >= split
    pseudo_rows = train_rows & mask.any(axis=1)
    if pseudo_rows.sum() < 16 or test_rows.sum() < 4:
        print(f"train_lifter: too few usable samples ({pseudo_rows.sum()} with pseudo-labels to train on, "
              f"{test_rows.sum()} held out)", file=sys.stderr)
        return 2
    options = dict(epochs=args.epochs, seed=args.seed, width=args.width, blocks=args.blocks)
    on_pseudo = train(inputs[pseudo_rows], pseudo[pseudo_rows], mask[pseudo_rows], **options)
    on_truth = train(inputs[train_rows], true[train_rows], np.ones_like(mask[train_rows]), **options)
    every = np.ones(len(names), dtype=bool)
    held = data["valid"].mean(axis=0) >= 0.2
    pseudo_mm = [mpjpe_mm(on_pseudo, inputs[test_rows], true[test_rows], j) for j in (every, held)]
    truth_mm = [mpjpe_mm(on_truth, inputs[test_rows], true[test_rows], j) for j in (every, held)]
    print(f"lifter: {int(train_rows.sum())} training samples (views x framesets; {int(pseudo_rows.sum())} with a "
          f"pseudo-label root), {int(test_rows.sum())} held out "
          f"(last {args.holdout:.0%} of the take), {args.epochs} epochs, {time.perf_counter() - started:.0f} s; "
          f"root: {' + '.join(names[j] for j in root_joints)}")
    target_mm = 1000 * float(np.linalg.norm(pseudo - true, axis=-1)[mask].mean())
    print(f"training targets: pseudo-labels {target_mm:.1f} mm from the truth (mean over {int(mask.sum())} "
          "labeled joints, root-relative, camera frames)")
    if rare:
        print(f"joints the pseudo-labels rarely hold (< 20% of framesets; the pseudo-label network learns "
              f"little about them): {', '.join(rare)}")
    print("held-out MPJPE against the truth, mm, root-relative:")
    print(f"{'trained on':<26}{'all joints':>12}{f'{int(held.sum())} labeled joints':>20}")
    print(f"{'pseudo-labels (rigkit)':<26}{pseudo_mm[0]:>12.1f}{pseudo_mm[1]:>20.1f}")
    print(f"{'ground truth':<26}{truth_mm[0]:>12.1f}{truth_mm[1]:>20.1f}")
    print(f"{'ratio pseudo / truth':<26}{pseudo_mm[0] / truth_mm[0]:>12.2f}{pseudo_mm[1] / truth_mm[1]:>20.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
