"""Where the shared real data lives: ``shared/data`` beside the repository (CI's clone) or
above it, else this machine's ``/work/shared/data``. ``SHARED_DATA`` is None when neither holds
the Pose2Sim demo; the tests that read it then fail naming the missing file."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SHARED_DATA", "POSE2SIM"]


def _find() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    for candidate in (*(p / "shared" / "data" for p in (root, *root.parents)), Path("/work/shared/data")):
        if (candidate / "pose2sim-demo" / "videos").is_dir():
            return candidate
    return None


SHARED_DATA = _find()
POSE2SIM = (SHARED_DATA or Path("/work/shared/data")) / "pose2sim-demo"
