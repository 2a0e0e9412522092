"""Operator adjustments: points the network itself gives or takes back, always with a reason.

A credit is funded by the network (its promotion account; issuer: network),
so no partner pays for a goodwill gesture; settlement bills it to the network
when it is spent at a partner. A debit takes points back oldest expiry first,
whoever issued them, into the network's breakage account: points that left
without being spent, reported as breakage of each lot's issuer, who no
longer owes them. A debit never takes a member below zero.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from network.errors import InsufficientPoints
from network.ledger import journal, locks
from network.ledger.journal import AVAILABLE, BREAKAGE, PROMOTION
from network.ledger.kinds import EntryKind
from network.lifecycle import upkeep
from network.members import cards


def adjust(session, member_id: str, *, points: int, reason: str, now: datetime, lifetime: timedelta) -> dict:
    member = locks.lock_member(session, member_id)
    cards.get_member(session, member_id)  # under the lock: not merged or deleted meanwhile
    upkeep.bring_up_to_date(session, member, now)
    network = journal.network_account(session, PROMOTION if points > 0 else BREAKAGE)
    if points < 0 and member.balances[AVAILABLE] < -points:
        raise InsufficientPoints(
            f"The member has {member.balances[AVAILABLE]} points available; {-points} cannot be taken back",
            {"requested": -points, "available": member.balances[AVAILABLE]},
        )
    entry_id = journal.post(
        session,
        kind=EntryKind.ADJUSTMENT,
        legs=[(network, -points), (member.ids[AVAILABLE], points)],
        member=member,
        partner_id=None,
        reason=reason,
        booked_at=now,
    )
    if points > 0:
        journal.add_lot(session, member, issuer_id=None, entry_id=entry_id, points=points, earned_at=now,
                       expires_at=now + lifetime)
    else:
        journal.consume_lots(session, member, -points, entry_id)
    return {"adjustment_id": entry_id, "points": points, "reason": reason, "member_id": member.member_id,
            "balance": member.balance_view()}
