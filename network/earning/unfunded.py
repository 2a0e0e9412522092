"""Points waiting for their partner's funds: sales past its limit, booked pending, released as funds arrive.

A partner whose contract says `over_limit: "pending"` has a sale its funds
and limit would not cover booked all the same, its points pending with no
date (network.lifecycle.pending.UNFUNDED): the member sees them pending and
cannot spend them, nothing is drawn, and the sale waits in the partner's
queue (network.parties.funding.wait).

Funds arriving (a prepayment, the bank statement, a higher limit, control
lifted) release the queue oldest first, each sale drawing on the funds as
its earn would have, up to the first sale they do not cover: it and those
after it wait on, so a later sale never overtakes an earlier one.

Race-safe by the earn's own locks: the members of the sales released are
locked before the partner's row (as an earn locks them: `funds`, what
brings the money, runs once the first page's members are locked), and a
sale's waiting points are read under its member's lock, so two releases, or
a release and a refund, reach a sale one after the other and the second
finds nothing left to draw for. The draw is the earn's conditional UPDATE:
a release never overdraws, however many run at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.earning import credit, sales
from network.events import outbox
from network.events.kinds import EventKind
from network.ledger import locks
from network.ledger.journal import MemberAccounts
from network.lifecycle import pending
from network.models import Lot, Order, Partner
from network.parties import funding
from network.parties.registry import PartnerRef

#: Sales read, and their members locked, at a time.
PAGE = 200
_lots = Lot.__table__


@dataclass
class Released:
    sales: int = 0
    points: int = 0

    def view(self) -> dict:
        return {"sales": self.sales, "points": self.points}


@dataclass(frozen=True)
class _Waiting:
    sale: Order
    member: MemberAccounts
    lots: list  # (id, remaining, available_at) of the sale's lots that wait for funds

    @property
    def points(self) -> int:
        return sum(lot.remaining for lot in self.lots)


def _nothing() -> None:
    return None


def release(session: Session, partner: PartnerRef, now: datetime, funds: Callable[[], object] = _nothing) -> Released:
    """Release the partner's waiting sales, oldest first, as far as its funds now cover them.

    `funds` raises what the partner may draw (a prepayment, a contract's new
    limit); it runs after the first page's members are locked, before
    anything is drawn. With control lifted, every waiting sale is released
    and draws nothing.
    """
    released, after = Released(), 0
    while True:
        page = funding.waiting(session, partner.id, after=after, limit=PAGE)
        whole = _release_page(session, partner, page, released, now, funds)
        funds = _nothing  # they arrived once
        if not whole or len(page) < PAGE:
            return released
        after = page[-1]


def _release_page(session: Session, partner: PartnerRef, sale_ids: list[int], released: Released, now: datetime,
                  funds: Callable[[], object]) -> bool:
    """Release a page of the queue; whether all of it was released (or had nothing left to wait)."""
    page = session.scalars(select(Order).where(Order.id.in_(sale_ids)).order_by(Order.id)).all() if sale_ids else []
    locks.lock_member_ids(session, locks.holders(session, {sale.member_id for sale in page}))
    funds()
    members: dict[str, MemberAccounts] = {}  # by the sale's member: its holder, one object per holder
    waiting, gone = [], []
    for sale in page:
        if sale.member_id not in members:  # locked above; a merge since then is followed to its survivor
            holder = locks.lock_holder(session, sale.member_id)
            members[sale.member_id] = next((m for m in members.values() if m.member_id == holder.member_id), holder)
        found = _waiting(session, sale, members[sale.member_id])
        (waiting if found.lots else gone).append(found)
    funding.done_waiting(session, [w.sale.id for w in gone])  # refunded, or expired, while they waited
    controlled = session.scalar(select(Partner.funding).where(Partner.id == partner.id)) is not None
    count, drawn = (funding.draw_first(session, partner.id, [w.points for w in waiting], now) if controlled
                    else (len(waiting), None))
    funded = waiting[:count]
    if drawn is not None:
        funding.drew(session, drawn.cost, {w.sale.id: w.points for w in funded})
        credit.warn(session, partner, drawn, now)
    window = now + timedelta(days=partner.pending_days)
    for news, then in ((pending.UNFUNDED, window), (pending.UNFUNDED_UNPAID, pending.UNPAID)):
        lot_ids = [lot.id for w in funded for lot in w.lots if lot.available_at == news]
        if lot_ids:
            session.execute(update(_lots).where(_lots.c.id.in_(lot_ids)).values(available_at=then))
    funding.done_waiting(session, [w.sale.id for w in funded])
    for member in {w.member.member_id: w.member for w in funded}.values():
        pending.release_due(session, member, now)  # no return window: available now
    outbox.emit_many(session, EventKind.POINTS_FUNDED, [outbox.NewEvent(w.member.member_id, partner.id, {
        "member_id": w.member.member_id, "partner": partner.slug, "order_id": w.sale.order_id, "points": w.points,
        "available_at": None if any(lot.available_at == pending.UNFUNDED_UNPAID for lot in w.lots) else window.isoformat(),
        "balance": w.member.balance_view()}) for w in funded], now=now)
    released.sales += len(funded)
    released.points += sum(w.points for w in funded)
    return count == len(waiting)


def _waiting(session: Session, sale: Order, member: MemberAccounts) -> _Waiting:
    """The sale's lots that wait for funds, read under its member's lock (merges may have moved them on)."""
    earned = sales.earned_by(session, sale, member)
    lots = session.execute(select(_lots.c.id, _lots.c.remaining, _lots.c.available_at).where(
        _lots.c.id.in_(earned.lot_ids), _lots.c.available_at.in_((pending.UNFUNDED, pending.UNFUNDED_UNPAID)))
    ).all() if earned is not None and earned.lot_ids else []
    return _Waiting(sale, member, lots)
