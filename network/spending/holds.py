"""Two-phase redemptions, the way tills do it: authorise points (a hold), then capture or void.

Placing a hold books an entry "hold" (available -> held) and takes the
points out of their lots under it, so held points count against the
available balance at once and can neither be spent twice nor expire while
held. Capture, void and expiry all start the same way: one entry
"hold_release" (held -> available, naming the hold entry it reverses) puts
every held point back into the very lots it came from. A capture then books
the captured points as an ordinary "redemption" entry (available -> the
partner's redemption account) taking them from those same lots, in the
hold's order, at capture time.

Why not book the capture from held straight to the partner, as a card
network would: every entry here moves exactly the points its lot
movements say (the history's provenance is right), a full and a partial
capture take the same path, and the captured redemption is one settlement
already bills, `redemption_reversal` already reverses and reconciliation
already matches (its order, kind "redemption", is booked at capture; the
hold's own order has kind "hold").

A hold expires by server time: every write that locks a member releases
its expired holds right after the lock (network.lifecycle.hold_release,
where the release shared by capture, void and expiry lives), and reads show
an expired hold as released (`expired_points`) before any write has
happened.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, InsufficientPoints, Invalid, NotFound
from network.events import outbox
from network.ledger import journal, locks, orders
from network.ledger.journal import AVAILABLE, HELD, REDEMPTION, MemberAccounts
from network.ledger.kinds import EntryKind, HoldStatus, OrderKind
from network.lifecycle import hold_release
from network.lifecycle.hold_release import HeldLot
from network.members import cards
from network.models import Card, Hold, Order, int_sum
from network.parties.registry import PartnerRef, provenance
from network.spending import rewards

_holds = Hold.__table__


def place(session: Session, partner: PartnerRef, member: MemberAccounts, *, points: int, order_id: str, now: datetime,
          expires_at: datetime, reward: rewards.Taken | None = None, amount_minor: int | None = None) -> dict:
    """Authorise `points` of a locked member (expired holds already released) until `expires_at`."""
    if orders.find(session, partner.id, OrderKind.REDEMPTION, order_id) is not None:
        raise orders.duplicate(session, partner.id, OrderKind.REDEMPTION, order_id)
    order = orders.claim(session, partner_id=partner.id, kind=OrderKind.HOLD, order_id=order_id, member_id=member.member_id,
                         points=-points, booked_at=now)
    available = member.balances[AVAILABLE]
    if available < points:
        raise InsufficientPoints(f"The card has {available} points available; {points} were asked for",
                                 {"requested": points, "available": available})
    if reward is not None:
        rewards.reserve(session, reward)
    entry_id = journal.post(
        session, kind=EntryKind.HOLD, legs=[(member.ids[AVAILABLE], -points), (member.ids[HELD], points)], member=member,
        partner_id=partner.id, reason=f"Hold {order_id} at {partner.name}", booked_at=now, order_id=order,
    )
    by_issuer = journal.consume_lots(session, member, points, entry_id)
    session.execute(insert(_holds).values(
        partner_id=partner.id, member_id=member.member_id, order_id=order, points=points, status=HoldStatus.AUTHORIZED,
        created_at=now, expires_at=expires_at, hold_entry_id=entry_id,
        reward_id=reward.reward_id if reward else None, quantity=reward.quantity if reward else None,
        amount_minor=amount_minor,
    ))
    return {"redemption_id": entry_id, "status": HoldStatus.AUTHORIZED, "points": points, "expires_at": expires_at,
            "member_id": member.member_id, "balance": member.balance_view(), "provenance": provenance(session, by_issuer)}


def capture(session: Session, partner: PartnerRef, hold_id: int, *, points: int | None, now: datetime) -> dict:
    """Capture all of a hold or part of it; the rest goes back to the member."""
    member, hold = _lock(session, partner, hold_id, now)
    captured = hold.points if points is None else points
    if captured > hold.points:
        raise Invalid(f"The hold is for {hold.points} points; {captured} cannot be captured",
                      {"points": [f"must be at most {hold.points}"]}, code="capture_exceeds_hold")
    if hold.reward_id is not None and captured != hold.points:
        raise Invalid("A held reward is captured whole or voided", {"points": [f"must be {hold.points}"]},
                      code="partial_reward_capture")
    lots = hold_release.release(session, member, hold, HoldStatus.CAPTURED, f"Capture of hold {hold.hold_entry_id}", now,
                                restock_reward=False)
    order_text = session.scalar(select(Order.order_id).where(Order.id == hold.order_id))
    order = orders.claim(session, partner_id=partner.id, kind=OrderKind.REDEMPTION, order_id=order_text,
                         member_id=member.member_id, points=-captured, booked_at=now)
    entry_id = journal.post(
        session, kind=EntryKind.REDEMPTION, legs=[(member.ids[AVAILABLE], -captured), (partner.account_id(REDEMPTION), captured)],
        member=member, partner_id=partner.id, reason=f"Redemption {order_text} at {partner.name} (hold {hold.hold_entry_id})",
        booked_at=now, order_id=order,
    )
    by_issuer = hold_release.move(session, [HeldLot(lot.lot_id, lot.issuer_id, -lot.points) for lot in lots], captured,
                                  entry_id)
    session.execute(update(_holds).where(_holds.c.id == hold.id).values(captured=captured, redemption_entry_id=entry_id))
    if hold.reward_id is not None:
        rewards.record(session, hold.reward_id, member.member_id, entry_id, hold.quantity)
    cards.touch(session, [member], now)
    outbox.points_redeemed(session, member, partner, points=captured, order_id=order_text, redemption_id=entry_id, now=now)
    return {"redemption_id": hold.hold_entry_id, "status": HoldStatus.CAPTURED, "points": captured, "held": hold.points,
            "released": hold.points - captured, "capture_id": entry_id, "member_id": member.member_id, "balance": member.balance_view(),
            "provenance": provenance(session, by_issuer)}


def void(session: Session, partner: PartnerRef, hold_id: int, *, now: datetime) -> dict:
    """Give every held point back to the lots it came from (and a held reward back to stock)."""
    member, hold = _lock(session, partner, hold_id, now)
    lots = hold_release.release(session, member, hold, HoldStatus.VOIDED, f"Void of hold {hold.hold_entry_id}", now)
    by_issuer: dict[int | None, int] = {}
    for _, issuer, held in lots:
        by_issuer[issuer] = by_issuer.get(issuer, 0) + held
    return {"redemption_id": hold.hold_entry_id, "status": HoldStatus.VOIDED, "points": hold.points, "released": hold.points,
            "member_id": member.member_id, "balance": member.balance_view(), "provenance": provenance(session, by_issuer)}


def release_all_expired(transact, read, clock: Callable[[], datetime], *, page: int = 500) -> int:
    """Release every hold expired when the run starts, one member per transaction (`coalition holds release`).

    Each release is booked at the clock's time when its transaction runs,
    never at the run's start: a long run must not book into a settlement
    period closed meanwhile. Returns how many were released.

    Not needed for correctness (writes and reads already treat an expired
    hold as released); it keeps held balances and the ledger tidy for
    members who come back rarely. Run twice, it releases nothing new.
    """
    released, after, now = 0, "", clock()
    while True:
        members_ = read(lambda session: list(session.scalars(
            select(_holds.c.member_id).where(_holds.c.status == HoldStatus.AUTHORIZED, _holds.c.expires_at <= now,
                                             _holds.c.member_id > after)
            .distinct().order_by(_holds.c.member_id).limit(page))))
        if not members_:
            return released
        for member_id in members_:
            released += transact(lambda session: hold_release.release_expired(
                session, locks.lock_member(session, member_id), clock()))
        after = members_[-1]


def expired_points(session: Session, now: datetime, *, member_id: str | None = None, card_number: str | None = None,
                   held: int | None = None) -> int:
    """Points of holds that expired by `now` but no write has released yet: reads show them as available.

    `held`: the member's held balance, if the caller read it; 0 needs no query.
    """
    if held == 0:
        return 0
    query = select(int_sum(Hold.points)).where(Hold.status == HoldStatus.AUTHORIZED, Hold.expires_at <= now)
    if card_number is not None:
        query = query.join(Card, Card.member_id == Hold.member_id).where(Card.number == card_number)
    else:
        query = query.where(Hold.member_id == member_id)
    return session.scalar(query)


def as_of(balance: dict, expired: int) -> dict:
    """A balance view with expired holds shown as released."""
    return {**balance, "available": balance["available"] + expired, "held": balance["held"] - expired}


def show(session: Session, partner: PartnerRef, hold_id: int, now: datetime) -> dict:
    hold = _find(session, partner, hold_id)
    status = HoldStatus.EXPIRED if hold.status == HoldStatus.AUTHORIZED and hold.expires_at <= now else hold.status
    order_text = session.scalar(select(Order.order_id).where(Order.id == hold.order_id))
    return {"redemption_id": hold.hold_entry_id, "status": status, "order_id": order_text, "points": hold.points,
            "captured": hold.captured, "capture_id": hold.redemption_entry_id, "created_at": hold.created_at,
            "expires_at": hold.expires_at, "released_at": hold.released_at}


def captured_entry(session: Session, partner_id: int, hold_id: int) -> int | None:
    """The redemption entry a captured hold booked: reversing the hold's id reverses it."""
    return session.scalar(select(_holds.c.redemption_entry_id).where(_holds.c.hold_entry_id == hold_id,
                                                                      _holds.c.partner_id == partner_id))


def _find(session: Session, partner: PartnerRef, hold_id: int, *, lock: bool = False):
    query = select(_holds).where(_holds.c.hold_entry_id == hold_id, _holds.c.partner_id == partner.id)
    row = session.execute(query.with_for_update() if lock else query).first() if hold_id < 2**63 else None
    if row is None:
        raise NotFound("No such hold at this partner", code="unknown_redemption")
    return row


def _lock(session: Session, partner: PartnerRef, hold_id: int, now: datetime):
    """Lock the hold's member, release what expired, then read the hold again: a concurrent capture or void may have won."""
    member = locks.lock_member(session, _find(session, partner, hold_id).member_id)
    hold_release.release_expired(session, member, now)
    hold = _find(session, partner, hold_id, lock=True)
    if hold.status != HoldStatus.AUTHORIZED:
        raise Conflict(f"The hold is {hold.status}", {"status": hold.status, "expires_at": hold.expires_at},
                       code=f"hold_{hold.status}")
    return member, hold
