"""The span a report covers, and the few SQL expressions of time that differ between PostgreSQL and SQLite.

A report names days, both included, as a finance team reads "1 to 30
November"; the ledger books instants, so a window is [first day 00:00 UTC,
the day after the last 00:00 UTC), the shape of a settlement period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import Integer, func, literal_column

from network.ledger.kinds import EntryKind

#: What counts as a member's activity: buying (an earn) or spending (a redemption), at any partner.
ACTIVITY = (EntryKind.EARN, EntryKind.REDEMPTION)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime  # exclusive

    @classmethod
    def of_days(cls, first: date, last: date) -> Window:
        return cls(_midnight(first), _midnight(last + timedelta(days=1)))

    def view(self) -> dict:
        return {"from": self.start.date().isoformat(), "to": (self.end - timedelta(days=1)).date().isoformat()}


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def plus_days(dialect: str, column, days: int):
    """`column` + `days` days in SQL: the end of a member's window after an anchor, compared without leaving the database.

    SQLite keeps times as text with microseconds; strftime's %f keeps
    milliseconds, so a bound there is exact to the millisecond.
    """
    days = int(days)
    if dialect == "postgresql":
        return column + literal_column(f"interval '{days} days'")
    return func.strftime("%Y-%m-%d %H:%M:%f", column, f"{days:+d} days")


def day_number(dialect: str, column):
    """Whole UTC days since 1970-01-01 of a time, as an integer on both databases: for spans counted in days."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column) / 86400).cast(Integer)
    return func.cast(func.julianday(column) - 2440587.5, Integer)


def days_between(dialect: str, later, earlier):
    """(later - earlier) in days with their fraction, as a number in SQL on both databases."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 86400
    return func.julianday(later) - func.julianday(earlier)


def month_of(dialect: str, column):
    """The UTC month of a time as 'YYYY-MM' text, so cohorts group alike on both databases."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def months_between(earlier: str, later: str) -> int:
    """Whole calendar months from one 'YYYY-MM' to another: 0 for the same month."""
    (y0, m0), (y1, m1) = (map(int, earlier.split("-")), map(int, later.split("-")))
    return (y1 - y0) * 12 + (m1 - m0)


def share(part: int, whole: int) -> str | None:
    """part / whole as a decimal string of 4 places (no float), or None when there is no whole."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN))
