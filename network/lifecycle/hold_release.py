"""The end of a hold: its points back into the very lots they came from, and a held reward back to stock.

It lives with the member's life over time, below spending, because time
ends a hold too: `release_expired` is part of bringing a member up to date
(network.lifecycle.upkeep), which every movement does, while a capture or
a void (network.spending.holds) ends one through the same `release`.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.ledger import journal
from network.ledger.journal import AVAILABLE, HELD, MemberAccounts
from network.ledger.kinds import EntryKind, HoldStatus
from network.models import Hold, Lot, LotMovement, Reward, int_sum

_holds, _lots, _movements, _rewards = Hold.__table__, Lot.__table__, LotMovement.__table__, Reward.__table__


class HeldLot(NamedTuple):
    """Points a hold took from one lot, in the hold's order: what its release puts back."""

    lot_id: int
    issuer_id: int | None
    points: int


def release_expired(session: Session, member: MemberAccounts, now: datetime) -> int:
    """Release the locked member's holds that expired by `now`; returns how many. Call it right after the lock."""
    if member.balances[HELD] <= 0:  # no hold at all: nothing to read
        return 0
    expired = session.execute(
        select(_holds).where(_holds.c.member_id == member.member_id, _holds.c.status == HoldStatus.AUTHORIZED,
                             _holds.c.expires_at <= now).order_by(_holds.c.id)
    ).all()
    for hold in expired:
        release(session, member, hold, HoldStatus.EXPIRED, f"Hold {hold.hold_entry_id} expired", now)
    return len(expired)


def unreleased(session: Session, member_id: str, now: datetime) -> dict[int, int]:
    """Points each lot would get back from the member's holds expired by `now` that no write has released yet.

    A read shows an expired hold released at once; this is what a read of
    the member's lots adds to them (network.spending.holds.expired_points
    is the same for a balance).
    """
    rows = session.execute(
        select(_movements.c.lot_id, int_sum(_movements.c.points))
        .join(_holds, _holds.c.hold_entry_id == _movements.c.entry_id)
        .where(_holds.c.member_id == member_id, _holds.c.status == HoldStatus.AUTHORIZED, _holds.c.expires_at <= now)
        .group_by(_movements.c.lot_id)
    ).all()
    return {lot_id: -points for lot_id, points in rows}


def release(session: Session, member: MemberAccounts, hold, status: str, reason: str, now: datetime,
            restock_reward: bool = True) -> list[HeldLot]:
    """Book held -> available and give the hold's lots back; returns them in the hold's order."""
    lots = [
        HeldLot(row.lot_id, row.issuer_id, -row.points)
        for row in session.execute(
            select(LotMovement.lot_id, LotMovement.points, Lot.issuer_id).join(Lot, Lot.id == LotMovement.lot_id)
            .where(LotMovement.entry_id == hold.hold_entry_id).order_by(LotMovement.id)
        )
    ]
    entry_id = journal.post(
        session, kind=EntryKind.HOLD_RELEASE, legs=[(member.ids[HELD], -hold.points), (member.ids[AVAILABLE], hold.points)],
        member=member, partner_id=hold.partner_id, reason=reason, booked_at=now, reverses_id=hold.hold_entry_id,
    )
    move(session, lots, hold.points, entry_id)
    session.execute(update(_holds).where(_holds.c.id == hold.id).values(status=status, release_entry_id=entry_id,
                                                                        released_at=now))
    if restock_reward and hold.reward_id is not None:
        restock(session, hold.reward_id, hold.quantity)
    return lots


def move(session: Session, lots: list[HeldLot], points: int, entry_id: int) -> dict[int | None, int]:
    """Move up to `points` in or out of the given lots (positive: back in), in order; returns points taken by issuer."""
    by_issuer: dict[int | None, int] = {}
    movements, left = [], points
    for lot_id, issuer, room in lots:
        if left == 0:
            break
        change = max(-left, room) if room < 0 else min(left, room)
        left -= abs(change)
        by_issuer[issuer] = by_issuer.get(issuer, 0) - change
        movements.append({"lot_id": lot_id, "entry_id": entry_id, "points": change})
    connection = session.connection()
    for movement in movements:
        connection.execute(update(_lots).where(_lots.c.id == movement["lot_id"])
                           .values(remaining=_lots.c.remaining + movement["points"]))
    if movements:
        connection.execute(journal.INSERT_MOVEMENTS, movements)
    return by_issuer


def restock(session: Session, reward_id: int, quantity: int) -> None:
    """Put units back (a hold released, a redemption reversed); unlimited stock stays unlimited."""
    session.execute(update(_rewards).where(_rewards.c.id == reward_id, _rewards.c.stock.is_not(None))
                    .values(stock=_rewards.c.stock + quantity))
