"""The tests mirror the code: a folder per package (and per orchestrator hand-off), shared
helpers in ``tests/helpers``, no test importing a ``conftest`` as a module."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def test_orchestrator_tests_sit_in_the_folder_of_the_code_they_test():
    packages = {p.name for p in (ROOT / "orchestrator").iterdir() if (p / "__init__.py").exists()}
    for path in (TESTS / "orchestrator").rglob("test_*.py"):
        folder = path.relative_to(TESTS / "orchestrator").parts[0]
        assert folder in packages, f"{path.relative_to(ROOT)}: not under one of {sorted(packages)}"


def test_no_test_imports_a_conftest():
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.endswith("conftest") for n in names), path.relative_to(ROOT)
