"""Run every benchmark, one after another, and keep their tables.

    python benchmarks/run_all.py [--quick] [--only triangulation,relative_pose ...]

Each ``benchmarks/bench_*.py`` runs in its own process (so one benchmark's threads and caches do
not disturb the next) with ``--quick`` forwarded; its output is shown as it comes and saved,
together with the machine's load, to ``benchmarks/results/<UTC time>.txt``. Run it on a quiet
machine: every table prints the load it was measured at.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems (forwarded)")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. triangulation,capture")
    args = parser.parse_args(argv)
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; have {', '.join(names)}")
        names = wanted
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    log_path = results / (dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + ".txt")
    failed = []
    env = dict(os.environ, PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(log_path, "w") as log:
        for name in names:
            command = [sys.executable, str(HERE / f"bench_{name}.py")] + (["--quick"] if args.quick else [])
            header = f"\n=== {name}  ({' '.join(command[1:])}; load {os.getloadavg()[0]:.2f} / {os.cpu_count()} cores)\n"
            print(header, flush=True)
            log.write(header)
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, cwd=HERE.parent, env=env)
            for line in process.stdout:
                print(line, end="", flush=True)
                log.write(line)
            if process.wait() != 0:
                failed.append(name)
            footer = f"--- {name}: {time.perf_counter() - start:.0f} s, exit {process.returncode}\n"
            print(footer, flush=True)
            log.write(footer)
    print(f"\nsaved to {log_path}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
