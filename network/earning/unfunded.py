"""Points waiting for their partner's funds: sales past its limit, booked pending, released as funds arrive.

A partner whose contract says `over_limit: "pending"` has a sale its funds
and limit would not cover booked all the same, its points pending with no
date (network.lifecycle.pending.UNFUNDED): the member sees them pending and
cannot spend them, nothing is drawn, and the sale waits in the partner's
queue (network.parties.funding.wait).

Whatever makes room (a prepayment, the bank statement, a higher limit,
control lifted, a refund giving back what its sale drew or taking points of
a sale that waits) releases the queue oldest first, each sale drawing on the
funds as its earn would have, up to the first sale they do not cover: it and
those after it wait on, so a later sale never overtakes an earlier one. A
new sale reads the queue under the partner's row lock (`cover`), so of two
sales at once the later finds the earlier's place in it; and it first
releases what the funds cover that nothing released (points forfeited while
they waited), so it never waits behind sales the funds cover.

Locks keep the code base's order (network.ledger.locks): members, then the
partner's row. What a release will reach is planned first, without a lock
(`plan`: the queue oldest first, as far as the funds it will have could
cover each sale's points); those members are locked at once, in account id
order, with the members of what makes room (a refund's: network.earning.sales;
the bank statement's import plans every partner it may fund before it
records any funds); then the funds move and the partner's row is locked, and
under it the queue is read again and released, page by page, no member
waited for after the row (but a merge's survivor: locks.survivor). A new
sale finds what waits with its own members locked already: it locks the
planned ones after them (out of account id order, still before the row;
only when the funds cover something that waits). The plan
errs towards locking more (its points are a lower bound, its funds an upper
one), so only what another transaction committed meanwhile (a sale queued,
funds given back) can bring a release to a sale whose member it did not
lock: it plans on from there with the funds as they are, and takes those
members' locks only if no other transaction holds them (NOWAIT: waiting
under the partner's row could deadlock); if one does, the work is run again
(`Retry`), planning them first.

A sale's waiting points are read again under its member's lock, so two
releases, or a release and a refund, reach a sale one after the other and
the second finds nothing left to draw for. The draw is the earn's
conditional UPDATE: a release never overdraws, however many run at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import takewhile

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.db import Retry
from network.earning import credit
from network.earning.earned import earned_by
from network.events import outbox
from network.events.kinds import EventKind
from network.ledger import locks
from network.ledger.journal import MemberAccounts
from network.ledger.kinds import OrderKind
from network.lifecycle import pending
from network.models import JournalEntry, Lot, Order, Partner, UnfundedSale, int_sum
from network.parties import funding
from network.parties.registry import PartnerRef

#: Sales read, and their members planned or released, at a time.
PAGE = 200
_lots = Lot.__table__
_WAITS = (pending.UNFUNDED, pending.UNFUNDED_UNPAID)
#: What the partner may draw once a transaction's own funds are in; None: no bound (control is lifted).
Room = Callable[[], "funding.Room | None"]


@dataclass
class Released:
    sales: int = 0
    points: int = 0
    waiting: bool = False  # whether sales still wait after it

    def view(self) -> dict:
        return {"sales": self.sales, "points": self.points}


@dataclass(frozen=True)
class Plan:
    """The queued sales a release will reach (their order rows), and their members: locked before the partner's row."""

    sales: frozenset[int] = frozenset()
    members: frozenset[str] = frozenset()


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


def cover(session: Session, partner: PartnerRef, sales: Sequence[tuple[int, int]], now: datetime, *,
          held: Iterable[MemberAccounts] = ()) -> set[int]:
    """Draw for the sales the funds cover, oldest first; the order rows of the others, queued to wait for funds.

    Behind a sale still waiting, every new one waits too: funds serve the
    queue in order, so a small sale never overtakes a large one. `held`:
    the sales' members, locked (a release of their own waiting sales moves
    their balances in these very objects).
    """
    earning = [(sale, points) for sale, points in sales if points > 0]
    if partner.funding is None or not earning:
        return set()
    planned = plan(session, partner.id)  # one index entry when nothing waits
    lock(session, planned)  # after the sales' own members: docs/architecture.md lists it
    if _release(session, partner, now, planned, held=held, controlled=True).waiting:
        count, drawn = 0, None
    else:
        count, drawn = funding.draw_first(session, partner.id, [points for _, points in earning], now)
    if drawn is not None:
        funding.drew_in_full(session, drawn.cost, [sale for sale, _ in earning[:count]])
        credit.warn(session, partner, drawn, now)
    waiting = [sale for sale, _ in earning[count:]]
    if waiting:
        funding.wait(session, partner.id, waiting, now)
        credit.refused(session, partner, now)
    return set(waiting)


def release(session: Session, partner: PartnerRef, now: datetime, funds: Callable[[], object] = _nothing, *,
            room: Room | None = None, planned: Plan | None = None) -> Released:
    """Release the partner's waiting sales, oldest first, as far as its funds now cover them.

    `funds` raises what the partner may draw (a prepayment, a contract's new
    limit) and `room` says what that will be (see `plan`): it runs once the
    members the release will reach are locked, before the partner's row is.
    `planned`: those members locked already, by a caller moving funds of its
    own (the bank statement's import). With control lifted, every waiting
    sale is released and draws nothing.
    """
    if planned is None:
        planned = plan(session, partner.id, room)
        lock(session, planned)
    funds()
    return _release(session, partner, now, planned)


def plan(session: Session, partner_id: int, room: Room | None = None, *, free: Iterable[int] = (),
         after: int = 0) -> Plan:
    """The partner's queue, oldest first, as far as the funds could cover it, read without a lock.

    `room`: what the partner may draw once this transaction's funds are in
    (by default its row as it is), read only if something waits. `free`:
    sales whose points this transaction takes (a refund's), counted as
    needing none; `after`: from the order row after it. Each sale's points
    are those its own lots hold waiting, at most what a release finds under
    the lock (a merge moved them on: none counted), so the plan reaches at
    least as far as the release will.
    """
    limit = 1  # the head alone first: most sales meet a queue whose head the funds do not cover
    page = _queued(session, partner_id, after=after, limit=limit)
    if not page:
        return Plan()
    left = funding.room(session, partner_id) if room is None else room()
    free, sales, members = set(free), set(), set()
    while True:
        for sale, member, points in page:
            if left is not None:
                need = 0 if sale in free else points * left.cost
                if need > left.micros:
                    return Plan(frozenset(sales), frozenset(members))
                left = left.more(-need)
            sales.add(sale)
            members.add(member)
        if len(page) < limit:
            return Plan(frozenset(sales), frozenset(members))
        limit = PAGE
        page = _queued(session, partner_id, after=page[-1].order_id, limit=limit)


def more(session: Session, partner_id: int, micros: int) -> Room:
    """The partner's room as it is, and `micros` more: what a transaction bringing them may draw."""

    def room() -> funding.Room | None:
        found = funding.room(session, partner_id)
        return None if found is None else found.more(micros)

    return room


def lock(session: Session, *plans: Plan, also: Iterable[str] = ()) -> None:
    """Lock the members the plans' releases will reach with `also` (the movement's own), in one account id order."""
    members = set(also).union(*(p.members for p in plans))
    if members:
        locks.lock_member_ids(session, locks.holders(session, members))


def ahead_of_refunds(session: Session, partner: PartnerRef, order_ids: Sequence[str]) -> Plan | None:
    """Before refunds of the partner's sales (their order ids) lock their members: lock them, and the members the
    release after them will reach, at once (`after_refunds`); None, and the refunds lock their own, for a partner whose
    points draw on no funds or one with no queue to release."""
    if partner.funding is None or (partner.over_limit != funding.PENDING
                                   and not funding.waiting(session, partner.id, after=0, limit=1)):
        return None  # nothing waits, and no sale of a partner that refuses past its limit comes to wait
    sold = session.execute(select(Order.id, Order.member_id, Order.drawn_points, Order.point_cost_micros).where(
        Order.partner_id == partner.id, Order.kind == OrderKind.SALE, Order.order_id.in_(order_ids))).all()
    back = sum((s.drawn_points or 0) * (s.point_cost_micros or 0) for s in sold)  # the most they give back
    planned = plan(session, partner.id, more(session, partner.id, back), free={s.id for s in sold})
    lock(session, planned, also={s.member_id for s in sold})
    return planned


def after_refunds(session: Session, partner: PartnerRef, now: datetime, planned: Plan | None, *,
                  held: Iterable[MemberAccounts] = ()) -> None:
    """Release what refunds made room for (funds they gave back, points of a waiting sale they took), planned by
    `ahead_of_refunds`; `held`: the refunds' members, whose balances a release of their own sales moves."""
    if planned is not None:
        _release(session, partner, now, planned, held=held)


def ahead_of_funds(session: Session, funds: dict[int, int]) -> dict[int, Plan]:
    """Before funds are recorded for many partners at once (a bank statement's, each partner's row locked as it goes),
    plan each controlled partner's release with `funds` (micros) at most more, and lock all their members first."""
    controlled = sorted(session.scalars(select(Partner.id).where(
        Partner.id.in_(funds), Partner.funding.is_not(None)))) if funds else []
    plans = {partner_id: plan(session, partner_id, more(session, partner_id, funds[partner_id]))
             for partner_id in controlled}
    lock(session, *plans.values())
    return plans


def _queued(session: Session, partner_id: int, *, after: int, limit: int) -> list:
    """A page of the queue after the order row `after`, oldest first: each sale's order row, its member, and the points
    its own lots hold waiting (read without a lock)."""
    page = (select(UnfundedSale.order_id).where(UnfundedSale.partner_id == partner_id, UnfundedSale.order_id > after)
            .order_by(UnfundedSale.order_id).limit(limit).subquery())
    return session.execute(
        select(page.c.order_id, Order.member_id, int_sum(_lots.c.remaining).label("points"))
        .join(Order, Order.id == page.c.order_id)
        .outerjoin(JournalEntry, JournalEntry.order_id == page.c.order_id)
        .outerjoin(_lots, (_lots.c.entry_id == JournalEntry.id) & _lots.c.available_at.in_(_WAITS))
        .group_by(page.c.order_id, Order.member_id).order_by(page.c.order_id)
    ).all()


def _release(session: Session, partner: PartnerRef, now: datetime, planned: Plan, *,
             held: Iterable[MemberAccounts] = (), controlled: bool | None = None) -> Released:
    """Release the queue as far as the funds and the plan's members (locked) reach, under the partner's row lock.

    The row is locked before the queue is read, so the queue read is the
    one every sale and release of the partner meets in turn.
    """
    funding.room(session, partner.id, lock=True)
    if controlled is None:
        controlled = session.scalar(select(Partner.funding).where(Partner.id == partner.id)) is not None
    members = {member.member_id: member for member in held}
    released, after = Released(), 0
    while True:
        limit = PAGE if planned.sales else 1  # planned nothing: whether anything waits, and what
        page = funding.waiting(session, partner.id, after=after, limit=limit)
        ours = list(takewhile(planned.sales.__contains__, page))
        if ours and not _release_page(session, partner, ours, members, released, now, controlled=controlled):
            released.waiting = True
            return released
        after = ours[-1] if ours else after
        if len(ours) < len(page):
            further = _further(session, partner, after=after, controlled=controlled)
            if further is None:
                released.waiting = True
                return released
            planned = Plan(planned.sales | further.sales, planned.members | further.members)
        elif len(page) < limit:
            return released


def _further(session: Session, partner: PartnerRef, *, after: int, controlled: bool) -> Plan | None:
    """The release reached a sale whose member it did not lock (queued, or its points taken, since it planned): plan
    on from it with the funds as they are now (the row is locked), and lock those members if no other transaction
    holds one, since a lock taken now must not wait; the plan, or None if the next sale is not covered.

    If one is held the work is run again (`Retry`), planning them first.
    """
    room = funding.room(session, partner.id) if controlled else None
    further = plan(session, partner.id, lambda: room, after=after)
    if not further.sales:
        return None
    if not locks.try_lock_member_ids(session, locks.holders(session, set(further.members))):
        raise Retry(f"Sales waiting for {partner.slug}'s funds, queued or reduced since the release planned, are "
                    "their members' locks away")
    return further


def _release_page(session: Session, partner: PartnerRef, sale_ids: list[int], members: dict[str, MemberAccounts],
                  released: Released, now: datetime, *, controlled: bool) -> bool:
    """Release a page of the queue, its members locked; whether all of it was released (or had nothing left to wait).

    `members`: by the sale's member, its holder, one object per holder (the
    movement's own members, which it answers with, among them).
    """
    page = session.scalars(select(Order).where(Order.id.in_(sale_ids)).order_by(Order.id)).all()
    waiting, gone = [], []
    for sale in page:
        if sale.member_id not in members:  # locked by the plan; a merge since then is followed to its survivor
            holder = locks.lock_holder(session, sale.member_id)
            members[sale.member_id] = next((m for m in members.values() if m.member_id == holder.member_id), holder)
        found = _waiting(session, sale, members[sale.member_id])
        (waiting if found.lots else gone).append(found)
    funding.done_waiting(session, [w.sale.id for w in gone])  # refunded, or forfeited, while they waited
    count, drawn = (funding.draw_first(session, partner.id, [w.points for w in waiting], now) if controlled and waiting
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
    earned = earned_by(session, sale, member)
    lots = session.execute(select(_lots.c.id, _lots.c.remaining, _lots.c.available_at).where(
        _lots.c.id.in_(earned.lot_ids), _lots.c.available_at.in_(_WAITS))
    ).all() if earned is not None and earned.lot_ids else []
    return _Waiting(sale, member, lots)
