"""What a claw-back leaves a member owing, and its repayment from the next points they have.

A debt is a movement on the member's owed account, like any other of the
ledger's; it lives here, below every domain, because whatever brings a
member up to date (network.lifecycle.upkeep) or merges one repays it, not
only the refund that made it. How much a refund may leave owing is the
claw-back policy's (network.earning.clawback).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from network.ledger import journal
from network.ledger.journal import AVAILABLE, OWED, MemberAccounts
from network.ledger.kinds import EntryKind
from network.models import Debt

_debts = Debt.__table__
_OPEN_DEBTS = (
    select(_debts.c.id, _debts.c.partner_id, _debts.c.remaining)
    .where(_debts.c.member_id == bindparam("member"), _debts.c.remaining > 0)
    .order_by(_debts.c.id)
)
_REPAY = update(_debts).where(_debts.c.id == bindparam("debt")).values(remaining=_debts.c.remaining - bindparam("paid"))


def owe(session: Session, member: MemberAccounts, *, partner_id: int, entry_id: int, points: int, now: datetime) -> None:
    """Record that a refund (entry `entry_id`, already posted to the owed account) left `points` owing."""
    session.execute(_debts.insert().values(member_id=member.member_id, partner_id=partner_id, entry_id=entry_id,
                                           points=points, remaining=points, created_at=now))


def repay(session: Session, member: MemberAccounts, now: datetime) -> int:
    """Repay a locked member's debts, oldest first, from their available points; returns the points repaid."""
    if member.balances[OWED] >= 0 or member.balances[AVAILABLE] <= 0:
        return 0
    repaid = 0
    for debt in session.connection().execute(_OPEN_DEBTS, {"member": member.member_id}).all():
        paid = min(debt.remaining, member.balances[AVAILABLE])
        if paid <= 0:
            break
        entry_id = journal.post(
            session,
            kind=EntryKind.REPAYMENT,
            legs=[(member.ids[AVAILABLE], -paid), (member.ids[OWED], paid)],
            member=member,
            partner_id=debt.partner_id,
            reason=f"{paid} points repaid of what a refund left owing",
            booked_at=now,
        )
        journal.consume_lots(session, member, paid, entry_id)
        session.connection().execute(_REPAY, {"debt": debt.id, "paid": paid})
        repaid += paid
    return repaid
