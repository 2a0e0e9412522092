"""HTTP load from wrk, a load generator in C, where the Python client would be the bottleneck.

Against the gunicorn hello-world, the Python keep-alive client (bench.web)
made 2,520 requests/s on the bench's 2-core machine where wrk made 8,393
(issue 16): its own CPU, on the same cores as the hub and PostgreSQL, is
part of any figure it drives. wrk runs bench/wrk.lua, which sends what
the Python client sends (the same JSON body, key, card and Idempotency-Key
rules) from a plan file this module writes, and prints its counts and
latency percentiles as JSON. What a run booked is then counted in the
database, by the order ids the script made (<tag>-<thread>-<n>).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy import func, select

from bench import load
from bench.web import SALE_BODY
from bench.world import REDEEM_POINTS, World
from network.db import Database
from network.models import JournalEntry, Order

SCRIPT = Path(__file__).with_name("wrk.lua")
INSTALL = "apt-get install wrk"
MARK = "WRK_JSON "
ORDER, CARD = "@ORDER@", "@CARD@"


def command() -> str | None:
    return shutil.which("wrk")


@dataclass(frozen=True)
class Plan:
    """What every request of a run is: bench/wrk.lua fills ORDER and CARD in per request."""

    method: str
    path: str
    body: str  # "" for none
    expect: int
    keys: list[str]
    cards: list[str]
    tag: str = "WRK"
    idempotent: bool = False

    def text(self) -> str:
        lines = [f"method {self.method}", f"path {self.path}", f"body {self.body}", f"expect {self.expect}",
                 f"tag {self.tag}", f"idempotent {'yes' if self.idempotent else 'no'}"]
        return "\n".join(lines + [f"key {k}" for k in self.keys] + [f"card {c}" for c in self.cards]) + "\n"


def _cards(world: World, hot: bool) -> list[str]:
    return [world.hot.card] if hot else [m.card for m in world.members]


def earn_plan(world: World, *, hot: bool, tag: str) -> Plan:
    """bench.web.earn_ops: a till's sale in the canonical JSON, with an Idempotency-Key."""
    body = json.dumps({**SALE_BODY, "order_id": ORDER, "card_number": CARD})
    return Plan("POST", "/v1/transactions", body, 201, [p.key for p in world.partners], _cards(world, hot), tag, True)


def redeem_plan(world: World, *, hot: bool, tag: str) -> Plan:
    body = json.dumps({"card_number": CARD, "points": REDEEM_POINTS, "order_id": ORDER})
    return Plan("POST", "/v1/redemptions", body, 201, [p.key for p in world.partners], _cards(world, hot), tag, True)


def balance_plan(key: str, card: str) -> Plan:
    return Plan("GET", f"/v1/cards/{CARD}/balance", "", 200, [key], [card])


def hello_plan() -> Plan:
    """bench.web.hello_ops: the earn's body, to a hello-world that drains it."""
    body = json.dumps({**SALE_BODY, "order_id": "HELLO", "card_number": "7000000000000008"})
    return Plan("POST", "/", body, 201, ["x"], ["-"])


@dataclass
class Run:
    measure: load.Measure
    requests: int  # answers wrk read, whatever their status
    socket_errors: int


def run(label: str, port: int, plan: Plan, *, connections: int, seconds: float, folder: Path,
        progress: bool = True) -> Run:
    """One wrk run of `seconds` (whole: wrk takes no fraction) over `connections` keep-alive connections, on at most
    2 threads (wrk's own CPU is then well under the hub's)."""
    wrk = command()
    if wrk is None:
        raise RuntimeError(f"wrk is not installed ({INSTALL})")
    plan_path = folder / f"wrk-plan-{plan.tag}-{time.monotonic_ns()}.txt"
    plan_path.write_text(plan.text())
    threads = max(1, min(2, connections))
    argv = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
            "-s", str(SCRIPT), f"http://127.0.0.1:{port}", "--", str(plan_path)]
    busy0 = load.machine_busy()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True)
    try:
        out, err = _wait(process, label, seconds, progress)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    busy1 = load.machine_busy()
    found = [line[len(MARK):] for line in out.splitlines() if line.startswith(MARK)]
    if process.returncode != 0 or not found:
        raise RuntimeError(f"wrk exited with {process.returncode}: {(err or out).strip()[:500]}")
    report = json.loads(found[-1])
    socket_errors = sum(report[k] for k in ("connect", "read", "write", "timeout"))
    percentiles = {float(q) / 100: us / 1000 for q, us in report["percentiles_us"].items()}
    measure = load.Measure(
        ops=report["ok"], errors=report["bad"] + socket_errors, seconds=report["duration_us"] / 1e6, latencies=[],
        error_samples=report["samples"][:5], clients=connections,
        machine_cpu=busy1 - busy0 if busy0 is not None and busy1 is not None else None, quantiles=percentiles)
    return Run(measure, report["requests"], socket_errors)


def _wait(process: subprocess.Popen, label: str, seconds: float, progress: bool) -> tuple[str, str]:
    """wrk says nothing until the end: a bar on the clock meanwhile."""
    if not progress:
        return process.communicate(timeout=seconds + 120)
    steps = max(1, int(seconds * 5))
    with click.progressbar(length=steps, label=f"  {label + ' (wrk)':<44}", file=sys.stderr, width=30) as bar:
        started, shown = time.monotonic(), 0
        while process.poll() is None and time.monotonic() - started < seconds:
            time.sleep(0.2)
            now = min(steps, int((time.monotonic() - started) * 5))
            bar.update(now - shown)
            shown = now
        bar.update(steps - shown)
    return process.communicate(timeout=120)


def booked(db: Database, tag: str, settle: float = 10.0) -> tuple[int, int]:
    """(orders, journal entries) the hub booked under order ids the script made for the run tagged `tag`.

    Counted in one statement (one snapshot), again every 0.2 s until two
    counts agree: requests cut at wrk's stop may still be committing.
    """
    prefix = f"{tag}-"
    mine = select(Order.id).where(Order.order_id.startswith(prefix, autoescape=True))
    both = select(select(func.count()).select_from(mine.subquery()).scalar_subquery(),
                  select(func.count()).select_from(JournalEntry).where(JournalEntry.order_id.in_(mine))
                  .scalar_subquery())
    last, deadline = None, time.monotonic() + settle
    while True:
        with db.session() as session:
            counts = tuple(session.execute(both).one())
        if counts == last or time.monotonic() > deadline:
            return counts  # type: ignore[return-value]
        last = counts
        time.sleep(0.2)


def check_booked(db: Database, tag: str, ok: int, in_flight: int) -> tuple[bool, str]:
    """Whether the database holds one order and one journal entry per answer 201, and the counts.

    wrk stops on the clock with a request out on each connection: the hub
    books those but wrk never reads their answers, so up to `in_flight`
    orders more than the answers 201 are expected, never fewer.
    """
    orders, entries = booked(db, tag)
    extra = orders - ok
    counted = f"{orders:,} orders and {entries:,} journal entries booked for {ok:,} answers 201"
    if orders != entries or extra < 0 or extra > in_flight:
        return False, f"{counted}: MISMATCH (expected equal counts, or up to {in_flight} more orders in flight)"
    return True, counted + (f" (+{extra} in flight when wrk stopped: booked, answer not read)" if extra else "")
