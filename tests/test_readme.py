"""The README is a test: every command block of README.md runs, in order, as written.

Convention (what a README author needs to know):

- Every fenced block with the info string ``sh`` runs with ``bash`` (``set -eo pipefail``: the
  block fails at its first failing command), in README order, all in one scratch directory shared
  by the whole module. The scratch directory has the clone's ``rigs/``, ``examples/`` and
  ``benchmarks/`` linked in, and the venv's ``bin`` (the folder of ``sys.executable``) first on
  ``PATH``, so ``rigkit ...`` and ``python ...`` are the installed ones; ``PYTHONPATH`` is the clone.
- Every ``python`` block runs the same way with ``sys.executable``.
- A block immediately preceded by the line ``<!-- ci: skip: REASON -->`` does not run; it is
  reported as a pytest skip with REASON (for what CI cannot have: a real camera, a file the user
  brings, the install CI does itself).
- Printed figures: a ``text`` block immediately preceded by the line
  ``<!-- ci: expect: TOLERANCE -->`` or ``<!-- ci: expect: TOLERANCE; ignore: WORD, WORD -->``
  holds output of the closest ``sh``/``python`` block above it. TOLERANCE is ``N%`` (relative) or
  a number (absolute), or both (``2%, 0.05``: whichever is larger). Every line of the text block
  that contains none of the ignored words must appear in the block's output (stdout + stderr): a
  printed line that begins with the README line's words once the numbers are taken out (spaces and
  thousands separators do not count; the README line may stop early, before a wall time), and
  whose numbers each agree with the README's within the tolerance. Lines with machine-dependent
  figures (wall time, rates) go in ``ignore`` or stop before them.
- Other ``text`` blocks and indented blocks are not checked.

One test per block (``README.md:LINE``); after a failed block the later ones are skipped (they
depend on what it should have made). The whole README stays under ~4 minutes on 2 cores.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
LINKED = ("rigs", "examples", "benchmarks")
BLOCK_TIMEOUT_S = 900  # a generous bound for one block on a loaded 2-core machine

_FENCE = re.compile(r"^```(\w*)\s*$")
_SKIP = re.compile(r"^<!-- ci: skip: (?P<reason>.+?) -->$")
_EXPECT = re.compile(r"^<!-- ci: expect: (?P<tolerance>[^;]+?)(?:; ignore: (?P<ignore>.+?))? -->$")
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


@dataclass
class Block:
    """One fenced block. line: 1-based line of its opening fence."""

    line: int
    kind: str
    code: str
    skip: str | None = None
    expects: list["Expect"] = field(default_factory=list)


@dataclass
class Expect:
    line: int
    text: str
    relative: float
    absolute: float
    ignore: tuple[str, ...]


def parse_tolerance(text: str) -> tuple[float, float]:
    """``"5%"`` -> (0.05, 0), ``"0.5"`` -> (0, 0.5), ``"2%, 0.05"`` -> (0.02, 0.05)."""
    relative = absolute = 0.0
    for part in text.split(","):
        part = part.strip()
        if part.endswith("%"):
            relative = float(part[:-1]) / 100
        elif part:
            absolute = float(part)
    return relative, absolute


def parse_readme(text: str) -> list[Block]:
    """The ``sh``/``python`` blocks of a README, with their skip reasons and expected outputs."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        kind, start = match.group(1), i
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise ValueError(f"README.md:{start + 1}: a fenced block that is never closed")
        body = "\n".join(lines[start + 1:end]) + "\n"
        marker = lines[start - 1].strip() if start else ""
        if kind in ("sh", "python"):
            skip = _SKIP.match(marker)
            blocks.append(Block(start + 1, kind, body, skip.group("reason") if skip else None))
        elif kind == "text" and _EXPECT.match(marker):
            expect = _EXPECT.match(marker)
            if not blocks:
                raise ValueError(f"README.md:{start + 1}: an expected output before any command block")
            ignore = tuple(w.strip() for w in (expect.group("ignore") or "").split(",") if w.strip())
            blocks[-1].expects.append(Expect(start + 1, body, *parse_tolerance(expect.group("tolerance")), ignore))
        elif marker.startswith("<!-- ci:"):
            raise ValueError(f"README.md:{start}: a ci marker before a {kind or 'plain'} block: {marker}")
        i = end + 1
    return blocks


def _skeleton(line: str) -> str:
    return " ".join(_NUMBER.sub("#", line).split())


def _begins(printed: str, readme: str) -> bool:
    """The printed line (skeleton) begins with the README's, which ends at a word's end."""
    return printed.startswith(readme) and (len(printed) == len(readme) or not printed[len(readme)].isalnum())


def _numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(line)]


def check_expected(output: str, expect: Expect) -> list[str]:
    """The README lines of ``expect`` that the output does not show (empty: all shown)."""
    printed = [(_skeleton(line), _numbers(line)) for line in output.splitlines()]
    failures = []
    for line in expect.text.splitlines():
        if not line.strip() or any(word in line for word in expect.ignore):
            continue
        skeleton, wanted = _skeleton(line), _numbers(line)
        candidates = [got for shape, got in printed if _begins(shape, skeleton)]
        if not candidates:
            failures.append(f"README.md:{expect.line}: no printed line reads like {line.strip()!r}")
            continue

        def close(got: list[float]) -> bool:
            return all(abs(g - w) <= max(expect.relative * abs(w), expect.absolute) for g, w in zip(got, wanted))

        if not any(close(got) for got in candidates):
            failures.append(f"README.md:{expect.line}: {line.strip()!r} printed as "
                            f"{candidates[0]} (tolerance {expect.relative:.0%} / {expect.absolute:g})")
    return failures


BLOCKS = parse_readme(README.read_text())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("readme")
    for name in LINKED:
        (folder / name).symlink_to(REPO / name, target_is_directory=True)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONSTARTUP", None)
    return {"folder": folder, "env": env, "failed": None}


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}-{b.kind}" for b in BLOCKS])
def test_readme_block(block: Block, scratch: dict):
    if block.skip:
        pytest.skip(block.skip)
    if scratch["failed"]:
        pytest.skip(f"an earlier README block failed ({scratch['failed']})")
    scratch["failed"] = f"README.md:{block.line}"
    if block.kind == "sh":
        argv = ["bash", "-c", "set -eo pipefail\n" + block.code]
    else:
        script = scratch["folder"] / f".readme-{block.line}.py"
        script.write_text(block.code)
        argv = [sys.executable, str(script)]
    done = subprocess.run(argv, cwd=scratch["folder"], env=scratch["env"], capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"README.md:{block.line} exited {done.returncode}:\n{block.code}\n{output[-4000:]}"
    failures = [f for expect in block.expects for f in check_expected(output, expect)]
    assert not failures, "\n".join(failures) + f"\n--- output ---\n{output[-4000:]}"
    scratch["failed"] = None


# -- the mechanism itself --------------------------------------------------------------------------
def test_the_convention_parses_skips_and_expectations():
    text = ("<!-- ci: skip: needs a camera -->\n```sh\nrigkit capture devices\n```\n"
            "```sh\necho 'rms 0.164 px over 2,268 corners'\n```\n"
            "<!-- ci: expect: 5%; ignore: wall -->\n```text\nrms 0.16 px over 2,270 corners\nwall 3 s\n```\n"
            "```python\nprint(1)\n```\n")
    blocks = parse_readme(text)
    assert [(b.kind, b.skip) for b in blocks] == [("sh", "needs a camera"), ("sh", None), ("python", None)]
    expect = blocks[1].expects[0]
    assert (expect.relative, expect.absolute, expect.ignore) == (0.05, 0.0, ("wall",))
    assert check_expected("rms 0.164 px over 2,268 corners\n", expect) == []
    assert check_expected("rms 0.200 px over 2,268 corners\n", expect)  # 25% off: caught
    assert check_expected("rms 0.164 px of 2,268 corners\n", expect)  # other words: caught
    assert check_expected("rms 0.164 px over 2,268 corners in 0.2 s\n", expect) == []  # the README stops early
    assert check_expected("rms 0.164 px over 2,268 corners, 5 iterations\n", expect) == []
    assert check_expected("rms 0.164 px over 2,268 cornerstones\n", expect)  # not at a word's end
    assert parse_tolerance("2%, 0.05") == (0.02, 0.05)
