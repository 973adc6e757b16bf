"""Train the built-in detector on synthetic renders (CPU, minutes, seeded).

    python -m labeling.detector.train_builtin --out labeling/detector/weights/builtin_coco17.pt \
        [--minutes 20] [--max-steps 4000] [--seed 0]

Every training image is rendered on the fly (:mod:`labeling.detector.synthetic_data`: a random
COCO-17 person, a random camera around them with random field of view, lens distortion and image
size, the capture renderer, JPEG at a random quality). Four crops per image, alternating: a person crop (the
keypoints' box times 1.05-1.6, jittered) as the crop pass sees it, and a loose crop (box times 2-5)
as the whole-frame person-search pass sees it. Augmentation: scale and translation (the crops),
brightness/contrast, Gaussian noise, blur, JPEG. Targets: Gaussian heatmaps (sigma 1.5 cells)
at 1/4 of the 144x192 input; loss: cross-entropy of each map's spatial softmax against its
normalized Gaussian, plus an L1 term on the soft-argmax coordinates (sub-pixel accuracy).
``--init`` continues from earlier weights. Adam with a warm-up and cosine decay. The number of steps is fixed up front
from ``--max-steps`` and the time budget (measured on the first steps), and recorded with the
weights; with ``--max-steps`` small enough to fit, a run is reproducible from its seed.
At the end the detector is evaluated on held-out renders (a different seed) and the weights are
written atomically with their settings.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional
from tqdm import tqdm

from geometry.options import check_fields, option

from .builtin import (BUILTIN_ARCHITECTURE, BUILTIN_INPUT_SIZE, BUILTIN_SEARCH_SIZE,
                      HEATMAP_STRIDE, HeatmapNet)
from .decode import DecodeOptions, decode_heatmaps, heatmap_from_input
from .interface import DetectorSettings, FrozenDetector
from .loading import save_checkpoint
from .preprocess import input_from_image, input_from_image_transforms, warp_to_input
from .synthetic_data import ViewSampler, pixel_errors

__all__ = ["TrainingOptions", "train", "evaluate_on_renders", "main"]

log = logging.getLogger(__name__)

SIGMA_CELLS = 1.5
WIDTH = 32
NUM_JOINTS = 17


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """Hyper-parameters of :func:`train`.

    minutes: wall-time budget (fixes the number of steps after 20 measured steps).
    max_steps: upper bound on the steps. batch_size: crops per step (>= 2 for BatchNorm).
    learning_rate: Adam's peak rate (100 warm-up steps, cosine decay to 0).
    seed: seeds torch and every rendering worker. threads: torch threads of the training process.
    workers: rendering processes. coordinate_weight: weight of the soft-argmax L1 term (per
    heatmap cell) against the heatmap cross-entropy. warmup_steps: linear learning-rate warm-up.
    init: a checkpoint to start from (continue training) instead of random weights.
    """

    minutes: float = option(20.0, low=0, low_open=True)
    max_steps: int = option(4000, low=1)
    batch_size: int = option(24, low=2, note="BatchNorm")
    learning_rate: float = option(2e-3, low=0, low_open=True)
    seed: int = 0
    threads: int = option(1, low=1)
    workers: int = option(1, low=0)
    coordinate_weight: float = option(0.1, low=0)
    warmup_steps: int = option(100, low=0)
    init: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)


def _gaussian_targets(coords_cells: np.ndarray, valid: np.ndarray, heatmap_size) -> np.ndarray:
    """(J, 2) heatmap coordinates -> (J, h, w) float32 Gaussians (zero maps where not valid)."""
    w, h = heatmap_size
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    c = np.nan_to_num(coords_cells).astype(np.float32)
    gx = np.exp(-((xs[None] - c[:, :1]) ** 2) / (2 * SIGMA_CELLS ** 2))
    gy = np.exp(-((ys[None] - c[:, 1:]) ** 2) / (2 * SIGMA_CELLS ** 2))
    maps = gy[:, :, None] * gx[:, None, :]
    return np.where(valid[:, None, None], maps, 0.0).astype(np.float32)


def _augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    image = crop.astype(np.float32)
    image = image * rng.uniform(0.65, 1.35) + rng.uniform(-35, 35)
    image *= rng.uniform(0.92, 1.08, size=3)  # mild white balance; joint colours stay apart
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.3))
    image += rng.normal(0, rng.uniform(0, 8), size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _crop_sample(view, rng: np.random.Generator, *, loose: bool):
    """One (crop, heatmap targets, heatmap coords, valid) from a rendered view."""
    points = view.points_2d
    inside = view.in_image
    lo = np.nanmin(points[inside], axis=0)
    hi = np.nanmax(points[inside], axis=0)
    extent = np.maximum(hi - lo, 8.0)
    if loose:
        scale = rng.uniform(2.0, 5.0)
        shift = rng.uniform(-0.3, 0.3, 2) * extent * scale / 2
    else:
        scale = rng.uniform(1.05, 1.6)
        shift = rng.normal(0, 0.06, 2) * extent
    centre = (lo + hi) / 2 + shift
    box = np.concatenate([centre - extent / 2, centre + extent / 2])[None]
    transform = input_from_image_transforms(box, BUILTIN_INPUT_SIZE, margin=scale)
    crop = warp_to_input([view.image], transform, BUILTIN_INPUT_SIZE)[0]
    crop = _augment(crop, rng)
    in_input = input_from_image(points[None], transform)[0]
    cells = heatmap_from_input(in_input, HEATMAP_STRIDE)
    width, height = BUILTIN_INPUT_SIZE
    heatmap_size = (width // HEATMAP_STRIDE, height // HEATMAP_STRIDE)
    valid = inside & (in_input[:, 0] >= 0) & (in_input[:, 1] >= 0) & \
        (in_input[:, 0] <= width - 1) & (in_input[:, 1] <= height - 1)
    targets = _gaussian_targets(cells, valid, heatmap_size)
    return crop, targets, np.nan_to_num(cells).astype(np.float32), valid


class _RenderedCrops(torch.utils.data.IterableDataset):
    """Endless crops rendered on the fly; each worker has its own seeded generator."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        rng = np.random.default_rng([self.seed, worker])
        if info is not None:
            torch.set_num_threads(1)
            cv2.setNumThreads(1)
        sampler = ViewSampler(rng)
        while True:
            view = sampler.sample()
            for loose in (False, True, False, True):  # a render is dearer than a crop: reuse it
                crop, targets, cells, valid = _crop_sample(view, rng, loose=loose)
                yield (torch.from_numpy(crop), torch.from_numpy(targets), torch.from_numpy(cells),
                       torch.from_numpy(valid))


def _heatmap_loss(heatmaps: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the spatial softmax of each map and its normalized Gaussian target,
    over the joints inside the crop (much faster to leave the all-zero plateau than MSE)."""
    B, J, h, w = heatmaps.shape
    log_p = torch.log_softmax(heatmaps.reshape(B, J, h * w), dim=-1)
    target = targets.reshape(B, J, h * w)
    target = target / target.sum(dim=-1, keepdim=True).clamp(min=1e-12)
    entropy = -(target * log_p).sum(dim=-1)
    return (entropy * valid).sum() / valid.sum().clamp(min=1)


def _normalize(crops: torch.Tensor, settings: DetectorSettings) -> torch.Tensor:
    mean = torch.tensor(settings.mean).view(1, 3, 1, 1)
    std = torch.tensor(settings.std).view(1, 3, 1, 1)
    return (crops.permute(0, 3, 1, 2).float() / 255.0 - mean) / std


def builtin_settings() -> DetectorSettings:
    from geometry.skeletons import get_skeleton
    return DetectorSettings(joint_names=get_skeleton("COCO_17").joint_names,
                            input_size=BUILTIN_INPUT_SIZE, search_size=BUILTIN_SEARCH_SIZE,
                            heatmap_stride=HEATMAP_STRIDE, channel_order="bgr", box_margin=1.25,
                            search_min_score=0.3,
                            decode=DecodeOptions(mode="softmax_local", window_radius_cells=3),
                            name="rigkit builtin COCO-17 heatmap detector")


def train(options: TrainingOptions) -> tuple[HeatmapNet, dict]:
    """Train the network; returns it (eval mode) and a summary dict."""
    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    settings = builtin_settings()
    net = HeatmapNet(num_joints=NUM_JOINTS, width=WIDTH)
    if options.init is not None:
        payload = torch.load(options.init, map_location="cpu", weights_only=True)
        net.load_state_dict(payload["state_dict"])
        log.info("starting from %s", options.init)
    optimizer = torch.optim.Adam(net.parameters(), lr=options.learning_rate)
    loader = torch.utils.data.DataLoader(_RenderedCrops(options.seed), batch_size=options.batch_size,
                                         num_workers=options.workers,
                                         persistent_workers=options.workers > 0)
    budget_s = options.minutes * 60
    planned = options.max_steps
    losses = []
    batches = iter(loader)
    first = next(batches)  # the workers build their camera pools first: not part of the rate
    start = time.monotonic()
    progress = tqdm(total=planned, desc="train builtin detector", unit="step", file=sys.stderr)
    step = 0
    while step < planned:
        crops, targets, cells, valid = first if step == 0 else next(batches)
        fraction = step / planned
        lr = options.learning_rate * min(1.0, (step + 1) / options.warmup_steps) * 0.5 * (
            1 + math.cos(math.pi * fraction))
        for group in optimizer.param_groups:
            group["lr"] = lr
        net.train()
        heatmaps = net(_normalize(crops, settings))
        loss = _heatmap_loss(heatmaps, targets, valid)
        if options.coordinate_weight > 0 and step >= options.warmup_steps:
            coords, _ = decode_heatmaps(heatmaps, settings.decode)
            error = (coords - cells).abs().sum(dim=-1)
            loss = loss + options.coordinate_weight * (error * valid).sum() / valid.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        progress.update(1)
        if step == 20:
            # Fix the number of steps once from the measured rate (the schedule depends on it).
            per_step = (time.monotonic() - start) / step
            planned = max(step + 1, min(options.max_steps, int(budget_s / per_step)))
            progress.total = planned
            progress.refresh()
            log.info("%.2f s per step: %d steps fit in %.0f minutes", per_step, planned,
                     options.minutes)
        if step % 100 == 0:
            progress.set_postfix(loss=f"{np.mean(losses[-100:]):.3f}", lr=f"{lr:.1e}")
    progress.close()
    net.eval()
    summary = {"steps": step, "seconds": time.monotonic() - start,
               "final_loss": float(np.mean(losses[-100:])), "batch_size": options.batch_size,
               "seed": options.seed, "learning_rate": options.learning_rate}
    return net, summary


def evaluate_on_renders(detector: FrozenDetector, *, size: tuple[int, int], num_images: int,
                        seed: int) -> dict:
    """Whole-pipeline accuracy (person search + crop) on held-out renders at one image size.

    Views come from their own seeded camera pool (JPEG quality 90, as the recorder stores
    frames). Returns the median / 90th percentile pixel error and the share within 5 px over all
    joints (a missed joint counts as an error), the same for the visible joints only, and counts.
    """
    rng = np.random.default_rng([seed, size[0], size[1]])
    sampler = ViewSampler(rng, sizes=[size], pool_size=8, refresh_every=0, jpeg_quality=(90, 90))
    views = [sampler.sample() for _ in range(num_images)]
    points, _ = detector.detect([v.image for v in views])
    errors = pixel_errors(points, np.stack([v.points_2d for v in views]))
    visible = np.stack([v.visible for v in views])

    def stats(e: np.ndarray) -> dict:
        return {"median_px": float(np.percentile(e, 50, method="nearest")),
                "p90_px": float(np.percentile(e, 90, method="nearest")),
                "within_5px": float(np.mean(e <= 5.0))}

    return {"size": list(size), "images": num_images, "joints": int(errors.size),
            **stats(errors.ravel()), "visible": stats(errors[visible])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labeling.detector.train_builtin",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="weights file to write (.pt)")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-time budget of training")
    parser.add_argument("--max-steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the training process; on a loaded 2-core machine "
                             "one thread was 4x faster than two (OpenMP spin-waits)")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--init", type=Path, default=None,
                        help="continue from this checkpoint instead of random weights")
    parser.add_argument("--warmup-steps", type=int, default=100)
    parser.add_argument("--eval-images", type=int, default=100, help="held-out renders per size")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    options = TrainingOptions(minutes=args.minutes, max_steps=args.max_steps,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              seed=args.seed, threads=args.threads, workers=args.workers,
                              warmup_steps=args.warmup_steps,
                              init=None if args.init is None else str(args.init))
    net, summary = train(options)
    settings = builtin_settings()
    stored = dict(settings.to_dict(), training=summary)
    sha = save_checkpoint(args.out, net, architecture=BUILTIN_ARCHITECTURE,
                          architecture_kwargs={"num_joints": NUM_JOINTS, "width": WIDTH},
                          settings=stored)
    detector = FrozenDetector(net, settings, weights_sha256=sha, device="cpu")
    log.info("wrote %s (sha256 %s, %.1f MB) after %d steps in %.1f min (final loss %.3f)",
             args.out, sha, args.out.stat().st_size / 1e6, summary["steps"],
             summary["seconds"] / 60, summary["final_loss"])
    for size in ((640, 480), (1280, 720)):
        result = evaluate_on_renders(detector, size=size, num_images=args.eval_images,
                                     seed=args.seed + 1000)
        log.info("held-out %dx%d: median %.2f px, p90 %.2f px, %.1f%% within 5 px (%d joints)",
                 size[0], size[1], result["median_px"], result["p90_px"],
                 100 * result["within_5px"], result["joints"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
