"""Failed deliveries sent again: one by hand from the delivery log, or every one since an outage ended.

A delivery fails once every attempt is used, which a receiver down for a
day reaches long before it is back. Sending again starts a fresh set of
tries (`attempts` back to 0, with the whole backoff), not one last try; the
attempts already made stay in the log, so the partner still reads why it
failed. The receiver may have had the event already (it answered after the
deadline): it deduplicates on the event id, as with any delivery.

Only a webhook still registered is sent to: a removed one has no secret to
sign with, and its partner said to stop.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid, NotFound
from network.events.kinds import DeliveryStatus
from network.models import Delivery, Event, Webhook


def retry(session: Session, partner_id: int, delivery_id: int, *, now: datetime) -> None:
    """A failed delivery of the partner's webhook due again now, with a fresh set of tries.

    404 for a delivery that is not this partner's, 409 for one that has not
    failed or whose webhook was removed since.
    """
    found = session.execute(
        select(Delivery.status, Webhook.removed_at).join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(Delivery.id == delivery_id, Webhook.partner_id == partner_id).with_for_update(of=Delivery)
    ).first()
    if found is None:
        raise NotFound(f"No delivery {delivery_id} of this partner's webhook", {"delivery_id": [str(delivery_id)]},
                       code="not_found")
    if found.status != DeliveryStatus.FAILED:
        raise Conflict(f"Delivery {delivery_id} is {found.status}: only a failed one is tried again", code="conflict")
    if found.removed_at is not None:
        raise Conflict(f"Delivery {delivery_id}'s webhook was removed: register one again first", code="conflict")
    session.execute(update(Delivery).where(Delivery.id == delivery_id).values(_due(now)))


def replay(session: Session, partner_id: int, *, since: datetime | None, now: datetime) -> int:
    """Every failed delivery of the partner's webhook whose event was made at or after `since` (None: all) due again
    now; how many. 404 `no_webhook` without one, 422 naming `since` for a time to come."""
    if session.scalar(select(Webhook.id).where(Webhook.partner_id == partner_id, Webhook.removed_at.is_(None))) is None:
        raise NotFound("The partner has no webhook", code="no_webhook")
    return _replay(session, _events(since, now), Delivery.webhook_id.in_(_registered(partner_id)), now)


def replay_all(session: Session, *, since: datetime | None, now: datetime, partner_id: int | None = None) -> int:
    """Every failed delivery, to webhooks and delivery plugins alike, whose event was made at or after `since`:
    the operator's after an outage. With `partner_id`, the partner's events only (its webhook's, and what the plugins
    had of them)."""
    events = _events(since, now)
    if partner_id is not None:
        events = (select(Event.id) if events is None else events).where(Event.partner_id == partner_id)
    return _replay(session, events, or_(Delivery.plugin.is_not(None), Delivery.webhook_id.in_(_registered(partner_id))),
                   now)


def _replay(session: Session, events: Select | None, channel: ColumnElement[bool], now: datetime) -> int:
    """One UPDATE: a replay after an outage may touch thousands of rows, and none is read into Python."""
    statement = update(Delivery).where(Delivery.status == DeliveryStatus.FAILED, channel).values(_due(now))
    if events is not None:
        statement = statement.where(Delivery.event_id.in_(events))
    return session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def _events(since: datetime | None, now: datetime) -> Select | None:
    if since is None:
        return None
    if since > now:
        raise Invalid("The replay cannot start in the future", {"since": ["must not be in the future"]})
    return select(Event.id).where(Event.created_at >= since)


def _registered(partner_id: int | None) -> Select:
    """The webhooks still registered (of the partner, if one is named)."""
    query = select(Webhook.id).where(Webhook.removed_at.is_(None))
    return query if partner_id is None else query.where(Webhook.partner_id == partner_id)


def _due(now: datetime) -> dict:
    """A fresh start: no attempt used, none in flight, due now."""
    return {"status": DeliveryStatus.PENDING, "next_attempt_at": now, "attempts": 0, "attempt_id": None,
            "claimed_until": None}
