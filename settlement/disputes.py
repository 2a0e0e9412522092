"""Disputes: a partner objects to lines of its section; finance upholds one with an adjustment, or rejects it.

A closed statement never changes. An upheld dispute is settled in money
in the open period: the adjustment (what the partner receives, or pays
when negative) counts in its net in the next statement, which lists every
dispute ended in its period and how.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid, NotFound
from network.models import Dispute, Order, Partner, Statement
from partners.money import decimals
from settlement.figures import Period, money

OPEN, ADJUSTED, REJECTED = "open", "adjusted", "rejected"
OUTCOMES = (ADJUSTED, REJECTED)
MAX_ORDERS = 100


def file(session: Session, sequence: int, partner_id: int, order_ids: list[str], reason: str, now: datetime,
         currency: str) -> dict:
    """Open a dispute over the partner's orders booked in statement `sequence`'s period (422 naming any other)."""
    stored = session.get(Statement, sequence) if 0 < sequence < 2**31 else None
    if stored is None:
        raise NotFound(f"No statement {sequence}", code="unknown_statement")
    wanted = list(dict.fromkeys(order_ids))
    found = set(session.scalars(select(Order.order_id).where(
        Order.partner_id == partner_id, Order.order_id.in_(wanted), Order.booked_at < stored.period_end,
        *([] if stored.period_start is None else [Order.booked_at >= stored.period_start]))))
    missing = [order for order in wanted if order not in found]
    if missing:
        raise Invalid(f"Statement {sequence} books no such order of the partner", {"order_ids": missing},
                      code="not_in_statement")
    dispute_id = session.execute(insert(Dispute).values(
        sequence=sequence, partner_id=partner_id, order_ids=wanted, reason=reason, status=OPEN, created_at=now,
    ).returning(Dispute.id)).scalar_one()
    return view(session, dispute_id, currency)


def resolve(session: Session, dispute_id: int, outcome: str, note: str, amount: Decimal | None, currency: str,
            now: datetime) -> dict:
    """End an open dispute: `adjusted` with the amount the partner receives (negative: pays), or `rejected`."""
    dispute = session.get(Dispute, dispute_id) if 0 < dispute_id < 2**63 else None
    if dispute is None:
        raise NotFound(f"No dispute {dispute_id}", code="unknown_dispute")
    if outcome == ADJUSTED and (amount is None or amount == 0):
        raise Invalid("An upheld dispute names the adjustment", {"amount": ["is required, and not 0, when adjusted"]})
    if outcome == REJECTED and amount is not None:
        raise Invalid("A rejected dispute moves no money", {"amount": ["must not be given when rejected"]})
    if amount is not None and amount.as_tuple().exponent < -decimals(currency):
        raise Invalid(f"{currency} has {decimals(currency)} decimals", {"amount": [str(amount)]})
    minor = None if amount is None else int(amount.scaleb(decimals(currency)))
    ended = session.execute(update(Dispute).where(Dispute.id == dispute_id, Dispute.status == OPEN).values(
        status=outcome, adjustment_minor=minor, note=note, resolved_at=now).returning(Dispute.id)).first()
    if ended is None:
        raise Conflict(f"Dispute {dispute_id} is {dispute.status} already", code="dispute_closed")
    return view(session, dispute_id, currency)


def view(session: Session, dispute_id: int, currency: str) -> dict:
    row = session.execute(select(Dispute, Partner.slug).join(Partner, Partner.id == Dispute.partner_id)
                          .where(Dispute.id == dispute_id)).one()
    return _view(*row, currency)


def _view(dispute: Dispute, slug: str, currency: str) -> dict:
    adjustment = None if dispute.adjustment_minor is None else money(dispute.adjustment_minor, currency)
    return {"id": dispute.id, "sequence": dispute.sequence, "partner": slug, "order_ids": dispute.order_ids,
            "reason": dispute.reason, "status": dispute.status, "adjustment": adjustment, "note": dispute.note,
            "created_at": dispute.created_at, "resolved_at": dispute.resolved_at}


def listed(session: Session, sequence: int, currency: str, partner_id: int | None = None) -> list[dict]:
    """The disputes filed against statement `sequence` (a partner's own, when named), oldest first."""
    query = (select(Dispute, Partner.slug).join(Partner, Partner.id == Dispute.partner_id)
             .where(Dispute.sequence == sequence).order_by(Dispute.id))
    if partner_id is not None:
        query = query.where(Dispute.partner_id == partner_id)
    return [_view(dispute, slug, currency) for dispute, slug in session.execute(query)]


def ended_in(session: Session, period: Period, currency: str) -> tuple[dict[int, int], list[dict]]:
    """The disputes ended in the period: each partner's adjustments (minor units) and every dispute as a statement
    lists it."""
    query = (select(Dispute, Partner.slug).join(Partner, Partner.id == Dispute.partner_id)
             .where(Dispute.resolved_at.is_not(None), Dispute.resolved_at < period.end,
                    *([] if period.start is None else [Dispute.resolved_at >= period.start]))
             .order_by(Dispute.id))
    adjustments: dict[int, int] = {}
    lines = []
    for dispute, slug in session.execute(query):
        if dispute.adjustment_minor:
            adjustments[dispute.partner_id] = adjustments.get(dispute.partner_id, 0) + dispute.adjustment_minor
        lines.append({"id": dispute.id, "statement": dispute.sequence, "partner": slug,
                      "order_ids": dispute.order_ids, "outcome": dispute.status,
                      "adjustment": None if dispute.adjustment_minor is None else money(dispute.adjustment_minor,
                                                                                         currency),
                      "note": dispute.note or ""})
    return adjustments, lines
