"""Whether a reward brings a member back: of those who redeemed in a window, the share who bought again soon after.

Each redeemer is measured from their first redemption in the window; the
members who bought in the window without redeeming, from their first
purchase there: both then have the same `days` to buy again, at any
partner. A window still open (its days not yet past) counts as not yet
returned, so a recent month's shares can only rise as time passes.

One statement: the entries of the window and the days after it are read
once, by booking time, each member's anchor taken from them and joined
back to their later purchases (an EXISTS probe per member, on a
20M-posting ledger, ran for over a minute before it was stopped).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from analytics.window import Window, plus_days, share
from network.ledger.kinds import EntryKind
from network.models import JournalEntry

#: Days after a reward (or a purchase) in which buying again counts as coming back.
RETURN_DAYS = 30


def return_after_reward(session: Session, window: Window, partner_id: int | None = None, *,
                        days: int = RETURN_DAYS) -> dict:
    """{"redeemers": {...}, "others": {...}, "days"}: each {"members", "returned", "share"}."""
    dialect = session.get_bind().dialect.name
    entry = JournalEntry
    entries = (select(entry.member_id, entry.kind, entry.partner_id, entry.booked_at)
               .where(entry.kind.in_((EntryKind.EARN, EntryKind.REDEMPTION)), entry.booked_at >= window.start,
                      entry.booked_at <= window.end + timedelta(days=days))
               .cte("entries"))
    inside = entries.c.booked_at < window.end
    if partner_id is not None:
        inside = inside & (entries.c.partner_id == partner_id)
    redeemed = func.min(entries.c.booked_at).filter(inside & (entries.c.kind == EntryKind.REDEMPTION))
    bought = func.min(entries.c.booked_at).filter(inside & (entries.c.kind == EntryKind.EARN))
    anchors = (select(entries.c.member_id, redeemed.label("redeemed"), bought.label("bought"))
               .group_by(entries.c.member_id).subquery())
    anchor = func.coalesce(anchors.c.redeemed, anchors.c.bought)
    later = entries.alias("later")
    came_back = func.max(case((
        (later.c.kind == EntryKind.EARN) & (later.c.booked_at > anchor)
        & (later.c.booked_at <= plus_days(dialect, anchor, days)), 1), else_=0))
    members = (select(anchors.c.member_id, (anchors.c.redeemed.is_not(None)).label("redeemer"), came_back.label("back"))
               .join(later, later.c.member_id == anchors.c.member_id)
               .where(anchor.is_not(None))
               .group_by(anchors.c.member_id, anchors.c.redeemed).subquery())
    counted = {bool(redeemer): (total, int(back or 0)) for redeemer, total, back in session.execute(
        select(members.c.redeemer, func.count(), func.sum(members.c.back)).group_by(members.c.redeemer))}
    answer = {"days": days}
    for name, redeemer in (("redeemers", True), ("others", False)):
        total, back = counted.get(redeemer, (0, 0))
        answer[name] = {"members": total, "returned": back, "share": share(back, total)}
    return answer
