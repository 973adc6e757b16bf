"""Import cost of rigkit's package faces and of the command line (issue 10).

    python benchmarks/bench_imports.py [--quick] [--repeat 3]

Each row runs a fresh interpreter (as a spawned DataLoader worker or a shell command does) and
reports the best wall-clock seconds of ``--repeat`` runs of the import alone (the interpreter's
own start is not counted), the process's peak resident memory in MB (``ru_maxrss``), and which
heavy third-party modules the import loaded. ``rigkit ... --help`` rows time the whole command,
interpreter start included (what a user waits for).

The reference row is ``import torch`` alone: a trainer's worker that imports ``ShardDataset``
cannot be cheaper than torch, and should not be much dearer.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine_load, print_table  # noqa: E402

HEAVY = ("torch", "numba", "llvmlite", "scipy", "cv2", "zmq", "h5py", "matplotlib", "ray")

# (row name, statement run in a fresh interpreter[, setup run before it, not timed])
IMPORTS = [
    ("torch alone", "import torch"),
    ("from labeling import ShardDataset", "from labeling import ShardDataset"),
    # what the dataset adds to a worker that has torch anyway: robust to the machine's load
    ("  ... after import torch", "from labeling import ShardDataset", "import torch"),
    ("import geometry", "import geometry"),
    ("import capture", "import capture"),
    ("import calibration", "import calibration"),
    ("import labeling", "import labeling"),
    ("import calibration.cli", "import calibration.cli"),
    ("import labeling.cli", "import labeling.cli"),
    ("import capture.cli", "import capture.cli"),
]
HELP_COMMANDS = [[], ["capture"], ["calibrate"], ["label"], ["demo"]]

_PROBE = """
import json, resource, sys, time
exec({setup!r})
start = time.perf_counter()
exec({statement!r})
seconds = time.perf_counter() - start
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(seconds=seconds, rss_mb=rss_mb, heavy=heavy)))
"""


def probe_import(statement: str, setup: str = "") -> dict:
    """One fresh interpreter: seconds and peak MB of ``statement`` (after the untimed ``setup``), and
    the heavy modules loaded."""
    code = _PROBE.format(statement=statement, setup=setup, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=_env())
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rigkit_cli", *argv], cwd=ROOT, capture_output=True, check=True,
                   env=_env())
    return time.perf_counter() - start


def _env() -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run per row instead of --repeat")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; the best is reported")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else max(1, args.repeat)
    print(f"bench_imports: fresh interpreter per run, best of {repeat}; {machine_load()}")
    rows = []
    for name, statement, *setup in IMPORTS:
        runs = [probe_import(statement, *setup) for _ in range(repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        rows.append({"import": name, "s": best["seconds"], "peak MB": min(r["rss_mb"] for r in runs),
                     "heavy modules loaded": " ".join(best["heavy"]) or "-"})
    print_table(rows, ["import", "s", "peak MB", "heavy modules loaded"])
    print()
    help_rows = []
    for command in HELP_COMMANDS:
        seconds = min(time_command([*command, "--help"]) for _ in range(repeat))
        help_rows.append({"command": " ".join(["rigkit", *command, "--help"]), "s (whole process)": seconds})
    print_table(help_rows, ["command", "s (whole process)"])
    print(f"{machine_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
