"""rigkit_files: atomic writes (whole or not at all, umask modes, no stray temporaries), sha256."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import numpy as np
import pytest

import rigkit_files
from rigkit_files import (atomic_path, sha256_of_file, temp_glob, temp_path, write_atomic, write_atomic_with,
                          write_json_atomic)


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_get_the_umask_mode(tmp_path, umask):
    expected = 0o666 & ~umask  # what open() gives; mkstemp would give 0o600 whatever the umask
    write_atomic(tmp_path / "a.bin", b"abc")
    write_atomic_with(tmp_path / "b.bin", lambda temp: temp.write_bytes(b"x"))
    write_json_atomic(tmp_path / "c.json", {"a": 1})
    for name in ("a.bin", "b.bin", "c.json"):
        assert _mode(tmp_path / name) == expected, name


def test_write_replaces_whole_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "f.txt"
    write_atomic(path, "old")
    write_atomic(path, "new text")
    assert path.read_text() == "new text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_failing_writer_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    path = tmp_path / "f.txt"
    write_atomic(path, "old")

    def failing(temp):
        temp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic_with(path, failing)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_temporary_names_are_unique_and_matched_by_the_cleanup_glob(tmp_path):
    path = tmp_path / "shard-000001.h5"
    names = {temp_path(path).name for _ in range(50)}
    assert len(names) == 50
    with atomic_path(path) as temp:
        assert temp.parent == tmp_path and temp.exists()
        assert [p.name for p in tmp_path.glob(temp_glob("shard-*.h5"))] == [temp.name]
    assert not list(tmp_path.glob(temp_glob("shard-*.h5")))
    assert temp_path(path, suffix=".mp4").name.endswith(".mp4")


def test_directory_fsync_refused_is_tolerated(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def refuse_directories(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(22, "Invalid argument")
        return real_fsync(fd)

    monkeypatch.setattr(rigkit_files.os, "fsync", refuse_directories)
    write_atomic(tmp_path / "f.txt", "ok")
    assert (tmp_path / "f.txt").read_text() == "ok"


def test_make_parents_and_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "f.txt", "x")
    write_atomic(tmp_path / "no" / "f.txt", "x", make_parents=True)
    assert (tmp_path / "no" / "f.txt").read_text() == "x"


def test_json_converts_numpy_and_paths(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"n": np.int64(3), "x": np.arange(2.0), "p": tmp_path}, indent=1)
    text = (tmp_path / "a.json").read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"n": 3, "x": [0.0, 1.0], "p": str(tmp_path)}
    with pytest.raises(TypeError):
        write_json_atomic(tmp_path / "b.json", {"s": {1, 2}})
    assert not (tmp_path / "b.json").exists()


def test_sha256_of_file(tmp_path):
    data = os.urandom(3 * 1024 + 7)
    (tmp_path / "f").write_bytes(data)
    assert sha256_of_file(tmp_path / "f", block_bytes=1024) == hashlib.sha256(data).hexdigest()


def test_no_other_module_renames_files_into_place():
    """Every atomic write goes through rigkit_files (the one place for temp names and fsyncs)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for package in ("geometry", "calibration", "capture", "labeling"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            for needle in ("os.replace(", "os.fsync(", "mkstemp(", "os.rename("):
                if needle in text:
                    offenders.append(f"{path.relative_to(root)}: {needle}")
    assert offenders == []
