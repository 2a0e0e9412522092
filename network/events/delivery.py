"""The outbox's queue: events fanned out into deliveries, claimed lane by lane, and every attempt recorded.

Each webhook is a lane of its own, and so is each delivery plugin: a claim
takes the oldest due deliveries of every lane up to that lane's free share
(its concurrency cap less what any deliverer has in flight there), so a slow
or failing endpoint only ever holds its own share of the workers. All of it
is rows of the hub's own database, in short transactions:

1. fan out: events not yet fanned out become deliveries, one per channel:
   the audience partner's webhook (if it has one) and every plugin that
   implements `coalition_deliver_event`.
2. claim: due deliveries (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
   has one writer) become `sending` until their attempt's deadline and a few
   seconds more (`claimed_until`), and the attempt is written there and
   then, before anything is sent: a deliverer that dies mid-send leaves the
   attempt on record and the delivery due again when its claim runs out,
   at the head of its lane (`next_attempt_at` still says when it came due). A webhook's row is locked
   while its share is counted, so its cap holds across processes and hosts.
3. record (network.events.recording): how the attempt ended, only by its
   own sender (`attempt_id`); a failure is retried after `backoff *
   2**(n-1)` (capped, with jitter so a batch that failed together does not
   come back together), and after `max_attempts` the delivery is `failed`,
   to be replayed by hand.

A job-queue library (procrastinate, Dramatiq, Celery) would keep a second
copy of this queue beside the outbox, written in the booking's transaction
or moved there by a relay: the deliveries table already is a PostgreSQL
queue with SKIP LOCKED claims, which is what those libraries run on, and it
keeps SQLite with no broker for `make demo`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pluggy
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from network.events import breaker
from network.events.kinds import UNSETTLED, DeliveryStatus
from network.ledger import bulk
from network.models import Delivery, DeliveryAttempt, Event, Partner, Webhook

HOOK = "coalition_deliver_event"
FAN_OUT_PAGE = 500
#: How long a claim outlives its attempt's deadline: the time to record how it ended.
GRACE = timedelta(seconds=5)

_deliveries = Delivery.__table__


@dataclass(frozen=True)
class Policy:
    #: Each attempt's whole deadline, in seconds: resolving, connecting, sending and the answer.
    timeout: float
    backoff: timedelta
    backoff_max: timedelta
    max_attempts: int
    #: Whether a webhook may point into private, loopback or link-local networks (the hub's own).
    private_networks: bool = False
    #: Attempts one webhook (or plugin) may have in flight at once, over every deliverer.
    concurrency: int = 4
    #: A retry waits between (1 - jitter) and 1 times its backoff, drawn at random.
    jitter: float = 0.0
    breaker: breaker.Breaker = breaker.Breaker()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        return cls(
            timeout=float(config["COALITION_WEBHOOK_TIMEOUT_SECONDS"]),
            backoff=timedelta(seconds=max(1, config["COALITION_WEBHOOK_BACKOFF_SECONDS"])),
            backoff_max=timedelta(seconds=config["COALITION_WEBHOOK_BACKOFF_MAX_SECONDS"]),
            max_attempts=max(1, config["COALITION_WEBHOOK_MAX_ATTEMPTS"]),
            private_networks=bool(config.get("COALITION_WEBHOOK_PRIVATE_NETWORKS", False)),
            concurrency=max(1, int(config.get("COALITION_WEBHOOK_CONCURRENCY", 4))),
            jitter=min(1.0, max(0.0, float(config.get("COALITION_WEBHOOK_BACKOFF_JITTER", 0.5)))),
            breaker=breaker.Breaker.from_config(config),
        )

    def retry_at(self, attempted_at: datetime, attempts_made: int) -> datetime:
        """When to try again after the `attempts_made`-th failure: 30 s, 60 s, 120 s, ... up to the cap, less jitter."""
        wait = min(self.backoff * 2 ** min(attempts_made - 1, 40), self.backoff_max)
        return attempted_at + wait * (1 - self.jitter * random.random())

    @property
    def lease(self) -> timedelta:
        """How long a claim keeps a delivery from other deliverers: its attempt's deadline and the time to record it."""
        return timedelta(seconds=self.timeout) + GRACE


class Lane(NamedTuple):
    """A queue of its own: one webhook's deliveries, or one plugin's."""

    webhook_id: int | None
    plugin: str | None


@dataclass(frozen=True)
class Job:
    """A claimed delivery and everything needed to send it, read before the claim committed."""

    delivery_id: int
    #: Attempts counted against the delivery's `max_attempts`, this one included.
    attempts: int
    attempt_id: int
    attempted_at: datetime
    event: dict
    url: str | None
    secret: str | None
    plugin: str | None
    webhook_id: int | None

    @property
    def lane(self) -> Lane:
        return Lane(self.webhook_id, self.plugin)

    @property
    def body(self) -> bytes:
        return json.dumps({key: self.event[key] for key in ("id", "type", "created_at", "data")},
                          separators=(",", ":")).encode()


@dataclass
class Pass:
    """What one pass did: events fanned out, attempts made and how they ended."""

    fanned_out: int = 0
    attempts: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0


def delivery_plugins(pm: pluggy.PluginManager) -> dict[str, Callable]:
    """The plugins that implement the hook, by name, each with a caller passing only the arguments it names."""
    found = {}
    for impl in getattr(pm.hook, HOOK).get_hookimpls():
        def call(event, settings, impl=impl):
            given = {"event": event, "settings": settings}
            return impl.function(**{arg: given[arg] for arg in impl.argnames})

        found[pm.get_name(impl.plugin)] = call
    return found


def fan_out(session: Session, plugins: list[str], now: datetime, limit: int = FAN_OUT_PAGE) -> int:
    """Turn a page of events not yet fanned out into deliveries; returns how many events it took."""
    events = session.execute(
        select(Event.id, Event.partner_id).where(Event.fanned_out_at.is_(None))
        .order_by(Event.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    if not events:
        return 0
    audience = {event.partner_id for event in events} - {None}
    hooks = dict(session.execute(
        select(Webhook.partner_id, Webhook.id).where(Webhook.partner_id.in_(audience), Webhook.removed_at.is_(None))
    ).all()) if audience else {}
    rows = [{"event_id": event.id, "webhook_id": hooks[event.partner_id], "plugin": None}
            for event in events if event.partner_id in hooks]
    rows += [{"event_id": event.id, "webhook_id": None, "plugin": name} for event in events for name in plugins]
    bulk.insert_many(session.connection(), _deliveries, rows,
                     same={"status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now})
    session.execute(update(Event).where(Event.id.in_([event.id for event in events])).values(fanned_out_at=now))
    return len(events)


def due(due_by: datetime):
    """Due by `due_by`: waiting for its time, or claimed by a deliverer whose claim ran out.

    In the lane index's order (next_attempt_at), skipping only the claims
    still running, a lane's cap of them at most.
    """
    return (Delivery.status.in_(UNSETTLED) & (Delivery.next_attempt_at <= due_by)
            & ((Delivery.status == DeliveryStatus.PENDING) | (Delivery.claimed_until <= due_by)))


def due_lanes(session: Session, due_by: datetime) -> list[Lane]:
    """The lanes with something due by `due_by`."""
    return [Lane(*row) for row in session.execute(
        select(Delivery.webhook_id, Delivery.plugin).where(due(due_by)).distinct()).all()]


def _on_lane(lane: Lane):
    return ((Delivery.webhook_id == lane.webhook_id) & Delivery.plugin.is_(None) if lane.webhook_id is not None
            else Delivery.webhook_id.is_(None) & (Delivery.plugin == lane.plugin))


def _share(session: Session, lane: Lane, now: datetime, policy: Policy) -> int:
    """How many more attempts the lane may start now, over every deliverer.

    The webhook's row is locked till the claim commits, so two deliverers
    never both count the same free share (one finding it locked leaves the
    lane to the other this time); a plugin's lane has no row, and its cap
    holds per deliverer.
    """
    busy = (select(func.count()).select_from(Delivery)
            .where(_on_lane(lane), Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until > now))
    if lane.webhook_id is None:
        return max(0, policy.concurrency - session.scalar(busy))
    row = session.execute(select(Webhook.failures, Webhook.paused_until, busy.scalar_subquery().label("busy"))
                          .where(Webhook.id == lane.webhook_id).with_for_update(of=Webhook, skip_locked=True)).first()
    if row is None:
        return 0
    return max(0, policy.breaker.cap(row.failures, row.paused_until, now, policy.concurrency) - row.busy)


def claim(session: Session, now: datetime, policy: Policy, free: Mapping[Lane, int] | None = None,
          due_by: datetime | None = None) -> list[Job]:
    """Claim what is due by `due_by` (default `now`), lane by lane, up to each lane's share and `free` (this deliverer's room).

    Every claimed delivery gets its attempt row now, so an attempt that was
    started is on record whatever happens to its sender.
    """
    due_by = due_by or now
    lanes = due_lanes(session, due_by) if free is None else [lane for lane in free if free[lane] > 0]
    taken: list[int] = []
    for lane in lanes:
        share = _share(session, lane, now, policy)
        room = share if free is None else min(share, free[lane])
        if room > 0:
            taken += session.execute(
                select(Delivery.id).where(_on_lane(lane), due(due_by))
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(room).with_for_update(skip_locked=True)
            ).scalars().all()
    if not taken:
        return []
    attempts = session.execute(insert(DeliveryAttempt).returning(DeliveryAttempt.id, DeliveryAttempt.delivery_id,
                                                                 sort_by_parameter_order=True),
                               [{"delivery_id": delivery_id, "attempted_at": now} for delivery_id in taken]).all()
    attempt_of = {row.delivery_id: row.id for row in attempts}
    session.connection().execute(
        _deliveries.update().where(_deliveries.c.id == bindparam("claimed"))
        .values(status=DeliveryStatus.SENDING, claimed_until=now + policy.lease, attempts=_deliveries.c.attempts + 1,
                attempt_id=bindparam("attempt")),
        [{"claimed": delivery_id, "attempt": attempt_of[delivery_id]} for delivery_id in taken])
    return _jobs(session, now, attempt_of)


def _jobs(session: Session, now: datetime, attempt_of: dict[int, int]) -> list[Job]:
    rows = session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.plugin, Delivery.webhook_id, Webhook.url, Webhook.secret,
               Event.public_id, Event.kind, Event.created_at, Event.data, Event.member_id, Partner.slug)
        .join(Event, Event.id == Delivery.event_id)
        .outerjoin(Webhook, Webhook.id == Delivery.webhook_id)
        .outerjoin(Partner, Partner.id == Event.partner_id)
        .where(Delivery.id.in_(list(attempt_of))).order_by(Delivery.id)
    ).all()
    jobs = []
    for row in rows:
        attempt_id = attempt_of[row.id]
        if row.plugin is None and row.secret is None:  # the webhook was removed after the fan-out
            session.execute(update(Delivery).where(Delivery.id == row.id)
                            .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, attempt_id=None,
                                    claimed_until=None))
            session.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == attempt_id)
                            .values(error="cancelled: the webhook was removed", duration_ms=0))
            continue
        event = {"id": row.public_id, "type": row.kind, "created_at": row.created_at.isoformat(),
                 "data": json.loads(row.data), "member_id": row.member_id, "partner": row.slug}
        jobs.append(Job(row.id, row.attempts, attempt_id, now, event, row.url, row.secret, row.plugin, row.webhook_id))
    return jobs

