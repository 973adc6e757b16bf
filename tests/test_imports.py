"""Package faces load only what their names need (issue 10), checked in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "llvmlite", "scipy", "cv2", "zmq", "torch", "h5py", "matplotlib", "ray")


def _loaded_after(code: str) -> set[str]:
    """Top-level third-party modules and our own modules loaded by ``code`` in a fresh interpreter."""
    probe = (f"import sys\n{code}\nimport json\n"
             "print(json.dumps(sorted(name for name in sys.modules)))")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> set[str]:
    return {name for name in HEAVY if name in modules}


def test_a_trainers_worker_loads_numpy_h5py_torch_and_nothing_else_heavy():
    loaded = _loaded_after("from labeling import ShardDataset")
    assert _heavy(loaded) <= {"torch", "h5py"}
    ours = {m for m in loaded if m.split(".")[0] in ("labeling", "geometry", "capture", "calibration")}
    assert ours <= {"labeling", "labeling.dataset", "labeling.index", "labeling.lru", "labeling.shards"}, ours


def test_package_faces_load_nothing_heavy_until_a_name_needs_it():
    """``import geometry`` loads no numba, ``import capture`` no zmq (nor calibration, labeling
    anything heavy); the first triangulation loads numba, the recorder loads zmq."""
    loaded = _loaded_after("import geometry, capture, calibration, labeling\n"
                           "heavy_at_import = [m for m in " + repr(HEAVY) + " if m in sys.modules]\n"
                           "assert not heavy_at_import, heavy_at_import\n"
                           "capture.open_session")
    assert _heavy(loaded) == {"cv2"}  # reading a session decodes JPEG with cv2; no zmq, numba, scipy
    loaded = _loaded_after("import numpy as np, geometry\n"
                           "cameras = [geometry.Camera(n, (4, 4), np.eye(3), t=t) for n, t in"
                           " (('a', [0, 0, 0]), ('b', [1, 0, 0]))]\n"
                           "geometry.triangulate(geometry.Rig(cameras), np.full((2, 1, 2), np.nan))\n"
                           "from capture import Recorder")
    assert {"numba", "zmq"} <= loaded


def test_help_loads_no_heavy_module():
    """``rigkit [GROUP] --help`` stays well under a second: none of the slow imports happen (all
    groups in one interpreter: the union of what they load)."""
    loaded = _loaded_after("import contextlib, io, rigkit_cli\n"
                           "for argv in ([], ['capture'], ['calibrate'], ['label'], ['demo']):\n"
                           "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
                           "        rigkit_cli.main([*argv, '--help'])")
    assert {"capture.cli", "calibration.cli", "labeling.cli", "labeling.demo"} <= loaded
    assert _heavy(loaded) == set()


def test_lazy_faces_still_offer_every_public_name():
    import types

    import calibration
    import calibration.board_extrinsics  # a submodule named like the function it defines
    import capture
    import labeling

    for package in (capture, calibration, labeling):
        for name in package.__all__:
            value = getattr(package, name)
            assert value is not None and not isinstance(value, types.ModuleType), f"{package.__name__}.{name}"
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError):
            package.no_such_name  # noqa: B018


def test_production_modules_do_not_load_the_synthetic_scene_at_import():
    loaded = _loaded_after("import capture.rigfile, capture.scene, capture.render_person, capture.recorder, "
                           "capture.sources, labeling.detector.synthetic_data")
    assert {m for m in loaded if m.startswith(("geometry.synthetic", "capture.render."))
            or m == "capture.render"} == set()
