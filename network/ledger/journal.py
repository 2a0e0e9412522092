"""The double-entry core: postings and provenance lots (the locks they are booked under: network.ledger.locks).

These are plain functions over a SQLAlchemy session, with no Flask. The hot
path uses Core statements (one INSERT ... RETURNING per entry, one
executemany per posting batch) rather than the ORM's unit of work: an earn
is a handful of statements and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from network.errors import InsufficientPoints
from network.ledger.kinds import AccountKind
from network.models import Account, JournalEntry, Lot, LotMovement, Posting

#: The account kinds by their short names: every posting names one, and these read best in a leg.
AVAILABLE, PENDING, HELD, OWED = AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD, AccountKind.OWED
ISSUANCE, REDEMPTION = AccountKind.ISSUANCE, AccountKind.REDEMPTION
PROMOTION, BREAKAGE = AccountKind.PROMOTION, AccountKind.BREAKAGE
LOT_PAGE = 200


@dataclass
class MemberAccounts:
    """A member's accounts, read under lock (network.ledger.locks): ids and balances."""

    member_id: str
    ids: dict[str, int]
    balances: dict[str, int]
    #: Read with the lock: the member a merge that committed while the lock was awaited moved everything to.
    merged_into: str | None = None
    #: Read with the lock too: the member's last recorded activity (network.members.cards.touch); None if unread.
    last_activity_at: datetime | None = None

    def balance_view(self) -> dict[str, int]:
        return balance_view(self.balances)

    def active_on(self, now: datetime) -> bool:
        """Whether an activity on `now`'s day (UTC) is recorded already: a second one that day writes nothing.

        Read under the member's lock, it can only have moved later since, so
        a True is safe to act on; a False (or an unlocked read) asks `touch`.
        """
        return self.last_activity_at is not None and self.last_activity_at >= day_of(now)


def day_of(now: datetime) -> datetime:
    """The start of `now`'s day in UTC: activity counts by the day (network.members.cards.touch)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def balance_view(balances: dict[str, int]) -> dict[str, int]:
    """A member's balances as the API shows them: what they owe is netted from what they can spend."""
    return {"available": balances[AVAILABLE] + balances[OWED], "pending": balances[PENDING], "held": balances[HELD]}


def network_account(session: Session, kind: str) -> int:
    """The id of the network's own account of `kind`, made on first use (a new database has none)."""
    found = select(Account.id).where(Account.kind == kind, Account.member_id.is_(None), Account.partner_id.is_(None))
    account = session.scalar(found)
    if account is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(Account).values(kind=kind).on_conflict_do_nothing())
        account = session.scalar(found)
    return account


# Statements built once: an earn runs a handful of them and nothing else.
_entries, _postings, _accounts, _lots, _movements = (
    JournalEntry.__table__, Posting.__table__, Account.__table__, Lot.__table__, LotMovement.__table__
)
_INSERT_ENTRY = insert(_entries).returning(_entries.c.id)
_INSERT_POSTINGS = insert(_postings)
_MOVE_BALANCE = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account"))
    .values(balance=_accounts.c.balance + bindparam("change"))
)
_INSERT_LOT = insert(_lots)
_TAKE_FROM_LOT = update(_lots).where(_lots.c.id == bindparam("lot")).values(remaining=bindparam("left"))
#: A lot's movement, booked at its entry's time and naming its lot's issuer: the statement copies both, so they cannot
#: differ from their originals.
INSERT_MOVEMENTS = insert(_movements).values(
    lot_id=bindparam("lot_id"), entry_id=bindparam("entry_id"), points=bindparam("points"),
    booked_at=select(_entries.c.booked_at).where(_entries.c.id == bindparam("entry_id")).scalar_subquery(),
    issuer_id=select(_lots.c.issuer_id).where(_lots.c.id == bindparam("lot_id")).scalar_subquery(),
)


def post(
    session: Session,
    *,
    kind: str,
    legs: list[tuple[int, int]],
    member: MemberAccounts | None,
    partner_id: int | None,
    reason: str,
    booked_at: datetime,
    occurred_at: datetime | None = None,
    reverses_id: int | None = None,
    order_id: int | None = None,
) -> int:
    """Book one journal entry of (account_id, amount) legs summing to zero.

    Legs on the locked member's accounts also move their running balances,
    in this same transaction.
    """
    legs = [(account, amount) for account, amount in legs if amount]
    if len(legs) < 2 or sum(amount for _, amount in legs):
        raise ValueError(f"unbalanced entry {kind}: {legs}")
    connection = session.connection()
    entry_id = connection.execute(
        _INSERT_ENTRY,
        {
            "kind": kind,
            "partner_id": partner_id,
            "member_id": member.member_id if member else None,
            "reverses_id": reverses_id,
            "order_id": order_id,
            "reason": reason,
            "occurred_at": occurred_at,
            "booked_at": booked_at,
        },
    ).scalar_one()
    connection.execute(_INSERT_POSTINGS, [{"entry_id": entry_id, "account_id": a, "amount": n, "booked_at": booked_at}
                                          for a, n in legs])
    if member is not None:
        kinds = {account_id: kind for kind, account_id in member.ids.items()}
        changes: dict[int, int] = defaultdict(int)
        for account_id, amount in legs:
            if account_id in kinds:
                changes[account_id] += amount
        for account_id, change in changes.items():
            member.balances[kinds[account_id]] += change
        if changes:
            connection.execute(_MOVE_BALANCE, [{"account": a, "change": c} for a, c in changes.items()])
    return entry_id


def add_lot(
    session: Session,
    member: MemberAccounts,
    *,
    issuer_id: int | None,
    entry_id: int,
    points: int,
    earned_at: datetime,
    expires_at: datetime,
) -> None:
    session.connection().execute(
        _INSERT_LOT,
        {
            "member_id": member.member_id,
            "account_id": member.ids[AVAILABLE],
            "issuer_id": issuer_id,
            "entry_id": entry_id,
            "points": points,
            "remaining": points,
            "earned_at": earned_at,
            "available_at": earned_at,
            "expires_at": expires_at,
        },
    )


_LOT_COLUMNS = (_lots.c.id, _lots.c.remaining, _lots.c.issuer_id, _lots.c.expires_at)
# A lot named first must be the member's, on the account being taken from: never another's by a stale id.
_LOT = select(*_LOT_COLUMNS).where(
    _lots.c.id == bindparam("lot"), _lots.c.member_id == bindparam("member"), _lots.c.account_id == bindparam("account"),
    _lots.c.remaining > 0,
)
_OPEN_LOTS = (
    select(*_LOT_COLUMNS)
    .where(_lots.c.member_id == bindparam("member"), _lots.c.account_id == bindparam("account"), _lots.c.remaining > 0)
    .order_by(_lots.c.expires_at, _lots.c.id)
    .limit(LOT_PAGE)
)
_OPEN_LOTS_AFTER = _OPEN_LOTS.where(
    (_lots.c.expires_at > bindparam("after_expiry"))
    | ((_lots.c.expires_at == bindparam("after_expiry")) & (_lots.c.id > bindparam("after_id")))
)


def _open_lots(session: Session, member: MemberAccounts, first_lot_ids: Sequence[int], account: str = AVAILABLE):
    """Yield open lots in consumption order, a page at a time (a member may have thousands)."""
    connection = session.connection()
    params = {"member": member.member_id, "account": member.ids[account]}
    for lot_id in first_lot_ids:
        first = connection.execute(_LOT, {**params, "lot": lot_id}).first()
        if first is not None:
            yield first
    page = connection.execute(_OPEN_LOTS, params).all()
    while True:
        for lot in page:
            if lot.id not in first_lot_ids:
                yield lot
        if len(page) < LOT_PAGE:
            return
        last = page[-1]
        page = connection.execute(_OPEN_LOTS_AFTER, {**params, "after_expiry": last.expires_at, "after_id": last.id}).all()


@dataclass
class Taking:
    """Points to take from lots, worked out before the entry that takes them is posted."""

    moves: list[tuple[int, int, int]]  # (lot id, points taken, points left)
    by_issuer: dict[int | None, int]

    @property
    def points(self) -> int:
        return sum(self.by_issuer.values())


def plan_taking(
    session: Session, member: MemberAccounts, points: int, *, first_lot_ids: Sequence[int] = (), account: str = AVAILABLE
) -> Taking:
    """Which lots on `account` give `points`, oldest expiry first (`first_lot_ids`, in their order, before the others).

    Separate from `take`, so a caller can post its entry by issuer (a
    refund credits the refunding partner differently for its own points and
    for another issuer's). The caller holds the member lock.
    """
    moves: list[tuple[int, int, int]] = []
    by_issuer: dict[int | None, int] = defaultdict(int)
    left = points
    for lot in _open_lots(session, member, first_lot_ids, account):
        if left == 0:
            break
        take = min(left, lot.remaining)
        left -= take
        by_issuer[lot.issuer_id] += take
        moves.append((lot.id, take, lot.remaining - take))
    if left:
        raise InsufficientPoints(
            "The member's lots do not cover the points",
            {"requested": points, "available": points - left},
        )
    return Taking(moves, dict(by_issuer))


def take(session: Session, taking: Taking, entry_id: int) -> None:
    """Write a planned taking: each lot's remaining and its movement, under `entry_id`."""
    if taking.moves:
        connection = session.connection()
        connection.execute(_TAKE_FROM_LOT, [{"lot": lot, "left": left} for lot, _, left in taking.moves])
        connection.execute(INSERT_MOVEMENTS, [{"lot_id": lot, "entry_id": entry_id, "points": -n} for lot, n, _ in taking.moves])


def consume_lots(
    session: Session,
    member: MemberAccounts,
    points: int,
    entry_id: int,
    account: str = AVAILABLE,
) -> dict[int | None, int]:
    """Take `points` from the member's lots on `account`, oldest expiry first; returns points taken per issuer.

    The caller holds the member lock and has checked the balance.
    """
    taking = plan_taking(session, member, points, account=account)
    take(session, taking, entry_id)
    return taking.by_issuer
