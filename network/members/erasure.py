"""Forgetting a member at their request, without touching the ledger's history.

In one transaction: the member's points are forfeited to the network's
breakage account (lot by lot, so settlement reports them as breakage of
each lot's issuer), every card is blocked, the member's data key and
ciphertext are destroyed, and the member is marked deleted. The journal
entries, postings and lots stay: they name the member only by an opaque id.
Deleting a deleted member is refused (410 member_deleted).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from network.errors import Conflict
from network.ledger import locks
from network.ledger.journal import HELD
from network.ledger.kinds import CardStatus
from network.lifecycle import expiry, upkeep
from network.members import cards, privacy
from network.models import Card, Member


def delete_member(session, member_id: str, *, now: datetime) -> dict:
    accounts = locks.lock_member(session, member_id)  # first, so a concurrent deletion waits and then sees this one
    cards.get_member(session, member_id, merged=True)
    upkeep.bring_up_to_date(session, accounts, now)  # a hold past its time no longer holds anything
    if accounts.balances[HELD]:
        raise Conflict(
            f"The member has {accounts.balances[HELD]} points held by an authorised redemption; capture or release it first",
            {"member_id": [member_id], "held": accounts.balances[HELD]},
            code="member_has_holds",
        )
    forfeited = expiry.forfeit(session, accounts, reason="Member deleted at their request: points forfeited", now=now)
    blocked = session.execute(
        update(Card).where(Card.member_id == member_id, Card.status == CardStatus.ACTIVE)
        .values(status=CardStatus.BLOCKED, blocked_at=now, block_reason="member deleted").returning(Card.number)
    ).scalars().all()
    privacy.shred(session, member_id)
    session.execute(update(Member).where(Member.id == member_id).values(deleted_at=now))
    return {"member_id": member_id, "deleted_at": now, "forfeited": forfeited, "cards_blocked": sorted(blocked),
            "balance": accounts.balance_view()}
