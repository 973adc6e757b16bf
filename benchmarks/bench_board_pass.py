"""Benchmark: false labels where nobody is, on the synthetic rig's board pass (issue 15, item 6).

    /work/main/.venv/bin/python benchmarks/bench_board_pass.py --demo DIR [--cache FILE.npz]

DIR is a folder written by ``rigkit demo --out DIR`` (4 cameras; a 20 s board pass, then a
person for 12 s). The demo detected only the person framesets; here the built-in detector also
runs on the board pass (framesets 0 .. first person frameset; ~1,200 images, minutes on 2 busy
cores: ``--cache`` keeps them), and the whole session is labeled with the demo's calibration:
valid joints on the board pass (nobody there: every one is a false label; target <= 0.1% of the
joints) and the person's acceptance, with and without the presence test, adaptive and fixed gates.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import presence_rules  # noqa: E402
from labeling import Detections, compute_pseudo_labels  # noqa: E402
from labeling.cli import bones_from_skeleton  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, required=True, help="folder of `rigkit demo --out`")
    parser.add_argument("--cache", type=Path, default=None,
                        help="npz of the board-pass detections: read when it exists, else written")
    args = parser.parse_args()
    from calibration import load_rig
    from capture import open_session
    from geometry.skeletons import COCO_17

    described = json.loads((args.demo / "detections" / "detections.json").read_text())
    first = int(described["first"])
    if args.cache is not None and args.cache.is_file():
        board = dict(np.load(args.cache))
    else:
        from labeling import builtin_detector
        from labeling.session_labeling import detect_chunk

        with open_session(args.demo / "session") as session:
            board = detect_chunk(session, builtin_detector(), 0, first)
        if args.cache is not None:
            np.savez(args.cache, **board)
    chunks = [dict(np.load(p)) for p in sorted((args.demo / "detections").glob("chunk-*.npz"))]
    fields = {k: np.concatenate([board[k]] + [c[k] for c in chunks],
                                axis=1 if k in ("points_2d", "scores") else 0)
              for k in ("points_2d", "scores", "frame_index")}
    rig = load_rig(args.demo / "calibration" / "board.toml")
    frame_index = fields["frame_index"]
    detections = Detections(points_2d=fields["points_2d"], scores=fields["scores"],
                            camera_names=tuple(described["cameras"]), joint_names=COCO_17.joint_names,
                            frame_index=frame_index, timestamp_s=frame_index / 15.0)
    bones, _ = bones_from_skeleton(detections.joint_names, "coco17")
    empty = frame_index < first
    scores = detections.scores
    print(f"load average: {os.getloadavg()[0]:.2f}; board pass: {int(empty.sum())} framesets, median "
          f"detector confidence {np.nanmedian(scores[:, empty]):.2f} (person: "
          f"{np.nanmedian(scores[:, ~empty]):.2f})")
    print(f"{'rule':<34} {'false joints (framesets)':>26} {'share':>8} {'person accepted':>16}")
    for name, options in presence_rules().items():
        labels = compute_pseudo_labels(rig, detections, options=options, bones=bones)
        false = labels.valid[empty]
        print(f"{name:<34} {f'{int(false.sum())} ({int(false.any(axis=1).sum())})':>26} "
              f"{false.mean():>8.3%} {labels.valid[~empty].mean():>16.1%}")
    print("(target: <= 0.1% of the board pass's joints valid with the defaults, the person's "
          "acceptance as without the test)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
