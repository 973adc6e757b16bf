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
    assert result.restarts == (0,) * 4  # workers that finish their file are not "dead"
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


def test_image_folders_replay_frame_for_frame(tmp_path):
    """Two folders of PNGs (no video involved) replayed as fast as possible: every image, in
    name order, grouped by index."""
    rng = np.random.default_rng(0)
    originals = []
    for name in ("left", "right"):
        folder = tmp_path / name
        folder.mkdir()
        for k in range(12):
            image = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (9, 9), 0)
            cv2.putText(image, str(k), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
            cv2.imwrite(str(folder / f"frame_{k:03d}.png"), image)
            originals.append(image)
    rig_path = tmp_path / "rig.toml"
    rig_path.write_text('name = "folders"\nfps = 25\n'
                        '[[camera]]\nname = "left"\nsource = "images:left"\nreplay = "fast"\n'
                        '[[camera]]\nname = "right"\nsource = "images:right"\nreplay = "fast"\n')
    result = Recorder(load_rig(rig_path), tmp_path / "session", RecordOptions()).run()
    assert result.frames == (12, 12) and result.complete_framesets == result.framesets == 12
    with open_session(result.path) as session:
        for frameset in session.framesets():
            assert frameset.timestamp_s == pytest.approx(frameset.index / 25)
            for v, image in enumerate(frameset.images):
                errors = [np.abs(image.astype(int) - o.astype(int)).mean() for o in originals[12 * v:12 * (v + 1)]]
                assert int(np.argmin(errors)) == frameset.index  # this very image, not a neighbour
                assert errors[frameset.index] < 6.0  # grey levels: JPEG q90 with 4:2:0 chroma on colour noise
