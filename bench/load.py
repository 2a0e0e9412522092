"""A closed-loop load generator: N client threads pull operation numbers until done.

Each client runs one operation at a time (the next starts when the last one
answered), as a till does. Latency is measured around each operation;
throughput is successful operations over the wall time of the whole run.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import click

Op = Callable[[int], object]


@dataclass
class Measure:
    ops: int
    errors: int
    seconds: float
    latencies: list[float] = field(repr=False)
    error_samples: list[str] = field(default_factory=list)
    clients: int = 1
    requested: int = 0  # operations asked for; more than ops + errors when the time bound stopped the run
    machine_cpu: float | None = None  # seconds of busy CPU, all cores, whole machine (/proc/stat)
    process_cpu: float = 0.0  # seconds of CPU used by this process (the clients, and the service layer)
    #: Latency percentiles in ms by quantile (0.99: p99), from a load generator that reports them, not the samples.
    quantiles: dict[float, float] | None = None

    @property
    def cpu_ms_per_op(self) -> float | None:
        """Busy CPU time of the whole machine per operation: client, hub and database together."""
        if self.machine_cpu is None or not self.ops:
            return None
        return self.machine_cpu / self.ops * 1000

    @property
    def cut_short(self) -> bool:
        return self.ops + self.errors < self.requested

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float | None:
        """Nearest-rank percentile of the successful operations, in milliseconds."""
        if not self.latencies:
            return None if self.quantiles is None else self.quantiles.get(q)
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[rank - 1] * 1000

    @property
    def p50(self) -> float | None:
        return self.percentile_ms(0.50)

    @property
    def p99(self) -> float | None:
        return self.percentile_ms(0.99)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_times() -> tuple[float, float, float] | None:
    """(busy, steal, total) seconds of CPU since boot, summed over all cores; None off Linux.

    busy is work done here (user, nice, system, irq, softirq); steal (a virtual
    core runnable while the host ran another guest) is apart.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    fields += [0] * (8 - len(fields))
    total = sum(fields)
    return (total - fields[3] - fields[4] - fields[7]) / _TICK, fields[7] / _TICK, total / _TICK


def machine_busy() -> float | None:
    times = cpu_times()
    return None if times is None else times[0]


def say_label(label: str) -> None:
    click.echo(f"  {label}", err=True)


def run(
    label: str,
    total: int,
    ops: list[Op],
    *,
    max_seconds: float = 60.0,
    progress: bool = True,
) -> Measure:
    """Run `total` operations over len(ops) threads; thread k calls ops[k](i) for each i it takes.

    Stops early (and reports what was done) after `max_seconds`.
    """
    clients = len(ops)
    numbers = itertools.count()
    take = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    samples: list[str] = []
    done = [0] * clients
    stop = threading.Event()
    start = threading.Barrier(clients + 1)

    def client(k: int) -> None:
        op, mine = ops[k], latencies[k]
        start.wait()
        while not stop.is_set():
            with take:
                i = next(numbers)
            if i >= total:
                break
            t = time.perf_counter()
            try:
                op(i)
            except Exception as exc:  # a failed operation is counted, never fatal to the run
                errors[k] += 1
                if len(samples) < 5:
                    samples.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                mine.append(time.perf_counter() - t)
            done[k] += 1

    threads = [threading.Thread(target=client, args=(k,), name=f"bench-{k}", daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    show = progress and total >= 50
    bar = click.progressbar(length=total, label=f"  {label:<44}", file=sys.stderr, width=30) if show else None
    shown = 0
    with bar if bar is not None else contextlib.nullcontext():
        start.wait()
        t0, busy0, cpu0 = time.perf_counter(), machine_busy(), time.process_time()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
                    if time.perf_counter() - t0 > max_seconds:
                        stop.set()
                    if bar is not None:
                        now_done = sum(done)
                        bar.update(now_done - shown)
                        shown = now_done
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        seconds, busy1, cpu1 = time.perf_counter() - t0, machine_busy(), time.process_time()
        if bar is not None:
            bar.update(sum(done) - shown)
    for op in ops:
        close = getattr(op, "close", None)
        if close is not None:
            close()
    flat = [x for mine in latencies for x in mine]
    machine_cpu = busy1 - busy0 if busy0 is not None and busy1 is not None else None
    return Measure(len(flat), sum(errors), seconds, flat, samples, clients, total, machine_cpu, cpu1 - cpu0)
