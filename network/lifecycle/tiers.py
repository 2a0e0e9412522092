"""Tiers: a network-wide ladder of status (Blue, Silver, Gold) that raises what members earn.

A member's tier follows their qualifying points: the points they earned
from sales (refunds taking their share back) in a window of time, either the
last 365 days or the current loyalty year. Welcome bonuses, referrals,
actions and operator adjustments do not qualify: a tier rewards spending at
the partners, and a gift is not spending.

- Up at once: a member moves up the moment a sale makes their qualifying
  points reach a higher threshold (several tiers at once if the sale is big
  enough). The sale that crosses the threshold earns at the tier the member
  had when it was made; the next sale earns at the new tier. A batch books
  the same awards as the same sales sent one by one: its sales are priced
  in order, each member's running total climbing the ladder as it goes.
- Down slowly: only the yearly review (`review`) moves a member down, and
  by one tier at most, however far their points fell. A member is never
  moved down by a refund or by the window sliding on.
- The tier pays: each sale of a member in a tier with multiplier m earns,
  besides the partner's own awards (n points), a `tier` award of
  floor(n x (m - 1)) points, computed exactly. It is funded by the partner
  where the sale was made, in the sale's own entry and lot, so settlement
  bills it like the rest of the sale and a refund claws back its share.

Members point at a tier by its position in the ladder (`members.tier`, NULL
for the first), so the operator can rename tiers or move thresholds
without touching a member. After a change of thresholds a member moves up
at their next sale and down at the next review, never in between.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from network.errors import Invalid
from network.events import notices
from network.ledger import locks
from network.ledger.kinds import EntryKind
from network.models import Award as AwardRow
from network.models import JournalEntry, Member, int_sum
from network.models import Tier as TierRow
from partners.rules import Award

#: The rule name of the multiplier's award in a member's history.
TIER_RULE = "tier"
ROLLING, LOYALTY_YEAR = "rolling_365", "loyalty_year"
WINDOWS = (ROLLING, LOYALTY_YEAR)
#: Entries whose awards qualify: sales, and the refunds that take their share back.
QUALIFYING_KINDS = (EntryKind.EARN, EntryKind.REFUND)
MAX_TIERS = 20
MAX_MULTIPLIER = Decimal(100)
YEAR = timedelta(days=365)
_PAGE = 1000


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int
    multiplier: Decimal

    def view(self) -> dict:
        return {"name": self.name, "threshold": self.threshold, "multiplier": str(self.multiplier)}


class Change(NamedTuple):
    """A member's move from one tier to another (tier names): what a `tier_changed` event tells."""

    member_id: str
    old: str
    new: str


@dataclass(frozen=True)
class Window:
    """Which sales qualify: the last 365 days, or the loyalty year so far (years start on `year_start`, UTC).

    The loyalty year also sets the calendar of the yearly review, whichever
    window qualifies: one review per loyalty year.
    """

    kind: str = ROLLING
    year_start: tuple[int, int] = (1, 1)

    @classmethod
    def from_config(cls, config: Mapping) -> Window:
        kind = config.get("COALITION_TIER_WINDOW", ROLLING)
        if kind not in WINDOWS:
            raise ValueError(f"COALITION_TIER_WINDOW must be one of {', '.join(WINDOWS)}, not {kind!r}")
        return cls(kind, parse_year_start(config.get("COALITION_LOYALTY_YEAR_START", "01-01")))

    def year_containing(self, moment: datetime) -> datetime:
        """The start of the loyalty year `moment` falls in."""
        month, day = self.year_start
        start = datetime(moment.year, month, day, tzinfo=timezone.utc)
        return start if start <= moment else start.replace(year=moment.year - 1)

    def start(self, now: datetime) -> datetime:
        """Where the qualifying window that ends `now` begins (sales booked at or after it qualify)."""
        return now - YEAR if self.kind == ROLLING else self.year_containing(now)

    def judged(self, as_of: datetime) -> tuple[datetime, datetime]:
        """The period [start, end) a review as of `as_of` judges.

        Rolling: the 365 days before it. Loyalty year: the last complete
        year, so a review run on (or just after) the first day of a year
        judges the year that ended, not the few hours of the new one.
        """
        if self.kind == ROLLING:
            return as_of - YEAR, as_of
        end = self.year_containing(as_of)
        return end.replace(year=end.year - 1), end

    def view(self) -> dict:
        return {"window": self.kind, "loyalty_year_start": "%02d-%02d" % self.year_start}


#: The window when none is configured (COALITION_TIER_WINDOW's default).
DEFAULT_WINDOW = Window()


def parse_year_start(text: str) -> tuple[int, int]:
    """MM-DD; 02-29 is refused, since most years have none."""
    match = re.fullmatch(r"(\d\d)-(\d\d)", text or "")
    try:
        if not match:
            raise ValueError
        datetime(2001, int(match[1]), int(match[2]))
    except ValueError:
        raise ValueError(f"COALITION_LOYALTY_YEAR_START must be a day of a year as MM-DD (not 02-29), not {text!r}") from None
    return int(match[1]), int(match[2])


# ---------------------------------------------------------------- the ladder


_LADDER = select(TierRow.name, TierRow.threshold, TierRow.multiplier).order_by(TierRow.position)


def ladder(session: Session) -> list[Tier]:
    rows = session.connection().execute(_LADDER)
    return [Tier(row.name, row.threshold, row.multiplier) for row in rows]


def ladder_errors(tiers: Sequence[Mapping]) -> dict[str, list[str]]:
    """What is wrong with a ladder as a whole, by field (`tiers.<i>.<field>`); empty when it is sound.

    The first threshold is 0 so every member is in some tier; thresholds
    rise strictly so no two tiers are reached at once; multipliers never
    fall, so moving up never earns less.
    """
    if not tiers:
        return {"tiers": ["must hold at least one tier"]}
    if len(tiers) > MAX_TIERS:
        return {"tiers": [f"must hold at most {MAX_TIERS} tiers"]}
    errors: dict[str, list[str]] = {}
    names: dict[str, int] = {}
    for index, tier in enumerate(tiers):
        def fail(name: str, message: str) -> None:
            errors.setdefault(f"tiers.{index}.{name}", []).append(message)

        key = tier["name"].strip().casefold()
        if key in names:
            fail("name", f"repeats the name of tier {names[key]}")
        names.setdefault(key, index)
        if index == 0 and tier["threshold"] != 0:
            fail("threshold", "must be 0 for the first tier: every member is in a tier")
        if index and tier["threshold"] <= tiers[index - 1]["threshold"]:
            fail("threshold", f"must be greater than the tier before's ({tiers[index - 1]['threshold']})")
        if tier["multiplier"] < 1:
            fail("multiplier", "must be at least 1")
        elif tier["multiplier"] > MAX_MULTIPLIER:
            fail("multiplier", f"must be at most {MAX_MULTIPLIER}")
        elif index and tier["multiplier"] < tiers[index - 1]["multiplier"]:
            fail("multiplier", f"must not be less than the tier before's ({tiers[index - 1]['multiplier']})")
    return errors


def set_ladder(session: Session, tiers: Sequence[Mapping], *, now: datetime) -> list[Tier]:
    """Replace the whole ladder; members keep their position in it (see the module's docstring)."""
    errors = ladder_errors(tiers)
    if errors:
        raise Invalid("The tiers are invalid: " + ", ".join(sorted(errors)), errors)
    session.execute(delete(TierRow))
    session.execute(insert(TierRow), [
        {"position": index, "name": tier["name"].strip(), "threshold": tier["threshold"],
         "multiplier": Decimal(tier["multiplier"]), "updated_at": now}
        for index, tier in enumerate(tiers)
    ])
    return ladder(session)


def _reached(tiers: list[Tier], points: int) -> int:
    """The highest tier these qualifying points reach."""
    level = 0
    for index, tier in enumerate(tiers):
        if tier.threshold <= points:
            level = index
    return level


# ---------------------------------------------------------------- standings


@dataclass(frozen=True)
class Standing:
    level: int  # the stored position, not yet capped to a shorter ladder
    since: datetime | None
    reviewed_at: datetime | None
    qualifying: int


def qualifying_points_query(member_ids, start: datetime, end: datetime | None = None):
    """Qualifying points of these members, of sales booked in [start, end).

    Counted from the awards of sales and refunds, leaving out the tier award
    itself: were it counted, a Gold member's multiplier would help keep Gold,
    so the same spending would hold a higher tier than it can reach, and a
    tier would feed on itself. Bonuses and adjustments are other entry
    kinds, so they never count; a partner's own extras on a sale (weekend
    x2, a SKU bonus) are earned by the sale and do. By booking time, the
    time the hub knows. A member merged into another counts for the one
    that holds its points now (network.members.merge): give both ids.
    """
    owner = aliased(Member)
    holder = func.coalesce(owner.merged_into, JournalEntry.member_id)
    query = (
        select(holder.label("member_id"), int_sum(AwardRow.points).label("points"))
        .select_from(JournalEntry)
        .join(AwardRow, AwardRow.entry_id == JournalEntry.id)
        .join(owner, owner.id == JournalEntry.member_id)
        .where(JournalEntry.kind.in_(QUALIFYING_KINDS), AwardRow.rule != TIER_RULE, JournalEntry.booked_at >= start,
               JournalEntry.member_id.in_(member_ids))
        .group_by(holder)
    )
    return query if end is None else query.where(JournalEntry.booked_at < end)


def standings(session: Session, member_ids, start: datetime, end: datetime | None = None) -> dict[str, Standing]:
    """Each member's stored tier and qualifying points in [start, end): one grouped statement per 1,000 members."""
    ids = sorted(set(member_ids))
    found: dict[str, Standing] = {}
    for first in range(0, len(ids), _PAGE):
        page = ids[first:first + _PAGE]
        absorbed = session.scalars(select(Member.id).where(Member.merged_into.in_(page))).all()
        points = qualifying_points_query([*page, *absorbed], start, end).subquery()
        rows = session.execute(
            select(Member.id, Member.tier, Member.tier_since, Member.tier_reviewed_at,
                   func.coalesce(points.c.points, 0).label("points"))
            .outerjoin(points, points.c.member_id == Member.id)
            .where(Member.id.in_(page))
        )
        for row in rows:
            found[row.id] = Standing(row.tier or 0, row.tier_since, row.tier_reviewed_at, int(row.points))
    return found


# ---------------------------------------------------------------- sales


def tier_awards(
    session: Session, sales: Sequence[tuple[str, Sequence[Award]]], *, now: datetime, window: Window,
    known: list[Tier] | None = None,
) -> list[list[Award]]:
    """The tier award of each sale, given as (member_id, the partner's awards), in booking order.

    Each answer is an empty list or one `tier` award. The sales are walked
    in order with each member's running qualifying points, so a member who
    crosses a threshold half way through a batch earns the new multiplier
    on their next sale in it, as they would have sale by sale. (A sale the
    ledger then finds already booked still counts in that walk: in a batch
    that resends a sale, the member's later sales in it may earn a new
    multiplier one sale early. `promote` itself reads the ledger.)

    On PostgreSQL an import books two chunks at once: a member crossing a
    threshold in one earns the new multiplier in the other only if it was
    committed before the other read the tiers (each chunk reads them before
    it takes the members' locks, and `promote` settles the tier after).

    One read of the ladder, and one grouped statement for the members when
    some tier multiplies at all.
    """
    extra: list[list[Award]] = [[] for _ in sales]
    tiers = ladder(session) if known is None else known
    if not any(tier.multiplier > 1 for tier in tiers):
        return extra
    earning = {member_id for member_id, awards in sales if awards}
    now_standing = standings(session, earning, window.start(now))
    level = {member_id: min(s.level, len(tiers) - 1) for member_id, s in now_standing.items()}
    points = {member_id: s.qualifying for member_id, s in now_standing.items()}
    for index, (member_id, awards) in enumerate(sales):
        earned = sum(award.points for award in awards)
        if earned <= 0:
            continue
        tier = tiers[level[member_id]]
        bonus = floor(earned * (Fraction(tier.multiplier) - 1))
        if bonus > 0:
            extra[index] = [Award(TIER_RULE, bonus, f"{tier.name} x{tier.multiplier}")]
        points[member_id] += earned
        level[member_id] = max(level[member_id], _reached(tiers, points[member_id]))
    return extra


def promote(session: Session, member_ids, *, now: datetime, window: Window, known: list[Tier] | None = None) -> list[Change]:
    """Move up every member whose qualifying points now reach a higher tier; returns the moves.

    Called after a batch of sales is booked, with the members locked, so
    the points read are final: one grouped statement for the batch, and one
    update for those who move. Never moves anyone down. `known`: the ladder
    as the caller last read it (it changes seldom; a sale need not read it).
    """
    tiers = ladder(session) if known is None else known
    if len(tiers) < 2 or not member_ids:
        return []
    moves, changes = [], []
    for member_id, standing in sorted(standings(session, member_ids, window.start(now)).items()):
        current = min(standing.level, len(tiers) - 1)
        target = _reached(tiers, standing.qualifying)
        if target > current:
            moves.append({"member": member_id, "level": target, "since": now})
            changes.append(Change(member_id, tiers[current].name, tiers[target].name))
    if moves:
        session.execute(_MOVE, moves)
    return changes


_members = Member.__table__
_MOVE = (
    update(_members).where(_members.c.id == bindparam("member"))
    .values(tier=bindparam("level"), tier_since=bindparam("since"))
)
_REVIEWED = (
    update(_members).where(_members.c.id == bindparam("member"))
    .values(tier=bindparam("level"), tier_since=bindparam("since"), tier_reviewed_at=bindparam("reviewed"))
)


# ---------------------------------------------------------------- the yearly review


@dataclass
class Review:
    """Members judged and moved down; `changes` holds the moves of the last page only (a run may move millions)."""

    reviewed: int = 0
    moved: int = 0
    changes: list[Change] = field(default_factory=list)


def due_for_review(session: Session, as_of: datetime, window: Window, *, after: str = "", limit: int = 500) -> list[str]:
    """Members above the first tier not yet judged by this loyalty year's review, in id order from `after`."""
    year = window.year_containing(as_of)
    return list(session.scalars(
        select(Member.id)
        .where(Member.tier > 0, or_(Member.tier_reviewed_at.is_(None), Member.tier_reviewed_at < year), Member.id > after)
        .order_by(Member.id)
        .limit(limit)
    ))


def review_members(session: Session, member_ids: Sequence[str], as_of: datetime, window: Window) -> Review:
    """Judge these members as of `as_of`: down one tier each whose points in the judged period fall short.

    Locks them first (as a sale does), so a sale promoting one of them at
    the same moment is judged after it, or waits for it. Each member judged
    is marked with `as_of`, staying or not, so a second run in the same
    loyalty year passes them by. A member who reached their tier after the
    judged period ended keeps it: it was won on points the period lacks.
    """
    locks.lock_member_ids(session, member_ids)
    tiers = ladder(session)
    year = window.year_containing(as_of)
    start, end = window.judged(as_of)
    done, rows = Review(), []
    for member_id, standing in sorted(standings(session, member_ids, start, end).items()):
        if standing.level == 0 or (standing.reviewed_at is not None and standing.reviewed_at >= year) or not tiers:
            continue
        current = min(standing.level, len(tiers) - 1)
        level, since = standing.level, standing.since
        won_later = standing.since is not None and standing.since >= end
        if current > 0 and not won_later and standing.qualifying < tiers[current].threshold:
            level, since = current - 1, as_of
            done.changes.append(Change(member_id, tiers[current].name, tiers[level].name))
            done.moved += 1
        rows.append({"member": member_id, "level": level, "since": since, "reviewed": as_of})
        done.reviewed += 1
    if rows:
        session.execute(_REVIEWED, rows)
    notices.tier_changes(session, done.changes, now=as_of, reason="yearly review")
    return done


def review(transact, read, as_of: datetime, window: Window) -> Iterator[Review]:
    """The yearly review, a page of members per transaction; yields the running totals after each page.

    `transact` and `read` are the database's (network.db.Database). Stopped
    half way, it is simply run again: judged members are marked.
    """
    total, after = Review(), ""
    while True:
        page = read(lambda session: due_for_review(session, as_of, window, after=after))
        if not page:
            return
        done = transact(lambda session: review_members(session, page, as_of, window))
        total = Review(total.reviewed + done.reviewed, total.moved + done.moved, done.changes)
        after = page[-1]
        yield total


# ---------------------------------------------------------------- what a member sees


def member_view(session: Session, member_id: str, *, now: datetime, window: Window,
                known: list[Tier] | None = None) -> dict:
    """The member's tier, qualifying points and how many more reach the next tier (null at the top).

    With no ladder set, all null and no reading of the member's history: a
    balance read stays one statement's work however long the member's past.
    """
    tiers = ladder(session) if known is None else known
    view = {"tier": None, "tier_since": None, "qualifying_points": None, "next_tier": None, "points_to_next_tier": None}
    if not tiers:
        return view
    standing = standings(session, [member_id], window.start(now))[member_id]
    view["qualifying_points"] = standing.qualifying
    if tiers:
        level = min(standing.level, len(tiers) - 1)
        view.update(tier=tiers[level].name, tier_since=standing.since)
        if level + 1 < len(tiers):
            following = tiers[level + 1]
            view.update(next_tier=following.name, points_to_next_tier=max(0, following.threshold - standing.qualifying))
    return view
