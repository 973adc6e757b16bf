"""The triangulation kernels are compiled ahead of the commands that need them, with a notice."""

import io
import time

import rigkit_cli
from geometry import compile_kernels


def test_compile_kernels_runs_every_kernel():
    compile_kernels()  # compiles or loads; a failure in any kernel raises here


def test_a_slow_compile_is_announced_and_a_fast_one_is_silent(monkeypatch):
    monkeypatch.setattr(rigkit_cli, "_NOTICE_AFTER_S", 0.05)
    stream = io.StringIO()
    rigkit_cli.prepare_kernels(lambda: time.sleep(0.3), stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "compiling the triangulation kernels" in lines[0]
    assert lines[1].startswith("rigkit: kernels ready")
    stream = io.StringIO()
    rigkit_cli.prepare_kernels(lambda: None, stream)
    assert stream.getvalue() == ""


def test_only_commands_that_triangulate_prepare_the_kernels(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(rigkit_cli, "prepare_kernels", lambda: calls.append(1))
    assert rigkit_cli.main(["label", "report", str(tmp_path / "missing")]) == 2
    assert calls == []
    assert rigkit_cli.main(["label", "--calibration", str(tmp_path / "missing.toml"),
                            "--detections", f"npz:{tmp_path / 'missing.npz'}",
                            "--out", str(tmp_path / "out")]) == 2
    assert calls == [1]
