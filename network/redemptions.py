"""Spending points at a partner, and taking a redemption back.

A redemption of n points debits the member's available account and credits
the redeeming partner's redemption account. The lots it consumes (oldest
expiry first) say whose points were spent: that is what settlement bills.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network import ledger, members, orders, outbox
from network.errors import Conflict, InsufficientPoints, NotFound
from network.ledger import AVAILABLE, REDEMPTION
from network.models import JournalEntry, Lot, LotMovement
from network.registry import PartnerRef, slugs


def redeem(session: Session, partner: PartnerRef, *, card_number: str, points: int, order_id: str, now: datetime) -> dict:
    member = members.lock_member_by_card(session, card_number)
    order = orders.claim(
        session,
        partner_id=partner.id,
        kind="redemption",
        order_id=order_id,
        member_id=member.member_id,
        points=-points,
        booked_at=now,
    )
    available = member.balances[AVAILABLE]
    if available < points:
        raise InsufficientPoints(
            f"The card has {available} points available; {points} were asked for",
            {"requested": points, "available": available},
        )
    entry_id = ledger.post(
        session,
        kind="redemption",
        legs=[(member.ids[AVAILABLE], -points), (partner.account_id(REDEMPTION), points)],
        member=member,
        partner_id=partner.id,
        reason=f"Redemption {order_id} at {partner.name}",
        booked_at=now,
        order_id=order,
    )
    by_issuer = ledger.consume_lots(session, member, points, entry_id)
    members.touch(session, [member.member_id], now)
    outbox.emit(session, outbox.POINTS_REDEEMED, member_id=member.member_id, partner_id=partner.id, now=now, data={
        "member_id": member.member_id, "partner": partner.slug, "points": points, "order_id": order_id,
        "redemption_id": entry_id, "balance": member.balance_view()})
    return {
        "redemption_id": entry_id,
        "points": points,
        "balance": member.balance_view(),
        "provenance": _provenance(session, by_issuer),
    }


def reverse(session: Session, partner: PartnerRef, redemption_id: int, *, now: datetime) -> dict:
    """Cancel a redemption (the till voided the basket): points go back into the very lots they came from."""
    entry = session.get(JournalEntry, redemption_id) if redemption_id < 2**63 else None
    if entry is None or entry.kind != "redemption" or entry.partner_id != partner.id:
        raise NotFound("No such redemption at this partner", code="unknown_redemption")
    member = ledger.lock_member(session, entry.member_id)
    if session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id)) is not None:
        raise Conflict("The redemption was already reversed", code="already_reversed")
    consumed = session.execute(
        select(LotMovement.lot_id, LotMovement.points, Lot.issuer_id)
        .join(Lot, Lot.id == LotMovement.lot_id)
        .where(LotMovement.entry_id == entry.id)
    ).all()
    points = -sum(row.points for row in consumed)
    reversal_id = ledger.post(
        session,
        kind="redemption_reversal",
        legs=[(partner.account_id(REDEMPTION), -points), (member.ids[AVAILABLE], points)],
        member=member,
        partner_id=partner.id,
        reason=f"Reversal of redemption {entry.id} at {partner.name}",
        booked_at=now,
        reverses_id=entry.id,
    )
    by_issuer: dict[int | None, int] = {}
    for row in consumed:
        session.execute(update(Lot).where(Lot.id == row.lot_id).values(remaining=Lot.remaining - row.points))
        by_issuer[row.issuer_id] = by_issuer.get(row.issuer_id, 0) - row.points
    session.execute(
        insert(LotMovement.__table__), [{"lot_id": row.lot_id, "entry_id": reversal_id, "points": -row.points} for row in consumed]
    )
    return {
        "reversal_id": reversal_id,
        "redemption_id": entry.id,
        "points": points,
        "balance": member.balance_view(),
        "provenance": _provenance(session, by_issuer),
    }


def _provenance(session: Session, by_issuer: dict[int | None, int]) -> list[dict]:
    names = slugs(session, set(by_issuer))
    return sorted(({"issuer": names[i], "points": n} for i, n in by_issuer.items()), key=lambda p: p["issuer"])
