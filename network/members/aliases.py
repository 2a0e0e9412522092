"""A partner's own loyalty numbers for hub cards: set, read, removed, and resolved when its till sends one.

A retailer's till already prints its own number and its shop already
stores one; the partner tells the hub once which hub card each stands for,
and sends what it always sent. An alias is the partner's alone: another
partner's never resolves. Resolution is the fallback of a card lookup,
never its first step: a sale that names a hub card costs no query here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from network.csv_header import read_header
from network.errors import DomainError, Invalid, NotFound
from network.ledger import locks
from network.ledger.journal import MemberAccounts
from network.models import Card, CardAlias, Partner
from partners.cards import MAX_ALIAS, is_valid_card_number
from partners.payloads import csv_records


def checked(alias: str) -> str:
    """An alias as stored: 1 to 128 printable characters, no space around it (422 naming `alias` otherwise)."""
    if not isinstance(alias, str) or not 0 < len(alias) <= MAX_ALIAS or alias != alias.strip() or not alias.isprintable():
        raise Invalid(f"An alias is 1 to {MAX_ALIAS} printable characters, without spaces around it",
                      {"alias": [str(alias)[:MAX_ALIAS]]}, code="invalid_alias")
    return alias


def _view(alias: str, card_number: str, created_at: datetime) -> dict:
    return {"alias": alias, "card_number": card_number, "created_at": created_at}


def put(session: Session, partner_id: int, alias: str, card_number: str, *, now: datetime) -> dict:
    """The alias made, or pointed at another card: `created` says which. The card must be the hub's (404 otherwise)."""
    alias = checked(alias)
    if not is_valid_card_number(card_number) or session.get(Card, card_number) is None:
        raise NotFound(f"No card {card_number}", {"card_number": [card_number]}, code="unknown_card")
    before = session.execute(select(CardAlias.card_number).where(
        CardAlias.partner_id == partner_id, CardAlias.alias == alias)).scalar_one_or_none()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(CardAlias).values(partner_id=partner_id, alias=alias, card_number=card_number, created_at=now)
    session.execute(statement.on_conflict_do_update(index_elements=["partner_id", "alias"],
                                                    set_={"card_number": card_number, "created_at": now}))
    return {**_view(alias, card_number, now), "created": before is None, "replaced": before}


def get(session: Session, partner_id: int, alias: str) -> dict:
    row = session.execute(select(CardAlias.alias, CardAlias.card_number, CardAlias.created_at).where(
        CardAlias.partner_id == partner_id, CardAlias.alias == alias)).first()
    if row is None:
        raise NotFound("No such alias among this partner's", {"alias": [alias[:MAX_ALIAS]]}, code="unknown_alias")
    return _view(*row)


def remove(session: Session, partner_id: int, alias: str) -> dict:
    """The alias gone (404 if there was none): its card keeps its points; the till's number stops resolving."""
    found = get(session, partner_id, alias)
    session.execute(delete(CardAlias).where(CardAlias.partner_id == partner_id, CardAlias.alias == alias))
    return found


def resolve(session: Session, partner_id: int, references: Iterable[str]) -> dict[str, str]:
    """The hub card each of these references is an alias of, for this partner; references it has none for are left out."""
    wanted = sorted({reference for reference in references if 0 < len(reference) <= MAX_ALIAS})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 1000):
        found.update(session.execute(select(CardAlias.alias, CardAlias.card_number).where(
            CardAlias.partner_id == partner_id, CardAlias.alias.in_(wanted[start:start + 1000]))).all())
    return found


def of_member(session: Session, member_id: str) -> list[dict]:
    """A member's aliases at every partner, for their wallet and the support desk: partner's name, alias, card."""
    rows = session.execute(
        select(Partner.name, CardAlias.alias, CardAlias.card_number)
        .join(Card, Card.number == CardAlias.card_number).join(Partner, Partner.id == CardAlias.partner_id)
        .where(Card.member_id == member_id).order_by(Partner.name, CardAlias.alias)).all()
    return [{"partner": name, "alias": alias, "card_number": number} for name, alias, number in rows]


#: The columns of an alias file, in any order; more columns are ignored.
COLUMNS = ("alias", "card_number")
#: How many rejected rows an import lists (it counts them all).
LISTED = 1000
_CHUNK = 1000


def read_file(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str] | dict[str, list[str]]]]:
    """Stream an alias file: (row number, {"alias", "card_number"}) or (row number, {field: [errors]}).

    A header `alias,card_number` first (any order, any case); a blank line
    is passed over; a malformed row or a control character is that row's
    error. Raises `BadRequest` (`bad_header`) for a file without its header.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        records = csv_records(csv.reader(text))
        at = read_header(records, COLUMNS)
        for number, record in enumerate(records, start=1):
            if isinstance(record, csv.Error):
                yield number, {"_row": [f"is not CSV: {record}"]}
            elif any(cell.strip() for cell in record):
                cells = {name: (record[index].strip() if index < len(record) else "") for name, index in at.items()}
                yield number, cells
    finally:
        text.detach()  # the caller's stream is the caller's to close


def import_rows(session: Session, partner_id: int, rows: Iterable[tuple[int, dict]], *, now: datetime) -> dict:
    """Every good row made (or re-pointed) in this transaction, a chunk at a time; every bad one listed with why.

    Sent again, a file changes nothing: each row sets what it set before.
    """
    accepted, rejected, total = 0, [], 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(CardAlias)
    upsert = upsert.on_conflict_do_update(index_elements=["partner_id", "alias"],
                                          set_={"card_number": upsert.excluded.card_number})
    for chunk in _chunks(rows, _CHUNK):
        candidates = []
        for number, cells in chunk:
            errors = cells if any(isinstance(value, list) for value in cells.values()) else _row_errors(cells)
            if errors:
                total += 1
                if len(rejected) < LISTED:
                    rejected.append({"row": number, "errors": errors})
            else:
                candidates.append((number, cells))
        known = set(session.scalars(select(Card.number).where(Card.number.in_({c["card_number"] for _, c in candidates}))))
        good = {}
        for number, cells in candidates:
            if cells["card_number"] not in known:
                total += 1
                if len(rejected) < LISTED:
                    rejected.append({"row": number, "errors": {"card_number": ["is no card of the hub's"]}})
            else:
                good[cells["alias"]] = cells["card_number"]  # a file naming an alias twice: its last row holds
        if good:
            session.execute(upsert, [{"partner_id": partner_id, "alias": alias, "card_number": number, "created_at": now}
                                     for alias, number in good.items()])
            accepted += len(good)
    return {"accepted": accepted, "rejected_total": total, "rejected": sorted(rejected, key=lambda row: row["row"])}


def _row_errors(cells: dict[str, str]) -> dict[str, list[str]]:
    errors = {}
    alias, number = cells["alias"], cells["card_number"]
    if not alias or len(alias) > MAX_ALIAS or not alias.isprintable():
        errors["alias"] = [f"must be 1 to {MAX_ALIAS} printable characters"]
    if not is_valid_card_number(number):
        errors["card_number"] = ["is not a card number (16 digits with a Luhn check digit)"]
    return errors


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


#: What a card lookup answers for a reference that may be one of the partner's aliases instead.
NOT_A_CARD = ("unknown_card", "invalid_card")


def holders(session: Session, partner_id: int, references: set[str], *,
            lock: bool = False) -> tuple[dict[str, MemberAccounts | DomainError], set[str]]:
    """Each reference's holder: a hub card's, else the card's this partner's alias stands for (`locks.find_cards`).

    Only references a card lookup refused cost a query, so a sale naming a hub card pays nothing. A member
    reached by an alias and by a card in the same batch keeps one `MemberAccounts`, so balances add up.
    Returns the members still owed a referral too, as `find_cards` does.
    """
    found, owed = locks.find_cards(session, references, lock=lock)
    missing = {reference for reference, holder in found.items()
               if isinstance(holder, DomainError) and holder.code in NOT_A_CARD}
    resolved = resolve(session, partner_id, missing) if missing else {}
    if not resolved:
        return found, owed
    by_alias, owed_too = locks.find_cards(session, set(resolved.values()), lock=lock)
    known = {holder.member_id: holder for holder in found.values() if not isinstance(holder, DomainError)}
    for reference, number in resolved.items():
        holder = by_alias[number]
        found[reference] = holder if isinstance(holder, DomainError) else known.setdefault(holder.member_id, holder)
    return found, owed | owed_too
