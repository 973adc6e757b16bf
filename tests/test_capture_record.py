"""Recording through real worker processes: sessions, their checks, and the fault tests."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import rigkit_cli
from capture.check import CheckOptions, check_session
from capture.counter import TICK_S, read_timecode
from capture.export import export_session
from capture.recorder import RecordOptions, Recorder
from capture.rigfile import load_rig_spec
from capture.session import open_session

REPO = Path(__file__).resolve().parents[1]
FPS = 30.0
LATENCY_S = (0.0, 0.0123, 0.0, -0.0071)  # injected host-timestamp delays (s), relative to cam01 = 0
COUNTER_OFFSET_TOL_S = 2e-4   # the timecode's tick is 0.1 ms; the medians are exact up to rounding
MOTION_OFFSET_TOL_S = 1 / FPS / 10  # a tenth of a frame: light flicker seen by all cameras, 2 s at 30 fps
KILL_NOTICED_TOL_S = 1.0      # the issue: a dead worker is noticed within a second
REALTIME_FRAME_SLACK = 2      # frames a real-time worker may gain or lose at the recording's ends under load


def synthetic_rig_file(folder: Path, *, size=(480, 360), latency=None, board_s=0.5, person_s=6.0, fps=FPS,
                       num_cameras=4, counter=True, flicker=False, scene="pattern", pace="realtime") -> Path:
    path = folder / "rig.toml"
    latency_line = f"latency_s = {list(latency)}\n" if latency else ""
    path.write_text(f'name = "test-synthetic"\nfps = {fps}\nsegment_s = 0.5\n[synthetic]\nlayout = "ring"\n'
                    f"num_cameras = {num_cameras}\nseed = 3\nsize = {list(size)}\nboard_s = {board_s}\n"
                    f"person_s = {person_s}\ncounter = {str(counter).lower()}\nflicker = {str(flicker).lower()}\n"
                    f'scene = "{scene}"\npace = "{pace}"\n{latency_line}')
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A 2 s, 4-camera rendered synthetic session with injected timestamp delays and a flickering
    light, rendered as fast as the machine can (pace "fast": no frame skipped on a loaded CI box)."""
    folder = tmp_path_factory.mktemp("recorded")
    rig = load_rig_spec(synthetic_rig_file(folder, latency=LATENCY_S, flicker=True, scene="rendered", pace="fast"))
    result = Recorder(rig, folder / "session", RecordOptions(duration_s=2.0)).run()
    return result, folder / "session"


def test_every_frame_is_recorded_and_grouped(recorded):
    result, path = recorded
    expected = int(2.0 * FPS)
    assert result.frames == (expected,) * 4 and result.lost == 0 and result.restarts == (0,) * 4
    assert result.framesets == expected and result.complete_framesets == expected
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["rigkit_version"] != "unknown"
    assert set(manifest["applied"]) == {"cam01", "cam02", "cam03", "cam04"}
    segments = sorted(str(p.relative_to(path)) for p in path.glob("cameras/*/seg-*.tar"))
    assert manifest["segments_complete"] == segments and len(segments) == 4 * 4  # 2 s in 0.5 s segments


def test_session_reader_gives_the_true_instants(recorded):
    _, path = recorded
    with open_session(path) as session:
        truth = session.truth
        assert truth is not None and truth.rig.names == session.names
        assert len(session) == 60 and not session.missing.any()
        for frameset in session.framesets(0, len(session), prefetch=4):
            assert len(frameset.images) == 4
            k = int(frameset.sequence[0])
            assert (frameset.sequence == k).all()
            for image in frameset.images:
                assert image.shape == (360, 480, 3)
                assert read_timecode(image) == pytest.approx(truth.time_s[k], abs=TICK_S)
        assert session.seek(1.0) == 30 and session[30].timestamp_s == pytest.approx(1.0, abs=0.013)
        single = session.frame("cam02", 12)
        assert read_timecode(single) == pytest.approx(12 / FPS, abs=TICK_S)
        # The person's joints are in the truth once the board pass is over.
        assert np.isnan(truth.joints_in_world[5]).all() and np.isfinite(truth.joints_in_world[20]).all()
        assert np.isfinite(truth.world_from_board[5]).all() and np.isnan(truth.world_from_board[20]).all()


def test_check_recovers_the_injected_offsets(recorded):
    _, path = recorded
    expected = np.array(LATENCY_S) - LATENCY_S[0]
    with open_session(path) as session:
        report = check_session(session)
        assert report.offset_method == "counter" and report.problems == []
        np.testing.assert_allclose([c.offset_s for c in report.cameras], expected, atol=COUNTER_OFFSET_TOL_S)
        motion = check_session(session, CheckOptions(offset_method="motion"))
        np.testing.assert_allclose([c.offset_s for c in motion.cameras], expected, atol=MOTION_OFFSET_TOL_S)
    assert rigkit_cli.main(["capture", "check", str(path)]) == 0


def test_export_writes_frame_aligned_videos(recorded, tmp_path):
    _, path = recorded
    with open_session(path) as session:
        result = export_session(session, tmp_path / "export")
    assert result.black_frames == (0, 0, 0, 0)
    for video in result.videos:
        capture = cv2.VideoCapture(str(video))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
        capture.release()


def test_sigkill_of_a_worker_leaves_a_gap_and_the_others_recording(tmp_path, caplog):
    rig = load_rig_spec(synthetic_rig_file(tmp_path, size=(320, 240), board_s=0.0))
    recorder = Recorder(rig, tmp_path / "session", RecordOptions(duration_s=3.5))
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("result", recorder.run()))
    with caplog.at_level(logging.ERROR, logger="capture"):
        thread.start()
        assert recorder.started.wait(60)
        time.sleep(1.0)
        killed_at = time.time()
        os.kill(recorder.worker_pids()["cam02"], signal.SIGKILL)
        thread.join(60)
    result = outcome["result"]
    died = [r for r in caplog.records if "cam02" in r.getMessage() and "died" in r.getMessage()]
    assert died and died[0].created - killed_at < KILL_NOTICED_TOL_S
    expected = int(3.5 * FPS)
    for v in (0, 2, 3):  # the others went on: all their frames, give or take the ends, and no gap
        assert abs(result.frames[v] - expected) <= REALTIME_FRAME_SLACK, (v, result.frames[v], expected)
    assert result.restarts == (0, 1, 0, 0)
    assert 0 < result.missing[1] < expected and result.missing[1] == result.framesets - result.frames[1]
    assert result.lost_per_camera == (0, result.missing[1], 0, 0)  # the issue: "lost frames: none" after this
    with open_session(result.path) as session:
        gap = np.flatnonzero(session.missing[:, 1])
        assert gap.size == result.missing[1] and np.all(np.diff(gap) == 1)  # one contiguous gap
        assert 20 < gap[0] < 40  # it starts about a second in
        assert gap[-1] < len(session) - 1  # and the restarted worker came back
        assert not session.missing[:, [0, 2, 3]].any()
        report = check_session(session, CheckOptions(offset_method="none"))
        assert report.cameras[1].lost_in_gaps == gap.size and report.cameras[1].restarts == 1
        exported = export_session(session, tmp_path / "export")  # the gap becomes black frames, not copies
        assert exported.black_frames == (0, gap.size, 0, 0)


def start_recording(folder: Path) -> tuple[subprocess.Popen, Path]:
    """``rigkit capture record`` of a cheap 4-camera rig, until it has two segments per camera."""
    rig_path = synthetic_rig_file(folder, size=(320, 240))
    out = folder / "session"
    process = subprocess.Popen([sys.executable, "-m", "rigkit_cli", "-q", "capture", "record", "--rig", str(rig_path),
                                "--out", str(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(out.glob("cameras/*/seg-*.tar"))) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    return process, out


def test_sigint_finalizes_the_session(tmp_path):
    process, out = start_recording(tmp_path)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["stopped_by"] == "signal"
    segments = sorted(out.glob("cameras/*/seg-*.tar"))
    assert manifest["segments_complete"] == [str(p.relative_to(out)) for p in segments]
    assert not list(out.glob("cameras/*/.*.part"))
    frames = 0
    for segment in segments:
        with tarfile.open(segment) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member).read()
                if member.name.endswith(".jpg"):
                    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
                    frames += 1
    assert frames == sum(c["frames"] for c in manifest["counts"].values()) > 0
    with open_session(out) as session:
        assert session.complete and not session.regrouped and len(session) == manifest["framesets"]


def test_a_camera_that_cannot_be_opened_is_one_sentence_and_exit_2(tmp_path, capsys):
    rig = tmp_path / "rig.toml"
    rig.write_text('name = "broken"\n[[camera]]\nname = "cam01"\nsource = "file:missing.mp4"\n'
                   '[[camera]]\nname = "cam02"\nsource = "device:63"\n')
    assert rigkit_cli.main(["capture", "record", "--rig", str(rig), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("rigkit: error: camera ") and ("could not be opened" in err or "does not exist" in err)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["status"] == "failed"


def test_a_missing_rig_file_is_exit_2(tmp_path, capsys):
    assert rigkit_cli.main(["capture", "record", "--rig", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "s")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_full_disk_stops_with_one_sentence_and_keeps_what_was_written(tmp_path, capsys, monkeypatch):
    import errno

    from capture import segments

    original, calls = segments.SegmentWriter.add, {"n": 0}

    def add(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 4 * 40:  # about 1.3 s of 4 cameras at 30 fps, 0.5 s segments
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(segments.SegmentWriter, "add", add)
    rig_path = synthetic_rig_file(tmp_path, size=(320, 240))
    out = tmp_path / "session"
    assert rigkit_cli.main(["-q", "capture", "record", "--rig", str(rig_path), "--out", str(out),
                            "--duration", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "intact" in err[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and len(manifest["segments_complete"]) >= 4
    with open_session(out) as session:
        assert len(session) >= 30
        first = next(session.framesets())
        assert all(image is not None for image in first.images)


def test_a_killed_recorder_leaves_whole_segments_and_a_readable_session(tmp_path):
    """A power cut, as far as a test can make one: SIGKILL the recorder mid-recording."""
    process, out = start_recording(tmp_path)
    time.sleep(0.2)  # into the next segments
    process.kill()
    process.communicate(timeout=10)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "recording" and "at most 0.5 s" in manifest["crash_note"]
    segments = sorted(out.glob("cameras/*/seg-*.tar"))
    for segment in segments:
        with tarfile.open(segment) as tar:
            assert tar.getnames()[-1] == "frames.csv"
    with open_session(out) as session:
        assert session.regrouped and not session.complete
        in_segments = sum(len(tarfile.open(s).getnames()) - 1 for s in segments)
        assert sum(c.seq.size for c in session.cameras) == in_segments
        assert len(session) >= min(c.seq.size for c in session.cameras) > 0
        for frameset in session.framesets(0, 5):
            assert sum(image is not None for image in frameset.images) == 4 - frameset.missing.sum()
