"""The arrows of docs/architecture.md hold, and its map names every module as it is."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def test_the_import_contracts_hold():
    """partners and plugins keep to their side, the ledger core imports no Flask, network's layers import only downwards."""
    command = [str(Path(sys.executable).parent / "lint-imports"), "--config", "pyproject.toml", "--no-cache"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "BROKEN" not in run.stdout and "KEPT" in run.stdout


def test_every_module_the_map_names_exists():
    named = set(re.findall(r"`((?:network|settlement|analytics|partners|plugins)/[\w/]+\.py)`", ARCHITECTURE))
    assert len(named) > 40
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_every_module_of_the_hub_is_on_the_map():
    """A module added without a line in the map fails here: the map is how a newcomer finds it."""
    text = ARCHITECTURE
    modules = [path for folder in ("network", "analytics") for path in (ROOT / folder).rglob("*.py")
               if "migrations" not in path.parts and path.name != "__init__.py" and "demo" not in path.parts
               and path.parent.name != "api"]
    missing = sorted(str(path.relative_to(ROOT)) for path in modules
                     if str(path.relative_to(ROOT)) not in text and f"`{path.name}`" not in text
                     and not re.search(rf"`{re.escape(str(path.parent.relative_to(ROOT)))}/[^`]*\b{path.stem}\b", text))
    assert missing == []


def test_the_invariants_it_lists_are_the_ledger_checks():
    from network.ledger.invariants import CHECKS

    listed = ARCHITECTURE.split("**Invariants**", 1)[1].split("\n\n", 1)[0]
    listed = " ".join(listed.split())
    assert [name for name in CHECKS if name not in listed] == []
