"""The deliverer: worker threads sending each lane's share at once, a dispatcher keeping them fed.

`coalition events deliver` runs one per process, as many processes on as
many hosts as the load wants: they share nothing but the database, whose
claims (network.events.delivery) keep each webhook's cap and each
delivery's one sender across all of them. Within a process the dispatcher
claims for every lane with work due, up to that lane's cap and the threads
left free, handing out the free threads round the lanes in turn, so a lane
with a deep backlog never starves one with a single new event.

Outcomes are written by one recorder thread, all those that ended meanwhile
in one transaction: a commit per attempt was most of what delivery cost.

New events and retries that come due are picked up at the next look, a
short poll (`interval`, 0.2 s by default); a thread that frees up between
looks goes to the lanes found at the last one. The poll is two indexed
queries when idle. PostgreSQL's LISTEN/NOTIFY was
weighed and measured: a NOTIFY in the booking's transaction takes a lock
held through its commit, which serialises the commits of every transaction
that notifies. pgbench, 8 clients committing a one-row insert on this
project's 2-core machine: 9,500-10,100 per second without, 4,400-4,900 with
a NOTIFY in each, half the rate the earn's hot path would pay for a wake-up
0.2 s sooner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pluggy

from network.events import delivery, recording, sending
from network.events.delivery import Job, Lane, Pass, Policy
from network.events.kinds import DeliveryStatus
from network.ops import metrics

log = logging.getLogger(__name__)

THREADS = 16
#: Outcomes written in one transaction at most.
RECORD_BATCH = 200
#: How often a running deliverer looks for new events and retries come due, in seconds.
INTERVAL = 0.2


class Deliverer:
    def __init__(self, db, pm: pluggy.PluginManager, settings: Mapping[str, Any], clock: Callable[[], datetime], *,
                 threads: int = THREADS):
        self.db, self.settings, self.clock = db, settings, clock
        self.policy = Policy.from_config(settings)
        self.plugins = delivery.delivery_plugins(pm)
        self.threads = max(1, threads)
        self.pools = sending.Pools(size=self.policy.concurrency)
        self.done = Pass()
        self._workers = ThreadPoolExecutor(self.threads, thread_name_prefix="deliver")
        self._busy: Counter[Lane] = Counter()
        self._turn = 0
        #: The lanes that had work due at the last look.
        self._lanes: list[Lane] = []
        #: Attempts ended so far: a wait that began after the last one is not woken by it.
        self._ended = 0
        self._to_record: list[tuple[Job, datetime, sending.Outcome]] = []
        self._closing = False
        self._changed = threading.Condition()
        self._recorder = threading.Thread(target=self._record, name="delivery-recorder", daemon=True)
        self._recorder.start()

    # ------------------------------------------------------------ the dispatcher

    def fan_out(self) -> int:
        names, total = sorted(self.plugins), 0
        while taken := self.db.transact(lambda session: delivery.fan_out(session, names, self.clock())):
            total += taken
        self.done.fanned_out += total
        return total

    def dispatch(self, due_by: datetime | None = None, *, look: bool = True) -> int:
        """Claim what the free threads can take, lane by lane, and start sending it; returns how many were started.

        `look`: find which lanes have work due first; between looks a freed
        thread is given to the lanes found last time, one query fewer.
        """
        with self._changed:
            room = self.threads - sum(self._busy.values())
        if room <= 0:
            return 0

        def work(session):
            now = self.clock()
            if look or not self._lanes:
                self._lanes = delivery.due_lanes(session, due_by or now)
            return delivery.claim(session, now, self.policy, self._shares(self._lanes, room), due_by)

        jobs = self.db.transact(work)
        with self._changed:
            for job in jobs:
                self._busy[job.lane] += 1
        for job in jobs:
            self._workers.submit(self._send, job)
        return len(jobs)

    def _shares(self, lanes: list[Lane], room: int) -> dict[Lane, int]:
        """This deliverer's free threads handed round the lanes one at a time, none past its cap, from a turning start."""
        with self._changed:
            wants = {lane: max(0, self.policy.concurrency - self._busy[lane]) for lane in lanes}
        shares: Counter[Lane] = Counter()
        order = sorted(wants, key=lambda lane: (lane.webhook_id or 0, lane.plugin or ""))
        if order:
            self._turn = (self._turn + 1) % len(order)
            order = order[self._turn:] + order[:self._turn]
        while room > 0 and any(shares[lane] < wants[lane] for lane in order):
            for lane in order:
                if room > 0 and shares[lane] < wants[lane]:
                    shares[lane] += 1
                    room -= 1
        return dict(shares)

    def in_flight(self) -> int:
        with self._changed:
            return sum(self._busy.values())

    def ended(self) -> int:
        with self._changed:
            return self._ended

    def wait(self, timeout: float, ended: int) -> None:
        """Until an attempt ends after the `ended`-th, or `timeout` seconds."""
        with self._changed:
            if self._ended == ended:
                self._changed.wait(timeout)

    # ------------------------------------------------------------ a worker

    def _send(self, job: Job) -> None:
        """Send, then hand the outcome to the recorder: the thread is free for the next attempt at once."""
        try:
            if job.plugin is None:
                outcome = sending.post(self.pools, job.url, job.secret, job.event["id"], job.body, job.attempted_at,
                                       self.policy.timeout, private_networks=self.policy.private_networks)
            else:
                outcome = sending.offer(self.plugins.get(job.plugin), job.plugin, job.event, self.settings)
        except Exception as exc:  # noqa: BLE001 - a bug of ours is an attempt that failed, never a lost claim
            log.exception("delivery %s: the attempt raised", job.delivery_id)
            outcome = sending.Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], 0)
        with self._changed:
            self._to_record.append((job, self.clock(), outcome))
            self._changed.notify_all()

    def _record(self) -> None:
        """The recorder: every outcome that ended meanwhile in one transaction, one commit for all of them.

        Under load a commit per attempt is most of what delivery costs the
        database; batched, it is one per look. A batch that cannot be written
        leaves its claims to run out and be sent again: at least once.
        """
        while True:
            with self._changed:
                while not self._to_record and not self._closing:
                    self._changed.wait()
                if not self._to_record:
                    return
                batch, self._to_record = self._to_record[:RECORD_BATCH], self._to_record[RECORD_BATCH:]
            try:
                statuses = self.db.transact(lambda session: recording.record_all(session, batch, self.policy))
            except Exception:  # noqa: BLE001 - the claims run out and their deliveries are sent again
                log.exception("%d attempts could not be recorded", len(batch))
                statuses = [None] * len(batch)
            with self._changed:
                for (job, _, outcome), status in zip(batch, statuses):
                    if status is not None:
                        self._count(job, outcome, status)
                    self._busy[job.lane] -= 1
                    if not self._busy[job.lane]:
                        del self._busy[job.lane]
                    self._ended += 1
                self._changed.notify_all()

    def _count(self, job: Job, outcome: sending.Outcome, status: str) -> None:
        if not outcome.ok:
            metrics.webhook_failed("webhook" if job.plugin is None else "plugin",
                                   recording.FAILURE_OUTCOMES.get(status, str(status)))
        self.done.attempts += 1
        self.done.delivered += status == DeliveryStatus.DELIVERED
        self.done.retrying += status == DeliveryStatus.PENDING
        self.done.failed += status == DeliveryStatus.FAILED

    # ------------------------------------------------------------ runs

    def one_pass(self) -> Pass:
        """Fan out every new event, then send everything due when the pass began; return when all of it has ended."""
        self.fan_out()
        due_by = self.clock()
        while True:
            ended = self.ended()
            if self.dispatch(due_by):
                continue
            # Done only if nothing ended while the claim looked: its snapshot may predate that attempt's record.
            if not self.in_flight() and self.ended() == ended:
                break
            self.wait(1.0, ended)
        return self.done

    def run(self, stop: threading.Event, interval: float = INTERVAL) -> None:
        """Deliver until `stop` is set, then let the attempts in flight end (each within its deadline)."""
        next_look = 0.0
        while not stop.is_set():
            ended = self.ended()
            try:
                look = time.monotonic() >= next_look
                if look:
                    next_look = time.monotonic() + interval
                    self.fan_out()
                started = self.dispatch(look=look)
            except Exception:  # noqa: BLE001 - a database that went away: look again after a while
                log.exception("the deliverer could not reach the database; trying again")
                started = 0
                stop.wait(min(5.0, interval * 10))
            if not started:
                self.wait(max(0.0, next_look - time.monotonic()), ended)
        self.close()

    def close(self) -> None:
        self._workers.shutdown(wait=True)
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._recorder.join()
        self.pools.close()


def deliver(db, pm: pluggy.PluginManager, settings: Mapping[str, Any], clock: Callable[[], datetime], *,
            threads: int = THREADS) -> Pass:
    """One pass (`coalition events deliver --once`, and the tests, which move `clock` by hand between passes)."""
    deliverer = Deliverer(db, pm, settings, clock, threads=threads)
    try:
        return deliverer.one_pass()
    finally:
        deliverer.close()
