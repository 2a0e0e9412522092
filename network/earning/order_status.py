"""An order's later news from its shop: paid after it was placed, or cancelled.

A shop platform books an order when it is placed, which is not when it is
paid: cash on delivery, a bank transfer, a payment still authorised only.
Such a sale's points are booked pending (`Sale.awaiting_payment`), with no
date at which they become available (`sales.UNPAID`); a `Payment` of the
order gives them the partner's return window from then, and a
`Cancellation` takes back whatever the order still earns, pending or not.

A cancellation is booked as the refund of all that is left of the sale,
under the order's own id with its own kind, so a cancellation sent twice is
a duplicate and refunds before it count against it (and it against them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from network.earning import checks, sales
from network.earning.terms import Terms
from network.ledger import locks, orders
from network.ledger.journal import PENDING
from network.ledger.kinds import OrderKind
from network.lifecycle import pending
from network.models import Lot, Order
from network.parties.registry import PartnerRef
from partners.earning import RuleSet
from partners.money import Money
from partners.transactions import Cancellation, Ignored, Payment, Refund

_lots = Lot.__table__


def record_payment(session: Session, partner: PartnerRef, rules: RuleSet, payment: Payment, *, now: datetime,
                   terms: Terms = Terms()) -> dict | Ignored:
    """The order's held points start the partner's return window (or become available); the sale is booked if new."""
    sale = orders.find(session, partner.id, OrderKind.SALE, payment.order_id)
    if sale is None:
        if payment.sale is None:
            return Ignored(payment.order_id, "an order the hub never booked (no member's card was on it)")
        return sales.record_sale(session, partner, rules, payment.sale, now=now, terms=terms)
    member = locks.lock_holder(session, sale.member_id)
    earned = sales.earned_by(session, sale, member)
    lot_ids = earned.lot_ids if earned and earned.account_id == member.ids[PENDING] else ()
    held = session.execute(
        update(_lots).where(_lots.c.id.in_(lot_ids), _lots.c.available_at == sales.UNPAID)
        .values(available_at=now + timedelta(days=partner.pending_days))
    ).rowcount if lot_ids else 0
    # Past its partner's limit as well: paid, its points wait on for funds (network.earning.unfunded).
    unfunded = session.execute(
        update(_lots).where(_lots.c.id.in_(lot_ids), _lots.c.available_at == pending.UNFUNDED_UNPAID)
        .values(available_at=pending.UNFUNDED)
    ).rowcount if lot_ids else 0
    if not held and not unfunded:
        return Ignored(payment.order_id, "the order's points are not awaiting payment: it was booked paid, or paid "
                                         "already")
    released = pending.release_due(session, member, now)
    return {"order_id": payment.order_id, "paid": True, "points": 0, "released_points": released,
            "member_id": member.member_id, "balance": member.balance_view(),
            **({"awaiting_funds": True} if unfunded else {})}


def record_cancellation(session: Session, partner: PartnerRef, cancellation: Cancellation, *, now: datetime,
                        terms: Terms = Terms()) -> dict | Ignored:
    """Take back whatever the order still earns: a refund of all its earlier refunds left."""
    sale = orders.find(session, partner.id, OrderKind.SALE, cancellation.order_id)
    if sale is None:
        return Ignored(cancellation.order_id, "an order the hub never booked (no member's card was on it)")
    if orders.find(session, partner.id, OrderKind.CANCELLATION, cancellation.order_id) is not None:
        raise orders.duplicate(session, partner.id, OrderKind.CANCELLATION, cancellation.order_id)
    left = (sale.total_minor or 0) - orders.refunded_so_far(session, sale.id)
    if left <= 0:
        return Ignored(cancellation.order_id, "the order was refunded in full already: nothing is left to take back")
    refund = Refund(order_id=cancellation.order_id, original_order_id=cancellation.order_id, total=Money(left, sale.currency),
                    occurred_at=max(checks.utc(cancellation.occurred_at), checks.utc(sale.occurred_at or cancellation.occurred_at)))
    return {**sales.record_refund(session, partner, refund, now=now, terms=terms, kind=OrderKind.CANCELLATION),
            "cancelled": True}


def cancelled(session: Session, partner: PartnerRef, order_id: str) -> Order | None:
    """The order's cancellation, if it was cancelled: a refund arriving after it finds nothing left to take."""
    return orders.find(session, partner.id, OrderKind.CANCELLATION, order_id)
