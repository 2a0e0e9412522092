"""A partner's webhook: where its events go, and the signature that proves they came from the hub.

The secret is write-only: it is stored to sign with and never shown back,
not even to the partner that set it (it knows it; anyone reading its view
over its shoulder must not learn it).

Every POST carries `Coalition-Signature: t=<unix time>,v1=<hex HMAC-SHA256
of "<t>.<body>">`, Stripe's scheme: the time inside the signed bytes lets the
receiver refuse a replay of an old delivery, and `v1` leaves room for
another scheme beside it during a change. `verify_signature` is what a
partner copies: it needs only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.errors import Invalid, NotFound
from network.events import destination, outbox
from network.events.kinds import UNSETTLED, DeliveryStatus, EventKind
from network.models import Delivery, DeliveryAttempt, Event, Webhook

SIGNATURE_HEADER, EVENT_ID_HEADER = "Coalition-Signature", "Coalition-Event-Id"
MIN_SECRET, MAX_SECRET, MAX_URL = 16, 200, 2000
#: How far a signature's time may be from the receiver's clock (either way) before it is refused as a replay.
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class WebhookView:
    url: str | None
    secret_set: bool
    updated_at: datetime | None
    #: The circuit breaker's state (network.events.breaker): failed attempts in a row, and while paused, until when.
    failures: int = 0
    paused_until: datetime | None = None

    def view(self, slug: str) -> dict:
        return {"slug": slug, "url": self.url, "secret_set": self.secret_set, "updated_at": self.updated_at,
                "failures_in_a_row": self.failures, "paused_until": self.paused_until}


def check(url: str, secret: str, *, private_networks: bool = False) -> None:
    """422 naming the field: an http(s) URL read one way only, not at an internal address, and a 16-200 character secret.

    A name is checked again at each delivery (it may resolve elsewhere
    later); an address literal can be refused at once.
    """
    errors: dict[str, list[str]] = {}
    if len(url) > MAX_URL:
        errors["url"] = [f"must be at most {MAX_URL} characters"]
    else:
        try:
            destination.check(url, private_networks=private_networks)
        except destination.PrivateAddress as exc:
            errors["url"] = [f"{exc}; COALITION_WEBHOOK_PRIVATE_NETWORKS allows it"]
        except destination.Refused as exc:
            errors["url"] = [str(exc)]
    if not MIN_SECRET <= len(secret) <= MAX_SECRET:
        errors["secret"] = [f"must be {MIN_SECRET} to {MAX_SECRET} characters"]
    if errors:
        raise Invalid("The webhook is invalid", errors, code="invalid_webhook")


def put(session: Session, partner_id: int, *, url: str, secret: str, now: datetime,
        private_networks: bool = False) -> WebhookView:
    """Register or replace the partner's webhook; deliveries still pending go to the new URL, signed with the new secret.

    A paused webhook resumes at once: the partner fixing its endpoint says so by saving it.
    """
    check(url, secret, private_networks=private_networks)
    found = session.scalar(select(Webhook).where(Webhook.partner_id == partner_id).with_for_update())
    if found is None:
        session.add(Webhook(partner_id=partner_id, url=url, secret=secret, created_at=now, updated_at=now))
    else:
        found.url, found.secret, found.updated_at, found.removed_at = url, secret, now, None
        found.failures, found.paused_until = 0, None  # a new endpoint is not paused for the old one's failures
    session.flush()
    return WebhookView(url, True, now)


def remove(session: Session, partner_id: int, *, now: datetime) -> WebhookView:
    """Stop sending: the secret is forgotten and deliveries still on their way are cancelled (attempts kept)."""
    found = session.scalar(
        select(Webhook).where(Webhook.partner_id == partner_id, Webhook.removed_at.is_(None)).with_for_update()
    )
    if found is None:
        raise NotFound("The partner has no webhook", code="no_webhook")
    found.secret, found.removed_at, found.updated_at = None, now, now
    session.execute(
        update(Delivery).where(Delivery.webhook_id == found.id,
                               Delivery.status.in_(UNSETTLED))
        .values(status=DeliveryStatus.CANCELLED, next_attempt_at=None, attempt_id=None, claimed_until=None)
    )
    session.flush()
    return WebhookView(None, False, now)


def show(session: Session, partner_id: int) -> WebhookView:
    found = session.scalar(select(Webhook).where(Webhook.partner_id == partner_id, Webhook.removed_at.is_(None)))
    if found is None:
        return WebhookView(None, False, None)
    return WebhookView(found.url, bool(found.secret), found.updated_at, found.failures, found.paused_until)


def deliveries(session: Session, partner_id: int, *, status: str | None, count: int, below: int | None) -> list[dict]:
    """Up to `count` of the partner's webhook deliveries with ids below `below`, newest first, each with every attempt:
    what a partner debugging its endpoint reads."""
    query = (
        select(Delivery.id, Delivery.status, Delivery.attempts, Delivery.next_attempt_at, Delivery.delivered_at,
               Event.public_id, Event.kind, Event.created_at)
        .join(Webhook, Webhook.id == Delivery.webhook_id).join(Event, Event.id == Delivery.event_id)
        .where(Webhook.partner_id == partner_id).order_by(Delivery.id.desc()).limit(count)
    )
    if status:
        query = query.where(Delivery.status == status)
    if below is not None:
        query = query.where(Delivery.id < below)
    rows = session.execute(query).all()
    tries: dict[int, list[dict]] = {row.id: [] for row in rows}
    for attempt in session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(list(tries))).order_by(DeliveryAttempt.id)
    ) if rows else ():
        tries[attempt.delivery_id].append({"at": attempt.attempted_at, "status_code": attempt.status_code,
                                           "error": attempt.error, "duration_ms": attempt.duration_ms})
    return [{"id": row.id, "event_id": row.public_id, "type": row.kind, "created_at": row.created_at, "status": row.status,
             "attempts": tries[row.id], "next_attempt_at": row.next_attempt_at, "delivered_at": row.delivered_at}
            for row in rows]


def send_test(session: Session, partner_id: int, slug: str, *, now: datetime) -> str:
    """One `webhook_test` event to the partner's own webhook, sent by the deliverer like any other; 404 without one."""
    if not show(session, partner_id).secret_set:
        raise NotFound("The partner has no webhook", code="no_webhook")
    return outbox.emit(session, EventKind.WEBHOOK_TEST, member_id=None, partner_id=partner_id, now=now,
                       data={"partner": slug, "message": "A test event: your endpoint is reached and the signature checks."})


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Coalition-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance: int = TOLERANCE_SECONDS,
                     now: float | None = None) -> bool:
    """Does `header` sign exactly `body` with `secret`, at a time within `tolerance` seconds of `now`?

    For a partner's receiver to copy: it needs only hashlib, hmac and time.
    Pass the raw body as received (bytes), before any JSON parsing. Any
    `v1` in the header may match (several appear while a secret changes).
    """
    try:
        fields = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(value for key, value in fields if key.strip() == "t"))
        candidates = [value.strip() for key, value in fields if key.strip() == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
