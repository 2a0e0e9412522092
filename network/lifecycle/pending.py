"""Pending points: a sale's points wait out the partner's return window before they can be spent.

A sale at a partner with `pending_days` credits the member's pending
account and opens its lot there, `available_at` the end of the window. No
job has to run when the window passes: every movement that spends or takes
points first releases what is due (`release_due`, under the member's lock),
and every balance read counts due points as available already
(`due_points`). Releasing moves the lots to the available account and posts
one entry, pending -> available, so the postings keep matching the balances.

Some pending points wait for news rather than for time: their lot's
`available_at` is a date no clock reaches, which whatever brings the news
replaces by the end of the return window (or by now). The sentinels are
the one mark: nothing else tells a waiting lot from any other pending one.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from network.ledger import journal
from network.ledger.journal import AVAILABLE, PENDING, MemberAccounts
from network.ledger.kinds import EntryKind
from network.models import Lot, int_sum

#: An order placed but not paid: its payment (network.earning.order_status) starts the window.
UNPAID = datetime(9999, 12, 31, tzinfo=timezone.utc)
#: A sale past its partner's limit (network.earning.unfunded): funds that cover it start the window.
UNFUNDED = datetime(9999, 12, 30, tzinfo=timezone.utc)
#: Both at once: funds make it UNPAID, a payment makes it UNFUNDED, and the second news starts the window.
UNFUNDED_UNPAID = datetime(9999, 12, 29, tzinfo=timezone.utc)

_lots = Lot.__table__
_DUE = select(_lots.c.id, _lots.c.remaining).where(
    _lots.c.member_id == bindparam("member"), _lots.c.account_id == bindparam("account"),
    _lots.c.remaining > 0, _lots.c.available_at <= bindparam("now"),
)
_DUE_POINTS = select(int_sum(_lots.c.remaining)).where(
    _lots.c.member_id == bindparam("member"), _lots.c.account_id == bindparam("account"),
    _lots.c.remaining > 0, _lots.c.available_at <= bindparam("now"),
)
_MOVE = update(_lots).where(_lots.c.id == bindparam("lot")).values(account_id=bindparam("to"))


def release_due(session: Session, member: MemberAccounts, now: datetime) -> int:
    """Make a locked member's pending points whose window has passed available; returns the points released."""
    if member.balances[PENDING] <= 0:
        return 0
    connection = session.connection()
    due = connection.execute(_DUE, {"member": member.member_id, "account": member.ids[PENDING], "now": now}).all()
    points = sum(lot.remaining for lot in due)
    if not points:
        return 0
    journal.post(
        session,
        kind=EntryKind.RELEASE,
        legs=[(member.ids[PENDING], -points), (member.ids[AVAILABLE], points)],
        member=member,
        partner_id=None,
        reason=f"{points} pending points became available",
        booked_at=now,
    )
    connection.execute(_MOVE, [{"lot": lot.id, "to": member.ids[AVAILABLE]} for lot in due])
    return points


def due_points(session: Session, member_id: str, pending_account: int, now: datetime) -> int:
    """Pending points whose window has passed but that no movement has released yet."""
    return session.connection().execute(_DUE_POINTS, {"member": member_id, "account": pending_account, "now": now}).scalar_one()
