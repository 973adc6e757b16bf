"""Replay of the real 4-camera Pose2Sim recording through the capture workers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from capture.check import CheckOptions, check_session
from capture.recorder import RecordOptions, Recorder
from capture.rigfile import load_rig
from capture.session import open_session

FRAMES = 100  # every demo video holds 100 frames at 60 fps


def shared_data() -> Path | None:
    """``shared/data`` beside the repository (CI) or at /work/shared/data (this machine)."""
    root = Path(__file__).resolve().parents[1]
    for candidate in (root.parent / "shared" / "data", *(p / "shared" / "data" for p in root.parents),
                      Path("/work/shared/data")):
        if (candidate / "pose2sim-demo" / "videos").is_dir():
            return candidate
    return None


DATA = shared_data()
pytestmark = pytest.mark.skipif(DATA is None, reason="the shared pose2sim-demo videos are not beside the repository")


def test_replay_of_the_real_videos_gives_100_complete_framesets(tmp_path):
    videos = DATA / "pose2sim-demo" / "videos"
    # Half-size output keeps the JPEG cost small on 2 cores; decoding the full H.264 frames remains.
    cameras = "".join(f'[[camera]]\nname = "cam0{i}"\nsource = "file:{videos / f"cam0{i}.mp4"}"\nreplay = "fast"\n'
                      f"size = [544, 960]\n" for i in range(1, 5))
    rig_path = tmp_path / "replay.toml"
    rig_path.write_text(f'name = "pose2sim-demo"\nfps = 60\n{cameras}')
    result = Recorder(load_rig(rig_path), tmp_path / "session", RecordOptions()).run()
    assert result.stopped_by == "end of streams"
    assert result.frames == (FRAMES,) * 4 and result.lost == 0
    assert result.framesets == FRAMES and result.complete_framesets == FRAMES
    with open_session(result.path) as session:
        assert session.manifest["applied"]["cam01"]["frame_count"] == FRAMES
        assert session.manifest["applied"]["cam03"]["size"] == [1088, 1920]
        frameset = session[FRAMES - 1]
        assert all(image.shape == (960, 544, 3) for image in frameset.images)
        # The replayed frame is the video's last frame (same content, up to JPEG and resizing).
        capture = cv2.VideoCapture(str(videos / "cam02.mp4"))
        capture.set(cv2.CAP_PROP_POS_FRAMES, FRAMES - 1)
        ok, original = capture.read()
        capture.release()
        assert ok
        original = cv2.resize(original, (544, 960), interpolation=cv2.INTER_AREA)
        assert np.abs(original.astype(int) - frameset.images[1].astype(int)).mean() < 3.0  # grey levels, JPEG q90
        report = check_session(session, CheckOptions(offset_method="none"))
        assert report.problems == [] and all(c.fps == pytest.approx(60.0) for c in report.cameras)
