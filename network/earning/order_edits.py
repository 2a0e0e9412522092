"""An order edited after it was placed: its points follow what its goods come to now.

Shopify lets a merchant edit an order (add an item, take one off, change a
quantity) and says so in `orders/updated`, with the order's subtotal after
the edit (`Amendment.total`, refunds not deducted). The hub compares it with
what it counted (the sale's total less earlier edits that lowered it):

- lower: the difference is taken back as a refund of its own kind (`edit`),
  so later refunds and a cancellation count against what is left;
- higher: the difference earns under the partner's rules and is added to the
  sale itself (its total, its points, one more earn entry and lot, on the
  account its first points are on), so a later refund of the added item
  takes back its share like any other;
- the same: nothing (Shopify sends `orders/updated` for a note or a tag too).

The member is locked first, so two edits of one order arriving at once are
measured one after the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from network.earning import checks, order_status, sales, unfunded
from network.earning.terms import Terms
from network.errors import DomainError
from network.ledger import journal, locks, orders
from network.ledger.journal import AVAILABLE, ISSUANCE, PENDING
from network.ledger.kinds import EntryKind, OrderKind
from network.lifecycle import pending
from network.models import Award as AwardRow
from network.models import Lot, Order, int_sum
from network.parties.registry import PartnerRef
from partners.earning import RuleSet
from partners.money import Money
from partners.transactions import Amendment, Ignored, Refund, Sale

_orders, _lots, _awards = Order.__table__, Lot.__table__, AwardRow.__table__


def record_amendment(session: Session, partner: PartnerRef, rules: RuleSet, amendment: Amendment, *, now: datetime,
                     terms: Terms = Terms()) -> dict | Ignored:
    if amendment.total.currency != partner.currency:
        raise checks.currency_error(partner, amendment.total)
    found = orders.find(session, partner.id, OrderKind.SALE, amendment.order_id)
    if found is None:
        return Ignored(amendment.order_id, "an order the hub never booked (no member's card was on it)")
    if order_status.cancelled(session, partner, amendment.order_id):
        return Ignored(amendment.order_id, "the order was cancelled: its points were taken back already")
    # A lower total is a refund: what it makes room for is released, its members locked with the sale's, first.
    queue = unfunded.ahead_of_refunds(session, partner, [found.order_id])
    member = locks.lock_holder(session, found.member_id)
    sale = session.execute(select(Order).where(Order.id == found.id).execution_options(populate_existing=True)).scalar_one()
    edits, lowered = session.execute(select(func.count(), int_sum(Order.total_minor)).where(
        Order.original_id == sale.id, Order.kind == OrderKind.EDIT)).one()
    change = amendment.total.minor - ((sale.total_minor or 0) - lowered)
    if change == 0:
        return Ignored(amendment.order_id, "the order's goods come to what the hub counted: nothing to take back or add")
    occurred_at = max(checks.utc(amendment.occurred_at), checks.utc(sale.occurred_at or amendment.occurred_at))
    if change < 0:
        edit = Refund(order_id=f"{sale.id}:{edits + 1}", original_order_id=sale.order_id, occurred_at=occurred_at,
                      total=Money(-change, sale.currency))
        return {**sales.record_refund(session, partner, edit, now=now, terms=terms, kind=OrderKind.EDIT, queue=queue),
                "edited": True}
    return _top_up(session, partner, rules, sale, member, Money(change, sale.currency), occurred_at, now=now, terms=terms)


def _top_up(session: Session, partner: PartnerRef, rules: RuleSet, sale: Order, member: journal.MemberAccounts,
            more: Money, occurred_at: datetime, *, now: datetime, terms: Terms) -> dict:
    """The sale grows by `more`: it earns under the partner's rules, on the account the sale's points are on."""
    awards = sales.price(partner, rules, Sale(sale.order_id, "", occurred_at, more), now=now, terms=terms)
    if isinstance(awards, DomainError):
        raise awards
    points = sum(award.points for award in awards)
    session.execute(update(_orders).where(_orders.c.id == sale.id).values(
        total_minor=_orders.c.total_minor + more.minor, points=_orders.c.points + points))
    entry_id = None
    if points:
        earned = sales.earned_by(session, sale, member)
        waits = _waits_for(session, earned.lot_ids) if earned is not None else None
        kind = PENDING if waits or partner.pending_days or (earned and earned.account_id == member.ids[PENDING]) else AVAILABLE
        entry_id = journal.post(
            session, kind=EntryKind.EARN, legs=[(partner.account_id(ISSUANCE), -points), (member.ids[kind], points)],
            member=member, partner_id=partner.id, booked_at=now, occurred_at=occurred_at, order_id=sale.id,
            reason=f"Sale {sale.order_id} at {partner.name} edited: {more} {more.currency} more")
        session.execute(insert(_lots), {
            "member_id": member.member_id, "account_id": member.ids[kind], "issuer_id": partner.id, "entry_id": entry_id,
            "points": points, "remaining": points, "earned_at": now, "expires_at": now + terms.lifetime,
            "available_at": waits or now + timedelta(days=partner.pending_days)})
        session.execute(insert(_awards), sales.award_rows(entry_id, awards))
    return {"journal_id": entry_id, "points": points, "awards": sales.awards_view(awards), "edited": True,
            "member_id": member.member_id, "balance": member.balance_view()}


def _waits_for(session: Session, lot_ids: tuple[int, ...]) -> datetime | None:
    """What the sale's points still wait for (its payment, its partner's funds: network.lifecycle.pending's mark), if
    anything: a top-up waits with them, and is released with them (funded, it draws with the sale)."""
    return session.scalar(select(func.max(_lots.c.available_at)).where(
        _lots.c.id.in_(lot_ids), _lots.c.available_at.in_(_WAITING))) if lot_ids else None


_WAITING = (pending.UNPAID, pending.UNFUNDED, pending.UNFUNDED_UNPAID)
