"""Where the workers of `coalition serve` keep their figures: prometheus-client's multi-process directory.

Each gunicorn worker is a process with its own memory, so a counter in one
knows nothing of the others and a scrape answered by one worker would show a
part of the traffic. In multi-process mode every process writes its values
to files of its own in `PROMETHEUS_MULTIPROC_DIR`, and a scrape, whichever
worker answers it, adds them up. prometheus-client picks the mode once, when
it is first imported, from that variable: so it is set here, before gunicorn
loads the worker class (which imports the app), and this module imports
nothing of prometheus-client or the hub.

A directory made here is new, so empty, and removed when the server stops; one
the operator set (to share it with `coalition events deliver`, whose webhook
failures then count in /metrics too) is emptied of prometheus-client's own files
at start, as its documentation asks: files left by the processes of a former
run would be added to this one's.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: The files prometheus-client writes: `<type>_<pid>.db`, `gauge_<mode>_<pid>.db`.
KINDS = ("counter_", "gauge_", "histogram_", "summary_")


def prepare(environ=os.environ) -> tuple[str, bool]:
    """Set the directory up (made here, or the operator's, emptied); returns it and whether it was made here."""
    given = environ.get(VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for found in path.iterdir():
            if found.suffix == ".db" and found.name.startswith(KINDS) and found.is_file():
                found.unlink()
        made = False
    else:
        path = Path(tempfile.mkdtemp(prefix="coalition-metrics-"))
        environ[VARIABLE] = str(path)
        made = True
    return str(path), made


def check_mode() -> None:
    """Refuse to serve if prometheus-client was imported before the directory was set: it would count in memory."""
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(f"prometheus_client was imported before {VARIABLE} was set: each worker would count "
                           "apart and /metrics show one worker's share")


def remove(path: str) -> None:
    """Remove a directory `prepare` made, with the files the workers left in it."""
    for found in Path(path).glob("*"):
        found.unlink(missing_ok=True)
    Path(path).rmdir()
