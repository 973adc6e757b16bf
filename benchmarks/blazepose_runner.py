"""A small local MediaPipe BlazePose runner for the real-data labeling benchmark.

Runs the legacy ``mediapipe.solutions.pose.Pose(static_image_mode=False, model_complexity=1)``
on each video of a recording and maps BlazePose's 33 landmarks onto COCO-17 by name. This is a
benchmark helper, not rigkit's detector backend (that is ``rigkit label --detector mediapipe``).

    python benchmarks/blazepose_runner.py VIDEO_DIR OUT.npz [--frames 100]

Pixels: MediaPipe's normalised landmarks times the *decoded* frame size, so a frame decoded
shorter than its calibration (cam01/cam02 of the Pose2Sim demo: 1080 of 1088 rows) keeps the
calibration's pixel grid (padding the bottom would not move any pixel). Score: the landmark's
``visibility``. A frame where BlazePose finds no person is NaN for every joint of that view.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

__all__ = ["BLAZEPOSE_TO_COCO17", "detect_videos", "main"]

# COCO-17 joint name -> BlazePose-33 landmark index (mediapipe PoseLandmark).
BLAZEPOSE_TO_COCO17 = {
    "nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8,
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16, "left_hip": 23, "right_hip": 24,
    "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28,
}


def detect_videos(videos: dict[str, Path], *, num_frames: int, progress: bool = True) -> dict:
    """BlazePose on the first ``num_frames`` frames of each video -> npz fields of
    :class:`labeling.Detections` (``points_2d (V, F, 17, 2)`` px, ``scores (V, F, 17)``)."""
    import cv2
    from mediapipe.python.solutions import pose as mp_pose

    from geometry.skeletons import COCO_17

    names = COCO_17.joint_names
    landmark = np.array([BLAZEPOSE_TO_COCO17[n] for n in names])
    V = len(videos)
    points = np.full((V, num_frames, len(names), 2), np.nan)
    scores = np.full((V, num_frames, len(names)), np.nan)
    for v, (camera, path) in enumerate(videos.items()):
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise OSError(f"cannot open video {path}")
        with mp_pose.Pose(static_image_mode=False, model_complexity=1) as model:
            for f in range(num_frames):
                ok, frame = capture.read()
                if not ok:
                    break
                result = model.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                if result.pose_landmarks is None:
                    continue
                h, w = frame.shape[:2]
                marks = result.pose_landmarks.landmark
                points[v, f] = [[marks[i].x * w, marks[i].y * h] for i in landmark]
                scores[v, f] = [marks[i].visibility for i in landmark]
                if progress and f % 25 == 0:
                    print(f"  {camera}: frame {f}", file=sys.stderr, flush=True)
        capture.release()
    return {"points_2d": points, "scores": scores, "camera_names": np.array(list(videos)),
            "joint_names": np.array(names), "frame_index": np.arange(num_frames),
            "timestamp_s": np.arange(num_frames) / 60.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args(argv)
    videos = {p.stem: p for p in sorted(args.video_dir.glob("*.mp4"))}
    fields = detect_videos(videos, num_frames=args.frames)
    np.savez(args.out, **fields)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
