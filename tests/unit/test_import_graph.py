"""The import graph of alignterm's own modules: no cycles, and the engine below every other layer
(architecture §2: the engine never imports tui, formats, cli or sessions).

Every import counts, at module level or inside a function (a lazy import is still a dependency,
and a cycle through one breaks as soon as the import moves up). An import under `if TYPE_CHECKING:`
never runs: it counts for the layers (the engine must not name the app even in an annotation) but
not for cycles (a command palette annotating the app it belongs to is not a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import alignterm

ROOT = Path(alignterm.__file__).parent
ENGINE_NEVER_IMPORTS = ("alignterm.tui", "alignterm.formats", "alignterm.cli", "alignterm.sessions")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements inside `if TYPE_CHECKING:` blocks."""
    inside: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                inside.update(n for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom))
    return inside


def _graph(runtime_only: bool = False) -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _type_only(tree) if runtime_only else set()
        for node in ast.walk(tree):
            if node in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                # `from pkg import sub` imports the module pkg.sub where there is one
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod for a in node.names]
            for target in targets:
                while target and target not in files:  # `import a.b.c` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_lazy_relative_and_type_only_imports():
    graph = _graph()
    assert "alignterm.engine.hf" in graph["alignterm.engine.loading"]  # a function-level relative import
    assert "alignterm.engine.backend" in graph["alignterm.engine.hf"]
    assert "alignterm.engine.values" in graph["alignterm.engine.events"]  # under TYPE_CHECKING
    assert "alignterm.engine.values" not in _graph(runtime_only=True)["alignterm.engine.events"]


def test_alignterm_modules_import_each_other_without_cycles():
    assert _cycles(_graph(runtime_only=True)) == []


def test_the_engine_imports_no_layer_above_it():
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in _graph().items() if name.startswith("alignterm.engine")
        for target in targets if target.startswith(ENGINE_NEVER_IMPORTS)
    )
    assert wrong == []


def test_the_adapter_protocol_imports_no_adapter():
    adapters = ("alignterm.engine.hf", "alignterm.engine.gguf", "alignterm.engine.remote")
    assert not [t for t in _graph()["alignterm.engine.backend"] if t.startswith(adapters)]
