"""How many members joined, bought or spent, fell dormant or lapsed: counted in the database, one number each.

Points a member held at the window's end are read backwards from today's
balances (each balance less what was posted since), so a recent month
reads its own postings and not the years before it. A partner's members
are those it enrolled and those who ever bought or spent at its tills.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, func, literal, select, union
from sqlalchemy.orm import Session

from analytics.window import ACTIVITY, Window
from network.ledger.kinds import MEMBER_ACCOUNTS
from network.models import Account, JournalEntry, Member, Posting, int_sum

#: Days without buying or spending after which a member counts as dormant (with points) or lapsed (without).
DORMANT_DAYS = 90


def members(session: Session, window: Window, partner_id: int | None = None, *,
            dormant_days: int = DORMANT_DAYS) -> dict:
    """enrolled, dormant and lapsed for the network (`partner_id` None) or one partner's members.

    Not `active`: the members who bought or redeemed in the window are the return after a reward's redeemers and
    others, counted there (analytics.programme.assemble), not again here.
    """
    enrolled = select(func.count()).select_from(Member).where(
        Member.created_at >= window.start, Member.created_at < window.end, Member.merged_into.is_(None))
    if partner_id is not None:
        enrolled = enrolled.where(Member.enrolled_by == partner_id)
    known = _population(window, partner_id).subquery()
    recently = exists().where(JournalEntry.member_id == known.c.member_id,
                              *_activity(window.end - timedelta(days=dormant_days), window.end, partner_id))
    quiet = select(known.c.member_id).where(~recently).subquery()
    # Joined, not probed: the holders are summed once, however many quiet members there are.
    holding = _holders(window).subquery()
    has_points = holding.c.member_id.is_not(None)
    dormant, lapsed = session.execute(select(func.count().filter(has_points), func.count().filter(~has_points))
                                      .select_from(quiet.outerjoin(holding, holding.c.member_id == quiet.c.member_id))
                                      ).one()
    return {"enrolled": session.scalar(enrolled), "dormant": dormant, "lapsed": lapsed, "dormant_days": dormant_days}


def _activity(start, end, partner_id: int | None) -> list:
    conditions = [JournalEntry.kind.in_(ACTIVITY), JournalEntry.booked_at >= start, JournalEntry.booked_at < end]
    if partner_id is not None:
        conditions.append(JournalEntry.partner_id == partner_id)
    return conditions


def _population(window: Window, partner_id: int | None):
    """SELECT member_id of the members a report speaks of at the window's end (a merged-away duplicate is not one)."""
    joined = select(Member.id.label("member_id")).where(Member.created_at < window.end, Member.merged_into.is_(None))
    if partner_id is None:
        return joined
    served = select(JournalEntry.member_id).where(
        JournalEntry.kind.in_(ACTIVITY), JournalEntry.partner_id == partner_id, JournalEntry.booked_at < window.end)
    return union(joined.where(Member.enrolled_by == partner_id), served)


def _holders(window: Window):
    """SELECT member_id of members who held points at the window's end: today's balances less what was posted since."""
    since = (select(Posting.account_id, int_sum(Posting.amount).label("points"))
             .where(Posting.booked_at >= window.end).group_by(Posting.account_id).subquery())
    held = func.coalesce(Account.balance, 0) - func.coalesce(since.c.points, literal(0))
    return (select(Account.member_id)
            .outerjoin(since, since.c.account_id == Account.id)
            .where(Account.kind.in_(MEMBER_ACCOUNTS), Account.member_id.is_not(None))
            .group_by(Account.member_id)
            .having(func.sum(held) > 0))
