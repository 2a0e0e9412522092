"""What a sale earned that its holder still has: the lots a refund takes first, a payment or funds release.

Apart from the sales' own module (network.earning.sales) so that what
releases a sale's points (network.earning.unfunded) reads them without
importing the booking of sales, which calls it.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.ledger import journal
from network.ledger.journal import PENDING
from network.models import JournalEntry, Lot, Order


class Earned(NamedTuple):
    """The entry a sale earned by, and the open lots holding its points now (merges may have moved them)."""

    entry_id: int
    lot_ids: tuple[int, ...]  # in the order a refund takes them
    remaining: int
    account_id: int | None  # the holder's account they are on; None once none is left


def earned_by(session: Session, sale: Order, member: journal.MemberAccounts) -> Earned | None:
    """The sale's entry and the holder's open lots descended from its lot (None if it earned nothing).

    A merge empties a lot into one on the survivor (`merged_from_id`); a
    redemption reversed after it re-credits the emptied lot, which moves on
    again as a second lot from the same one. However many there are, all of
    them are the sale's own points.
    """
    descent = (
        select(JournalEntry.id.label("entry_id"), Lot.id, Lot.remaining, Lot.account_id, Lot.member_id, Lot.expires_at)
        .join(Lot, Lot.entry_id == JournalEntry.id)
        .where(JournalEntry.order_id == sale.id)
        .cte("descent", recursive=True)
    )
    descent = descent.union_all(
        select(descent.c.entry_id, Lot.id, Lot.remaining, Lot.account_id, Lot.member_id, Lot.expires_at)
        .join(descent, Lot.merged_from_id == descent.c.id)
        .where(Lot.merged_from_id.is_not(None))
    )
    rows = session.execute(select(descent)).all()
    if not rows:
        return None
    held = [row for row in rows if row.remaining > 0 and row.member_id == member.member_id]
    # All on one account: a merge keeps a pending lot pending, and only available ones are spent and re-credited.
    on = member.ids[PENDING] if any(row.account_id == member.ids[PENDING] for row in held) else (
        held[0].account_id if held else None)
    own = sorted((row for row in held if row.account_id == on), key=lambda row: (row.expires_at, row.id))
    return Earned(min(row.entry_id for row in rows), tuple(row.id for row in own), sum(row.remaining for row in own), on)
