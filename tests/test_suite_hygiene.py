"""The suite's own shape: helpers shared through tests/support, never one test module through another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
TOP_LEVEL = {"network", "partners", "plugins", "settlement", "bench"}


def imported_test_modules(source: str, package: str = "tests") -> list[tuple[int, str]]:
    """(line, module) of each test module `source` imports, however it is spelt (absolute, relative, `from tests import`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            full = ".".join(part for part in (package if node.level else "", node.module or "") if part)
            if _is_test_module(full):
                found.append((node.lineno, full))
            found += [(node.lineno, f"{full}.{alias.name}") for alias in node.names
                      if full == package and alias.name.startswith("test_")]
    return found


def _is_test_module(name: str) -> bool:
    return name.split(".")[-1].startswith("test_") and name.split(".")[0] == "tests"


@pytest.mark.parametrize(("source", "found"), [
    ("from tests.test_holds import void", [(1, "tests.test_holds")]),
    ("import tests.test_concurrency", [(1, "tests.test_concurrency")]),
    ("from tests import support, test_tiers", [(1, "tests.test_tiers")]),
    ("from .test_events import events", [(1, "tests.test_events")]),
    ("def f():\n    from tests.test_settlement_figures import ids", [(2, "tests.test_settlement_figures")]),
    ("from tests.support.races import race\nfrom tests.support import hub", []),
])
def test_the_check_finds_a_test_module_however_it_is_imported(source, found):
    assert imported_test_modules(source) == found


def test_no_test_module_imports_another():
    """A helper two modules need belongs in tests/support: importing a test module runs, and couples to, its tests."""
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for line, module in imported_test_modules(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_folder_under_tests_is_named_like_a_top_level_package():
    """tests/network/ would shadow the real network package whenever pytest puts tests/ on sys.path."""
    packages = TOP_LEVEL | {folder.name for folder in ROOT.iterdir() if (folder / "__init__.py").exists()}
    clashes = [str(folder.relative_to(ROOT)) for folder in TESTS.rglob("*") if folder.is_dir() and folder.name in packages]
    assert clashes == []
    assert {"network", "partners", "plugins", "settlement"} <= packages
