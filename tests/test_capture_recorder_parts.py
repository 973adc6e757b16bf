"""The recorder's parts on their own: accounts and status, the encode pool, the session writer,
the receiver, the worker supervisor, the finalizer, and the record command's loss report."""

from __future__ import annotations

import errno
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq

import rigkit_cli
from capture import recorder as recorder_module
from capture.encode_pool import EncodePool
from capture.finalize import finalize_session, initial_manifest
from capture.grouping import GroupedFrameset
from capture.layout import read_framesets_table, read_manifest
from capture.receiver import FrameReceiver
from capture.record_status import CameraCounts, StatusMeter
from capture.recorder import RecordResult
from capture.rigfile import parse_rig_spec
from capture.segments import read_segment_index, segment_paths
from capture.session_writer import SessionWriter
from capture.supervisor import WorkerSupervisor
from capture.wire import pack_header

JPEG_TOL_GREY = 6.0  # mean absolute error of a quality-90 JPEG of a smooth gradient, grey levels


def test_camera_counts_ignore_repeats_and_keep_counts_across_restarts():
    cam = CameraCounts("cam01")
    assert cam.accept(0) and cam.accept(1) and not cam.accept(1) and not cam.accept(0) and cam.accept(5)
    assert cam.frames == 3 and cam.last_seq == 5
    cam.worker_counts(dropped=2, late=1)
    cam.restarted()  # the new worker counts from zero again
    cam.worker_counts(dropped=1, late=0)
    assert (cam.dropped, cam.late, cam.lost, cam.restarts) == (3, 1, 4, 1)


def test_status_meter_rates_over_the_interval_and_resets():
    cams = [CameraCounts("a"), CameraCounts("b")]
    meter = StatusMeter(start_mono=100.0)
    for seq in range(30):
        cams[0].accept(seq)
    for seq in range(15):
        cams[1].accept(seq)
    meter.skew(0.004)
    meter.skew(0.002)
    status = meter.snapshot(102.0, cams, [True, False], framesets=15, bytes_written=4_000_000)
    assert [c.fps for c in status.cameras] == [15.0, 7.5]
    assert status.disk_mb_s == pytest.approx(2.0) and status.skew_ms == pytest.approx(4.0)
    assert "b  7.5fps DOWN" in status.line() and status.line().startswith("   2.0s")
    again = meter.snapshot(103.0, cams, [True, True], framesets=15, bytes_written=4_000_000)
    assert [c.fps for c in again.cameras] == [0.0, 0.0] and again.skew_ms == 0.0 and again.disk_mb_s == 0.0


def test_encode_pool_returns_frames_in_submission_order():
    rng = np.random.default_rng(0)
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    pool = EncodePool(quality=90, workers=3)
    try:
        # Big noisy frames take longer than small smooth ones: completion order differs from submission order.
        images = [rng.integers(0, 255, (480, 640, 3), np.uint8) if i % 2 else gradient for i in range(8)]
        for i, image in enumerate(images):
            pool.submit(i, image)
        done = pool.ready(block=True)
    finally:
        pool.shutdown()
    assert [tag for tag, _ in done] == list(range(8)) and len(pool) == 0
    decoded = cv2.imdecode(done[0][1], cv2.IMREAD_COLOR)
    assert np.abs(decoded.astype(float) - gradient).mean() < JPEG_TOL_GREY
    with pytest.raises(ValueError):
        EncodePool(quality=10, workers=1)


def _meta(seq: int, fps: float = 10.0) -> dict:
    return dict(seq=seq, time_s=seq / fps, t_mono=1000 + seq / fps, t_wall=1.7e9 + seq / fps, width=8, height=6,
                generation=0)


def test_session_writer_writes_whole_segments_and_keeps_rows(tmp_path):
    jpeg = cv2.imencode(".jpg", np.zeros((6, 8, 3), np.uint8))[1].tobytes()
    writer = SessionWriter(tmp_path, ("cam01", "cam02"), segment_s=0.5)
    for seq in (2, 0, 1, 3, 4, 5, 6):  # out of order rows come back sorted
        writer.write(seq % 2, jpeg, _meta(seq))
    assert writer.close() is None
    assert writer.rows[0] == sorted(writer.rows[0]) and [r[0] for r in writer.rows[0]] == [0, 2, 4, 6]
    segments = segment_paths(tmp_path / "cameras" / "cam01") + segment_paths(tmp_path / "cameras" / "cam02")
    assert writer.segments_complete() == sorted(str(p.relative_to(tmp_path)) for p in segments)
    assert sum(read_segment_index(p).seq.size for p in segments) == 7
    assert writer.bytes_written > 7 * len(jpeg)


def test_session_writer_turns_a_full_disk_into_one_sentence(tmp_path, monkeypatch):
    from capture import segments

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = SessionWriter(tmp_path, ("cam01",), segment_s=0.5)
    monkeypatch.setattr(segments.SegmentWriter, "add", full)
    with pytest.raises(OSError, match=r"writing camera 'cam01' to .* failed \(No space left on device\); the segments"):
        writer.write(0, b"x", _meta(0))
    assert writer.failed and writer.rows == [[]]
    writer.close()


def test_receiver_decodes_hello_and_frames_without_a_copy():
    with FrameReceiver("tcp://127.0.0.1:*", recv_hwm=4) as receiver:
        assert receiver.endpoint.startswith("tcp://127.0.0.1:")
        context = zmq.Context()
        push = context.socket(zmq.PUSH)
        push.connect(receiver.endpoint)
        push.send(pack_header({"type": "hello", "camera": 1, "applied": {}, "timing": "t", "fps": 30.0,
                               "generation": 0}))
        push.send_multipart([pack_header({"type": "frame", "camera": 0, "seq": 7}), b"pixels"])
        messages, deadline = [], time.monotonic() + 10
        while len(messages) < 2 and time.monotonic() < deadline:
            messages += receiver.receive(timeout_ms=100)
        push.close(linger=0)
        context.term()
    assert [(m.kind, m.camera) for m in messages] == [("hello", 1), ("frame", 0)]
    assert messages[0].payload is None and bytes(messages[1].payload.buffer) == b"pixels"


def test_receiver_that_cannot_bind_is_an_os_error():
    with FrameReceiver("tcp://127.0.0.1:*") as first:
        with pytest.raises(OSError, match="cannot bind the recorder to tcp://127.0.0.1:"):
            FrameReceiver(first.endpoint)


def _wait_watch(supervisor, *, may_restart=True, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = supervisor.watch(may_restart=may_restart, next_seq=lambda camera: 10)
        if events:
            return events
        time.sleep(0.05)
    raise AssertionError("no worker event within the timeout")


def test_supervisor_restarts_a_dead_worker_once_then_ends_the_camera():
    configs = []

    def config_for(camera, seq_start, generation):
        configs.append((camera, seq_start, generation))
        return "crash"  # sys.exit("crash", array) raises TypeError in the child: exit code 1

    supervisor = WorkerSupervisor(("cam01",), config_for, restarts=1, target=sys.exit)
    supervisor.start_all()
    try:
        events = _wait_watch(supervisor)
        assert [(e.kind, e.exit_code) for e in events] == [("restarted", 1)]
        assert configs == [(0, 0, 0), (0, 10, 1)] and supervisor.restarts == [1]  # continues the sequence
        events = _wait_watch(supervisor)
        assert [e.kind for e in events] == ["ended"] and supervisor.ended == [True]
    finally:
        supervisor.shutdown()


def test_supervisor_waits_for_the_end_of_stream_of_a_clean_exit():
    # print(config, array) returns: a clean exit (code 0) without an end-of-stream message.
    supervisor = WorkerSupervisor(("cam01", "cam02"), lambda c, s, g: "", target=print, eos_wait_s=0.3)
    supervisor.start_all()
    supervisor.end(1)  # cam02's end of stream arrived
    try:
        started = time.monotonic()
        events = _wait_watch(supervisor)
        assert [(e.camera, e.kind, e.exit_code) for e in events] == [(0, "ended", 0)]
        assert time.monotonic() - started >= 0.3 and supervisor.restarts == [0, 0]
    finally:
        supervisor.shutdown()
    assert not supervisor.alive(0) and not supervisor.alive(1)


def test_finalize_writes_tables_and_the_final_manifest(tmp_path):
    rig = parse_rig_spec({"name": "two", "camera": [{"name": "a", "source": "device:0"},
                                                   {"name": "b", "source": "device:1"}]}, base=tmp_path, where="test")
    names = ("a", "b")
    manifest = initial_manifest(rig, names, {"duration_s": 1.0})
    framesets = [GroupedFrameset(0, 0.0, np.array([0, 0]), np.array([0.0, 0.001]), np.array([False, False])),
                 GroupedFrameset(1, 0.1, np.array([1, -1]), np.array([0.1, np.nan]), np.array([False, True]))]
    cams = [CameraCounts("a", frames=2, last_seq=1), CameraCounts("b", frames=1, last_seq=0, missing=1)]
    rows = [[(0, 0.0, 1.0, 2.0, 8, 6, 0), (1, 0.1, 1.1, 2.1, 8, 6, 0)], [(0, 0.001, 1.0, 2.0, 8, 6, 0)]]
    (tmp_path / "cameras" / "a").mkdir(parents=True)
    (tmp_path / "cameras" / "b").mkdir(parents=True)
    finalize_session(tmp_path, manifest, rig=rig, names=names, started=True, framesets=framesets, cameras=cams,
                     rows=rows, status="complete", stopped_by="duration", error=None, segments_complete=[],
                     duration_s=0.2, grouping_skipped=0)
    time_s, seq, skew_s = read_framesets_table(tmp_path, names)
    np.testing.assert_array_equal(seq, [[0, 0], [1, -1]])
    stored = read_manifest(tmp_path)
    assert stored["status"] == "complete" and stored["framesets"] == 2 and stored["complete_framesets"] == 1
    assert stored["counts"]["b"]["missing"] == 1 and stored["counts"]["a"]["frames"] == 2
    assert (tmp_path / "cameras" / "b" / "timestamps.csv").read_text().count("\n") == 2


def _result(path: Path, *, gaps=(0, 0), late=(0, 0)) -> RecordResult:
    return RecordResult(path=path, names=("cam01", "cam02"), framesets=30, complete_framesets=30 - gaps[1],
                        frames=(30, 30 - gaps[1]), dropped=(0, 0), late=late, missing=(0, gaps[1]), restarts=(0, 1),
                        duration_s=1.0, stopped_by="duration", max_skew_ms=0.1, gaps=gaps)


@pytest.mark.parametrize("gaps, late, code, last", [
    ((0, 0), (0, 0), 0, "lost frames: none"),
    ((0, 26), (0, 0), 1, "lost frames: 26 (cam02 26)"),    # the killed worker: a sequence gap
    ((0, 0), (3, 0), 1, "lost frames: 3 (cam01 3)"),       # skipped late, at the very end
])
def test_record_ends_with_the_loss_count_and_exits_1_on_a_loss(tmp_path, monkeypatch, capsys, gaps, late, code, last):
    monkeypatch.setattr(recorder_module.Recorder, "run", lambda self: _result(self.out, gaps=gaps, late=late))
    rig = tmp_path / "rig.toml"
    rig.write_text('name = "r"\n[synthetic]\nnum_cameras = 2\n')
    assert rigkit_cli.main(["-q", "capture", "record", "--rig", str(rig), "--out", str(tmp_path / "s"),
                            "--duration", "1"]) == code
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(last)
