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
   time, each page in account id order.)
2. Then, under those locks, the rows the movement changes: cards (a merge
   moves them), holds (`FOR UPDATE`, read again after the member lock: a
   concurrent capture or void may have won), a reward's stock (one
   conditional UPDATE), debts, the members row (activity, tier).

One movement locks out of that order: a referral bonus locks the referrer
after the referred member (network.earning.bonuses). Bulk sales claim their
order ids before they lock their members, so a unique-key race between two
imports waits on the other's transaction rather than on a row lock. A
deadlock either causes is detected by PostgreSQL and retried by
`Database.transact` (network.db) a bounded number of times, then answered
503.

The locks are `FOR NO KEY UPDATE`, so inserting postings and lots that
reference the accounts does not wait on them. SQLite ignores `FOR UPDATE`:
there each write transaction opens with BEGIN IMMEDIATE (network.db) and
holds the database's one write lock, so writers already run one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from network.errors import DomainError, Invalid, NotFound
from network.ledger.bulk import any_of
from network.ledger.journal import MemberAccounts
from network.ledger.kinds import CardStatus, OrderKind
from network.models import Account, Card, Member, Order, Referral
from partners.cards import is_valid_card_number
from partners.transactions import Refund

_accounts, _cards, _referrals = Account.__table__, Card.__table__, Referral.__table__
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
    return MemberAccounts(rows[0].member_id, {r.kind: r.id for r in rows}, {r.kind: r.balance for r in rows})


_LOCK_MEMBER = (
    select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance)
    .where(_accounts.c.member_id == bindparam("member"))
    .order_by(_accounts.c.id)
    .with_for_update(key_share=True)
)


def lock_member(session: Session, member_id: str) -> MemberAccounts:
    """Lock a member's account rows and read their balances: the first step of every movement of its points."""
    rows = session.execute(_LOCK_MEMBER, {"member": member_id}).all()
    return MemberAccounts(member_id, {r.kind: r.id for r in rows}, {r.kind: r.balance for r in rows})


#: A card's holder and their accounts, read with the card's status (network.members.cards reads it unlocked).
CARD_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id, _cards.c.status)
    .join(_cards, _cards.c.member_id == _accounts.c.member_id)
    .where(_cards.c.number == bindparam("number"))
    .order_by(_accounts.c.id)
)
_LOCK_CARD_ACCOUNTS = CARD_ACCOUNTS.with_for_update(of=_accounts, key_share=True)


def lock_member_by_card(session: Session, number: str) -> MemberAccounts:
    """`lock_member` for the holder of an active card, in one statement."""
    check_number(number)
    rows = session.connection().execute(_LOCK_CARD_ACCOUNTS, {"number": number}).all()
    check_card(number, rows[0].status if rows else None)
    return _accounts_of(rows)


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
    (dialect, lock): _HOLDERS.where(condition).with_for_update(of=_accounts, key_share=True) if lock else _HOLDERS.where(condition)
    for dialect, condition in any_of(_cards.c.number, "numbers").items()
    for lock in (False, True)
}
_LOCK_MEMBERS = {
    dialect: select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id)
    .where(condition).order_by(_accounts.c.id).with_for_update(key_share=True)
    for dialect, condition in any_of(_accounts.c.member_id, "members").items()
}


def find_cards(
    session: Session, numbers: set[str], *, lock: bool = False
) -> tuple[dict[str, MemberAccounts | DomainError], set[str]]:
    """The holders of many cards, locked in the same statement or read without a lock (see `lock_members`).

    Returns each card's holder (one `MemberAccounts` per member, shared by
    all its cards, so balances add up across a batch) or the error a till
    would show for it, and the members who may still be owed a referral.
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
            cards[row.number] = (row.status, row.member_id)
            if row.referral is not None:
                owed.add(row.member_id)
    for number in wanted:
        status, member_id = cards.get(number, (None, None))
        try:
            check_card(number, status)
            found[number] = holders_[member_id]
        except DomainError as exc:
            found[number] = exc
    return found, owed


def lock_members(session: Session, holders_: list[MemberAccounts]) -> None:
    """Lock many members' accounts in account id order and refresh their balances.

    Bulk sales take these locks last, just before they move the balances,
    so two imports booking at once hold them only for their final
    statements, and in one order, so they do not deadlock on each other.
    """
    by_member = {holder_.member_id: holder_ for holder_ in holders_}
    for row in _lock(session, by_member):
        by_member[row.member_id].balances[row.kind] = row.balance


def lock_member_ids(session: Session, member_ids: Iterable[str]) -> None:
    """Lock many members at once, in the same account id order as `lock_members`."""
    for _ in _lock(session, member_ids):
        pass


def _lock(session: Session, member_ids: Iterable[str]) -> Iterator:
    members = sorted(set(member_ids))
    statement = _LOCK_MEMBERS[session.get_bind().dialect.name]
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
    _, held_by = lock_with_holder(session, member_id)
    return lock_member(session, held_by)


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
