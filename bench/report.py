"""The results table, the targets, and the machine the figures come from."""

from __future__ import annotations

import datetime
import os
import platform
import sqlite3
import subprocess
from dataclasses import dataclass, field
from importlib import metadata

from bench.load import Measure


@dataclass(frozen=True, eq=False)
class Target:
    #: "ops/s"; "p99" (ms); "cpu" (the machine's busy ms per operation); "share": ops/s at least `bound` times those
    #: of `of` (called `of_name`); the delivery bench's "p50" and "max" (ms, and nothing left undone), "seconds" (the
    #: whole run, with nothing left undone) and "lost" (errors: events that never arrived, at most `bound`).
    metric: str
    bound: float
    of: Measure | None = None
    of_name: str = ""

    def met(self, m: Measure) -> bool | None:
        if m.ops == 0:
            return False
        if self.metric == "ops/s":
            return m.rate >= self.bound
        if self.metric == "share":
            return self.of is not None and m.rate >= self.bound * self.of.rate
        if self.metric == "cpu":
            return m.cpu_ms_per_op is not None and m.cpu_ms_per_op <= self.bound
        if self.metric == "p99":
            return m.p99 is not None and m.p99 <= self.bound
        if self.metric == "lost":
            return m.errors <= self.bound
        if self.metric == "seconds":
            return not m.errors and m.seconds <= self.bound
        value = m.p50 if self.metric == "p50" else m.percentile_ms(1.0)
        return not m.errors and value is not None and value <= self.bound

    def __str__(self) -> str:
        if self.metric == "share":
            return f">= {self.bound:.0%} of {self.of_name} ({self.of.rate if self.of else 0:,.0f}/s)"
        return {"ops/s": f">= {self.bound:g}/s", "seconds": f"<= {self.bound:g} s", "lost": f"{self.bound:g} lost",
                "max": f"max <= {self.bound:g} ms", "cpu": f"cpu <= {self.bound:g} ms/op"}.get(
                    self.metric, f"{self.metric} <= {self.bound:g} ms")


@dataclass
class Row:
    backend: str
    path: str
    scenario: str
    measure: Measure
    raw: Measure | None = None
    target: Target | None = None
    notes: list[str] = field(default_factory=list)
    clients: str | None = None  # how the clients ran, when not threads of one process ("2x4")
    #: What sent the requests of an HTTP row: "wrk" or "python" (bench.web's client); for a reference, its tool.
    driver: str | None = None
    #: pgbench's TPC-B figure in the same run, for the earn rows on PostgreSQL.
    reference: Measure | None = None
    more_targets: list[Target] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.raw is None or not self.raw.rate:
            return None
        return self.measure.rate / self.raw.rate

    @property
    def reference_ratio(self) -> float | None:
        if self.reference is None or not self.reference.rate:
            return None
        return self.measure.rate / self.reference.rate

    @property
    def targets(self) -> list[Target]:
        return ([self.target] if self.target else []) + self.more_targets


HEADERS = ["backend", "path", "scenario", "clients", "driver", "ops", "ops/s", "p50 ms", "p99 ms", "cpu ms/op",
           "raw ops/s", "ratio", "tpc-b ratio", "target", "met?"]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def cells(row: Row) -> list[str]:
    m = row.measure
    ops = f"{m.ops}" + ("*" if m.cut_short else "") + (f" ({m.errors} err)" if m.errors else "")
    met = [t.met(m) for t in row.targets]
    return [
        row.backend, row.path, row.scenario, row.clients or str(m.clients), row.driver or "-", ops, f"{m.rate:,.0f}",
        _ms(m.p50), _ms(m.p99), _ms(m.cpu_ms_per_op),
        f"{row.raw.rate:,.0f}" if row.raw else "-",
        f"{row.ratio:.2f}" if row.ratio is not None else "-",
        f"{row.reference_ratio:.2f}" if row.reference_ratio is not None else "-",
        "; ".join(str(t) for t in row.targets) or "-",
        ", ".join("-" if x is None else ("yes" if x else "NO") for x in met) or "-",
    ]


def text_table(rows: list[Row]) -> str:
    table = [HEADERS] + [cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    right = {3, 5, 6, 7, 8, 9, 10, 11, 12}

    def fmt(line: list[str]) -> str:
        return " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))

    out = [fmt(HEADERS), "-+-".join("-" * w for w in widths)]
    previous = None
    for row, line in zip(rows, table[1:]):
        if previous is not None and row.backend != previous:
            out.append("-+-".join("-" * w for w in widths))
        previous = row.backend
        out.append(fmt(line))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def steal_share(before, after) -> str:
    """The share of all CPU time the hypervisor gave to other guests between two load.cpu_times()."""
    if before is None or after is None or after[2] <= before[2]:
        return "unknown"
    return f"{(after[1] - before[1]) / (after[2] - before[2]) * 100:.1f}% of all CPU time"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def code_version() -> str:
    """The commit measured, and whether the hub's code differed from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "network", "partners", "plugins"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{commit or 'unknown'}" + (f" with uncommitted changes to {', '.join(changed)}" if changed else "")


def machine(postgres_version: str | None, load_before: str) -> dict[str, str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code": code_version(),
        "cpu": f"{_cpu_model()}, {usable} usable core(s) (nproc), {os.cpu_count()} online",
        "ram": _ram(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version or "not measured",
        "load average (1, 5, 15 min) before / after the run": f"{load_before} / {load_average()}",
        "libraries": ", ".join(f"{p} {_version(p)}" for p in ("SQLAlchemy", "psycopg", "gunicorn", "Flask")),
    }
