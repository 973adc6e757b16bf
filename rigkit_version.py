"""The rigkit version recorded in every file rigkit writes (manifests, calibrations, shards).

One place for it: the installed distribution's version, or ``pyproject.toml``'s when rigkit runs
from a source tree without being installed (the same string either way, so a file does not
depend on how rigkit was started).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import metadata
from pathlib import Path

__all__ = ["rigkit_version"]


@lru_cache(maxsize=1)
def rigkit_version() -> str:
    """``"0.1.0"``-style version string; ``"unknown"`` only when neither source can be read."""
    try:
        return metadata.version("rigkit")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"
