"""Keeping the outbox in bounds: events delivered long ago go, with their deliveries and attempts.

Only what is settled for good goes: an event fanned out whose every
delivery was delivered or cancelled (or that had none to make). An event
with a delivery pending, being sent, or failed keeps everything: it is what
an operator looks into, and what a replay sends again. Delivered and
cancelled are final (a replay takes failed deliveries only, and a fanned-out
event gets no new one), so what a batch finds settled stays settled until it
commits, with no lock taken on the deliveries.

One transaction per batch of events, so no lock is held for long and the
deliverer keeps sending meanwhile. A pass walks the old events once, in
(created_at, id) order from where its previous batch stopped (the index
`ix_events_created_at`): the events it keeps are not read again by its
next batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, exists, or_, select, tuple_
from sqlalchemy.orm import Session

from network.events.kinds import DeliveryStatus
from network.models import Delivery, DeliveryAttempt, Event

T = TypeVar("T")

#: A delivery done with: nothing tries it again.
SETTLED = (DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED)

_events, _deliveries, _attempts = Event.__table__, Delivery.__table__, DeliveryAttempt.__table__


@dataclass(frozen=True)
class Pruned:
    """How many rows a prune removed."""

    events: int = 0
    deliveries: int = 0
    attempts: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(self.events + other.events, self.deliveries + other.deliveries, self.attempts + other.attempts)


def prune(transact: Callable[[Callable[[Session], T]], T], *, now: datetime, keep: timedelta,
          batch: int = 1000) -> Pruned:
    """Remove what was delivered before `now - keep`, `batch` events per transaction.

    An event with a dedup key (a scan's: `points_expiring` once per expiry
    date, `dormant_member` once per dormancy) keeps its own row and loses
    only its deliveries and attempts: the row is what stops the next scan
    emitting the same warning again, so deleting it would send a member's
    warning twice, long after the first.
    """
    cutoff = now - keep
    total, after = Pruned(), None
    while True:
        done, after = transact(lambda session, start=after: _batch(session, cutoff, start, batch))
        total += done
        if after is None:
            return total


def _batch(session: Session, cutoff: datetime, after: tuple[datetime, int] | None, size: int):
    """One batch: what it removed, and where the next one starts (None: nothing is left)."""
    e, d = _events, _deliveries
    unsettled = exists().where(d.c.event_id == e.c.id, d.c.status.not_in(SETTLED))
    found = (
        select(e.c.id, e.c.created_at)
        .where(e.c.created_at < cutoff, e.c.fanned_out_at.is_not(None), ~unsettled,
               # A keyed event whose deliveries went already has nothing more to give.
               or_(e.c.dedup_key.is_(None), exists().where(d.c.event_id == e.c.id)))
        .order_by(e.c.created_at, e.c.id).limit(size)
    )
    if after is not None:
        found = found.where(tuple_(e.c.created_at, e.c.id) > tuple_(*after))
    rows = session.execute(found).all()
    if not rows:
        return Pruned(), None
    ids = [row.id for row in rows]
    theirs = select(d.c.id).where(d.c.event_id.in_(ids)).scalar_subquery()
    attempts = session.execute(delete(_attempts).where(_attempts.c.delivery_id.in_(theirs))).rowcount
    deliveries = session.execute(delete(d).where(d.c.event_id.in_(ids))).rowcount
    events = session.execute(delete(e).where(e.c.id.in_(ids), e.c.dedup_key.is_(None))).rowcount
    # A short batch was the last: nothing past it was found.
    return Pruned(events, deliveries, attempts), (rows[-1].created_at, rows[-1].id) if len(rows) == size else None
