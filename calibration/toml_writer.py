"""A tiny TOML writer for calibration and board files (reading is :mod:`tomllib`).

Supports exactly what rigkit writes: a document of top-level scalars followed by tables (nested
tables as dotted headers), whose values are strings, booleans, integers, finite floats and
(nested) lists of those. Floats are written with ``repr`` (the shortest text that reads back to
the same float64), so a save -> load round trip is exact. NaN and inf are refused: a calibration
with them is broken, and several readers (old ``toml``) choke on them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["dumps_toml", "format_key"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_key(key: str) -> str:
    """A TOML key: bare when it can be, a quoted basic string otherwise."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"TOML keys must be non-empty strings, got {key!r}")
    return key if _BARE_KEY.match(key) else _format_string(key)


def _format_string(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    escaped = "".join(c if ord(c) >= 0x20 and ord(c) != 0x7F else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _format_value(value, where: str) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value}; TOML calibration files hold finite numbers only")
        return repr(value)
    if isinstance(value, str):
        return _format_string(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Sequence):
        return "[" + ", ".join(_format_value(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    raise ValueError(f"{where} has type {type(value).__name__}, which the TOML writer does not support")


def dumps_toml(document: Mapping[str, object]) -> str:
    """Serialize ``document`` (a mapping of keys to values or tables) to TOML text.

    Top-level non-table values come first, then one ``[table]`` per mapping value, in the order of
    the mapping (insertion order is preserved, so camera order survives). Nested mappings become
    ``[table.sub]`` headers after their parent's own values.
    """
    lines: list[str] = []
    _write_table(document, (), lines)
    return "\n".join(lines).strip("\n") + "\n"


def _write_table(table: Mapping[str, object], path: tuple[str, ...], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        if lines:
            lines.append("")
        lines.append("[" + ".".join(format_key(p) for p in path) + "]")
    for key, value in scalars:
        where = ".".join(path + (key,))
        lines.append(f"{format_key(key)} = {_format_value(value, where)}")
    for key, value in tables:
        _write_table(value, path + (key,), lines)
