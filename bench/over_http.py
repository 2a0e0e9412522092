"""The HTTP scenarios against one running `coalition serve`, driven by wrk or by the Python client.

wrk (bench.wrk) is the default: the Python client spends as much CPU per
request as a small view, on the same cores. Each write run is followed by
a count of what the database booked for it against the answers 201, so a
figure never counts an earn that was not booked, nor misses one that was.
The Python client stays for what wrk cannot do simply (the CSV file
streamed to the batch endpoint) and is the fallback when wrk is missing.
"""

from __future__ import annotations

from pathlib import Path

import click

from bench import load, web, wrk
from bench.load import Measure
from bench.settings import Settings
from bench.world import World
from network.db import Database

WRK, PYTHON = "wrk", "python"


def choose_driver(preferred: str) -> str:
    """`preferred`, unless it is wrk and wrk is not installed: then the Python client, said loudly."""
    if preferred == WRK and wrk.command() is None:
        click.secho(f"wrk is not installed ({wrk.INSTALL}): the HTTP scenarios are driven by the Python client "
                    "instead (driver: python), whose own CPU is then part of their figures.", err=True, fg="yellow",
                    bold=True)
        return PYTHON
    return preferred


class Hub:
    """A running `coalition serve` on `port` and what drives it."""

    def __init__(self, name: str, port: int, db: Database, s: Settings, logs: Path):
        self.name, self.port, self.db, self.s, self.logs = name, port, db, s, logs
        self.driver = s.http_driver

    def write(self, scenario: str, op: str, hot: bool, scene: World, tag: str) -> tuple[Measure, list[str]]:
        """Earns or redemptions in `scene` under order ids starting `tag`; the measure and what was booked."""
        label, s = f"{self.name} http {scenario}", self.s
        if self.driver == WRK:
            plan = (wrk.earn_plan if op == "earn" else wrk.redeem_plan)(scene, hot=hot, tag=tag)
            measure = wrk.run(label, self.port, plan, connections=s.clients, seconds=s.seconds, folder=self.logs,
                              progress=s.progress).measure
            in_flight = s.clients  # wrk stops on the clock with a request out on each connection
        else:
            make = web.earn_ops if op == "earn" else web.redeem_ops
            measure = load.run(label, s.ops, make(self.port, scene, s.clients, hot=hot, tag=tag),
                               max_seconds=s.max_seconds, progress=s.progress)
            in_flight = 0  # each client waits for its answer, even past the time bound
        good, counted = wrk.check_booked(self.db, tag, measure.ops, in_flight)
        click.secho(f"   {counted}", err=True, fg=None if good else "red", bold=not good)
        return measure, [f"http {scenario} ({self.driver}): {counted}"]

    def read(self, label: str, key: str, card: str, clients: int) -> Measure:
        """GET /v1/cards/<card>/balance by `clients` connections."""
        s = self.s
        if self.driver == WRK:
            return wrk.run(label, self.port, wrk.balance_plan(key, card), connections=clients, seconds=s.seconds,
                           folder=self.logs, progress=s.progress).measure
        return load.run(label, s.reads, web.balance_ops(self.port, key, card, clients), max_seconds=s.max_seconds,
                        progress=s.progress)


def hello(s: Settings, logs: Path) -> list[tuple[str, Measure]]:
    """The gunicorn hello-world by wrk (the HTTP ceiling) and by the Python client (its own ceiling): (driver, measure)."""
    port = web.free_port()
    out = []
    with web.hello_server(port, logs / "hello.log"):
        load.run("warm-up", s.clients * 20, web.hello_ops(port, s.clients), progress=False)
        if s.http_driver == WRK:
            out.append((WRK, wrk.run("http hello-world", port, wrk.hello_plan(), connections=s.clients,
                                     seconds=s.seconds, folder=logs, progress=s.progress).measure))
        out.append((PYTHON, load.run("http hello-world (Python client)", s.ops, web.hello_ops(port, s.clients),
                                     max_seconds=s.max_seconds, progress=s.progress)))
    return out
