"""A controlled partner's sale draws on its funds: refused (402) past its limit, warned of at 80%.

The draw is the earn's own conditional UPDATE of the partner's one row
(network.parties.funding), after the sale's rows are written: a refusal
rolls them back with it. A partner with no funding control sends nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from network.errors import PaymentRequired
from network.events import outbox
from network.events.kinds import EventKind
from network.models import PartnerCredit
from network.parties import funding
from network.parties.registry import PartnerRef


def draw(session: Session, partner: PartnerRef, points: int, now: datetime) -> None:
    """Draw what `points` issued cost on the partner's funds, or refuse the sale (402 `credit_limit_reached`)."""
    if partner.funding is None or points <= 0:
        return
    drawn = funding.draw(session, partner.id, points, now)
    if drawn is None:
        raise PaymentRequired(f"{partner.name} has reached its {partner.funding} limit: no more points until funds "
                              "arrive", {"partner": [partner.slug]})
    if drawn.warn:
        funding.mark_warned(session, partner.id)
        cap = drawn.funded + drawn.limit
        outbox.emit(session, EventKind.CREDIT_WARNING, member_id=None, partner_id=partner.id, now=now, data={
            "partner": partner.slug, "funding": partner.funding, "level": "80",
            "drawn": str(funding.major(drawn.drawn)), "may_draw": str(funding.major(cap))})


def refused(session: Session, partner: PartnerRef, now: datetime) -> None:
    """Tell the partner a sale was refused at its limit: once until funds arrive (its own transaction, after the
    refusal rolled the sale back)."""
    row = session.get(PartnerCredit, partner.id)
    if row is None:
        return
    outbox.emit(session, EventKind.CREDIT_LIMIT_REACHED, member_id=None, partner_id=partner.id, now=now,
                dedup_key=f"{partner.id}:{row.funded_micros}:{row.limit_micros}", data={
                    "partner": partner.slug, "funding": partner.funding,
                    "drawn": str(funding.major(row.drawn_micros)),
                    "may_draw": str(funding.major(row.funded_micros + row.limit_micros))})
