"""The figures behind the desk's charts, each summed by the database (GROUP BY), never by loading postings.

Weeks are the network's settlement weeks: Monday 00:00 UTC to the next.
Issued is what members earned (sales and bonuses) or brought from a
partner's own programme (opening balances) on each partner's lots;
redeemed is what was spent at each partner, less what its tills took
back, as settlement counts them. Liability over time is read from the
statements themselves: the figure each signed statement gave at its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, literal, select
from sqlalchemy.orm import Session

from network.ledger.kinds import REDEMPTION_ENTRIES, EntryKind
from network.models import JournalEntry, Lot, LotMovement, Partner, Statement, int_sum

#: How many weeks the bars show (this one and those before), and how many statements the line.
WEEKS, STATEMENTS = 8, 24
#: Entries whose lots are points a partner issued to a member.
ISSUING = (EntryKind.EARN, EntryKind.BONUS, EntryKind.OPENING)


@dataclass(frozen=True)
class Weekly:
    weeks: list[datetime]
    partners: list[str]
    #: (week start, partner slug) -> points
    issued: dict[tuple[datetime, str], int]
    redeemed: dict[tuple[datetime, str], int]


def week_starts(now: datetime, count: int = WEEKS) -> list[datetime]:
    """The Mondays 00:00 UTC of the last `count` weeks, this one last."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    this = today - timedelta(days=today.weekday())
    return [this - timedelta(weeks=back) for back in range(count - 1, -1, -1)]


def _week_of(column, starts: list[datetime]):
    """SQL for the index of the week `column` falls in (the latest start at or before it)."""
    return case(*[(column >= start, literal(index)) for index, start in reversed(list(enumerate(starts)))],
                else_=literal(-1))


def weekly(session: Session, now: datetime) -> Weekly:
    starts = week_starts(now)
    entry = JournalEntry
    week = _week_of(entry.booked_at, starts)
    in_weeks = (entry.booked_at >= starts[0]) & (entry.booked_at < starts[-1] + timedelta(weeks=1))
    issued_rows = session.execute(
        select(Partner.slug, week, int_sum(Lot.points)).join(entry, entry.id == Lot.entry_id)
        .join(Partner, Partner.id == Lot.issuer_id).where(in_weeks, entry.kind.in_(ISSUING))
        .group_by(Partner.slug, week)).all()
    redeemed_rows = session.execute(
        select(Partner.slug, week, int_sum(-LotMovement.points)).join(entry, entry.id == LotMovement.entry_id)
        .join(Partner, Partner.id == entry.partner_id).where(in_weeks, entry.kind.in_(REDEMPTION_ENTRIES))
        .group_by(Partner.slug, week)).all()
    partners = sorted({slug for slug, _, _ in [*issued_rows, *redeemed_rows]})
    return Weekly(starts, partners, {(starts[index], slug): points for slug, index, points in issued_rows},
                  {(starts[index], slug): points for slug, index, points in redeemed_rows})


@dataclass(frozen=True)
class Liability:
    sequence: int
    end: datetime
    outstanding: int


def liability(session: Session) -> list[Liability]:
    """Points members held at each statement's end (every issuer's, the network's too), oldest first."""
    rows = session.execute(select(Statement.sequence, Statement.period_end, Statement.canonical)
                           .order_by(Statement.sequence.desc()).limit(STATEMENTS)).all()
    return [Liability(sequence, end, sum(section["outstanding"] for section in json.loads(canonical)["partners"]))
            for sequence, end, canonical in reversed(rows)]


def last_statement(session: Session) -> dict | None:
    canonical = session.scalar(select(Statement.canonical).order_by(Statement.sequence.desc()).limit(1))
    return None if canonical is None else json.loads(canonical)
