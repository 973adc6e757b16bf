"""Our import graph, function-level imports included (parsed with ast): no cycles, and the layering
of README.md's package map."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("geometry", "calibration", "capture", "labeling")
TOP_MODULES = ("rigkit_cli", "rigkit_files", "rigkit_lazy", "rigkit_version")
# who may import whom (README "Package map"); the top-level modules below all packages are free to use
ALLOWED = {
    "geometry": {"geometry"},
    "capture": {"capture", "geometry"},
    "calibration": {"calibration", "geometry", "capture"},
    "labeling": {"labeling", "geometry", "capture", "calibration"},
}
# The command layer: a package's ``cli`` module composes packages for the user. `rigkit calibrate
# keypoints --detections FORMAT:PATH` reads detections through labeling's importers (issue 15: one
# detections contract), so calibration.cli may use labeling; nothing else of calibration may.
CLI_MAY_ALSO_USE = {"calibration.cli": {"labeling"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of dotted ``name`` that is one of our modules."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> our modules it imports anywhere (module level, functions, methods)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != name:
                    edges.add(resolved)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, result, counter = {}, {}, set(), [], [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop edges to a package ``__init__`` from its own submodules (Python loads it first anyway;
    ``from . import x`` inside a package names the submodule x, resolved above)."""
    return {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in graph.items()}


def test_no_import_cycles_counting_function_level_imports():
    cycles = _cycles(_without_package_inits(import_graph()))
    assert cycles == [], cycles


def test_layering():
    broken = []
    for module, targets in import_graph().items():
        top = module.split(".")[0]
        if top not in ALLOWED:
            continue
        for target in targets:
            other = target.split(".")[0]
            if other in PACKAGES and other not in ALLOWED[top] | CLI_MAY_ALSO_USE.get(module, set()):
                broken.append(f"{module} -> {target}")
    assert broken == []


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "geometry._kernels" in graph["geometry.triangulation"]  # imported inside triangulate()


# The synthetic scene (geometry.synthetic, capture.scene) and its renderer (capture.render,
# capture.render_person) are loaded only by the synthetic source, the demo, the detector's synthetic
# training data, the benchmarks and the tests; by these modules, and only where they run a scene:
SYNTHETIC = ("geometry.synthetic", "capture.scene", "capture.render", "capture.render_person")
MAY_LOAD_SYNTHETIC = ("geometry.synthetic", "capture.scene", "capture.render", "capture.render_person",
                      "capture.sources", "capture.recorder", "capture.finalize",  # a synthetic rig's truth
                      "labeling.detector.synthetic_data", "labeling.demo")


def test_only_the_synthetic_source_demo_and_training_data_import_the_synthetic_scene():
    offenders = []
    for module, targets in import_graph().items():
        if module.startswith(MAY_LOAD_SYNTHETIC):
            continue
        offenders += [f"{module} -> {t}" for t in targets if t.startswith(SYNTHETIC)]
    assert offenders == []
