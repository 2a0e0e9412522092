"""Every lock on a member's points, and the one order they are taken in.

A movement that touches a member's points locks the member's account rows
first, credits included (a credit that does not lock loses a concurrent
update), and reads the balances under that lock. The order, which every
function here keeps:

1. Member accounts, in account id order, in one statement: one member
   (`lock_member`, `lock_member_by_card`), many members (`lock_members`,
   `lock_member_ids`, a batch of sales or of refunds), or two members at
   once (a merge, a merged member and its survivor: `lock_with_holder`), so
   two movements never hold one member each while waiting for the other's.
   (A batch of more than 1,000 members is locked a page of members at a
   time, each page in account id order.) The members rows are locked by the
   same statement, which reads `merged_into`: a member a merge absorbed
   while this waited is followed to its survivor, locked next (`survivor`),
   and the movement is booked there. That is the one lock taken after
   another out of account id order by design; the absorbed member is closed
   and empty, so only a second merge of it can meet it the other way.
2. Then, under those locks, the rows the movement changes: cards (a merge
   moves them), holds (`FOR UPDATE`, read again after the member lock: a
   concurrent capture or void may have won), a reward's stock (one
   conditional UPDATE), debts, the members row (activity, tier).

Two movements lock out of that order: a referral bonus locks the referrer
after the referred member (network.earning.bonuses), and a sale at a
partner whose funds cover sales waiting for them locks those sales' members
after its own, to release them first (network.earning.unfunded; once it
holds the partner's row a release only tries, `try_lock_member_ids`). Bulk
sales claim their order ids before they lock their members, so a
unique-key race between two imports waits on the other's transaction
rather than on a row lock. A deadlock any of these causes is detected by
PostgreSQL and retried by `Database.transact` (network.db) a bounded number
of times, then answered 503.

The locks are `FOR NO KEY UPDATE`, so inserting postings and lots that
reference the accounts does not wait on them. SQLite ignores `FOR UPDATE`:
there each write transaction opens with BEGIN IMMEDIATE (network.db) and
holds the database's one write lock, so writers already run one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from network.errors import DomainError, Invalid, NotFound
from network.ledger.bulk import any_of
from network.ledger.journal import MemberAccounts
from network.ledger.kinds import CardStatus, OrderKind
from network.models import Account, Card, Member, Order, Referral
from partners.cards import is_valid_card_number
from partners.transactions import Refund

_accounts, _cards, _members, _referrals = Account.__table__, Card.__table__, Member.__table__, Referral.__table__
_PAGE = 1000


def check_number(number: str) -> None:
    """Refuse a card number that cannot be one (a mistyped digit) before any database work."""
    if not is_valid_card_number(number):
        raise Invalid("Invalid card number", {"card_number": ["is not a valid card number"]}, code="invalid_card")


def check_card(number: str, status: str | None) -> None:
    """The error a till can show for an unknown (status None) or blocked card."""
    if status is None:
        raise NotFound("Unknown card", {"card_number": [number]}, code="unknown_card")
    if status != CardStatus.ACTIVE:
        raise Invalid("The card is blocked", {"card_number": [number]}, code="card_blocked")


def _accounts_of(rows) -> MemberAccounts:
    return MemberAccounts(rows[0].member_id, {r.kind: r.id for r in rows}, {r.kind: r.balance for r in rows},
                          rows[0].merged_into, rows[0].last_activity_at)


def _locking(statement, *, nowait: bool = False):
    """A statement over accounts made a lock: on the accounts and on their members' rows, read with `merged_into`.

    The members row is locked too so that a merge which commits while this
    waits is seen: PostgreSQL then re-reads the locked rows at their latest
    version (a row only joined would stay as the statement first saw it).
    Nothing else takes that lock without holding the member's accounts, so
    it never waits on its own, and key-share locks (foreign keys of new
    postings, lots and orders) pass it.
    """
    return (statement.add_columns(_members.c.merged_into, _members.c.last_activity_at)
            .join(_members, _members.c.id == _accounts.c.member_id)
            .with_for_update(of=(_accounts, _members), key_share=True, nowait=nowait))


_LOCK_MEMBER = _locking(
    select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance)
    .where(_accounts.c.member_id == bindparam("member"))
    .order_by(_accounts.c.id)
)


def lock_member(session: Session, member_id: str) -> MemberAccounts:
    """Lock a member's account rows and read their balances: the first step of every movement of its points.

    The member itself, merged or not (`merged_into` says): a merge, a hold's
    capture or a reversal needs that one. A movement that follows a member's
    points wherever they went takes `lock_holder`.
    """
    rows = session.connection().execute(_LOCK_MEMBER, {"member": member_id}).all()
    merged_into, active = (rows[0].merged_into, rows[0].last_activity_at) if rows else (None, None)
    return MemberAccounts(member_id, {r.kind: r.id for r in rows}, {r.kind: r.balance for r in rows}, merged_into,
                          active)


def survivor(session: Session, member: MemberAccounts) -> MemberAccounts:
    """The locked member, or, if a merge absorbed it while this waited for the lock, its survivor, locked.

    The survivor is locked after the absorbed member, out of account id
    order: the absorbed member is closed and holds nothing, so only a merge
    of it again can wait on it the other way, and that deadlock is retried.
    """
    while member.merged_into is not None:
        member = lock_member(session, member.merged_into)
    return member


#: A card's holder and their accounts, read with the card's status (network.members.cards reads it unlocked).
CARD_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id, _cards.c.status)
    .join(_cards, _cards.c.member_id == _accounts.c.member_id)
    .where(_cards.c.number == bindparam("number"))
    .order_by(_accounts.c.id)
)
_LOCK_CARD_ACCOUNTS = _locking(CARD_ACCOUNTS)


def lock_member_by_card(session: Session, number: str) -> MemberAccounts:
    """`lock_member` for the holder of an active card, in one statement; the survivor if a merge won the race."""
    check_number(number)
    rows = session.connection().execute(_LOCK_CARD_ACCOUNTS, {"number": number}).all()
    check_card(number, rows[0].status if rows else None)
    return survivor(session, _accounts_of(rows))


_HOLDERS = (
    select(
        _accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id,
        _cards.c.number, _cards.c.status, _referrals.c.referred_id.label("referral"),
    )
    .join(_cards, _cards.c.member_id == _accounts.c.member_id)
    .outerjoin(_referrals, (_referrals.c.referred_id == _accounts.c.member_id) & _referrals.c.paid_entry_id.is_(None))
    .order_by(_accounts.c.id)
)
_FIND_CARDS = {
    (dialect, lock): _locking(_HOLDERS.where(condition)) if lock else _HOLDERS.where(condition)
    for dialect, condition in any_of(_cards.c.number, "numbers").items()
    for lock in (False, True)
}
_LOCK_MEMBERS, _TRY_LOCK_MEMBERS = ({
    dialect: _locking(select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id)
                      .where(condition).order_by(_accounts.c.id), nowait=nowait)
    for dialect, condition in any_of(_accounts.c.member_id, "members").items()
} for nowait in (False, True))
#: PostgreSQL's answer to a NOWAIT lock another transaction holds.
_LOCK_NOT_AVAILABLE = "55P03"


def find_cards(
    session: Session, numbers: set[str], *, lock: bool = False
) -> tuple[dict[str, MemberAccounts | DomainError], set[str]]:
    """The holders of many cards, locked in the same statement or read without a lock (see `lock_members`).

    Returns each card's holder (one `MemberAccounts` per member, shared by
    all its cards, so balances add up across a batch) or the error a till
    would show for it, and the members who may still be owed a referral.
    Locked, a card whose holder a merge absorbed meanwhile answers with the
    survivor.
    """
    found: dict[str, MemberAccounts | DomainError] = {}
    for number in numbers:
        if not is_valid_card_number(number):
            found[number] = Invalid("Invalid card number", {"card_number": ["is not a valid card number"]}, code="invalid_card")
    wanted = sorted(numbers - found.keys())
    holders_: dict[str, MemberAccounts] = {}
    owed: set[str] = set()
    cards: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), _PAGE):
        statement = _FIND_CARDS[session.get_bind().dialect.name, lock]
        for row in session.connection().execute(statement, {"numbers": wanted[start:start + _PAGE]}).all():
            holder_ = holders_.setdefault(row.member_id, MemberAccounts(row.member_id, {}, {}))
            holder_.ids[row.kind] = row.id
            holder_.balances[row.kind] = row.balance
            holder_.merged_into = row.merged_into if lock else None
            holder_.last_activity_at = row.last_activity_at if lock else None
            cards[row.number] = (row.status, row.member_id)
            if row.referral is not None:
                owed.add(row.member_id)
    owed |= _go_on_to_survivors(session, holders_)
    for number in wanted:
        status, member_id = cards.get(number, (None, None))
        try:
            check_card(number, status)
            found[number] = holders_[member_id]
        except DomainError as exc:
            found[number] = exc
    return found, owed


def _go_on_to_survivors(session: Session, holders_: dict[str, MemberAccounts]) -> set[str]:
    """Replace each holder a merge absorbed under the lock by its survivor (one object per member); their ids.

    The survivors are returned as possibly owed a referral: one promised to
    the survivor is paid on its first sale, whichever card made it
    (network.earning.bonuses looks, and finds none if there is none).
    """
    merged = [member_id for member_id, holder_ in holders_.items() if holder_.merged_into is not None]
    survivors: set[str] = set()
    for member_id in merged:
        survivor_ = survivor(session, holders_[member_id])
        holders_[member_id] = holders_.setdefault(survivor_.member_id, survivor_)
        survivors.add(survivor_.member_id)
    return survivors


def lock_members(session: Session, holders_: list[MemberAccounts]) -> dict[str, MemberAccounts]:
    """Lock many members' accounts in account id order and refresh their balances.

    Bulk sales take these locks after they claim their order ids, just
    before they write, so two imports booking at once hold them only for
    their final statements, and in one order, so they do not deadlock on
    each other. Returns, for each member a merge absorbed while this waited,
    its survivor, locked (the same object as the batch's own holder of it).
    """
    by_member = {holder_.member_id: holder_ for holder_ in holders_}
    for row in _lock(session, by_member):
        by_member[row.member_id].balances[row.kind] = row.balance
        by_member[row.member_id].merged_into = row.merged_into
    absorbed = {member_id for member_id, holder_ in by_member.items() if holder_.merged_into is not None}
    if not absorbed:
        return {}
    _go_on_to_survivors(session, by_member)
    return {member_id: by_member[member_id] for member_id in absorbed}


def lock_member_ids(session: Session, member_ids: Iterable[str]) -> None:
    """Lock many members at once, in the same account id order as `lock_members` (merged or not)."""
    for _ in _lock(session, member_ids):
        pass


def try_lock_member_ids(session: Session, member_ids: Iterable[str]) -> bool:
    """`lock_member_ids` if no other transaction holds any of them now; else False, and this locked none of them.

    What may be locked out of order without waiting, so without a deadlock:
    members a release of a partner's waiting sales finds it needs once it
    holds the partner's row (network.earning.unfunded).
    """
    try:
        with session.begin_nested():  # a refusal aborts the statement only: its savepoint is rolled back
            for _ in _lock(session, member_ids, nowait=True):
                pass
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        return False
    return True


def _lock(session: Session, member_ids: Iterable[str], *, nowait: bool = False) -> Iterator:
    members = sorted(set(member_ids))
    statement = (_TRY_LOCK_MEMBERS if nowait else _LOCK_MEMBERS)[session.get_bind().dialect.name]
    for start in range(0, len(members), _PAGE):
        yield from session.connection().execute(statement, {"members": members[start:start + _PAGE]}).all()


def holder(session: Session, member_id: str) -> str:
    """The member who holds `member_id`'s points now: itself, or the member it was merged into (and so on)."""
    while True:
        merged_into = session.scalar(select(Member.merged_into).where(Member.id == member_id))
        if merged_into is None:
            return member_id
        member_id = merged_into


def holders(session: Session, member_ids: set[str]) -> set[str]:
    """`holder` of many members, in one query when none was merged."""
    merged = {m for m, into in session.execute(select(Member.id, Member.merged_into).where(
        Member.id.in_(member_ids), Member.merged_into.is_not(None))).all()} if member_ids else set()
    return (member_ids - merged) | {holder(session, m) for m in merged}


def lock_with_holder(session: Session, member_id: str) -> tuple[MemberAccounts, str]:
    """Lock a member, and the member it was merged into if it was, in account id order (as a merge does).

    The holder is read again under the locks: a merge that committed while
    this waited for them has moved the points on, and its survivor is
    locked too before anything is read.
    """
    held_by = holder(session, member_id)
    while True:
        lock_member_ids(session, {member_id, held_by})
        now_holding = holder(session, member_id)
        if now_holding == held_by:
            return lock_member(session, member_id), held_by
        held_by = now_holding


def lock_holder(session: Session, member_id: str) -> MemberAccounts:
    """Lock the member who holds `member_id`'s points now (itself, or the survivor of a merge), read under the lock."""
    return survivor(session, lock_member(session, member_id))


def lock_refunded_members(session: Session, partner_id: int, refunds: Sequence[Refund]) -> None:
    """Lock, in account id order and at once, the members whose sales at the partner these refunds name.

    Booked one by one, a batch's refunds would lock members in file order
    while the next chunk's sales lock theirs in id order: a deadlock.
    """
    sold_to = session.scalars(
        select(Order.member_id).where(
            Order.partner_id == partner_id, Order.kind == OrderKind.SALE,
            Order.order_id.in_([refund.original_order_id for refund in refunds]),
        )
    ).all()
    lock_member_ids(session, holders(session, set(sold_to)))
