"""What one member is worth so far: their spend at every partner and their points, summed in the database.

Read through the member's own journal entries (indexed by member), so one
member costs a few index look-ups on any size of ledger. Spend is what
the hub saw: sales that earned points less their refunds, per currency
(a sale too small to earn a point writes no entry and is not in it).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from network.ledger.kinds import MEMBER_ACCOUNTS, EntryKind
from network.models import Account, JournalEntry, Member, Order, Posting, int_sum
from partners.money import Money

#: How each kind of entry shows in a member's points: anything not named is `other`.
POINTS_OF = {
    EntryKind.EARN: "earned", EntryKind.REFUND: "earned", EntryKind.OPENING: "earned",
    EntryKind.BONUS: "bonus",
    EntryKind.REDEMPTION: "redeemed", EntryKind.REDEMPTION_REVERSAL: "redeemed",
    EntryKind.EXPIRY: "expired", EntryKind.FORFEITURE: "expired",
}


def member_value(session: Session, member: Member) -> dict:
    """{"member_id", "enrolled_at", "purchases", "first_purchase", "last_purchase", "spend", "points"}."""
    entry = JournalEntry
    signed = case((entry.kind == EntryKind.REFUND, -Order.total_minor), else_=Order.total_minor)
    spend = session.execute(
        select(Order.currency, int_sum(signed), func.count().filter(entry.kind == EntryKind.EARN),
               func.min(entry.booked_at).filter(entry.kind == EntryKind.EARN),
               func.max(entry.booked_at).filter(entry.kind == EntryKind.EARN))
        .join(Order, Order.id == entry.order_id)
        .where(entry.member_id == member.id, entry.kind.in_((EntryKind.EARN, EntryKind.REFUND)))
        .group_by(Order.currency)
    ).all()
    points: dict[str, int] = defaultdict(int)
    for kind, amount in session.execute(
        select(entry.kind, int_sum(Posting.amount))
        .join(Posting, Posting.entry_id == entry.id).join(Account, Account.id == Posting.account_id)
        .where(Account.member_id == member.id, Account.kind.in_(MEMBER_ACCOUNTS))
        .group_by(entry.kind)
    ):
        points[POINTS_OF.get(kind, "other")] += amount
    firsts = [row[3] for row in spend if row[3] is not None]
    lasts = [row[4] for row in spend if row[4] is not None]
    return {
        "member_id": member.id,
        "enrolled_at": member.created_at.isoformat(),
        "purchases": sum(row[2] for row in spend),
        "first_purchase": min(firsts).isoformat() if firsts else None,
        "last_purchase": max(lasts).isoformat() if lasts else None,
        "spend": [{"currency": currency, "amount": str(Money(minor, currency))}
                  for currency, minor, *_ in sorted(spend, key=lambda row: row[0] or "") if currency],
        "points": {"earned": points["earned"], "bonus": points["bonus"], "redeemed": -points["redeemed"],
                   "expired": -points["expired"], "other": points["other"], "balance": sum(points.values())},
    }
