"""MediaPipe BlazePose keypoints of a video, as COCO-17 (for the real-data calibration benchmark).

    /work/main/.venv/bin/python benchmarks/mediapipe_keypoints.py VIDEO... --out detections.npz

Runs ``mediapipe.solutions.pose.Pose`` (legacy API, mediapipe 0.10.14; model_complexity 1) on
every frame of each video and maps BlazePose's 33 landmarks to COCO-17 by name (both name the same
anatomical points for these 17). Writes the npz that ``rigkit calibrate keypoints`` reads:
``points_2d`` (V, F, 17, 2) pixels (NaN where no person), ``scores`` (V, F, 17) landmark
visibility, ``camera_names`` (V,), ``joint_names`` (17,). The ``mediapipe`` backend of ``rigkit label
detect`` (issue 11) does the same inside rigkit; this script keeps the benchmark independent of it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

COCO_17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
           "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
           "right_knee", "left_ankle", "right_ankle")


def detect_video(path: Path, *, max_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(F, 17, 2) pixels and (F, 17) visibility for every frame of ``path`` (NaN / 0 where no person)."""
    import mediapipe as mp

    landmark = mp.solutions.pose.PoseLandmark
    index = [landmark[name.upper()].value for name in COCO_17]
    capture = cv2.VideoCapture(str(path))
    points, scores = [], []
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, enable_segmentation=False) as pose:
        while max_frames is None or len(points) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            result = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            xy = np.full((17, 2), np.nan)
            score = np.zeros(17)
            if result.pose_landmarks is not None:
                marks = result.pose_landmarks.landmark
                for j, i in enumerate(index):
                    # normalized [0, 1] with 0 at the left edge of the first pixel -> pixel centres
                    xy[j] = (marks[i].x * w - 0.5, marks[i].y * h - 0.5)
                    score[j] = marks[i].visibility
            points.append(xy)
            scores.append(score)
    capture.release()
    return np.asarray(points), np.asarray(scores)


def detect_videos(paths, names, *, max_frames: int | None = None) -> dict:
    per_camera = [detect_video(Path(p), max_frames=max_frames) for p in paths]
    frames = min(len(p) for p, _ in per_camera)
    return {"points_2d": np.stack([p[:frames] for p, _ in per_camera]),
            "scores": np.stack([s[:frames] for _, s in per_camera]),
            "camera_names": np.asarray(names), "joint_names": np.asarray(COCO_17)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    names = [Path(v).stem for v in args.videos]
    np.savez(args.out, **detect_videos(args.videos, names))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
