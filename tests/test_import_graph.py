"""The project's import graph, read from the source with ``ast``: acyclic, and pointing down.

An edge ``a → b`` means importing ``a`` runs ``b`` first: a module-level import (outside
``if TYPE_CHECKING:``) of ``b`` or of a module inside package ``b`` (whose ``__init__``
runs first). A cycle there is an import that works only in some orders. Imports inside
functions run later, so they cannot make a cycle at import time; they must not need one
either: with them added (each import's own module, not its packages), the graph stays
acyclic, so no function-level import exists only to dodge a cycle.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mtsweep", "tasks", "models", "attacks", "sweeps", "orchestrator")
# The layers, bottom first: a package may import its own layer and those below it.
LAYERS = (
    (
        "mtsweep.errors",
        "mtsweep.atomic",
        "mtsweep.cache",
        "mtsweep.registry",
        "mtsweep.shared_storage",
    ),
    ("tasks",),
    ("models",),
)
LAYERS += (("attacks",), ("sweeps",), ("orchestrator", "mtsweep"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


@cache
def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: list[ast.stmt], functions: bool):
    """Import statements run when the module is imported (and, if ``functions``, later)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _statements(node.orelse, functions)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if functions:
                yield from (n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While | ast.ClassDef):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    inner = child.body if isinstance(child, ast.ExceptHandler) else [child]
                    yield from _statements(inner, functions)


def imports_of(
    name: str, path: Path, modules: dict[str, Path], functions: bool, packages: bool
) -> set[str]:
    """The project modules ``name`` imports (and, if ``packages``, their packages)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _statements(tree(path).body, functions):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        for target in targets:  # ``import a.b.c`` runs a, a.b and a.b.c
            parts = target.split(".")
            first = 1 if packages else len(parts)
            found.update(".".join(parts[:i]) for i in range(first, len(parts) + 1))
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    return {m for m in found if m in modules} - own  # a package's __init__ ran before it


@cache
def graph(functions: bool = False) -> dict[str, set[str]]:
    """Module-level imports with the packages they run; or, with ``functions``, every
    import statement's own module."""
    modules = project_modules()
    return {
        name: imports_of(name, path, modules, functions, packages=not functions)
        for name, path in modules.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(name: str) -> int:
    for i, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(f"{p}.") for p in prefixes):
            return i
    raise AssertionError(f"{name} is in no layer")


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_is_read_from_every_package():
    edges = graph()
    assert {"tasks.registry", "orchestrator.cli", "mtsweep.errors"} <= set(edges)
    assert "tasks.datasets" in edges["tasks.registry"]
    assert "tasks.taskonomy_data" in edges["tasks.datasets"]  # ``from tasks import x``
    assert "tasks.packed" in edges["orchestrator.trial.data"]  # the package of tasks.packed.read


def test_module_level_imports_are_acyclic():
    assert find_cycle(graph()) is None


def test_no_function_level_import_dodges_a_cycle():
    assert find_cycle(graph(functions=True)) is None


def test_imports_point_down():
    upward = sorted(
        f"{a} → {b}"
        for a, targets in graph(functions=True).items()
        for b in targets
        if layer(b) > layer(a)
    )
    assert not upward


def test_tasks_know_no_ray_or_mlflow():
    for name, path in project_modules().items():
        if name.split(".")[0] in ("tasks", "models", "attacks"):
            module = tree(path)
            roots = {
                alias.name.split(".")[0]
                for node in ast.walk(module)
                if isinstance(node, ast.Import)
                for alias in node.names
            } | {
                (node.module or "").split(".")[0]
                for node in ast.walk(module)
                if isinstance(node, ast.ImportFrom)
            }
            assert not roots & {"ray", "mlflow"}, name


def loaded_by(start: list[str]) -> set[str]:
    """The project modules that importing ``start`` runs (module-level imports, transitively)."""
    loaded: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in loaded:
            loaded.add(name)
            todo.extend(graph()[name])
    return loaded


def roots_imported(name: str) -> set[str]:
    """The top-level packages module ``name`` imports at module level."""
    return {
        (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
        for node in _statements(tree(project_modules()[name]).body, functions=False)
        for alias in node.names
    }


def test_a_trials_worker_imports_no_mlflow():
    """What a Ray worker loads for a trial (ray_backend, and what ``tune_trainable`` imports)
    never imports MLflow: MLflow is the driver's; the worker reads its version from metadata."""
    modules = project_modules()
    backend = "orchestrator.sweep.ray_backend"
    trainable = next(
        node
        for node in tree(modules[backend]).body
        if isinstance(node, ast.FunctionDef) and node.name == "tune_trainable"
    )
    start = [backend] + [
        node.module
        for node in ast.walk(trainable)
        if isinstance(node, ast.ImportFrom) and node.module in modules
    ]
    assert "orchestrator.trial.versions" in start
    assert not [name for name in loaded_by(start) if "mlflow" in roots_imported(name)]


def test_loading_a_sweep_imports_no_torch_matplotlib_nor_ray():
    """``mtsweep list`` and ``show SWEEP`` load sweeps: nothing that loads imports torch,
    torchvision, matplotlib or Ray at module level (torch loads on first use, through
    ``lazy_loader`` or a builder's module; docs/architecture.md). The fresh-interpreter test
    in tests/orchestrator/cli/test_run_folder.py runs the commands; this one names the module."""
    heavy = {"torch", "torchvision", "matplotlib", "ray"}
    start = ["orchestrator.cli", "orchestrator.sweep.plan", "orchestrator.sweep.request_guard"]
    loaded = loaded_by([*start, "sweeps.definition"])  # the CLI loads sweeps in its functions
    assert {"tasks.taskonomy_data", "attacks.measures", "models.registry"} <= loaded
    importing = {name: roots_imported(name) & heavy for name in loaded}
    assert not {name: roots for name, roots in importing.items() if roots}
