"""Whether a reward brings a member back: of those who redeemed in a window, the share who bought again soon after.

Each redeemer is measured from their first redemption in the window; the
members who bought in the window without redeeming, from their first
purchase there: both then have the same `days` to buy again, at any
partner. A window still open (its days not yet past) counts as not yet
returned, so a recent month's shares can only rise as time passes.
"""

from __future__ import annotations

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session, aliased

from analytics.window import Window, plus_days, share
from network.ledger.kinds import EntryKind
from network.models import JournalEntry

#: Days after a reward (or a purchase) in which buying again counts as coming back.
RETURN_DAYS = 30


def return_after_reward(session: Session, window: Window, partner_id: int | None = None, *,
                        days: int = RETURN_DAYS) -> dict:
    """{"redeemers": {...}, "others": {...}, "days"}: each {"members", "returned", "share"}."""
    dialect = session.get_bind().dialect.name
    redeemers = _firsts(EntryKind.REDEMPTION, window, partner_id).subquery()
    redeemed = aliased(JournalEntry)
    buyers = _firsts(EntryKind.EARN, window, partner_id).where(~exists().where(
        redeemed.member_id == JournalEntry.member_id, redeemed.kind == EntryKind.REDEMPTION,
        redeemed.booked_at >= window.start, redeemed.booked_at < window.end,
        *([] if partner_id is None else [redeemed.partner_id == partner_id]))).subquery()
    answer = {"days": days}
    for name, anchors in (("redeemers", redeemers), ("others", buyers)):
        again = aliased(JournalEntry)
        came_back = exists().where(again.member_id == anchors.c.member_id, again.kind == EntryKind.EARN,
                                   again.booked_at > anchors.c.anchor,
                                   again.booked_at <= plus_days(dialect, anchors.c.anchor, days))
        counted, returned = session.execute(
            select(func.count(), func.coalesce(func.sum(case((came_back, 1), else_=0)), 0)).select_from(anchors)).one()
        answer[name] = {"members": counted, "returned": int(returned), "share": share(int(returned), counted)}
    return answer


def _firsts(kind: str, window: Window, partner_id: int | None):
    """SELECT member_id, anchor: each member's first entry of `kind` in the window (at the partner, if one)."""
    query = (select(JournalEntry.member_id, func.min(JournalEntry.booked_at).label("anchor"))
             .where(JournalEntry.kind == kind, JournalEntry.booked_at >= window.start,
                    JournalEntry.booked_at < window.end)
             .group_by(JournalEntry.member_id))
    return query if partner_id is None else query.where(JournalEntry.partner_id == partner_id)
