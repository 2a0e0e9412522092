"""What time and earlier movements have made due for a member, done before anything reads their balance to spend it.

Every movement that spends or takes points calls `bring_up_to_date` right
after locking the member: holds past their time are released, pending
points past their return window become available, and then they repay what
a claw-back left the member owing. No job
has to run for a member to see their points when the window passes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from network.ledger import debts
from network.ledger.journal import MemberAccounts
from network.lifecycle import hold_release, pending


def bring_up_to_date(session: Session, member: MemberAccounts, now: datetime) -> None:
    hold_release.release_expired(session, member, now)
    pending.release_due(session, member, now)
    debts.repay(session, member, now)
