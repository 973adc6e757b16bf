"""Files written whole or not at all, and their sha256: the one implementation for all of rigkit.

Below every package (imports nothing of ours), like :mod:`rigkit_version`.

An atomic write goes to a temporary file in the destination's folder with a unique name
(:func:`temp_path`, matched by :func:`temp_glob`), is flushed and fsync'ed, renamed over the
destination, and the folder is fsync'ed so that the rename itself survives a power cut (on
filesystems that refuse a directory fsync, that last step is skipped). A crash leaves either the
old file or the new one, plus at worst a stray temporary file; a failure in the writer removes the
temporary file and re-raises. New files get the mode the process's umask gives (``0o666 & ~umask``,
as ``open`` would), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["write_atomic", "write_atomic_with", "write_json_atomic", "atomic_path", "replace_durably", "fsync_dir",
           "sha256_of_file", "temp_path", "temp_glob"]

_TEMP_SUFFIX = ".tmp"


def temp_path(path: str | os.PathLike, *, suffix: str = "") -> Path:
    """A fresh temporary name next to ``path``: ``.<name>.<pid>-<random>.tmp<suffix>``.

    suffix: kept at the end for writers that choose a format by extension (``".mp4"``).
    """
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{_TEMP_SUFFIX}{suffix}")


def temp_glob(name_pattern: str) -> str:
    """The glob matching the temporary files of destinations named like ``name_pattern``.

    ``temp_glob("shard-*.h5")`` -> ``".shard-*.h5.*.tmp*"``: what a stray-file cleanup looks for.
    """
    return f".{name_pattern}.*{_TEMP_SUFFIX}*"


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make renames in ``folder`` durable; a no-op where the filesystem refuses a directory fsync."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_empty(path: Path) -> None:
    """Create ``path`` exclusively with mode ``0o666 & ~umask``."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))


def replace_durably(temp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Commit a complete, closed temporary file: fsync it, rename it over ``path``, fsync the folder."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    fsync_dir(Path(path).parent)


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "", make_parents: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write the whole of ``path`` to; commit it when the block ends.

    The temporary file exists (empty, mode from the umask) when the block starts, so writers
    that open it by name (h5py, torch.save, cv2.VideoWriter) keep that mode. On a normal exit it is
    fsync'ed and renamed over ``path`` and the folder fsync'ed; on an exception it is removed.
    make_parents: create the missing folders of ``path`` first.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path, suffix=suffix)
    _create_empty(temp)
    try:
        yield temp
        replace_durably(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_atomic_with(path: str | os.PathLike, write: Callable[[Path], object], *, suffix: str = "",
                      make_parents: bool = False) -> None:
    """Write ``path`` whole or not at all through ``write(temporary_path)``, which creates its content."""
    with atomic_path(path, suffix=suffix, make_parents=make_parents) as temp:
        write(temp)


def write_atomic(path: str | os.PathLike, data: bytes | str, *, make_parents: bool = False) -> None:
    """Write ``data`` (str as UTF-8) to ``path`` whole or not at all."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def write(temp: Path) -> None:
        with open(temp, "wb") as handle:
            handle.write(payload)
            handle.flush()

    write_atomic_with(path, write, make_parents=make_parents)


def _json_default(value):
    """numpy scalars and arrays, and paths, as plain JSON values."""
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy scalar or array, without importing numpy
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def write_json_atomic(path: str | os.PathLike, obj, *, indent: int | None = 2, sort_keys: bool = False,
                      make_parents: bool = False) -> None:
    """``obj`` as JSON text plus a newline, written atomically; numpy values and paths are converted."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=_json_default) + "\n"
    write_atomic(path, text, make_parents=make_parents)


def sha256_of_file(path: str | os.PathLike, *, block_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_bytes), b""):
            digest.update(block)
    return digest.hexdigest()
