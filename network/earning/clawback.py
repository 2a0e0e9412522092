"""How much of a refund's points a member gives back: the network's claw-back policy.

A refund owes back its share of the sale's awards. Where it comes from:

- `only_pending`: only points of the sale still pending (inside the return
  window); once available, the member keeps them.
- `within_balance` (the default): the sale's own lot first, pending or
  available; then the member's other available points; never below zero.
- `unlimited`: as `within_balance`, and what is still missing is left owing
  (the member's `owed` account, a `Debt` to the refunding partner). The
  balance goes negative through a claw-back, never through a redemption,
  and the next points the member has repay it (`repay`).

What is not collected is reported as `uncollected_points`.

For settlement, points taken from the sale's own lot correct what the
refunding partner issued; points of another issuer taken by a refund or a
repayment were spent at the refunding partner, like a redemption there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from network.ledger import journal
from network.ledger.journal import AVAILABLE, OWED, MemberAccounts
from network.ledger.kinds import EntryKind
from network.models import Debt

ONLY_PENDING, WITHIN_BALANCE, UNLIMITED = "only_pending", "within_balance", "unlimited"
POLICIES = (ONLY_PENDING, WITHIN_BALANCE, UNLIMITED)


@dataclass(frozen=True)
class Split:
    own: int  # from the sale's own lot
    others: int  # from the member's other available lots
    owed: int  # left owing (unlimited only)

    @property
    def total(self) -> int:
        return self.own + self.others + self.owed


def split(policy: str, due: int, *, own_remaining: int, own_pending: bool, others_available: int) -> Split:
    """Where `due` points come from under `policy`; no database needed."""
    if policy not in POLICIES:
        raise ValueError(f"unknown claw-back policy {policy!r}")
    if policy == ONLY_PENDING:
        return Split(min(due, own_remaining) if own_pending else 0, 0, 0)
    own = min(due, own_remaining)
    others = min(due - own, max(others_available, 0))
    owed = due - own - others if policy == UNLIMITED else 0
    return Split(own, others, owed)


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
