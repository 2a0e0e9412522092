"""Members and their cards. A member's accounts exist from enrolment, so there is always a row to lock.

The locks on those rows are network.ledger.locks's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from network.errors import Gone, Invalid, NotFound
from network.ledger.bulk import any_of
from network.ledger.journal import AVAILABLE, PENDING, MemberAccounts, balance_view, day_of
from network.ledger.kinds import MEMBER_ACCOUNTS, CardStatus
from network.ledger.locks import CARD_ACCOUNTS, check_card, check_number
from network.lifecycle import pending
from network.members import privacy
from network.members.privacy import MasterKey
from network.models import Account, Card, Member
from partners.cards import new_card_number


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


_accounts, _members = Account.__table__, Member.__table__
_CARD = select(Card.__table__.c.member_id, Card.__table__.c.status).where(Card.__table__.c.number == bindparam("number"))


def member_for_card(session: Session, number: str) -> str:
    """The member holding an active card."""
    check_number(number)
    row = session.connection().execute(_CARD, {"number": number}).first()
    check_card(number, row.status if row else None)
    return row.member_id


def touch(session: Session, members: Iterable[MemberAccounts], now: datetime) -> None:
    """Record an earn or a redemption: under `activity_extends` expiry it keeps all the member's points alive.

    Activity counts by the day (UTC), as programmes state it ("24 months
    after your last activity"): the first earn or redemption of a day is
    recorded, later ones that day write nothing. A member's coffee and fuel
    on one day, or their rows in each chunk of one end-of-day file, cost one
    write of the members row, not one each; a member read under its lock
    with that day's activity on record costs no statement at all.
    """
    stale = [member for member in members if not member.active_on(now)]
    ids = sorted({member.member_id for member in stale})
    day = day_of(now)
    for start in range(0, len(ids), 1000):
        session.execute(_TOUCH[session.get_bind().dialect.name],
                        {"members": ids[start:start + 1000], "now": now, "day": day})
    for member in stale:  # on record for the day now, whichever of the two wrote it
        member.last_activity_at = now if member.last_activity_at is None else max(member.last_activity_at, now)


_TOUCH = {
    dialect: update(_members)
    .where(condition, or_(_members.c.last_activity_at.is_(None), _members.c.last_activity_at < bindparam("day")))
    .values(last_activity_at=bindparam("now"))
    for dialect, condition in any_of(_members.c.id, "members").items()
}


def get_member(session: Session, member_id: str, *, merged: bool = False, deleted: bool = False,
               enrolled_by: int | None = None) -> Member:
    """The member; a merged or deleted one only when the caller says it can handle it (410 otherwise).

    With `enrolled_by`, a member some other partner enrolled is unknown (404, before any 410), so a partner
    learns nothing of the members it does not own, not even whether they were merged or deleted.
    """
    member = session.get(Member, member_id) if len(member_id) <= 32 else None
    if member is None or (enrolled_by is not None and member.enrolled_by != enrolled_by):
        raise NotFound("Unknown member", {"member_id": [member_id]}, code="unknown_member")
    if member.deleted_at is not None and not deleted:
        raise Gone("The member was deleted at their request", {"member_id": [member_id]}, code="member_deleted")
    if member.merged_into is not None and not merged:
        raise Gone("The member was merged into another", {"member_id": [member_id], "merged_into": member.merged_into},
                   code="member_merged")
    return member


def block_card(session: Session, number: str, *, reason: str | None, now: datetime) -> Card:
    """Block a card (lost, stolen, replaced): tills refuse it from now on; the member's points are untouched.

    Blocking a blocked card changes nothing and answers as the first time did.
    """
    check_number(number)
    card = session.get(Card, number, with_for_update=True)
    if card is None:
        check_card(number, None)
    if card.status == CardStatus.ACTIVE:
        card.status, card.blocked_at, card.block_reason = CardStatus.BLOCKED, now, reason
        session.flush()
    return card


def issue_replacement(session: Session, member_id: str, *, replaces: str | None, now: datetime,
                      partner_id: int | None = None) -> dict:
    """Issue the member another card; with `replaces`, block that one in the same transaction.

    `partner_id` is the calling partner (None: the operator). A new card spends the member's points, so only
    the operator or the partner that enrolled the member may issue one; to any other the member is unknown.
    A partner's answer masks every card number but the one it was just given.
    """
    get_member(session, member_id, enrolled_by=partner_id)
    if replaces is not None:
        check_number(replaces)
        old = session.get(Card, replaces)
        if old is None or old.member_id != member_id:
            raise Invalid("The card to replace is not this member's", {"replaces": [replaces]}, code="card_mismatch")
    number = issue_card(session, member_id, now)
    if replaces is not None:
        block_card(session, replaces, reason=f"replaced by {number}", now=now)
    return {"member_id": member_id, "card_number": number, "replaces": replaces,
            "cards": card_view(cards_of(session, member_id), masked=partner_id is not None)}


def card_view(cards: list[Card], *, masked: bool = False) -> list[dict]:
    """Cards as answered; `masked` (a partner's view) shows only the last four digits of any card number,
    in the reason too ("replaced by ************2418"): a full number is what spends points at a till."""
    return [{"number": mask(c.number) if masked else c.number, "status": c.status, "created_at": c.created_at,
             "blocked_at": c.blocked_at,
             "block_reason": mask_numbers(c.block_reason) if masked and c.block_reason else c.block_reason}
            for c in cards]


def mask(number: str) -> str:
    """A card number as a partner may see it: the last four digits."""
    return "*" * (len(number) - 4) + number[-4:]


#: A run of twelve or more digits in free text could be a card number (the hub's are sixteen): masked for partners.
_DIGITS = re.compile(r"(?<!\d)\d{12,}(?!\d)")


def mask_numbers(text: str) -> str:
    """Free text (a block reason) with every card-like number in it masked to its last four digits."""
    return _DIGITS.sub(lambda found: mask(found.group()), text)


def cards_of(session: Session, member_id: str) -> list[Card]:
    return list(session.scalars(select(Card).where(Card.member_id == member_id).order_by(Card.created_at, Card.number)))


def balances(session: Session, member_id: str, now: datetime) -> dict[str, int]:
    """A member's balances, read from the running balance columns (O(1) in postings)."""
    return _as_of(session, member_id, session.connection().execute(_BALANCES, {"member": member_id}).all(), now)


@dataclass(frozen=True)
class Holder:
    """An active card's holder as one statement read it: what a till shows, and what the next expiry is worked out from."""

    member_id: str
    balances: dict[str, int]
    #: (account id, balance as booked) of the available and pending accounts.
    open_accounts: list[tuple[int, int]]
    last_active: datetime


def card_holder(session: Session, number: str, now: datetime) -> Holder:
    """The holder of an active card, their balances and last activity, in one statement (two with pending points)."""
    check_number(number)
    rows = session.connection().execute(_CARD_HOLDER, {"number": number}).all()
    check_card(number, rows[0].status if rows else None)
    member_id = rows[0].member_id
    return Holder(member_id, _as_of(session, member_id, rows, now),
                  [(row.id, row.balance) for row in rows if row.kind in (AVAILABLE, PENDING)], rows[0].last_active)


def card_balances(session: Session, number: str, now: datetime) -> tuple[str, dict[str, int]]:
    """What a till shows: the holder of an active card and their balances, in one statement (two with pending points)."""
    check_number(number)
    rows = session.connection().execute(CARD_ACCOUNTS, {"number": number}).all()
    check_card(number, rows[0].status if rows else None)
    return rows[0].member_id, _as_of(session, rows[0].member_id, rows, now)


def _as_of(session: Session, member_id: str, rows, now: datetime) -> dict[str, int]:
    """The balances as they stand at `now`: pending points past their window count as available already."""
    kinds = {row.kind: row.balance for row in rows}
    if kinds[PENDING] > 0:
        due = pending.due_points(session, member_id, next(row.id for row in rows if row.kind == PENDING), now)
        kinds[PENDING] -= due
        kinds[AVAILABLE] += due
    return balance_view(kinds)


_CARD_HOLDER = (
    CARD_ACCOUNTS.add_columns(func.coalesce(_members.c.last_activity_at, _members.c.created_at).label("last_active"))
    .join(_members, _members.c.id == _accounts.c.member_id)
)
_BALANCES = select(_accounts.c.id, _accounts.c.kind, _accounts.c.balance).where(_accounts.c.member_id == bindparam("member"))
