"""The package's layers, walked with ``ast``: arrows point down only, and no cycles.

Layers, lowest first (README "How the code is laid out"):

0. ``synthkit.errors`` (and the lazy ``synthkit/__init__``)
1. ``llm/``
2. ``core/``
3. the libraries stages use: ``prompts/``, ``sandbox/``, ``dedup/``, ``seeds/``,
   ``data/``, ``eval/``, ``hub/``, ``train/``, ``influence/``
4. ``stages/``
5. ``rounds``, ``cli``, ``viewer`` (a reader of run folders)

Every import counts, including those inside functions (a lazy import is still
a dependency); only ``if TYPE_CHECKING:`` blocks are skipped, since they never
run. A module may import its own layer or lower ones; within a layer the
module graph must have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import synthkit

ROOT = Path(synthkit.__file__).parent
LAYERS = {
    "errors": 0, "__init__": 0,
    "llm": 1,
    "core": 2,
    **{lib: 3 for lib in ("prompts", "sandbox", "dedup", "seeds", "data", "eval", "hub", "train", "influence")},
    "stages": 4,
    "rounds": 5, "reference": 5, "cli": 5, "__main__": 5, "viewer": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return LAYERS["__init__"]
    if parts[1] not in LAYERS:
        raise AssertionError(f"{module}: its room ({parts[1]}) has no layer; add it to LAYERS and the README")
    return LAYERS[parts[1]]


def _runtime_nodes(tree: ast.AST):
    """Every node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports(path: Path, module: str) -> set[str]:
    """The synthkit modules ``path`` imports (a package import means its ``__init__``)."""
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from synthkit.core import rundir` imports the submodule rundir, not a name of the package
            subs = {f"{target}.{a.name}" for a in node.names if _is_module(f"{target}.{a.name}")}
            found |= subs if len(subs) == len(node.names) else subs | {target}
    return {m for m in found if m == "synthkit" or m.startswith("synthkit.")} - {module}


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT.parent / rel).with_suffix(".py").is_file() or (ROOT.parent / rel / "__init__.py").is_file()


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p, module_name(p)) for p in sorted(ROOT.rglob("*.py"))}


def test_no_import_points_up():
    upward = []
    for mod, deps in graph().items():
        for dep in deps:
            if dep == "synthkit":
                continue  # the lazy root only maps names to modules
            if layer_of(dep) > layer_of(mod):
                upward.append(f"{mod} (layer {layer_of(mod)}) imports {dep} (layer {layer_of(dep)})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(upward))


EXECUTORS = {"synthkit.core.executor", "synthkit.core.local_executor", "synthkit.core.ray_executor"}


def stage_imports_of_executors(edges: dict[str, set[str]]) -> list[str]:
    """``stage module imports executor module`` for every such import (there must be none)."""
    return sorted(f"{mod} imports {dep}" for mod, deps in edges.items() if mod.startswith("synthkit.stages.")
                  for dep in deps if dep in EXECUTORS)


def test_no_stage_imports_an_executor():
    """A stage declares what it can do (``WholeStage.distributed`` and its shard plan);
    which executor runs it is none of its business (docs/scaling.md)."""
    assert all(m in graph() for m in EXECUTORS), "an executor module moved; update EXECUTORS"
    found = stage_imports_of_executors(graph())
    assert not found, "stage modules import an executor:\n" + "\n".join(found)
    assert stage_imports_of_executors({"synthkit.stages.x": {"synthkit.core.ray_executor"}}) == [
        "synthkit.stages.x imports synthkit.core.ray_executor"]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles():
    edges = {m: {d for d in deps if d != "synthkit"} for m, deps in graph().items()}
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_sees_cycles_and_upward_imports(tmp_path):
    """The checks above can fail: a cycle and an upward import are both caught."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    fake = ROOT / "core" / "_layering_probe.py"
    try:
        fake.write_text("def f():\n    from synthkit.stages import judge\n")
        assert "synthkit.stages.judge" in imports(fake, "synthkit.core._layering_probe")
        assert layer_of("synthkit.stages.judge") > layer_of("synthkit.core._layering_probe")
    finally:
        fake.unlink()
