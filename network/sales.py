"""Sales earn points at the partner that made them; refunds take them back.

Booking: a sale of n points debits the partner's issuance account and
credits the member's available account, and opens a lot issued by the
partner. A refund does the reverse for its share of the sale, draining the
sale's own lot only, so provenance stays with the issuer that is refunding.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from network import ledger, members, orders
from network.errors import Invalid
from network.ledger import AVAILABLE, ISSUANCE
from network.models import JournalEntry, Lot
from network.registry import PartnerRef
from partners.earning import clawback_for, points_for
from partners.money import Money
from partners.transactions import Refund, Sale


def _same_currency(partner: PartnerRef, money: Money) -> None:
    if money.currency != partner.currency:
        raise Invalid(
            f"{partner.name} books in {partner.currency}, not {money.currency}",
            {"currency": [f"must be {partner.currency}"]},
            code="currency_mismatch",
        )


def record_sale(session: Session, partner: PartnerRef, sale: Sale, *, now: datetime, lifetime: timedelta) -> dict:
    _same_currency(partner, sale.total)
    member = members.lock_member_by_card(session, sale.card_number)
    points = points_for(sale.total, partner.earn_rate)
    order = orders.claim(
        session,
        partner_id=partner.id,
        kind="sale",
        order_id=sale.order_id,
        member_id=member.member_id,
        points=points,
        booked_at=now,
        occurred_at=sale.occurred_at,
        currency=sale.total.currency,
        total_minor=sale.total.minor,
    )
    entry_id = None
    if points:
        entry_id = ledger.post(
            session,
            kind="earn",
            legs=[(partner.account_id(ISSUANCE), -points), (member.ids[AVAILABLE], points)],
            member=member,
            partner_id=partner.id,
            reason=f"Sale {sale.order_id} at {partner.name}: {sale.total} {sale.total.currency} x {partner.earn_rate} per {sale.total.currency}",
            booked_at=now,
            occurred_at=sale.occurred_at,
            order_id=order,
        )
        ledger.add_lot(
            session, member, issuer_id=partner.id, entry_id=entry_id, points=points, earned_at=now, expires_at=now + lifetime
        )
    return {"journal_id": entry_id, "points": points, "balance": member.balance_view()}


def record_refund(session: Session, partner: PartnerRef, refund: Refund, *, now: datetime) -> dict:
    _same_currency(partner, refund.total)
    sale = orders.find(session, partner.id, "sale", refund.original_order_id)
    if sale is None:
        raise Invalid(
            f"No sale {refund.original_order_id!r} at {partner.name} to refund",
            {"original_order_id": [refund.original_order_id]},
            code="unknown_order",
        )
    if refund.card_number is not None and members.member_for_card(session, refund.card_number) != sale.member_id:
        raise Invalid("The card is not the one the sale was made with", {"card_number": [refund.card_number]}, code="card_mismatch")
    member = ledger.lock_member(session, sale.member_id)
    if orders.find(session, partner.id, "refund", refund.order_id) is not None:
        # Checked before the amounts, so a resent refund reads as a duplicate, not as too large.
        raise orders.duplicate(session, partner.id, "refund", refund.order_id)
    before = orders.refunded_so_far(session, sale.id)
    if before + refund.total.minor > sale.total_minor:
        refundable = Money(sale.total_minor - before, sale.currency)
        raise Invalid(
            f"The refund exceeds what is left of sale {sale.order_id} ({refundable} {sale.currency})",
            {"total": [f"at most {refundable} can still be refunded"], "refundable": str(refundable)},
            code="refund_exceeds_sale",
        )
    due = clawback_for(sale.points, sale.total_minor, before, refund.total.minor)
    earned = session.execute(
        select(JournalEntry.id, Lot.id.label("lot_id"), Lot.remaining)
        .join(Lot, Lot.entry_id == JournalEntry.id)
        .where(JournalEntry.order_id == sale.id)
    ).first()
    # Only the sale's own points come back, so the refund reverses what this
    # partner issued and nothing another partner issued. Points of the sale
    # already spent stay spent: the partner reports them as uncollected.
    points = min(due, earned.remaining) if earned else 0
    order = orders.claim(
        session,
        partner_id=partner.id,
        kind="refund",
        order_id=refund.order_id,
        member_id=member.member_id,
        points=-points,
        booked_at=now,
        occurred_at=refund.occurred_at,
        currency=refund.total.currency,
        total_minor=refund.total.minor,
        original_id=sale.id,
    )
    entry_id = None
    if points:
        entry_id = ledger.post(
            session,
            kind="refund",
            legs=[(member.ids[AVAILABLE], -points), (partner.account_id(ISSUANCE), points)],
            member=member,
            partner_id=partner.id,
            reason=f"Refund {refund.order_id} of sale {sale.order_id} at {partner.name}: {refund.total} {refund.total.currency}",
            booked_at=now,
            occurred_at=refund.occurred_at,
            reverses_id=earned.id,
            order_id=order,
        )
        ledger.consume_lots(session, member, points, entry_id, first_lot_id=earned.lot_id)
    result = {"journal_id": entry_id, "points": -points, "balance": member.balance_view()}
    if points < due:
        result["uncollected_points"] = due - points
    return result
