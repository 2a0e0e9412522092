"""One way to order imports and no unused or undefined names, checked by ruff with the project's settings (pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_ruff_finds_nothing():
    command = [str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "network", "partners", "plugins",
               "settlement", "bench", "tests", "examples"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
