"""Tiny helpers shared by the benchmarks: wall-clock timing and one plain-text table."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

__all__ = ["timeit", "print_table", "machine_load"]


def timeit(fn: Callable[[], object], repeat: int = 3, *, warmup: int = 1,
           clock: Callable[[], float] = time.perf_counter) -> float:
    """Best seconds of ``repeat`` calls of ``fn`` (after ``warmup`` untimed calls).

    The minimum is the least disturbed run on a shared machine. ``clock``: wall clock by
    default; ``time.process_time`` measures the CPU seconds of all the process's threads, which
    compares implementations fairly when other jobs share the cores.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(max(1, repeat)):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def machine_load() -> str:
    """``"load 1.23 / 2 cores"``: the 1-minute load average, to print next to timings."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load unknown"
    return f"load {load:.2f} / {os.cpu_count()} cores"


def _format(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if magnitude >= 0.1 or value == 0 else f"{value:.2g}"
    return str(value)


def print_table(rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Print ``rows`` (dicts keyed by column name; missing -> "-") as an aligned text table."""
    cells = [[_format(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    print("  ".join("-" * width for width in widths))
    for line in cells:
        print("  ".join(cell.rjust(width) if i else cell.ljust(width)
                        for i, (cell, width) in enumerate(zip(line, widths))))


def presence_rules() -> dict:
    """The four labeling rules the person-free benchmarks compare (name -> LabelOptions): the
    defaults, fixed gates, and each without the presence test."""
    from labeling.pseudo_labels import LabelOptions

    return {"adaptive + presence test (default)": LabelOptions(),
            "fixed gates + presence test": LabelOptions(gating="fixed"),
            "adaptive, presence test off": LabelOptions(presence_min_score=0),
            "fixed, presence test off (before)": LabelOptions(gating="fixed", presence_min_score=0)}
