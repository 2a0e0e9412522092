"""Events no booking triggers: points about to expire and members gone quiet, found by `coalition events scan`.

The scan pages through members holding points in id order, one
transaction per page, and emits with a dedup key, so it can be run as often
as liked (or stopped half way and run again) and each member hears once per
expiry date (`points_expiring`) and once per dormancy (`dormant_member`,
keyed on the last activity: a member who comes back and goes quiet again is
dormant anew).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from network.events import outbox
from network.events.kinds import EventKind
from network.ledger.journal import AVAILABLE, PENDING
from network.lifecycle import expiry
from network.models import Account, Lot, Member, int_sum

PAGE = 500


@dataclass(frozen=True)
class Settings:
    warning: timedelta
    dormant: timedelta
    policy: expiry.Policy

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(timedelta(days=config["COALITION_EXPIRY_WARNING_DAYS"]), timedelta(days=config["COALITION_DORMANT_DAYS"]),
                   expiry.Policy.from_config(config))


@dataclass
class Scan:
    members: int = 0
    expiring: int = 0
    dormant: int = 0


def _last_activity():
    return func.coalesce(Member.last_activity_at, Member.created_at)


def scan_page(session: Session, as_of: datetime, settings: Settings, *, now: datetime, after: str = "",
              limit: int = PAGE) -> tuple[list[str], int, int]:
    """Emit the events due for one page of members with points; returns (the page's member ids, expiring, dormant)."""
    last = _last_activity()
    # Pending points count: past their window they are available, whether or not a movement has released them yet.
    points = select(int_sum(Account.balance)).where(
        Account.member_id == Member.id, Account.kind.in_((AVAILABLE, PENDING))
    ).scalar_subquery()
    rows = session.execute(
        select(Member.id, Member.enrolled_by, last.label("last_activity"), points.label("balance"))
        .where(points > 0, Member.id > after).order_by(Member.id).limit(limit)
    ).all()
    if not rows:
        return [], 0, 0
    horizon = as_of + settings.warning
    policy = settings.policy
    # Who can be expiring at all, found in one query; next_expiring then says exactly what and when.
    if policy.rule == expiry.ACTIVITY_EXTENDS:
        # Dormant by the horizon (a lot credited since lives its own lifetime: next_expiring says when).
        near = {row.id for row in rows if row.last_activity + policy.lifetime <= horizon}
    else:
        soon = exists().where(Lot.member_id == Member.id, Lot.remaining > 0, Lot.expires_at > as_of, Lot.expires_at <= horizon)
        near = set(session.scalars(select(Member.id).where(Member.id.in_([row.id for row in rows]), soon)))
    expiring, dormant = [], []
    for row in rows:
        if row.id in near:
            coming = expiry.next_expiring(session, row.id, policy)
            if coming is not None and as_of < coming.at <= horizon:
                expiring.append(outbox.NewEvent(row.id, row.enrolled_by, {
                    "member_id": row.id, "points": coming.points, "expires_at": coming.at.isoformat(),
                    "days_left": (coming.at - as_of).days, "balance": row.balance,
                }, dedup_key=f"{row.id}@{coming.at.isoformat()}"))
        if row.last_activity <= as_of - settings.dormant:
            dormant.append(outbox.NewEvent(row.id, row.enrolled_by, {
                "member_id": row.id, "points": row.balance, "last_activity_at": row.last_activity.isoformat(),
                "inactive_days": (as_of - row.last_activity).days,
            }, dedup_key=f"{row.id}@{row.last_activity.isoformat()}"))
    written_expiring = outbox.emit_many(session, EventKind.POINTS_EXPIRING, expiring, now=now)
    written_dormant = outbox.emit_many(session, EventKind.DORMANT_MEMBER, dormant, now=now)
    return [row.id for row in rows], len(written_expiring), len(written_dormant)


def scan(transact: Callable, as_of: datetime, settings: Settings, *, now: datetime) -> Iterator[Scan]:
    """Scan every member with points, a page per transaction; yields the running totals after each page."""
    done, after = Scan(), ""
    while True:
        page, expiring, dormant = transact(lambda session: scan_page(session, as_of, settings, now=now, after=after))
        if not page:
            return
        done.members += len(page)
        done.expiring += expiring
        done.dormant += dormant
        after = page[-1]
        yield done
