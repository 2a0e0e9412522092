"""Cohorts by month of enrolment, and how many of each bought or spent in each month since.

Grouped in the database by (enrolment month, activity month): the answer
is a row per pair, never a row per member, however large the programme.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.window import ACTIVITY, Window, month_of, months_between, share
from network.models import JournalEntry, Member


def cohorts(session: Session, window: Window, partner_id: int | None = None) -> list[dict]:
    """Each month's enrolments in the window with their activity in every month up to the window's end.

    [{"month": "2026-01", "members": n, "retention": [{"months_since": 0, "active": k, "share": "0.5000"}, ...]}]
    A partner's cohorts are the members it enrolled, active anywhere.
    """
    dialect = session.get_bind().dialect.name
    joined = month_of(dialect, Member.created_at).label("cohort")
    enrolled = select(Member.id, joined).where(Member.created_at >= window.start, Member.created_at < window.end,
                                              Member.merged_into.is_(None))
    if partner_id is not None:
        enrolled = enrolled.where(Member.enrolled_by == partner_id)
    enrolled = enrolled.subquery()
    sizes = dict(session.execute(select(enrolled.c.cohort, func.count()).group_by(enrolled.c.cohort)).all())

    active_month = month_of(dialect, JournalEntry.booked_at).label("active_month")
    activity = (select(JournalEntry.member_id, active_month)
                .where(JournalEntry.kind.in_(ACTIVITY), JournalEntry.booked_at >= window.start,
                       JournalEntry.booked_at < window.end)
                .distinct().subquery())
    counted = session.execute(
        select(enrolled.c.cohort, activity.c.active_month, func.count())
        .join(activity, activity.c.member_id == enrolled.c.id)
        .group_by(enrolled.c.cohort, activity.c.active_month))
    active: dict[str, dict[int, int]] = defaultdict(dict)
    for cohort, month, members in counted:
        active[cohort][months_between(cohort, month)] = members
    last = window.view()["to"][:7]
    return [{"month": cohort, "members": size, "retention": [
        {"months_since": since, "active": active[cohort].get(since, 0), "share": share(active[cohort].get(since, 0), size)}
        for since in range(months_between(cohort, last) + 1)]}
        for cohort, size in sorted(sizes.items())]
