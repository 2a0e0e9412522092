"""PostgreSQL's own TPC-B figure on this machine: what the earn's throughput is set against.

pgbench ships with PostgreSQL. Its default script (TPC-B like: three
UPDATEs, a SELECT and an INSERT in one transaction) is about as much
writing as one earn, with no application in the way, so "the earn is N%
of pgbench" reads the same on any machine. It runs on a database of its
own (bench.backends), initialised at scale 10 (10 branches: 8 clients
seldom wait on one another's row), with the bench's clients and duration,
every transaction logged so p50/p99 come from the same samples as ours.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import backends, load

SCALE = 10
INSTALL = "apt-get install postgresql-client: pgbench comes with it"


def command() -> str | None:
    return shutil.which("pgbench")


def _connection(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    env = {**os.environ, **({"PGPASSWORD": u.password} if u.password else {})}
    return args + [u.database], env


def measure(admin_url: str, *, clients: int, seconds: float, folder: Path, threads: int = 2) -> load.Measure:
    """`pgbench -i -s 10`, then the default script for `seconds` over `clients` connections and `threads` threads."""
    pgbench = command()
    if pgbench is None:
        raise RuntimeError(f"pgbench is not installed ({INSTALL})")
    with backends.postgres_database(admin_url) as url:
        where, env = _connection(url)
        subprocess.run([pgbench, "-i", "-q", "-s", str(SCALE), *where], env=env, check=True, capture_output=True,
                       timeout=600)
        prefix = str(folder / "pgbench_log")
        argv = [pgbench, "-c", str(clients), "-j", str(min(threads, clients)), "-T", f"{max(1, round(seconds))}",
                "-l", f"--log-prefix={prefix}", *where]
        busy0 = load.machine_busy()
        done = subprocess.run(argv, env=env, cwd=folder, capture_output=True, text=True, timeout=seconds + 600)
        busy1 = load.machine_busy()
        if done.returncode != 0:
            raise RuntimeError(f"pgbench exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    tps = _figure(done.stdout, r"^tps = ([\d.]+) \(without initial connection time\)")
    failed = _figure(done.stdout, r"^number of failed transactions: (\d+)", default=0)
    latencies = _logged(prefix)
    # ops / seconds is pgbench's own tps (it leaves out the time to connect), with the logged latencies.
    return load.Measure(len(latencies), int(failed), len(latencies) / tps if tps else 0.0, latencies,
                        clients=clients,
                        machine_cpu=busy1 - busy0 if busy0 is not None and busy1 is not None else None)


def _figure(text: str, pattern: str, default: float | None = None) -> float:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        if default is not None:
            return default
        raise RuntimeError(f"no {pattern!r} in pgbench's output:\n{text[-1000:]}")
    return float(found.group(1))


def _logged(prefix: str) -> list[float]:
    """Each transaction's latency (s) from the per-thread logs: `client_id transaction_no time_us script_no ...`."""
    latencies = []
    for path in glob.glob(f"{prefix}.*"):
        with open(path) as f:
            fields = (line.split() for line in f)
            latencies += [int(x[2]) / 1e6 for x in fields if len(x) > 2 and x[2].isdigit()]  # not "failed"
        os.unlink(path)
    return latencies
