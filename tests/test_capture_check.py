"""`capture check` against damaged sessions: every loss is said, with exit status 1 (a problem
found) or 2 (the session cannot be read: one sentence naming the file), never "no frame lost"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import rigkit_cli
from capture.recorder import RecordOptions, Recorder
from capture.rigfile import load_rig_spec

FPS = 15.0
SECONDS = 2.0


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    """A 2 s, 3-camera flat-pattern session, rendered as fast as the machine can (no frame skipped)."""
    folder = tmp_path_factory.mktemp("check")
    rig = folder / "rig.toml"
    rig.write_text(f'name = "check"\nfps = {FPS}\nsegment_s = 0.5\n[synthetic]\nnum_cameras = 3\nseed = 2\n'
                   'size = [160, 120]\nboard_s = 1.0\nperson_s = 1.0\nscene = "pattern"\npace = "fast"\n')
    Recorder(load_rig_spec(rig), folder / "session", RecordOptions(duration_s=SECONDS)).run()
    return folder / "session"


def _copy(session: Path, tmp_path: Path) -> Path:
    out = tmp_path / "session"
    shutil.copytree(session, out)
    return out


def _truncate_table(path: Path) -> str:
    table = path / "framesets.csv"
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[: len(lines) * 27 // 100]))  # the 82 of 300 framesets
    return "framesets.csv has 7 framesets, the manifest counted 30"


def _truncate_mid_line(path: Path) -> str:
    table = path / "framesets.csv"
    table.write_bytes(table.read_bytes()[:-7])
    return "framesets.csv is damaged"


def _delete_camera(path: Path) -> str:
    shutil.rmtree(path / "cameras" / "cam02")
    return "cameras/cam02 is missing"


def _delete_segment(path: Path) -> str:
    sorted((path / "cameras" / "cam03").glob("seg-*.tar"))[1].unlink()
    return "names frames of camera 'cam03' that are not in its segments"


def _delete_segment_and_table(path: Path) -> str:
    _delete_segment(path)
    (path / "framesets.csv").unlink()  # regrouped from the segments: the gap is in the sequence numbers
    return "cam03: 8 frame(s) lost (8 in sequence gaps"


def _extra_folder(path: Path) -> str:
    shutil.copytree(path / "cameras" / "cam01", path / "cameras" / "cam09")
    return "camera folder(s) cam09 in"


def _status_failed(path: Path) -> str:
    manifest = path / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"status": "complete"', '"status": "failed"'))
    return "the recording did not finish normally (manifest status 'failed')"


@pytest.mark.parametrize("damage, code", [
    (_truncate_table, 1), (_truncate_mid_line, 2), (_delete_camera, 2), (_delete_segment, 2),
    (_delete_segment_and_table, 1), (_extra_folder, 1), (_status_failed, 1),
])
def test_a_damaged_session_fails_check_and_says_why(session, tmp_path, capsys, damage, code):
    path = _copy(session, tmp_path)
    words = damage(path)
    assert rigkit_cli.main(["capture", "check", str(path), "--offsets", "none"]) == code
    captured = capsys.readouterr()
    said = captured.out if code == 1 else captured.err
    assert words in said and "Traceback" not in captured.err and "no frame lost" not in captured.out
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1


def test_an_intact_session_passes(session, capsys):
    assert rigkit_cli.main(["capture", "check", str(session), "--offsets", "none"]) == 0
    out = capsys.readouterr().out
    assert f"{int(SECONDS * FPS)} framesets, {int(SECONDS * FPS)} complete" in out and "no frame lost" in out
