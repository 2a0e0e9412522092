"""Points that run out: expiry by the network's policy, and forfeiture of a member's whole balance.

Expired or forfeited points leave the member's lots for the network's
breakage account, one movement per lot, so settlement reports them as
breakage of the partner that issued each lot: a liability that partner no
longer carries.

Two policies, as coalition programmes run them:
- `fixed`: each lot expires `lifetime` after it was earned;
- `activity_extends` (Payback, Nectar): any earn or redemption pushes every
  lot of the member forward, so they expire together, `lifetime` after the
  member's last activity (or enrolment, if there was none); a lot never
  lives less than its own lifetime, so a goodwill credit to a dormant
  member is not gone the next night.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from network.ledger import journal, locks
from network.ledger.journal import AVAILABLE, BREAKAGE, PENDING, MemberAccounts
from network.ledger.kinds import EntryKind
from network.lifecycle import upkeep
from network.models import Account, Lot, Member, int_sum

FIXED, ACTIVITY_EXTENDS = "fixed", "activity_extends"
POLICIES = (FIXED, ACTIVITY_EXTENDS)


@dataclass(frozen=True)
class Policy:
    lifetime: timedelta
    rule: str = ACTIVITY_EXTENDS

    @classmethod
    def from_config(cls, config) -> Policy:
        return cls(timedelta(days=config["COALITION_POINTS_LIFETIME_DAYS"]), config["COALITION_EXPIRY"])


@dataclass(frozen=True)
class Expiring:
    """The next points to expire and when (what a member is warned of)."""

    points: int
    at: datetime


def _last_activity(member_id=None):
    last = func.coalesce(Member.last_activity_at, Member.created_at)
    return last if member_id is None else select(last).where(Member.id == member_id)


def next_expiring(session: Session, member_id: str, policy: Policy, *, open_accounts: list[tuple[int, int]] | None = None,
                  last_active: datetime | None = None) -> Expiring | None:
    """The member's next points to expire, and when.

    `fixed`: the earliest lot's. `activity_extends`: every lot past its own
    lifetime by the day the member falls dormant expires that day, all
    together (a lot credited since, a goodwill adjustment say, still lives
    its own lifetime first).

    A balance read calls this, so it reads a few index entries, never the
    member's whole history: the earliest expiry per account (the open-lots
    index is ordered by it), and under `activity_extends` only the lots
    that outlive the dormancy date, taken from the balance. A caller that
    read the member's available and pending accounts (`open_accounts`: id and
    balance) and last activity already (a till's balance read) hands them in.
    """
    accounts = open_accounts if open_accounts is not None else session.execute(
        select(Account.id, Account.balance).where(Account.member_id == member_id, Account.kind.in_((AVAILABLE, PENDING)))
    ).all()
    ids = [account_id for account_id, _ in accounts]
    open_lots = (Lot.member_id == member_id, Lot.account_id.in_(ids), Lot.remaining > 0)
    if policy.rule == ACTIVITY_EXTENDS:
        if last_active is None:
            last_active = session.execute(_last_activity(member_id)).scalar_one()
        dormant_from = last_active + policy.lifetime
        later = session.scalar(select(int_sum(Lot.remaining)).where(*open_lots, Lot.expires_at > dormant_from))
        points = sum(balance for _, balance in accounts) - later
        if points > 0:
            return Expiring(points, dormant_from)
    firsts = [
        session.scalar(select(Lot.expires_at).where(Lot.member_id == member_id, Lot.account_id == account_id,
                                                    Lot.remaining > 0).order_by(Lot.expires_at).limit(1))
        for account_id in ids
    ]
    first = min((at for at in firsts if at is not None), default=None)
    if first is None:
        return None
    return Expiring(session.scalar(select(int_sum(Lot.remaining)).where(*open_lots, Lot.expires_at == first)), first)


def due_members(session: Session, as_of: datetime, policy: Policy, *, after: str = "", limit: int = 500) -> list[str]:
    """Members with points due to expire at `as_of`, in id order from `after` (a page at a time).

    Pending lots count: one past its window is released (then expired) under the member's lock.
    """
    query = select(Lot.member_id).join(Account, (Account.id == Lot.account_id) & Account.kind.in_((AVAILABLE, PENDING))).where(
        Lot.remaining > 0, Lot.expires_at <= as_of
    )
    if policy.rule == ACTIVITY_EXTENDS:
        query = query.join(Member, Member.id == Lot.member_id).where(_last_activity() <= as_of - policy.lifetime)
    query = query.distinct()
    return list(session.scalars(query.where(Lot.member_id > after).order_by(Lot.member_id).limit(limit)))


def expire_member(session: Session, member_id: str, as_of: datetime, policy: Policy, *, now: datetime) -> int:
    """Expire what was due at `as_of` of one member's available points; returns the points expired (0: nothing due).

    A lot is due once its own lifetime is over (`expires_at`); under
    `activity_extends` only if the member has also been inactive for a
    lifetime. The entry is booked `now`, never at `as_of`: a run that
    catches up on the past must not write into a settlement period already
    closed. Locks the member and reads its lots again under the lock, so a
    concurrent earn (which extends an `activity_extends` life) or a second
    run of the job sees the latest state and posts nothing twice.
    """
    member = locks.lock_member(session, member_id)
    upkeep.bring_up_to_date(session, member, now)  # a lot past its window and its lifetime is still pending until then
    if policy.rule == ACTIVITY_EXTENDS and session.execute(_last_activity(member_id)).scalar_one() > as_of - policy.lifetime:
        return 0
    due = session.scalar(
        select(int_sum(Lot.remaining)).where(
            Lot.member_id == member_id, Lot.account_id == member.ids[AVAILABLE], Lot.remaining > 0, Lot.expires_at <= as_of,
        )
    )
    if due <= 0:
        return 0
    # Due lots are a prefix of the consumption order (oldest expiry first), so consuming `due` points takes exactly them.
    _to_breakage(session, member, due, AVAILABLE, kind=EntryKind.EXPIRY, reason=f"{due} points expired (due by {as_of:%Y-%m-%d %H:%M} UTC)", now=now)
    return due


def forfeit(session: Session, member: MemberAccounts, *, reason: str, now: datetime) -> int:
    """Take every available and pending point of a locked member as breakage (the member left); returns the points."""
    upkeep.bring_up_to_date(session, member, now)
    total = 0
    for account in (AVAILABLE, PENDING):
        points = member.balances[account]
        if points > 0:
            _to_breakage(session, member, points, account, kind=EntryKind.FORFEITURE, reason=reason, now=now)
            total += points
    return total


def _to_breakage(session: Session, member: MemberAccounts, points: int, account: str, *, kind: str, reason: str,
                 now: datetime) -> None:
    entry_id = journal.post(
        session,
        kind=kind,
        legs=[(member.ids[account], -points), (journal.network_account(session, BREAKAGE), points)],
        member=member,
        partner_id=None,
        reason=reason,
        booked_at=now,
    )
    journal.consume_lots(session, member, points, entry_id, account=account)


@dataclass
class Run:
    members: int = 0
    points: int = 0


def expire(transact, read, as_of: datetime, policy: Policy, *, clock: Callable[[], datetime]) -> Iterator[Run]:
    """Expire everything due at `as_of`, one member per transaction; yields the running totals after each page.

    `transact` and `read` are the database's (network.db.Database): each
    member commits on its own, so a run over millions of members holds no
    lock for long and, stopped half way, is simply run again. Each entry is
    booked at the clock's time when its transaction runs, never at the
    run's start: a long run must not book into a period closed meanwhile.
    """
    run, after = Run(), ""
    while True:
        page = read(lambda session: due_members(session, as_of, policy, after=after))
        if not page:
            return
        for member_id in page:
            points = transact(lambda session: expire_member(session, member_id, as_of, policy, now=clock()))
            if points:
                run.members += 1
                run.points += points
        after = page[-1]
        yield run
