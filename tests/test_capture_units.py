"""Capture pieces without processes: grouping, the timecode, rig files, segments, device probing."""

from __future__ import annotations

import tarfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture.counter import TICK_S, burn_timecode, read_timecode
from capture.devices import probe_devices
from capture.grouping import FramesetGrouper, GroupingOptions, group_frames
from capture.layout import write_manifest
from capture.rigfile import load_rig_spec
from capture.segments import SegmentWriter, read_segment_index, segment_paths
from capture.session import open_session

PERIOD_S = 1 / 30
JITTER_S = 0.002  # 2 ms of timestamp jitter, well inside the half-period window
REPO = Path(__file__).resolve().parents[1]


# -- grouping ------------------------------------------------------------------------------
def _stream(rng, count, *, offset_s=0.0, drop=()):
    seq = np.array([k for k in range(count) if k not in drop])
    return seq, seq * PERIOD_S + offset_s + rng.uniform(-JITTER_S, JITTER_S, seq.size)


def test_grouping_matches_each_instant_once_and_marks_missing_views():
    rng = np.random.default_rng(0)
    streams = [_stream(rng, 100), _stream(rng, 100, offset_s=0.010), _stream(rng, 100, drop={10, 11, 50}),
               _stream(rng, 100, offset_s=-0.012, drop=set(range(60, 100)))]
    sets = group_frames([s for s, _ in streams], [t for _, t in streams], GroupingOptions(period_s=PERIOD_S))
    assert len(sets) == 100
    seq = np.array([f.seq for f in sets])
    # Every frameset holds the same instant k in every present view: nothing shifted, nothing duplicated.
    for v in range(4):
        present = seq[:, v] >= 0
        assert np.array_equal(seq[present, v], np.flatnonzero(present))
    assert np.flatnonzero(seq[:, 2] < 0).tolist() == [10, 11, 50]
    assert (seq[60:, 3] < 0).all() and (seq[:60, 3] >= 0).all()
    assert max(f.skew_s for f in sets) < 0.010 + 0.012 + 2 * JITTER_S + 1e-9


def test_grouping_never_duplicates_a_frame_when_a_camera_runs_at_half_rate():
    full = np.arange(60)
    half = np.arange(0, 60, 2)
    sets = group_frames([full, half], [full * PERIOD_S, half * PERIOD_S], GroupingOptions(period_s=PERIOD_S))
    used = [f.seq[1] for f in sets if not f.missing[1]]
    assert sorted(used) == half.tolist()  # each half-rate frame used exactly once
    assert sum(f.missing[1] for f in sets) == 30


def test_live_grouping_waits_for_a_late_camera_then_marks_it_missing():
    grouper = FramesetGrouper(2, GroupingOptions(period_s=PERIOD_S, wait_s=0.2))
    out = []
    for k in range(3):
        out += grouper.add(0, k, k * PERIOD_S)
    assert out == []  # camera 1 may still deliver
    for k in range(3, 12):
        out += grouper.add(0, k, k * PERIOD_S)
    assert len(out) >= 3 and all(f.missing[1] for f in out)
    out += grouper.add(1, 11, 11 * PERIOD_S)
    out += grouper.flush()
    assert [f.seq.tolist() for f in out][-1] == [11, 11]


def test_a_frame_one_period_after_a_missing_one_starts_the_next_frameset():
    # Exact scheduled timestamps made relative to a monotonic start as the recorder does:
    # ((S + 6 P) - S) - ((S + 5 P) - S) comes out a hair below P for S = 100 s.
    seq = np.arange(10)
    start_mono = 100.0
    times = (start_mono + seq * PERIOD_S) - start_mono
    keep = seq != 5
    sets = group_frames([seq, seq[keep]], [times, times[keep]], GroupingOptions(period_s=PERIOD_S))
    assert [f.seq.tolist() for f in sets][4:7] == [[4, 4], [5, -1], [6, 6]]


def test_skip_policy_leaves_incomplete_framesets_out_and_counts_them():
    seq = np.arange(10)
    sets = group_frames([seq, seq[seq != 4]], [seq * PERIOD_S, seq[seq != 4] * PERIOD_S],
                        GroupingOptions(period_s=PERIOD_S, missing_view="skip"))
    assert len(sets) == 9 and not any(f.missing.any() for f in sets)


def test_grouping_options_reject_nonsense():
    with pytest.raises(ValueError, match="period_s"):
        GroupingOptions(period_s=0)
    with pytest.raises(ValueError, match="missing_view"):
        GroupingOptions(period_s=1, missing_view="duplicate")


# -- timecode ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (1920, 1080)])
@pytest.mark.parametrize("quality", [50, 90])
def test_timecode_survives_jpeg(size, quality):
    rng = np.random.default_rng(size[0] + quality)
    for time_s in rng.uniform(0, 20000, 5):
        image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        burn_timecode(image, time_s)
        jpeg = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
        assert read_timecode(jpeg) == pytest.approx(round(time_s / TICK_S) * TICK_S, abs=1e-9)


def test_timecode_absent_or_corrupt_reads_none():
    image = np.full((480, 640, 3), 128, np.uint8)
    assert read_timecode(image) is None
    burn_timecode(image, 12.3456)
    image[8:16, 80:88] = 255 - image[8:16, 80:88]  # flip one bit cell
    assert read_timecode(image) is None
    with pytest.raises(ValueError, match="too small"):
        burn_timecode(np.zeros((10, 10, 3), np.uint8), 1.0)


# -- rig files -----------------------------------------------------------------------------
def test_shipped_rigs_load():
    for path in sorted((REPO / "rigs").glob("*.toml")):
        rig = load_rig_spec(path)
        assert len(rig.cameras) >= 4, path
    rig = load_rig_spec(REPO / "rigs" / "synthetic-4cam.toml")
    assert rig.names == ("cam01", "cam02", "cam03", "cam04") and rig.synthetic.num_cameras == 4


def test_rig_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "rig.toml"
    path.write_text('name = "r"\nfps = 25\n[[camera]]\nname = "a"\nsource = "file:../videos/a.mp4"\n'
                    '[[camera]]\nname = "b"\nsource = "device:2"\nsize = [1280, 720]\nexposure = 150\n')
    rig = load_rig_spec(path)
    assert rig.cameras[0].target == str(tmp_path / "videos" / "a.mp4")
    assert rig.cameras[1].target == 2 and rig.cameras[1].size == (1280, 720) and rig.cameras[1].fps == 25


@pytest.mark.parametrize("body, key", [
    ('name = "r"\n[[camera]]\nname = "a"\nsource = "webcam"\n', "source"),
    ('name = "r"\n[[camera]]\nname = "a"\nsource = "device:0"\nfsp = 30\n', "fsp"),
    ('name = "r"\n[[camera]]\nname = "a"\nsource = "device:0"\nsize = [640]\n', "size"),
    ('[[camera]]\nname = "a"\nsource = "device:0"\n', "name"),
    ('name = "r"\nfps = "fast"\n', "fps"),
    ('name = "r"\nsegment_s = 5\n[[camera]]\nname = "a"\nsource = "device:0"\n', "segment_s"),
    ('name = "r"\n[synthetic]\nlayout = "sphere"\n', "layout"),
])
def test_bad_rig_files_name_the_file_and_key(tmp_path, refusal, body, key):
    message = refusal(load_rig_spec, body)
    assert str(tmp_path / "bad.toml") in message and key in message and "\n" not in message


# -- segments ------------------------------------------------------------------------------
def _jpeg(value: int) -> bytes:
    return cv2.imencode(".jpg", np.full((48, 64, 3), value, np.uint8))[1].tobytes()


def test_segments_are_whole_after_a_crash_mid_segment(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    session = tmp_path / "session"
    closer = ThreadPoolExecutor(1)
    writer = SegmentWriter(session / "cameras" / "cam01", segment_s=1.0, closer=closer)
    for k in range(75):  # 2.5 s at 30 fps: two complete segments, a third in progress
        writer.add(_jpeg(k), seq=k, time_s=k * PERIOD_S, t_mono=100 + k * PERIOD_S, t_wall=1e9 + k * PERIOD_S,
                   width=64, height=48)
    closer.shutdown(wait=True)  # the crash: the open segment is never closed
    paths = segment_paths(session / "cameras" / "cam01")
    assert [p.name for p in paths] == ["seg-000000.tar", "seg-000001.tar"]
    assert len(list((session / "cameras" / "cam01").glob(".*.part"))) == 1
    for path in paths:
        with tarfile.open(path) as tar:  # an ordinary tool opens it
            names = tar.getnames()
        assert names[-1] == "frames.csv" and len(names) == 31
    index = read_segment_index(paths[1])
    assert index.seq.tolist() == list(range(30, 60))
    write_manifest(session, {"status": "recording", "cameras": ["cam01"], "rig": {"fps": 30.0}, "options": {}})
    with open_session(session) as opened:  # no frameset table: rebuilt from the segments
        assert opened.regrouped and not opened.complete and len(opened) == 60
        assert int(opened[45].images[0][0, 0, 0]) == pytest.approx(45, abs=2)


def test_a_damaged_segment_is_reported(tmp_path):
    path = tmp_path / "seg-000000.tar"
    path.write_bytes(b"not a tar" * 100)
    with pytest.raises(ValueError, match="damaged or incomplete"):
        read_segment_index(path)


PROBE_TIMEOUT_S = 0.5
PROBE_SLACK_S = 5.0  # thread start and join on a loaded 2-core machine


def test_device_probe_reports_found_and_hung_devices_within_the_time_limit(monkeypatch):
    import capture.devices as devices

    answering = devices.DeviceInfo(0, "V4L2", (640, 480, 30.0), ((640, 480, 30.0, "MJPG"),))
    release = threading.Event()

    def probe(index, sizes):
        if index == 1:
            release.wait(30)  # a driver that hangs
        return {0: answering, 2: None}.get(index)

    monkeypatch.setattr(devices, "_candidate_indices", lambda max_index: [0, 1, 2])
    monkeypatch.setattr(devices, "_probe", probe)
    start = time.monotonic()
    try:
        found, hung = probe_devices(9, timeout_s=PROBE_TIMEOUT_S)
    finally:
        release.set()
    assert found == [answering] and hung == [1]  # index 2: no device there, neither found nor hung
    assert time.monotonic() - start < PROBE_TIMEOUT_S + PROBE_SLACK_S  # the hung probe did not hold it up
    monkeypatch.setattr(devices, "_candidate_indices", lambda max_index: [])
    assert probe_devices(9, timeout_s=PROBE_TIMEOUT_S) == ([], [])


def test_devices_command_lists_devices_or_says_there_are_none(capsys, monkeypatch):
    import capture.devices as devices
    import rigkit_cli

    monkeypatch.setattr(devices, "probe_devices", lambda max_index, timeout_s: ([], []))
    assert rigkit_cli.main(["capture", "devices", "--max-index", "3", "--timeout", "2"]) == 0
    assert capsys.readouterr().out.strip() == "no capture devices found (indices 0..3)"
    answering = devices.DeviceInfo(0, "V4L2", (640, 480, 30.0), ((1280, 720, 30.0, "MJPG"),))
    monkeypatch.setattr(devices, "probe_devices", lambda max_index, timeout_s: ([answering], [5]))
    assert rigkit_cli.main(["capture", "devices", "--max-index", "5", "--timeout", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "device:0  backend V4L2  default 640x480 @ 30 fps"
    assert lines[1].split() == ["1280x720", "@", "30", "fps", "MJPG"]
    assert lines[2] == "device:5 did not answer within 2 s"
