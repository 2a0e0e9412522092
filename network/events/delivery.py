"""Sending the outbox: every committed event at least once to each webhook and delivery plugin, every attempt kept.

One pass (`deliver`) does three things, each in short transactions of its own:

1. fan out: events not yet fanned out become deliveries, one per channel:
   the audience partner's webhook (if it has one) and every plugin that
   implements `coalition_deliver_event`. A partner without a webhook gets no
   delivery row.
2. claim: due deliveries are taken a few at a time (`FOR UPDATE SKIP LOCKED`
   on PostgreSQL; SQLite has one writer) and their `next_attempt_at` pushed
   past a lease, then committed: a second delivering process skips them, and
   no transaction stays open during the HTTP call. A process that dies
   mid-send leaves them due again once the lease runs out (at least once).
3. send and record: POST (or call the plugin) outside any transaction, then
   record the attempt; a failure is retried after `backoff * 2**(n-1)`
   (capped), and after `max_attempts` the delivery is `failed`.

urllib3 sends: a well-kept client with no dependencies of its own, whose
`Timeout(total=...)` bounds connect and answer together, and with retries
and redirects switched off so every try is ours to record. It connects to
the address network.events.destination resolved and checked, never to the
URL itself (see `Pools`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pluggy
import urllib3
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.events import destination
from network.events.kinds import DeliveryStatus
from network.events.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from network.ledger import bulk
from network.models import Delivery, DeliveryAttempt, Event, Partner, Webhook
from network.ops import metrics

log = logging.getLogger(__name__)

HOOK = "coalition_deliver_event"
FAN_OUT_PAGE, CLAIM_BATCH = 500, 20

_deliveries = Delivery.__table__


@dataclass(frozen=True)
class Policy:
    timeout: float
    backoff: timedelta
    backoff_max: timedelta
    max_attempts: int
    #: Whether a webhook may point into private, loopback or link-local networks (the hub's own).
    private_networks: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        return cls(
            timeout=float(config["COALITION_WEBHOOK_TIMEOUT_SECONDS"]),
            backoff=timedelta(seconds=max(1, config["COALITION_WEBHOOK_BACKOFF_SECONDS"])),
            backoff_max=timedelta(seconds=config["COALITION_WEBHOOK_BACKOFF_MAX_SECONDS"]),
            max_attempts=max(1, config["COALITION_WEBHOOK_MAX_ATTEMPTS"]),
            private_networks=bool(config.get("COALITION_WEBHOOK_PRIVATE_NETWORKS", False)),
        )

    def retry_at(self, attempted_at: datetime, attempts_made: int) -> datetime:
        """When to try again after the `attempts_made`-th failure: 30 s, 60 s, 120 s, ... up to the cap."""
        return attempted_at + min(self.backoff * 2 ** (attempts_made - 1), self.backoff_max)

    @property
    def lease(self) -> timedelta:
        """How long a claimed batch stays out of others' reach: long enough to send all of it."""
        return timedelta(seconds=CLAIM_BATCH * self.timeout + 60)


@dataclass(frozen=True)
class Job:
    """A claimed delivery and everything needed to send it, read before the claim committed."""

    delivery_id: int
    attempts: int
    event: dict
    url: str | None
    secret: str | None
    plugin: str | None

    @property
    def body(self) -> bytes:
        return json.dumps({key: self.event[key] for key in ("id", "type", "created_at", "data")},
                          separators=(",", ":")).encode()


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


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


def claim(session: Session, now: datetime, policy: Policy, limit: int = CLAIM_BATCH, due_by: datetime | None = None) -> list[Job]:
    """Take deliveries due by `due_by` (default `now`) out of other deliverers' reach for a lease; read what sending them needs."""
    due = session.execute(
        select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= (due_by or now))
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit).with_for_update(skip_locked=True)
    ).scalars().all()
    if not due:
        return []
    session.execute(update(Delivery).where(Delivery.id.in_(due)).values(next_attempt_at=now + policy.lease))
    rows = session.execute(
        select(Delivery.id, Delivery.attempts, Delivery.plugin, Webhook.url, Webhook.secret, Event.public_id,
               Event.kind, Event.created_at, Event.data, Event.member_id, Partner.slug)
        .join(Event, Event.id == Delivery.event_id)
        .outerjoin(Webhook, Webhook.id == Delivery.webhook_id)
        .outerjoin(Partner, Partner.id == Event.partner_id)
        .where(Delivery.id.in_(due)).order_by(Delivery.next_attempt_at, Delivery.id)
    ).all()
    jobs = []
    for row in rows:
        if row.plugin is None and row.secret is None:  # the webhook was removed after the fan-out
            session.execute(update(Delivery).where(Delivery.id == row.id).values(status=DeliveryStatus.CANCELLED, next_attempt_at=None))
            continue
        event = {"id": row.public_id, "type": row.kind, "created_at": row.created_at.isoformat(),
                 "data": json.loads(row.data), "member_id": row.member_id, "partner": row.slug}
        jobs.append(Job(row.id, row.attempts, event, row.url, row.secret, row.plugin))
    return jobs


class Pools:
    """Connection pools of one pass, one per (scheme, address, port, host): each connects to a checked address only.

    The URL never reaches urllib3's own parser or resolver: a pool is made
    for the address `destination.checked_address` allowed, with the URL's
    host kept as the `Host` header and as the TLS name (SNI and the
    certificate check), so a second DNS answer cannot move the connection.
    """

    def __init__(self) -> None:
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}

    def get(self, target: destination.Target, address: destination.IPAddress) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, address, target.port, target.host)
        if key not in self._pools:
            if target.scheme == "https":
                self._pools[key] = urllib3.HTTPSConnectionPool(
                    str(address), target.port, maxsize=4, retries=False, cert_reqs="CERT_REQUIRED",
                    server_hostname=target.host, assert_hostname=target.host)
            else:
                self._pools[key] = urllib3.HTTPConnectionPool(str(address), target.port, maxsize=4, retries=False)
        return self._pools[key]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def post(pools: Pools, job: Job, attempted_at: datetime, timeout: float, *, private_networks: bool = False) -> Outcome:
    """POST the event, signed; 2xx is delivered, anything else (status, redirect, refusal, timeout) a failed attempt.

    The host is resolved here, once, and every address it answers is
    checked (a name may resolve elsewhere since registration); a refused
    URL is an attempt recorded with no request sent.
    """
    started = time.monotonic()
    try:
        target = destination.parse(job.url)
        address = destination.checked_address(target, private_networks=private_networks)
    except destination.PrivateAddress as exc:
        return Outcome(False, None, f"refused: the URL's host is a private address ({exc.address}); "
                                    "COALITION_WEBHOOK_PRIVATE_NETWORKS allows it", 0)
    except destination.Refused as exc:
        return Outcome(False, None, f"refused: the URL {exc}", 0)
    except (OSError, UnicodeError) as exc:
        return Outcome(False, None, f"NameResolutionError: {target.host}: {exc}"[:500], _ms(started))
    body = job.body
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": "coalition-webhooks/1",
        EVENT_ID_HEADER: job.event["id"],
        SIGNATURE_HEADER: sign(job.secret, body, int(attempted_at.timestamp())),
    }
    try:
        response = pools.get(target, address).urlopen(
            "POST", target.path, body=body, headers=headers, retries=False, redirect=False,
            assert_same_host=False, timeout=urllib3.Timeout(total=timeout), preload_content=False)
        try:
            response.drain_conn()
        finally:
            response.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # urllib3 makes it a ConnectTimeoutError: it is a refusal
        return Outcome(False, None, f"NewConnectionError: {exc}"[:500], _ms(started))
    except urllib3.exceptions.TimeoutError:
        return Outcome(False, None, f"timed out after {timeout:g} s", _ms(started))
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    if 300 <= response.status < 400:  # followed, it would go wherever the receiver says, unchecked
        return Outcome(False, response.status, "a redirect is not followed: answer 2xx at the registered URL",
                       _ms(started))
    return Outcome(200 <= response.status < 300, response.status, None, _ms(started))


def offer(call: Callable | None, job: Job, settings: Mapping[str, Any]) -> Outcome:
    """Hand the event to a delivery plugin; returning is delivered, raising a failed attempt retried like a webhook's."""
    started = time.monotonic()
    if call is None:
        return Outcome(False, None, f"plugin {job.plugin!r} is not installed on this hub", 0)
    try:
        call(dict(job.event), settings)
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is recorded, never the deliverer's end
        log.warning("delivery plugin %s failed on event %s: %r", job.plugin, job.event["id"], exc)
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    return Outcome(True, None, None, _ms(started))


#: What `record` answers when another deliverer recorded this delivery first (this one's lease ran out mid-send).
SUPERSEDED = "superseded"
#: A failed attempt's figure (/metrics) by what became of its delivery.
FAILURE_OUTCOMES = {DeliveryStatus.PENDING: "retrying", DeliveryStatus.FAILED: "failed", SUPERSEDED: "superseded"}


def record(session: Session, job: Job, attempted_at: datetime, outcome: Outcome, policy: Policy) -> str:
    """Keep the attempt and move the delivery on: delivered, pending again later, or failed for good.

    Only if no one else has moved it since it was claimed: a sender whose
    lease ran out while it waited must not overwrite the outcome of the one
    that claimed it next. Its attempt is kept all the same; it happened.
    """
    made = job.attempts + 1
    if outcome.ok:
        values = {"status": DeliveryStatus.DELIVERED, "delivered_at": attempted_at, "next_attempt_at": None}
    elif made >= policy.max_attempts:
        values = {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    else:
        values = {"status": DeliveryStatus.PENDING, "next_attempt_at": policy.retry_at(attempted_at, made)}
    moved = session.execute(
        update(Delivery).where(Delivery.id == job.delivery_id, Delivery.attempts == job.attempts).values(attempts=made, **values)
    ).rowcount
    session.execute(insert(DeliveryAttempt).values(
        delivery_id=job.delivery_id, attempted_at=attempted_at, status_code=outcome.status_code,
        error=outcome.error, duration_ms=outcome.duration_ms,
    ))
    return values["status"] if moved else SUPERSEDED


def deliver(db, pm: pluggy.PluginManager, settings: Mapping[str, Any], clock: Callable[[], datetime]) -> Pass:
    """One pass: fan out every new event, then send everything due by `clock()`, each delivery at most once.

    `db` is a network.db.Database; `clock` is read at each step, so tests
    move time by hand between passes to make retries due.
    """
    policy = Policy.from_config(settings)
    plugins = delivery_plugins(pm)
    done = Pass()
    while taken := db.transact(lambda session: fan_out(session, sorted(plugins), clock())):
        done.fanned_out += taken
    pools = Pools()
    # Only what was due when the pass began: a retry scheduled during it waits for the next pass.
    due_by = clock()
    try:
        while jobs := db.transact(lambda session: claim(session, clock(), policy, due_by=due_by)):
            for job in jobs:
                attempted_at = clock()
                if job.plugin is None:
                    outcome = post(pools, job, attempted_at, policy.timeout, private_networks=policy.private_networks)
                else:
                    outcome = offer(plugins.get(job.plugin), job, settings)
                status = db.transact(lambda session: record(session, job, attempted_at, outcome, policy))
                if not outcome.ok:
                    channel = "webhook" if job.plugin is None else "plugin"
                    metrics.webhook_failed(channel, FAILURE_OUTCOMES.get(status, str(status)))
                done.attempts += 1
                done.delivered += status == DeliveryStatus.DELIVERED
                done.retrying += status == DeliveryStatus.PENDING
                done.failed += status == DeliveryStatus.FAILED
    finally:
        pools.close()
    return done


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
