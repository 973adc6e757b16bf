"""The triangulation kernels are compiled ahead of the commands that need them, with a notice."""

import geometry.kernel_warmup as warmup
from geometry import compile_kernels


def test_compile_kernels_runs_every_kernel():
    notices = []
    seconds = compile_kernels(notify=notices.append, notify_after_s=60.0)
    assert seconds >= 0 and notices == []  # compiled or loaded; a failing kernel raises here


def test_a_slow_compile_is_announced_and_a_fast_one_is_silent(monkeypatch):
    monkeypatch.setattr(warmup, "_run_every_kernel", lambda: warmup.time.sleep(0.3))
    notices = []
    compile_kernels(notify=notices.append, notify_after_s=0.05)
    assert len(notices) == 2 and "preparing the triangulation kernels" in notices[0]
    assert notices[1].startswith("triangulation kernels ready")
    monkeypatch.setattr(warmup, "_run_every_kernel", lambda: None)
    notices = []
    compile_kernels(notify=notices.append, notify_after_s=0.05)
    assert notices == []
