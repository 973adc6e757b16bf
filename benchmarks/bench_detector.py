"""Benchmark: the detector backends' speed on real 1080p frames, ``rigkit label`` end to end on the
real demo videos (issue 11), and the built-in frozen detector's speed and accuracy (issue 5).

    python benchmarks/bench_detector.py [--quick] [--part all|backends|demo|builtin]
                                        [--images 60] [--seed 7]

Backends (``--part backends``): images per second of each ``--detector`` backend on the Pose2Sim
demo's real 1080x1920 frames (2 cores, shared): ``builtin`` (person search + crop), ``onnx:`` (an
ONNX export of the built-in network: the whole frame, then each camera's box from its previous
frame, as labeling feeds it), ``mediapipe`` (BlazePose full, its own person detector). A backend
whose extra is missing is reported as skipped with the reason.

Demo (``--part demo``): ``rigkit label --videos`` on the four demo videos (100 framesets) with
``mediapipe``, timed in two parts: detection (decoding + detector) and everything after it
(frame fit, robust triangulation, gating, shards); framesets/s end to end, and the ratio, which
must be >= 100 (everything after detection at least 100x faster than detection).

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


DEMO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pose2sim-demo"
if not DEMO.is_dir():
    DEMO = Path("/work/shared/data/pose2sim-demo")
DEMO_CAMERAS = ("cam01", "cam02", "cam03", "cam04")


def _demo_frames(count: int) -> list[np.ndarray]:
    """``count`` consecutive real frames of each demo camera, interleaved (1080/1088 x 1920)."""
    import cv2

    per_camera = []
    for name in DEMO_CAMERAS:
        capture = cv2.VideoCapture(str(DEMO / "videos" / f"{name}.mp4"))
        per_camera.append([capture.read()[1] for _ in range(count)])
        capture.release()
    return [frames[k] for k in range(count) for frames in per_camera]


def backends(quick: bool) -> None:
    """Images/s per ``--detector`` backend on real 1080p frames."""
    import tempfile

    from labeling.detector import open_detector
    from labeling.session_labeling import detect_chunk

    count = 3 if quick else 10  # framesets of 4 views
    images = _demo_frames(count)
    print(f"\nbackends on real frames (Pose2Sim demo, 1080x1920 portrait, {len(images)} images, "
          f"{count} framesets of 4 views; load {os.getloadavg()[0]:.1f} / 2 cores)")
    print(f"{'backend':<12} {'images/s':>9}  person boxes")

    class _Frames:  # a recording of the images above, as detect_chunk reads it
        names = DEMO_CAMERAS

        def framesets(self, start, stop):
            from types import SimpleNamespace

            for k in range(start, stop):
                yield SimpleNamespace(index=k, timestamp_s=k / 60, images=images[4 * k:4 * k + 4])

    with tempfile.TemporaryDirectory() as folder:
        specs = ["builtin", "onnx", "mediapipe"]
        for spec in specs:
            try:
                if spec == "onnx":
                    from labeling.detector import builtin_detector
                    from labeling.detector.onnx_model import export_onnx

                    path = Path(folder) / "builtin.onnx"
                    export_onnx(path, builtin_detector(device="cpu"))
                    detector = open_detector(f"onnx:{path}")
                else:
                    detector = open_detector(spec, device="cpu")
            except ValueError as error:
                print(f"{spec:<12} {'skipped':>9}  {error}")
                continue
            detect_chunk(_Frames(), detector, 0, 1)  # warm-up (graph/session init)
            start = time.perf_counter()
            detect_chunk(_Frames(), detector, 0, count)
            rate = len(images) / (time.perf_counter() - start)
            print(f"{spec:<12} {rate:>9.1f}  {detector.person_boxes}")


def demo_end_to_end() -> None:
    """``rigkit label --videos`` on the four demo videos with mediapipe: framesets/s, split."""
    import tempfile

    from calibration import load_rig
    from capture.pairing import RecordingSpec
    from geometry import compile_kernels
    from labeling import LabelJob, LabelOptions, run_label_job
    from labeling.cli import _match_to_rig, bones_from_skeleton
    from labeling.frame_fit import fit_detections
    from labeling.session_labeling import detections_from_recording

    compile_kernels()
    spec = RecordingSpec.from_args(videos=[f"{n}={DEMO / 'videos' / f'{n}.mp4'}" for n in DEMO_CAMERAS])
    rig = load_rig(DEMO / "calibration" / "Calib_qualisys.toml")
    with tempfile.TemporaryDirectory() as folder:
        try:
            start = time.perf_counter()
            cpu = time.process_time()
            detections, _ = detections_from_recording(spec, "mediapipe", out_dir=folder, progress=False)
        except ValueError as error:
            print(f"\ndemo end to end: skipped ({error})")
            return
        detect_s, detect_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        detections, _ = _match_to_rig(detections, rig)
        detections, _ = fit_detections(detections, rig, detections.metadata["frame_sizes"])
        bones, _ = bones_from_skeleton(detections.joint_names, None)
        job = LabelJob.create(rig, detections, options=LabelOptions(), bones=bones)
        summary = run_label_job(job, Path(folder) / "labels", progress=False)
        label_s, label_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    F = detections.num_frames
    print(f"\nrigkit label --videos on the 4 demo videos, --detector mediapipe ({F} framesets, "
          f"load {os.getloadavg()[0]:.1f} / 2 cores)")
    print(f"{'part':<28} {'wall s':>7} {'cpu s':>7} {'framesets/s':>12}")
    print(f"{'detection (decode+detect)':<28} {detect_s:>7.2f} {detect_cpu_s:>7.2f} {F / detect_s:>12.1f}")
    print(f"{'after detection':<28} {label_s:>7.3f} {label_cpu_s:>7.3f} {F / label_s:>12.0f}")
    print(f"{'end to end':<28} {detect_s + label_s:>7.2f} {detect_cpu_s + label_cpu_s:>7.2f} "
          f"{F / (detect_s + label_s):>12.1f}")
    ratio = detect_s / label_s
    print(f"after detection is {ratio:.0f}x faster than detection (wall; cpu "
          f"{detect_cpu_s / label_cpu_s:.0f}x): {'PASS' if ratio >= 100 else 'FAIL'} (>= 100x)")
    print(summary.table())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats")
    parser.add_argument("--part", choices=("all", "backends", "demo", "builtin"), default="all")
    parser.add_argument("--images", type=int, default=60, help="held-out renders per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.part in ("all", "backends"):
        backends(args.quick)
    if args.part in ("all", "demo"):
        demo_end_to_end()
    if args.part not in ("all", "builtin"):
        return 0
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
