"""Failed deliveries written straight into the database: what a replay starts from, without running a deliverer.

A delivery fails after its last attempt at a receiver; the tests of
sending again need only the rows that leaves (the event, the delivery
`failed` with its attempts used, each attempt kept), not the deliverer's
timing, so they make those rows as it would.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from network.events import outbox
from network.events.kinds import EventKind
from network.models import Delivery, DeliveryAttempt, Event, Webhook
from network.parties.registry import get_partner


def failed_delivery(database, slug: str, *, at: datetime, attempts: int = 3, plugin: str | None = None,
                    status: str = "failed") -> int:
    """A `webhook_test` event of the partner's made at `at`, its delivery to the partner's webhook (or to `plugin`)
    left `status` after `attempts` attempts, each a 500; the delivery's id."""

    def work(session):
        partner = get_partner(session, slug)
        public_id = outbox.emit(session, EventKind.WEBHOOK_TEST, member_id=None, partner_id=partner.id, now=at,
                                data={"partner": slug, "message": "made by a test"})
        event = session.scalars(select(Event).where(Event.public_id == public_id)).one()
        event.fanned_out_at = at  # the deliverer's fan-out has been: no second delivery is made of it
        webhook_id = None if plugin else session.scalar(select(Webhook.id).where(Webhook.partner_id == partner.id))
        delivery = Delivery(event_id=event.id, webhook_id=webhook_id, plugin=plugin, status=status, attempts=attempts,
                            next_attempt_at=None, created_at=at, delivered_at=None, attempt_id=None)
        session.add(delivery)
        session.flush()
        session.add_all(DeliveryAttempt(delivery_id=delivery.id, attempted_at=at + timedelta(seconds=30 * n),
                                        status_code=500, error=None, duration_ms=12) for n in range(attempts))
        return delivery.id

    return database.transact(work)


def deliveries(database) -> dict[int, tuple]:
    """Every delivery's (status, attempts, next_attempt_at, attempt_id), by id."""
    return {row.id: (row.status, row.attempts, row.next_attempt_at, row.attempt_id) for row in database.read(
        lambda session: session.execute(select(Delivery.id, Delivery.status, Delivery.attempts, Delivery.next_attempt_at,
                                                Delivery.attempt_id)).all())}


def attempts_of(database, delivery_id: int) -> int:
    """How many attempts of the delivery the log keeps."""
    return len(database.read(lambda session: session.scalars(
        select(DeliveryAttempt.id).where(DeliveryAttempt.delivery_id == delivery_id)).all()))
