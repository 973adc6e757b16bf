"""Benchmark: the built-in frozen detector's speed and accuracy (issue 5).

    /work/venv/bin/python benchmarks/bench_detector.py [--quick] [--images 60] [--seed 7]

Speed: images per second through ``FrozenDetector.detect`` at 640x480 on the CPU, batch sizes
1, 8 and 32, for the whole pipeline (whole-frame person search + person crop) and for the crop
pass alone (boxes given, as a tracker or the previous frameset would give them).

Accuracy: held-out renders (their own seeded camera pool, JPEG quality 90 as the recorder stores
frames; ``labeling.detector.train_builtin.evaluate_on_renders``) at 640x480 and 1280x720: median
and 90th percentile pixel error and the share of joints within 5 px, over all joints (occluded
ones included; a missed joint counts as an error) and over visible joints. The same heatmaps are
also decoded by plain argmax (the quantized decoding soft-argmax replaces: the peer column) and
by whole-map integral soft-argmax (no window), to show what the decoding is worth.

Prints the machine load (``os.getloadavg``): the machine is shared, so speed varies with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.detector import DecodeOptions, FrozenDetector, builtin_detector  # noqa: E402
from labeling.detector.decode import input_from_heatmap  # noqa: E402
from labeling.detector.synthetic_data import ViewSampler  # noqa: E402
from labeling.detector.train_builtin import evaluate_on_renders  # noqa: E402

SIZES = ((640, 480), (1280, 720))


class _ArgmaxDetector(FrozenDetector):
    """The same network and crops, heatmaps decoded by argmax (integer cells): the baseline."""

    def _forward(self, crops):
        with torch.inference_mode():
            batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float() * self._gain - self._offset
            heatmaps = self.module(batch)
            B, J, h, w = heatmaps.shape
            peak, index = heatmaps.reshape(B, J, -1).max(dim=-1)
            coords = torch.stack([index % w, index // w], dim=-1).float()
            coords = input_from_heatmap(coords, self.settings.heatmap_stride)
        return coords.double().numpy(), peak.clamp(0, 1).double().numpy()


def throughput(detector: FrozenDetector, images: list[np.ndarray], boxes: np.ndarray | None,
               batch_size: int, repeats: int) -> float:
    """Images per second of ``detect`` on batches of ``batch_size`` (best of ``repeats``)."""
    best = np.inf
    batch = images[:batch_size]
    batch_boxes = None if boxes is None else boxes[:batch_size]
    detector.detect(batch, batch_boxes)  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        detector.detect(batch, batch_boxes)
        best = min(best, time.perf_counter() - start)
    return batch_size / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--images", type=int, default=60, help="held-out renders per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    num_images = 20 if args.quick else args.images
    repeats = 2 if args.quick else 4
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores, shared); torch threads "
          f"{args.threads}")

    detector = builtin_detector(device="cpu", batch_size=32)
    print(f"detector: {detector.settings.name}, weights sha256 {detector.weights_sha256[:16]}..., "
          f"{sum(p.numel() for p in detector.module.parameters()) / 1e6:.2f} M parameters")

    sampler = ViewSampler(np.random.default_rng(args.seed), sizes=[(640, 480)], pool_size=4,
                          refresh_every=0, jpeg_quality=(90, 90))
    views = [sampler.sample() for _ in range(32)]
    images = [v.image for v in views]
    boxes = np.stack([np.concatenate([np.nanmin(v.points_2d, 0), np.nanmax(v.points_2d, 0)])
                      for v in views])
    print("\nthroughput at 640x480, CPU (images/s)")
    print(f"{'batch':>6} {'search+crop':>12} {'crop only':>10}")
    for batch_size in (1, 8, 32):
        full = throughput(detector, images, None, batch_size, repeats)
        crop = throughput(detector, images, boxes, batch_size, repeats)
        print(f"{batch_size:>6} {full:>12.1f} {crop:>10.1f}")

    print(f"\naccuracy on held-out renders ({num_images} images per size; px)")
    header = (f"{'size':>10} {'decoding':>16} {'median':>7} {'p90':>7} {'<=5px':>6} "
              f"{'vis median':>10} {'vis p90':>8} {'vis <=5px':>9}")
    print(header)
    settings = detector.settings
    variants = [
        ("soft-argmax (ours)", detector),
        ("integral", FrozenDetector(detector.module, dataclasses.replace(
            settings, decode=DecodeOptions(mode="integral")), device="cpu")),
        ("argmax (peer)", _ArgmaxDetector(detector.module, settings, device="cpu")),
    ]
    for size in SIZES:
        results = {}
        for name, variant in variants:
            r = evaluate_on_renders(variant, size=size, num_images=num_images, seed=args.seed)
            results[name] = r
            v = r["visible"]
            print(f"{size[0]:>5}x{size[1]:<4} {name:>16} {r['median_px']:>7.2f} {r['p90_px']:>7.2f} "
                  f"{100 * r['within_5px']:>5.1f}% {v['median_px']:>10.2f} {v['p90_px']:>8.2f} "
                  f"{100 * v['within_5px']:>8.1f}%")
        ours, peer = results["soft-argmax (ours)"], results["argmax (peer)"]
        print(f"{'':>10} {'ratio peer/ours':>16} {peer['median_px'] / ours['median_px']:>7.2f} "
              f"{peer['p90_px'] / ours['p90_px']:>7.2f}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
