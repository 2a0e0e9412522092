"""Webhook delivery on PostgreSQL: `coalition events deliver` processes sending to a local receiver (issue 15).

Each scenario gets a fresh database, partners whose webhooks point at the
receiver (bench.receiver, a process of its own), and deliverer processes
(`coalition events deliver`, bench.deliverers) started with its settings in
their environment, warmed up by one event, and only then the events: so a
figure is what a running hub does with a backlog that arrives.

1. drain: `events` (10,000) spread over 4 partners whose endpoint answers
   500 to 30% of requests at random, the time until every one was answered
   2xx; meanwhile one event every 0.5 s for a healthy partner, and its delay
   (received - created_at). The backoff is 1 s capped at 2 s: 10,000 events
   at 30% mean the unluckiest fails 7 or 8 times in a row, whose doubling
   backoff alone (1 + 2 + ... + 64 s) would be past any 60 s drain; and 25
   attempts, so that none is failed for good by chance (0.3^10 x 10,000 is
   6%: at the default 10, one run in 17 would lose one).
2. slow partner: a backlog interleaved A, B, C, ... with A's endpoint taking
   5 s per answer (within a 10 s deadline: slow, not failing) and B, C
   healthy; B's and C's delays. A is not waited for (4 at a time, 5 s each).
3. deadline and kill, with a 2 s deadline: an endpoint dripping its answer one
   byte every 0.8 s, and the longest attempt recorded (delivery_attempts.
   duration_ms); and a deliverer killed (SIGKILL) while requests of its are in
   flight on a slow partner (1.5 s per answer), the time until each of those
   events reaches the receiver again, from the other deliverer.

Then over all of them: events never answered 2xx (lost) and event ids
answered 2xx more than once (duplicates), apart those explained: every copy
but one had its answer cut by the client or ended past the deadline, so the
hub could not have known it was taken.

References, measured in the same run: the receiver's capacity by a plain
keep-alive client, the receiver's own answer time beside each delay, the
time an idle deliverer takes to pick a new event up beside the recovery
after a kill, and the receiver's view of when the hub hung up beside the
attempts' recorded durations.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
from sqlalchemy import select

from bench import backends, load, web, world
from bench.deliverers import Deliverer, Receiver, cpu_seconds
from bench.receiver import Record, Request
from bench.report import Row, Target
from network.clock import utc_now
from network.db import Database, make_engine
from network.events import outbox, webhooks
from network.events.kinds import EventKind
from network.models import Delivery, DeliveryAttempt, Event, Webhook
from network.parties.registry import create_partner
from network.schema import upgrade

BACKEND, PATH = "postgresql", "webhooks"
DRAIN = Target("seconds", 60)
HEALTHY_DELAY = Target("p50", 2000)
NEW_EVENT_DELAY = Target("p50", 1000)
#: The deadline of the deadline-and-kill scenario, and the slack an attempt may take past it (recording its end).
DEADLINE, SLACK = 2.0, 0.5
ATTEMPT = Target("max", (DEADLINE + SLACK) * 1000)
RESENT = Target("max", (DEADLINE + 10) * 1000)
NONE_LOST = Target("lost", 0)

FAIL_PARTNERS, FAIL_SHARE, NEW_EVERY = 4, 0.3, 0.5
SLOW_MS, DRIP_EVERY, DRIP_BYTES, KILL_SLOW_MS = 5000, 0.8, 12, 1500
DRIP_EVENTS, KILL_EVENTS = 4, 12
#: Time bounds: a scenario stops there and reports what was done (and the target is missed).
DRAIN_BOUND, SLOW_BOUND, KILL_BOUND = 90.0, 30.0, 30.0
CAPACITY_REQUESTS, CAPACITY_CLIENTS = 3000, 16

#: Every scenario's settings, besides its own (the receiver is on 127.0.0.1).
COMMON = {"COALITION_WEBHOOK_PRIVATE_NETWORKS": "1"}
DRAIN_SETTINGS = {"COALITION_WEBHOOK_TIMEOUT_SECONDS": "5", "COALITION_WEBHOOK_BACKOFF_SECONDS": "1",
                  "COALITION_WEBHOOK_BACKOFF_MAX_SECONDS": "2", "COALITION_WEBHOOK_MAX_ATTEMPTS": "25"}
SLOW_SETTINGS = {"COALITION_WEBHOOK_TIMEOUT_SECONDS": "10"}
KILL_SETTINGS = {"COALITION_WEBHOOK_TIMEOUT_SECONDS": f"{DEADLINE:g}", "COALITION_WEBHOOK_BACKOFF_SECONDS": "1",
                 "COALITION_WEBHOOK_BACKOFF_MAX_SECONDS": "2", "COALITION_WEBHOOK_MAX_ATTEMPTS": "3"}


@dataclass(frozen=True)
class Settings:
    events: int = 10_000  # the drain's backlog
    backlog: int = 300  # per partner, in the slow-partner scenario
    processes: int = 2
    threads: int = 16
    interval: float = 0.2
    progress: bool = True

    @property
    def clients(self) -> str:
        return f"{self.processes}x{self.threads}"


@dataclass
class Tally:
    """What every scenario must have delivered, and each label prefix's deadline (for explaining duplicates)."""

    expected: set[str] = field(default_factory=set)
    deadlines: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def say(message: str = "", **style) -> None:
    click.secho(message, err=True, **style)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def _settings_line(settings: dict[str, str], s: Settings) -> str:
    """The deliverers' layout and the webhook settings they ran with: the scenario's, and any from the environment."""
    settings = {**COMMON, **settings}
    inherited = {k: v for k, v in os.environ.items() if k.startswith("COALITION_WEBHOOK_") and k not in settings}
    shown = ", ".join(f"{k}={v}" for k, v in {**settings, **inherited}.items())
    return (f"{s.processes} deliverers x --threads {s.threads} --interval {s.interval:g}; {shown}; "
            f"the other COALITION_WEBHOOK_ settings at their defaults (COALITION_WEBHOOK_CONCURRENCY 4 per webhook)")


class Scene:
    """A fresh database's partners with webhooks at the receiver, and the events emitted to them."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        upgrade(self.engine)
        self.db = Database(self.engine)
        self.url = url

    def partner(self, slug: str, url: str) -> int:
        def make(session) -> int:
            now = utc_now()
            partner, _key = create_partner(session, world.new_partner_spec(slug), now)
            webhooks.put(session, partner.id, url=url, secret="bench-webhook-secret", now=now, private_networks=True)
            return partner.id

        return self.db.transact(make)

    def emit(self, audience: list[int]) -> list[str]:
        """One event per partner id in `audience`, in one transaction, in that order; their public ids."""
        events = [outbox.NewEvent(None, partner_id, {"partner": partner_id, "n": n})
                  for n, partner_id in enumerate(audience)]
        return self.db.transact(lambda session: outbox.emit_many(session, EventKind.WEBHOOK_TEST, events,
                                                                 now=utc_now()))

    def created(self) -> dict[str, float]:
        with self.db.session() as session:
            return {public_id: at.timestamp() for public_id, at in session.execute(
                select(Event.public_id, Event.created_at))}

    def statuses(self) -> dict[str, str]:
        with self.db.session() as session:
            return dict(session.execute(select(Event.public_id, Delivery.status)
                                        .join(Delivery, Delivery.event_id == Event.id)).all())

    def durations(self, partner_id: int) -> list[int | None]:
        """Every recorded attempt's duration_ms on the partner's webhook (None: cut short by its deliverer's end)."""
        with self.db.session() as session:
            return list(session.scalars(
                select(DeliveryAttempt.duration_ms).join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                .join(Webhook, Webhook.id == Delivery.webhook_id).where(Webhook.partner_id == partner_id)))

    def attempted(self, ids: Iterable[str]) -> dict[str, list[float]]:
        """When each attempt of these events' deliveries was claimed (time.time()), by event id, in order."""
        found: dict[str, list[float]] = {}
        with self.db.session() as session:
            for public_id, at in session.execute(
                    select(Event.public_id, DeliveryAttempt.attempted_at).join(Delivery, Delivery.event_id == Event.id)
                    .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
                    .where(Event.public_id.in_(list(ids))).order_by(DeliveryAttempt.id)):
                found.setdefault(public_id, []).append(at.timestamp())
        return found

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def scene(admin_url: str):
    with backends.postgres_database(admin_url) as url:
        made = Scene(url)
        try:
            yield made
        finally:
            made.close()


@contextmanager
def deliverers(made: Scene, settings: dict[str, str], s: Settings, logs: Path, name: str):
    running = [Deliverer(f"{name}-deliverer-{k}", made.url, {**COMMON, **settings}, threads=s.threads,
                         interval=s.interval, logs=logs) for k in range(s.processes)]
    try:
        for one in running:
            one.start()
        for one in running:
            one.wait_ready()
        yield running
    finally:
        for one in running:  # the database is dropped next: attempts in flight need not end well
            one.stop(grace=1.0)


def accepted(requests: Iterable[Request]) -> dict[str, Request]:
    """Each event's first copy answered 2xx in full (what the hub saw delivered), by event id."""
    first: dict[str, Request] = {}
    for r in requests:
        if r.accepted and not r.cut and r.answered is not None and (
                r.event_id not in first or r.received < first[r.event_id].received):
            first[r.event_id] = r
    return first


def wait_for(record: Record, prefix: str, ids: Iterable[str], bound: float, *, label: str = "",
             progress: bool = False) -> dict[str, Request]:
    """Until every event of `ids` was answered 2xx under `prefix`, or `bound` seconds; the first copies found."""
    wanted, started = set(ids), time.monotonic()
    show = progress and label and len(wanted) >= 50
    bar = click.progressbar(length=len(wanted), label=f"  {label:<44}", file=sys.stderr, width=30) if show else None
    shown = 0
    with bar if bar is not None else contextlib.nullcontext():
        while True:
            found = {k: v for k, v in accepted(record.of(prefix)).items() if k in wanted}
            if bar is not None:
                bar.update(len(found) - shown)
                shown = len(found)
            if len(found) == len(wanted) or time.monotonic() - started > bound:
                return found
            time.sleep(0.1 if len(wanted) < 1000 else 0.25)


def warm_up(made: Scene, record: Record, partner_id: int, prefix: str, tally: Tally) -> float:
    """One event through a deliverer that sat idle; how long from its created_at to its receipt (seconds)."""
    ids = made.emit([partner_id])
    tally.expected |= set(ids)
    got = wait_for(record, prefix, ids, 30)
    if not got:
        raise RuntimeError(f"no deliverer sent the warm-up event to {prefix} within 30 s")
    return got[ids[0]].received - made.created()[ids[0]]


def _answer_times(requests: Iterable[Request]) -> list[float]:
    return [r.took for r in requests if r.took is not None and not r.cut]


# ------------------------------------------------------------------ the references

def capacity(receiver: Receiver, s: Settings) -> load.Measure:
    """The receiver answering a plain keep-alive client (http.client) posting an event-sized body: its ceiling here."""
    body = b'{"id":"00000000-0000-4000-8000-000000000000","type":"webhook_test","created_at":"2026-12-03T10:00:00+00:00",' \
           b'"data":{"partner":1,"n":1}}'

    def make(k: int) -> load.Op:
        client = web.Client(receiver.port)

        def op(i: int) -> None:
            status, _ = client.request("POST", f"/ok/ref-{k}", body,
                                       {"Content-Type": "application/json", "Coalition-Event-Id": f"ref-{i}"})
            if status != 200:
                raise web.HttpFailure(f"the receiver answered {status}")

        op.close = client.close  # type: ignore[attr-defined]
        return op

    return load.run("webhook receiver, plain client", CAPACITY_REQUESTS, [make(k) for k in range(CAPACITY_CLIENTS)],
                    max_seconds=10, progress=s.progress)


# ------------------------------------------------------------------ the scenarios

def drain(admin_url: str, s: Settings, receiver: Receiver, record: Record, logs: Path, base: load.Measure,
          tally: Tally) -> list[Row]:
    say(f"\n== delivery: drain {s.events:,} events, {FAIL_SHARE:.0%} answered 500 at random; a new event for a "
        f"healthy partner every {NEW_EVERY:g} s meanwhile", bold=True)
    line = _settings_line(DRAIN_SETTINGS, s)
    say(f"   {line}")
    tally.deadlines["d1-"] = float(DRAIN_SETTINGS["COALITION_WEBHOOK_TIMEOUT_SECONDS"])
    with scene(admin_url) as made:
        fails = [made.partner(f"fail-{k}", receiver.url("fail", f"d1-fail-{k}", p=FAIL_SHARE))
                 for k in range(FAIL_PARTNERS)]
        healthy = made.partner("healthy", receiver.url("ok", "d1-new"))
        warm = made.partner("warm", receiver.url("ok", "d1-warm"))
        with deliverers(made, DRAIN_SETTINGS, s, logs, "drain") as running:
            warm_up(made, record, warm, "d1-warm", tally)
            pids = {"deliverers": [one.pid for one in running], "receiver": [receiver.process.pid]}
            cpu0 = {name: [cpu_seconds(pid) for pid in group] for name, group in pids.items()}
            own0, busy0 = time.process_time(), load.machine_busy()
            ids = made.emit([fails[n % FAIL_PARTNERS] for n in range(s.events)])
            trickled: list[str] = []
            stop = threading.Event()

            def trickle() -> None:
                while not stop.wait(NEW_EVERY):
                    trickled.extend(made.emit([healthy]))

            thread = threading.Thread(target=trickle, name="bench-trickle", daemon=True)
            thread.start()
            try:
                got = wait_for(record, "d1-fail", ids, DRAIN_BOUND, label=f"drain {s.events:,} events",
                               progress=s.progress)
            finally:
                stop.set()
                thread.join()
            busy1, own1 = load.machine_busy(), time.process_time()
            cpu1 = {name: [cpu_seconds(pid) for pid in group] for name, group in pids.items()}
            new = wait_for(record, "d1-new", trickled, 2 * NEW_EVERY + float(DRAIN_SETTINGS[
                "COALITION_WEBHOOK_TIMEOUT_SECONDS"]))
        created, statuses = made.created(), made.statuses()
    tally.expected |= set(ids) | set(trickled)
    born = created[ids[0]]
    delays = [got[i].received - created[i] for i in ids if i in got]
    seconds = max((r.received for r in got.values()), default=time.time()) - born
    missing = len(ids) - len(got)
    if missing:
        seconds = max(seconds, DRAIN_BOUND)
    requests = record.of("d1-fail")
    refused = sum(1 for r in requests if r.status == 500)
    gave_up = sum(1 for i in ids if statuses.get(i) == "failed")
    say(f"   drained {len(got):,} of {s.events:,} in {seconds:.1f} s ({len(got) / seconds:,.0f} events/s, "
        f"{len(requests) / seconds:,.0f} requests/s; {refused:,} answered 500); the receiver takes "
        f"{base.rate:,.0f} requests/s from a plain client", fg="red" if missing else None)
    machine = None if busy0 is None or busy1 is None else busy1 - busy0
    used = {name: sum(b - a for a, b in zip(cpu0[name], cpu1[name]) if a is not None and b is not None)
            for name in pids}
    used["the bench"] = own1 - own0
    where = ", ".join(f"{name} {value:.0f} s" for name, value in used.items())
    if machine is not None:
        where += f", the rest (PostgreSQL, anything else) {machine - sum(used.values()):.0f} s of {machine:.0f} s busy"
    say(f"   CPU during the drain: {where}")
    measure = load.Measure(len(got), missing, seconds, delays, [], s.processes * s.threads, s.events, machine)
    drained = Row(BACKEND, PATH, f"drain {s.events:,} events, 30% answered 500 (ops = events)", measure, raw=base,
                  target=DRAIN, clients=s.clients, notes=[
                      f"drain: {line}; {FAIL_PARTNERS} partners' webhooks, events interleaved",
                      f"drain: {len(got):,} delivered in {seconds:.1f} s over {len(requests):,} requests "
                      f"({refused:,} answered 500, {len(requests) / seconds:,.0f} requests/s); "
                      f"{gave_up} failed for good; p50/p99 are each event's delay (received - created_at); "
                      f"reference: the receiver answers a plain client ({CAPACITY_CLIENTS} keep-alive threads) "
                      f"{base.rate:,.0f} requests/s, p50 {_ms((base.p50 or 0) / 1000)} (raw ops/s)",
                      f"drain: CPU used meanwhile: {where}"])
    new_delays = [new[i].received - created[i] for i in trickled if i in new]
    own = _median(_answer_times(record.of("d1-new")))
    say(f"   a new event for a healthy partner during the drain: median delay {_ms(_median(new_delays))} over "
        f"{len(new)} of {len(trickled)}; the receiver's own answer time {_ms(own)}")
    fresh = Row(BACKEND, PATH, f"new event for a healthy partner during the drain (1 per {NEW_EVERY:g} s)",
                load.Measure(len(new), len(trickled) - len(new), seconds, new_delays, [], s.processes * s.threads,
                             len(trickled)),
                target=NEW_EVENT_DELAY, clients=s.clients, notes=[
                    f"new event: p50/p99 are its delay (received - created_at) while the drain's backlog was "
                    f"queued; reference: the receiver's own answer time, median {_ms(own)}"])
    tally.seconds += seconds
    return [drained, fresh]


def slow_partner(admin_url: str, s: Settings, receiver: Receiver, record: Record, logs: Path,
                 tally: Tally) -> list[Row]:
    say(f"\n== delivery: a backlog of {s.backlog:,} events each for A, B and C, interleaved; A answers in "
        f"{SLOW_MS / 1000:g} s", bold=True)
    line = _settings_line(SLOW_SETTINGS, s)
    say(f"   {line}")
    tally.deadlines["d2-"] = float(SLOW_SETTINGS["COALITION_WEBHOOK_TIMEOUT_SECONDS"])
    with scene(admin_url) as made:
        a = made.partner("partner-a", receiver.url("slow", "d2-a", ms=SLOW_MS))
        b = made.partner("partner-b", receiver.url("ok", "d2-b"))
        c = made.partner("partner-c", receiver.url("ok", "d2-c"))
        warm = made.partner("warm", receiver.url("ok", "d2-warm"))
        with deliverers(made, SLOW_SETTINGS, s, logs, "slow"):
            warm_up(made, record, warm, "d2-warm", tally)
            ids = made.emit([a, b, c] * s.backlog)
            healthy = ids[1::3] + ids[2::3]
            started = time.monotonic()
            got = wait_for(record, "d2-", healthy, SLOW_BOUND, label=f"B and C's {len(healthy):,} events",
                           progress=s.progress)
            seconds = time.monotonic() - started
            a_done = accepted(record.of("d2-a"))
        created = made.created()
    tally.expected |= set(healthy)
    delays = [got[i].received - created[i] for i in healthy if i in got]
    own_bc = _median(_answer_times(record.of("d2-b") + record.of("d2-c")))
    own_a = _median(_answer_times(record.of("d2-a")))
    own_a_text = _ms(own_a) if own_a is not None else f"none answered yet ({SLOW_MS / 1000:g} s a call)"
    say(f"   B and C: {len(got):,} of {len(healthy):,} delivered in {seconds:.1f} s, median delay "
        f"{_ms(_median(delays))}; A meanwhile: {len(a_done)} of {s.backlog:,} delivered; the receiver's own answer "
        f"time B, C {_ms(own_bc)}, A {own_a_text}", fg="red" if len(got) < len(healthy) else None)
    measure = load.Measure(len(got), len(healthy) - len(got), seconds, delays, [], s.processes * s.threads,
                           len(healthy))
    tally.seconds += seconds
    return [Row(BACKEND, PATH, f"B, C healthy while A takes {SLOW_MS / 1000:g} s a call (ops = B's and C's)",
                measure, target=HEALTHY_DELAY, clients=s.clients, notes=[
                    f"slow partner: {line}; {s.backlog:,} events each for A, B, C interleaved, emitted at once",
                    f"slow partner: p50/p99 are B's and C's delays (received - created_at); A had {len(a_done)} "
                    f"of {s.backlog:,} delivered meanwhile (not waited for); reference: the receiver's own answer "
                    f"time, median {_ms(own_bc)} for B and C, {own_a_text} for A"])]


def _in_flight(running: list[Deliverer], record: Record, prefix: str, port: int,
               bound: float) -> tuple[Deliverer | None, list[Request]]:
    """Wait until a deliverer has requests in flight under `prefix` (its own connections, from /proc): it and those."""
    until = time.monotonic() + bound
    while time.monotonic() < until:
        waiting = [r for r in record.of(prefix) if r.answered is None]
        for one in running:
            ports = one.ports_to(port)
            mine = [r for r in waiting if ports is None or r.port in ports]
            if mine:
                return one, mine
        time.sleep(0.02)
    return None, []


def _settled(made: Scene, ids: list[str], bound: float) -> dict[str, str]:
    """Until no delivery of `ids` is pending or sending (delivered, failed for good), or `bound`; their statuses."""
    until = time.monotonic() + bound
    while True:
        statuses = made.statuses()  # an event not fanned out yet has no delivery: not settled either
        if time.monotonic() > until or all(statuses.get(i) not in (None, "pending", "sending") for i in ids):
            return {i: statuses.get(i, "-") for i in ids}
        time.sleep(0.25)


def deadline_and_kill(admin_url: str, s: Settings, receiver: Receiver, record: Record, logs: Path,
                      tally: Tally) -> list[Row]:
    """The kill first (on the slow partner), then the dripping endpoint, sent by the deliverer left alone."""
    say(f"\n== delivery: a deliverer killed while sending to a partner that answers in {KILL_SLOW_MS / 1000:g} s; "
        f"then a {DEADLINE:g} s deadline on an endpoint dripping a byte every {DRIP_EVERY:g} s", bold=True)
    line = _settings_line(KILL_SETTINGS, s)
    say(f"   {line}")
    tally.deadlines["d3-"] = DEADLINE
    with scene(admin_url) as made:
        drip = made.partner("drip", receiver.url("drip", "d3-drip", every=DRIP_EVERY, bytes=DRIP_BYTES))
        slow = made.partner("slow", receiver.url("slow", "d3-slow", ms=KILL_SLOW_MS))
        warm = made.partner("warm", receiver.url("ok", "d3-warm"))
        with deliverers(made, KILL_SETTINGS, s, logs, "kill") as running:
            pickup = warm_up(made, record, warm, "d3-warm", tally)
            began = time.monotonic()
            slows = made.emit([slow] * KILL_EVENTS)
            victim, held = _in_flight(running, record, "d3-slow", receiver.port, KILL_BOUND / 2)
            killed_at = victim.kill() if victim is not None else None
            drips = made.emit([drip] * DRIP_EVENTS)
            wait_for(record, "d3-slow", slows, KILL_BOUND)
            statuses = _settled(made, drips, KILL_BOUND)
            seconds = time.monotonic() - began
        durations = made.durations(drip)
        slowest = max((d for d in made.durations(slow) + durations if d is not None), default=None)
        attempted = made.attempted(slows)
    tally.expected |= set(slows)
    requests = record.of("d3-slow")
    cut = {r.number for r in requests if r.cut}
    held_ids = sorted({r.event_id for r in held if r.number in cut})
    again: dict[str, float] = {}
    for r in requests:
        if killed_at is not None and r.event_id in held_ids and r.received > killed_at:
            again[r.event_id] = min(again.get(r.event_id, r.received), r.received)
    resent = [again[i] - killed_at for i in held_ids if i in again]
    # When the slow partner's lane took a claim again after the kill: the dead claims held its cap till then.
    reopened = min((at - killed_at for ats in attempted.values() for at in ats if at > killed_at), default=None) \
        if killed_at is not None else None
    recorded = [d / 1000 for d in durations if d is not None]
    longest = max(recorded, default=None)
    hung_up = [r.took for r in record.of("d3-drip") if r.took is not None]
    if killed_at is None:
        say("   kill: the deliverer never had a request in flight on the slow partner; nothing was killed", fg="red")
    else:
        say(f"   kill: {len(held_ids)} events in flight from the killed deliverer (pid {victim.pid}); sent again "
            f"after {', '.join(_ms(x) for x in sorted(resent)) or 'never'} (target {DEADLINE + 10:g} s); the lane's "
            f"first claim after the kill {_ms(reopened)}; an idle deliverer picked the warm-up event up in "
            f"{_ms(pickup)}", fg="red" if len(resent) < len(held_ids) or not held_ids else None)
    say(f"   drip: {len(recorded)} attempts recorded, the longest {_ms(longest)} (deadline {DEADLINE:g} s); the "
        f"receiver saw the hub hang up after {_ms(_median(hung_up))} (median), the whole answer takes "
        f"{DRIP_EVERY * DRIP_BYTES:g} s; the drip's deliveries ended {sorted(statuses.values())}",
        fg="red" if longest is None or longest > DEADLINE + SLACK else None)
    rows = [Row(BACKEND, PATH, "SIGKILL of a deliverer: its claims sent again after",
                load.Measure(len(resent), len(held_ids) - len(resent) if held_ids else 1, seconds, resent, [],
                             s.processes * s.threads, max(1, len(held_ids))),
                target=RESENT, clients=s.clients, notes=[
                    f"kill: {line}",
                    f"kill: {len(held_ids)} events in flight from the SIGKILLed deliverer on a partner answering in "
                    f"{KILL_SLOW_MS / 1000:g} s ({KILL_EVENTS} events queued); p50/p99 are kill -> sent again by the "
                    f"other deliverer; the lane's first claim after the kill came at {_ms(reopened)}; reference: an "
                    f"idle deliverer picks a new event up in {_ms(pickup)}"])]
    nulls = sum(1 for d in durations if d is None)
    rows.append(Row(BACKEND, PATH, f"attempt vs {DEADLINE:g} s deadline, answer dripped 1 byte / {DRIP_EVERY:g} s",
                    load.Measure(len(recorded), 0, sum(recorded), recorded, [], s.processes * s.threads,
                                 len(recorded)),
                    target=ATTEMPT, clients=s.clients, notes=[
                        f"deadline: {len(recorded)} attempts on the dripping endpoint ({DRIP_BYTES} bytes, one per "
                        f"{DRIP_EVERY:g} s: {DRIP_EVERY * DRIP_BYTES:g} s if read to the end), the longest "
                        f"{_ms(longest)}" + (f", {nulls} with no duration (cut short by a deliverer's end)" if nulls
                                             else "")
                        + f"; deliveries ended {', '.join(sorted(set(statuses.values())))}; the longest attempt of "
                        f"the scenario {_ms(None if slowest is None else slowest / 1000)}; reference: the receiver "
                        f"saw the hub hang up after {_ms(_median(hung_up))} (median), {_ms(max(hung_up, default=None))} "
                        f"at most"]))
    tally.seconds += seconds
    return rows


# ------------------------------------------------------------------ lost and duplicated

def lost_and_duplicates(record: Record, tally: Tally, s: Settings) -> Row:
    """Over every scenario: expected events never answered 2xx, and event ids answered 2xx more than once."""
    requests = [r for r in record.poll().values() if r.label.startswith("d")]
    copies: dict[str, list[Request]] = {}
    for r in requests:
        if r.accepted:
            copies.setdefault(r.event_id, []).append(r)
    lost = sorted(i for i in tally.expected if i not in copies)

    def late(r: Request) -> bool:
        deadline = next((v for k, v in tally.deadlines.items() if r.label.startswith(k)), None)
        return r.cut or r.took is None or (deadline is not None and r.took > deadline - 0.1)

    duplicated = {i: c for i, c in copies.items() if len(c) > 1}
    explained = {i for i, c in duplicated.items() if sum(1 for r in c if not late(r)) <= 1}
    unexplained = sorted(set(duplicated) - explained)
    say(f"\n   delivery: {len(lost)} of {len(tally.expected):,} events lost (never answered 2xx); "
        f"{len(duplicated)} event ids answered 2xx more than once, {len(explained)} of them explained by an answer "
        f"cut or past the deadline, {len(unexplained)} not", fg="red" if lost or unexplained else "green")
    notes = [f"delivery: {len(lost)} lost of {len(tally.expected):,} events that had to arrive; duplicates (2xx "
             f"more than once): {len(duplicated)}, {len(explained)} explained by answers cut or past the deadline, "
             f"{len(unexplained)} unexplained" + (f", e.g. {unexplained[:3]}" if unexplained else "")
             + (f"; lost e.g. {lost[:3]}" if lost else "")]
    return Row(BACKEND, PATH, "events lost over the delivery scenarios (ops = events)",
               load.Measure(len(tally.expected) - len(lost), len(lost), tally.seconds or 1.0, [], [],
                            s.processes * s.threads, len(tally.expected)),
               target=NONE_LOST, clients=s.clients, notes=notes)


def run(admin_url: str, s: Settings, logs: Path, rows: list[Row]) -> None:
    """Append the delivery rows to `rows` as they are measured (a failure keeps what was done)."""
    record_path = logs / "receiver.tsv"
    tally = Tally()
    with Receiver(web.free_port(), record_path, logs / "receiver.log") as receiver:
        record = Record(record_path)
        say(f"\n== delivery: receiver (bench.receiver, ThreadingHTTPServer) on 127.0.0.1:{receiver.port}", bold=True)
        base = capacity(receiver, s)
        say(f"   the receiver answers a plain client ({CAPACITY_CLIENTS} keep-alive threads): {base.rate:,.0f} "
            f"requests/s, p50 {_ms((base.p50 or 0) / 1000)}")
        try:
            rows.extend(drain(admin_url, s, receiver, record, logs, base, tally))
            rows.extend(slow_partner(admin_url, s, receiver, record, logs, tally))
            rows.extend(deadline_and_kill(admin_url, s, receiver, record, logs, tally))
        finally:
            if tally.expected:
                rows.append(lost_and_duplicates(record, tally, s))
            # after the PostgreSQL rows, with the other machine ceilings (the table groups rows by backend)
            rows.append(Row("-", "http", f"webhook receiver, plain client ({CAPACITY_CLIENTS} threads)", base))
