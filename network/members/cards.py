"""Members and their cards. A member's accounts exist from enrolment, so there is always a row to lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import any_, bindparam, insert, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from network.errors import DomainError, Gone, Invalid, NotFound
from network.ledger.journal import AVAILABLE, PENDING, MemberAccounts, balance_view
from network.ledger.kinds import MEMBER_ACCOUNTS, CardStatus
from network.lifecycle import pending
from network.members import privacy
from network.members.privacy import MasterKey
from network.models import Account, Card, Member, Referral
from partners.cards import is_valid_card_number, new_card_number


def enrol(
    session: Session, *, email: str | None, name: str | None, enrolled_by: int | None, now: datetime,
    master: MasterKey | None = None,
) -> tuple[str, str]:
    """Returns (member_id, card_number). An e-mail or name is stored only encrypted, so it needs `master`."""
    member_id = uuid.uuid4().hex
    session.execute(insert(Member).values(id=member_id, enrolled_by=enrolled_by, created_at=now))
    if email is not None or name is not None:
        if master is None:
            raise ValueError("an e-mail or name is stored encrypted: pass the master key")
        sealed = privacy.seal(session, master, member_id, email=email, name=name, now=now)
        session.execute(update(Member).where(Member.id == member_id).values(**sealed))
    session.execute(insert(Account), [{"kind": kind, "member_id": member_id, "balance": 0} for kind in MEMBER_ACCOUNTS])
    number = issue_card(session, member_id, now)
    return member_id, number


def issue_card(session: Session, member_id: str, now: datetime) -> str:
    while True:
        number = new_card_number()
        if session.get(Card, number) is None:
            break
    session.execute(insert(Card).values(number=number, member_id=member_id, status=CardStatus.ACTIVE, created_at=now))
    return number


def _checked(number: str, status: str | None) -> None:
    """The error a till can show for an unknown (status None) or blocked card."""
    if status is None:
        raise NotFound("Unknown card", {"card_number": [number]}, code="unknown_card")
    if status != CardStatus.ACTIVE:
        raise Invalid("The card is blocked", {"card_number": [number]}, code="card_blocked")


def _valid(number: str) -> None:
    if not is_valid_card_number(number):
        raise Invalid("Invalid card number", {"card_number": ["is not a valid card number"]}, code="invalid_card")


_accounts, _cards, _referrals = Account.__table__, Card.__table__, Referral.__table__
_CARD = select(_cards.c.member_id, _cards.c.status).where(_cards.c.number == bindparam("number"))
_CARD_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id, _cards.c.status)
    .join(_cards, _cards.c.member_id == _accounts.c.member_id)
    .where(_cards.c.number == bindparam("number"))
    .order_by(_accounts.c.id)
)
_LOCK_CARD_ACCOUNTS = _CARD_ACCOUNTS.with_for_update(of=_accounts, key_share=True)


def member_for_card(session: Session, number: str) -> str:
    """The member holding an active card."""
    _valid(number)
    row = session.connection().execute(_CARD, {"number": number}).first()
    _checked(number, row.status if row else None)
    return row.member_id


def lock_member_by_card(session: Session, number: str) -> MemberAccounts:
    """`ledger.lock_member` for the holder of an active card, in one statement."""
    _valid(number)
    rows = session.connection().execute(_LOCK_CARD_ACCOUNTS, {"number": number}).all()
    _checked(number, rows[0].status if rows else None)
    return MemberAccounts(rows[0].member_id, {r.kind: r.id for r in rows}, {r.kind: r.balance for r in rows})


_HOLDERS = (
    select(
        _accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id,
        _cards.c.number, _cards.c.status, _referrals.c.referred_id.label("referral"),
    )
    .join(_cards, _cards.c.member_id == _accounts.c.member_id)
    .outerjoin(_referrals, (_referrals.c.referred_id == _accounts.c.member_id) & _referrals.c.paid_entry_id.is_(None))
    .order_by(_accounts.c.id)
)


def _any(column, name: str) -> dict:
    """`column IN (...)` by dialect: one array on PostgreSQL (a statement of fixed length, parsed once), a list on SQLite."""
    return {
        "postgresql": column == any_(bindparam(name, type_=postgresql.ARRAY(column.type))),
        "sqlite": column.in_(bindparam(name, expanding=True)),
    }


_FIND_CARDS = {
    (dialect, lock): _HOLDERS.where(condition).with_for_update(of=_accounts, key_share=True) if lock else _HOLDERS.where(condition)
    for dialect, condition in _any(_cards.c.number, "numbers").items()
    for lock in (False, True)
}
_LOCK_MEMBERS = {
    dialect: select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance, _accounts.c.member_id)
    .where(condition).order_by(_accounts.c.id).with_for_update(key_share=True)
    for dialect, condition in _any(_accounts.c.member_id, "members").items()
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
    holders: dict[str, MemberAccounts] = {}
    owed: set[str] = set()
    cards: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), 1000):
        statement = _FIND_CARDS[session.get_bind().dialect.name, lock]
        for row in session.connection().execute(statement, {"numbers": wanted[start:start + 1000]}).all():
            holder = holders.setdefault(row.member_id, MemberAccounts(row.member_id, {}, {}))
            holder.ids[row.kind] = row.id
            holder.balances[row.kind] = row.balance
            cards[row.number] = (row.status, row.member_id)
            if row.referral is not None:
                owed.add(row.member_id)
    for number in wanted:
        status, member_id = cards.get(number, (None, None))
        try:
            _checked(number, status)
            found[number] = holders[member_id]
        except DomainError as exc:
            found[number] = exc
    return found, owed


def lock_members(session: Session, holders: list[MemberAccounts]) -> None:
    """Lock many members' accounts in account id order and refresh their balances.

    Bulk sales take these locks last, just before they move the balances,
    so two imports booking at once hold them only for their final
    statements, and in one order, so they do not deadlock on each other.
    """
    by_member = {holder.member_id: holder for holder in holders}
    for row in _lock(session, by_member):
        by_member[row.member_id].balances[row.kind] = row.balance


def lock_member_ids(session: Session, member_ids: Iterable[str]) -> None:
    """Lock many members at once, in the same account id order as `lock_members`."""
    for _ in _lock(session, member_ids):
        pass


def _lock(session: Session, member_ids: Iterable[str]):
    members = sorted(set(member_ids))
    statement = _LOCK_MEMBERS[session.get_bind().dialect.name]
    for start in range(0, len(members), 1000):
        yield from session.connection().execute(statement, {"members": members[start:start + 1000]}).all()


def touch(session: Session, member_ids: Iterable[str], now: datetime) -> None:
    """Record an earn or a redemption: under `activity_extends` expiry it keeps all the member's points alive.

    Activity counts by the day (UTC), as programmes state it ("24 months
    after your last activity"): the first earn or redemption of a day is
    recorded, later ones that day write nothing. A member's coffee and fuel
    on one day, or their rows in each chunk of one end-of-day file, cost one
    write of the members row, not one each.
    """
    ids = sorted(set(member_ids))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for start in range(0, len(ids), 1000):
        session.execute(_TOUCH[session.get_bind().dialect.name],
                        {"members": ids[start:start + 1000], "now": now, "day": day})


_members = Member.__table__
_TOUCH = {
    dialect: update(_members)
    .where(condition, or_(_members.c.last_activity_at.is_(None), _members.c.last_activity_at < bindparam("day")))
    .values(last_activity_at=bindparam("now"))
    for dialect, condition in _any(_members.c.id, "members").items()
}


def get_member(session: Session, member_id: str, *, merged: bool = False, deleted: bool = False) -> Member:
    """The member; a merged or deleted one only when the caller says it can handle it (410 otherwise)."""
    member = session.get(Member, member_id) if len(member_id) <= 32 else None
    if member is None:
        raise NotFound("Unknown member", {"member_id": [member_id]}, code="unknown_member")
    if member.deleted_at is not None and not deleted:
        raise Gone("The member was deleted at their request", {"member_id": [member_id]}, code="member_deleted")
    if member.merged_into is not None and not merged:
        raise Gone("The member was merged into another", {"member_id": [member_id], "merged_into": member.merged_into},
                   code="member_merged")
    return member


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


def block_card(session: Session, number: str, *, reason: str | None, now: datetime) -> Card:
    """Block a card (lost, stolen, replaced): tills refuse it from now on; the member's points are untouched.

    Blocking a blocked card changes nothing and answers as the first time did.
    """
    _valid(number)
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        _checked(number, None)
    if card.status == CardStatus.ACTIVE:
        card.status, card.blocked_at, card.block_reason = CardStatus.BLOCKED, now, reason
        session.flush()
    return card


def issue_replacement(session: Session, member_id: str, *, replaces: str | None, now: datetime) -> dict:
    """Issue the member another card; with `replaces`, block that one in the same transaction."""
    get_member(session, member_id)
    if replaces is not None:
        _valid(replaces)
        old = session.get(Card, replaces)
        if old is None or old.member_id != member_id:
            raise Invalid("The card to replace is not this member's", {"replaces": [replaces]}, code="card_mismatch")
    number = issue_card(session, member_id, now)
    if replaces is not None:
        block_card(session, replaces, reason=f"replaced by {number}", now=now)
    return {"member_id": member_id, "card_number": number, "replaces": replaces,
            "cards": card_view(cards_of(session, member_id))}


def card_view(cards: list[Card]) -> list[dict]:
    return [{"number": c.number, "status": c.status, "created_at": c.created_at, "blocked_at": c.blocked_at,
             "block_reason": c.block_reason} for c in cards]


def cards_of(session: Session, member_id: str) -> list[Card]:
    return list(session.scalars(select(Card).where(Card.member_id == member_id).order_by(Card.created_at, Card.number)))


def balances(session: Session, member_id: str, now: datetime) -> dict[str, int]:
    """A member's balances, read from the running balance columns (O(1) in postings)."""
    return _as_of(session, member_id, session.connection().execute(_BALANCES, {"member": member_id}).all(), now)


def card_balances(session: Session, number: str, now: datetime) -> tuple[str, dict[str, int]]:
    """What a till shows: the holder of an active card and their balances, in one statement (two with pending points)."""
    _valid(number)
    rows = session.connection().execute(_CARD_ACCOUNTS, {"number": number}).all()
    _checked(number, rows[0].status if rows else None)
    return rows[0].member_id, _as_of(session, rows[0].member_id, rows, now)


def _as_of(session: Session, member_id: str, rows, now: datetime) -> dict[str, int]:
    """The balances as they stand at `now`: pending points past their window count as available already."""
    kinds = {row.kind: row.balance for row in rows}
    if kinds[PENDING] > 0:
        due = pending.due_points(session, member_id, next(row.id for row in rows if row.kind == PENDING), now)
        kinds[PENDING] -= due
        kinds[AVAILABLE] += due
    return balance_view(kinds)


_BALANCES = select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance).where(_accounts.c.member_id == bindparam("member"))
