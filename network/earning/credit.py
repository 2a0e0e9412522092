"""A controlled partner's sale draws on its funds: past them refused (402) or left waiting for funds; warned at 80%.

The draw is the earn's own conditional UPDATE of the partner's one row
(network.parties.funding), after the sale's members are locked. A partner
whose contract says `over_limit: "pending"` has a sale past its funds
booked all the same, its points pending until funds cover them: whether it
draws or waits is decided with the queue it would wait in
(network.earning.unfunded.cover); otherwise the sale is refused whole and
rolls back. Either way the partner is told once per level of funds
(`credit_limit_reached`), whatever path the sale came by: a batch in its
chunk's own transaction (only a savepoint rolled back), a single sale's
path in a transaction of its own once the refusal rolled everything back
(`telling_refusals`, around the write of the API's transactions and of a
platform's webhooks alike). A partner with no funding control sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from network.db import Database
from network.errors import PaymentRequired
from network.events import outbox
from network.events.kinds import EventKind
from network.models import PartnerCredit
from network.parties import funding
from network.parties.registry import PartnerRef

T = TypeVar("T")


def draw(session: Session, partner: PartnerRef, sales: Sequence[tuple[int, int]], now: datetime) -> None:
    """Draw what the sales' points cost (each an order row and its points), or refuse them all (402)."""
    points = sum(p for _, p in sales)
    if partner.funding is None or points <= 0:
        return
    drawn = funding.draw(session, partner.id, points, now)
    if drawn is None:
        raise PaymentRequired(f"{partner.name} has reached its {partner.funding} limit: no more points until funds "
                              "arrive", {"partner": [partner.slug]})
    funding.drew_in_full(session, drawn.cost, [sale for sale, p in sales if p > 0])
    warn(session, partner, drawn, now)


def warn(session: Session, partner: PartnerRef, drawn: funding.Drawn, now: datetime) -> None:
    """The partner's points passed 80% of what it may draw, for the first time since its last funds."""
    if not drawn.warn:
        return
    funding.mark_warned(session, partner.id)
    outbox.emit(session, EventKind.CREDIT_WARNING, member_id=None, partner_id=partner.id, now=now, data={
        "partner": partner.slug, "funding": partner.funding, "level": "80",
        "drawn": str(funding.major(drawn.drawn)), "may_draw": str(funding.major(drawn.funded + drawn.limit))})


def refused(session: Session, partner: PartnerRef, now: datetime) -> None:
    """Tell the partner a sale was refused (or left waiting) at its limit: once until funds or the limit change."""
    row = session.get(PartnerCredit, partner.id)
    if row is None:
        return
    outbox.emit(session, EventKind.CREDIT_LIMIT_REACHED, member_id=None, partner_id=partner.id, now=now,
                dedup_key=f"{partner.id}:{row.funded_micros}:{row.limit_micros}", data={
                    "partner": partner.slug, "funding": partner.funding, "over_limit": partner.over_limit,
                    "drawn": str(funding.major(row.drawn_micros)),
                    "may_draw": str(funding.major(row.funded_micros + row.limit_micros))})


def telling_refusals(db: Database, partner: PartnerRef, clock: Callable[[], datetime], write: Callable[[], T], *,
                     refused_in: Callable[[T], bool] = lambda done: False) -> T:
    """Run a write that books the partner's transactions in one database transaction (a till's request, a
    platform's webhook), telling the partner of a refusal at its limit in a transaction of its own: the refusal rolled
    the write back. `refused_in`: whether what the write returned is such a refusal, answered rather than raised (one
    stored under its Idempotency-Key)."""
    try:
        done = write()
    except PaymentRequired:
        db.transact(lambda session: refused(session, partner, clock()))
        raise
    if refused_in(done):
        db.transact(lambda session: refused(session, partner, clock()))
    return done
