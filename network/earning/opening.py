"""Opening balances: what a partner's members already held in its own programme, booked once when it joins.

The partner funds them as their issuer, exactly as it funds a sale's
points: each row debits its issuance account, credits the member's
available account and opens a lot issued by it, so settlement counts the
points as its issuance and its liability from the period they are booked
in. A lot keeps the date the points were earned in the old programme and
expires the network's points lifetime after it, so bringing points across
never makes them live longer; a row whose points would have expired
already is refused.

Each row is claimed by its key as an order (`OrderKind.OPENING`, default
the card reference as written: one opening balance per card per partner),
so a file sent again books nothing twice. A file is booked a chunk per
transaction, as the sales import is: a bad row costs only itself, and
memory stays flat however many members the programme had. No rules price
these points and no tier, referral, nudge or webhook follows them: they
were earned before, elsewhere. What a member owes (a claw-back's debt) is
repaid from them at the member's next movement, as after a sale.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import IO, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from network.csv_header import read_header
from network.db import Database, Retry
from network.earning.intake import BatchOutcome
from network.earning.terms import Terms
from network.errors import DomainError, Invalid, NotFound
from network.ledger import bulk, locks, orders
from network.ledger.journal import AVAILABLE, ISSUANCE, MemberAccounts
from network.ledger.kinds import EntryKind, OrderKind
from network.lifecycle import hold_release
from network.members import aliases
from network.models import JournalEntry, Lot, Order, Posting
from network.parties.registry import PartnerRef
from partners.cards import REFERENCE_ERROR, is_card_reference
from partners.payloads import ControlCharacter, csv_records

#: The columns of an opening balances file, in any order and any case; more columns are ignored.
COLUMNS = ("card", "points", "earned_at", "key")
REQUIRED = ("card", "points")
#: The most points one row may open: far above any programme's member, far below a sum of rows that could overflow
#: a balance (a member named by a million rows still fits in 64 bits).
MAX_POINTS = 10**9
#: A row's key is kept as its order id, so it is as long as the ledger keeps those.
MAX_KEY = Order.__table__.c.order_id.type.length
#: Rows per database transaction, as the sales import books them.
CHUNK_ROWS = 4000
#: The key of a row's errors for the row as a whole (its bytes, its CSV).
WHOLE_ROW = "_row"
#: A row whose key this partner already booked (or that appears twice in one file).
DUPLICATE = "duplicate"

_entries, _postings, _lots = JournalEntry.__table__, Posting.__table__, Lot.__table__


class Opening(NamedTuple):
    """A row read: `earned_at` None means the import's own time."""

    number: int
    card: str
    points: int
    earned_at: datetime | None
    key: str


class Unread(NamedTuple):
    """A row that could not be read, with its errors by column."""

    number: int
    errors: dict[str, list[str]]


class Misdated(NamedTuple):
    """A row read but dated where the hub books no points: ahead of its clock, or so old they would have expired."""

    message: str
    errors: dict[str, list[str]]


# ---------------------------------------------------------------- reading


def read_file(stream: IO[bytes], zone: str) -> Iterator[Opening | Unread]:
    """Stream a file of opening balances: one `Opening` or `Unread` per data row (1 is the first after the header).

    UTF-8 with or without a byte order mark. A blank line is passed over;
    a date or time without an offset is the partner's local time (`zone`).
    Raises `BadRequest` (`bad_header`) for a file without its header.
    """
    local = _zone(zone)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        records = csv_records(csv.reader(text))
        at = read_header(records, REQUIRED, tuple(c for c in COLUMNS if c not in REQUIRED))
        for number, record in enumerate(records, start=1):
            if isinstance(record, ControlCharacter):
                name = next((name for name, index in at.items() if index == record.column), WHOLE_ROW)
                yield Unread(number, {name: ["contains a control character"]})
            elif isinstance(record, csv.Error):
                yield Unread(number, {WHOLE_ROW: [f"is not CSV: {record}"]})
            elif any(cell.strip() for cell in record):
                yield _row(number, {name: (record[index].strip() if index < len(record) else "")
                                    for name, index in at.items()}, local)
    finally:
        text.detach()  # the caller's stream is the caller's to close


def _zone(name: str) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _row(number: int, cells: dict[str, str], zone: ZoneInfo | timezone) -> Opening | Unread:
    try:
        "".join(cells.values()).encode("utf-8")
    except UnicodeEncodeError:
        return Unread(number, {WHOLE_ROW: ["is not UTF-8 text"]})
    errors: dict[str, list[str]] = {}
    card, key = cells["card"], cells.get("key", "") or cells["card"]
    if not is_card_reference(card):
        errors["card"] = [REFERENCE_ERROR]
    points = _points(cells["points"], errors)
    earned_at = _moment(cells.get("earned_at", ""), zone, errors)
    if len(key) > MAX_KEY:
        errors["key"] = [f"must be at most {MAX_KEY} characters" if cells.get("key") else
                         f"is required when the card reference is longer than {MAX_KEY} characters"]
    return Unread(number, errors) if errors else Opening(number, card, points, earned_at, key)


def _points(text: str, errors: dict) -> int:
    """A whole number of points, written in digits: never a decimal, a sign or an exponent."""
    if text.startswith("-") and text[1:].isdecimal() and text[1:].isascii():
        errors["points"] = ["must be greater than zero"]
    elif not (text.isdecimal() and text.isascii()):
        errors["points"] = ["must be a whole number of points, in digits" if text else "is required"]
    elif len(text) > 12 or int(text) > MAX_POINTS:
        errors["points"] = [f"must be at most {MAX_POINTS}"]
    elif int(text) == 0:
        errors["points"] = ["must be greater than zero"]
    else:
        return int(text)
    return 0


def _moment(text: str, zone: ZoneInfo | timezone, errors: dict) -> datetime | None:
    """An ISO 8601 date (its midnight) or date and time, local to the partner without an offset; in UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        errors["earned_at"] = [f"{text[:40]!r} is not an ISO 8601 date or time, such as 2025-06-01 or "
                               "2025-06-01T09:30:00+02:00"]
        return None


# ---------------------------------------------------------------- booking


def import_rows(
    db: Database,
    partner: PartnerRef,
    rows: Iterable[Opening | Unread],
    *,
    clock: Callable[[], datetime],
    terms: Terms,
    audit: Callable[[Session, dict], None] | None = None,
) -> BatchOutcome:
    """Book a stream of rows, a chunk per transaction; `audit` writes a chunk's event in its transaction.

    A chunk that books nothing (a file sent again) writes no event.
    """
    outcome = BatchOutcome()
    iterator = iter(rows)
    while chunk := list(islice(iterator, CHUNK_ROWS)):
        readable = [row for row in chunk if isinstance(row, Opening)]

        def work(session: Session, readable: list[Opening] = readable) -> list:
            booked = book(session, partner, readable, now=clock(), lifetime=terms.lifetime)
            written = [result for _, result in booked if isinstance(result, dict)]
            if written and audit is not None:
                audit(session, {"rows": len(readable), "booked": len(written),
                                "points": sum(result["points"] for result in written)})
            return booked

        unread = [(row, None) for row in chunk if isinstance(row, Unread)]
        for row, result in sorted(unread + (db.transact(work) if readable else []), key=lambda done: done[0].number):
            if isinstance(row, Unread):
                outcome.reject(row.number, "invalid_row", "The row is invalid", row.errors)
            elif result == DUPLICATE:
                outcome.duplicates += 1
            elif isinstance(result, Misdated):
                outcome.reject(row.number, "invalid_row", result.message, result.errors)
            elif isinstance(result, DomainError):
                outcome.refuse(row.number, result)
            else:
                outcome.accepted += 1
    return outcome


class _Claim(NamedTuple):
    row: Opening
    earned_at: datetime
    holder: MemberAccounts


def book(session: Session, partner: PartnerRef, rows: list[Opening], *, now: datetime,
         lifetime: timedelta) -> list[tuple[Opening, dict | DomainError | Misdated | str]]:
    """Book many rows of one partner: each row with its booking (a dict), its refusal, or `DUPLICATE`.

    Every refusal is decided before anything is written. As for a batch of
    sales, the keys are claimed and the rows written before the members are
    locked (in account id order), so the locks are held only for the final
    statement; a member a merge absorbed meanwhile has the chunk run again.
    """
    outcomes: dict[int, dict | DomainError | Misdated | str] = {}
    dated = []
    for row in rows:
        earned_at = row.earned_at or now
        if refusal := _misdated(earned_at, now=now, lifetime=lifetime):
            outcomes[row.number] = refusal
        else:
            dated.append((row, earned_at))
    holders, _ = aliases.holders(session, partner.id, {row.card for row, _ in dated})
    claims, seen = [], set()
    for row, earned_at in dated:
        holder = holders[row.card]
        if isinstance(holder, DomainError):
            outcomes[row.number] = _card_refusal(holder, row.card)
        elif row.key in seen:
            outcomes[row.number] = DUPLICATE
        else:
            seen.add(row.key)
            claims.append(_Claim(row, earned_at, holder))
    claimed = orders.claim_many(session, partner_id=partner.id, kind=OrderKind.OPENING, same={"booked_at": now}, rows=[
        {"order_id": c.row.key, "member_id": c.holder.member_id, "points": c.row.points, "occurred_at": c.earned_at}
        for c in claims])
    booked = [(claim, claimed[claim.row.key]) for claim in claims if claim.row.key in claimed]
    outcomes |= {claim.row.number: DUPLICATE for claim in claims if claim.row.key not in claimed}
    if booked:
        entries = _write(session, partner, booked, now=now, lifetime=lifetime)
        members = list({id(claim.holder): claim.holder for claim, _ in booked}.values())
        if locks.lock_members(session, members):
            raise Retry("A member of the opening balances was merged while it waited for the lock")
        for member in members:  # an expired hold ends before the write, as for every movement of the member
            hold_release.release_expired(session, member, now)
        _credit(session, [claim for claim, _ in booked])
        for claim, order in booked:
            outcomes[claim.row.number] = {"journal_id": entries[order], "points": claim.row.points,
                                          "member_id": claim.holder.member_id}
    return [(row, outcomes[row.number]) for row in rows]


def _misdated(earned_at: datetime, *, now: datetime, lifetime: timedelta) -> Misdated | None:
    if earned_at > now:
        return Misdated("The points are dated after the hub's clock",
                        {"earned_at": [f"must be at most {now.isoformat()}, the hub's time"]})
    if earned_at + lifetime <= now:
        return Misdated("The points would have expired already",
                        {"earned_at": [f"its points would have expired on {(earned_at + lifetime).isoformat()}: "
                                       f"points live {lifetime.days} days"]})
    return None


def _card_refusal(refusal: DomainError, reference: str) -> DomainError:
    """A card lookup's refusal in the file's words: its `card` column, and an alias unknown rather than a bad number."""
    if refusal.code == "invalid_card":
        return NotFound("No such alias among this partner's loyalty numbers, nor is it a hub card number",
                           {"card": [reference]}, code="unknown_alias")
    if refusal.code == "unknown_card":
        return NotFound("No hub card has this number, nor is it an alias of this partner's", {"card": [reference]},
                           code="unknown_card")
    return Invalid(refusal.message, {"card": [reference]}, code=refusal.code)


def _write(session: Session, partner: PartnerRef, booked: list[tuple[_Claim, int]], *, now: datetime,
           lifetime: timedelta) -> dict[int, int]:
    """The rows' entries, postings and lots, a statement per table; returns the entry id of each order."""
    connection = session.connection()
    entry_of_order = {row.order_id: row.id for row in bulk.insert_many(
        connection, _entries,
        [{"member_id": claim.holder.member_id, "order_id": order, "occurred_at": claim.earned_at} for claim, order in booked],
        same={"kind": EntryKind.OPENING, "partner_id": partner.id, "booked_at": now,
              "reason": f"Opening balance from {partner.name}"},
        returning=("id", "order_id"),
    )}
    issuance = partner.account_id(ISSUANCE)
    postings, lots = [], []
    for claim, order in booked:
        entry_id, account, points = entry_of_order[order], claim.holder.ids[AVAILABLE], claim.row.points
        postings += [{"entry_id": entry_id, "account_id": issuance, "amount": -points},
                     {"entry_id": entry_id, "account_id": account, "amount": points}]
        lots.append({"member_id": claim.holder.member_id, "account_id": account, "entry_id": entry_id, "points": points,
                     "remaining": points, "earned_at": claim.earned_at, "available_at": claim.earned_at,
                     "expires_at": claim.earned_at + lifetime})
    bulk.insert_many(connection, _postings, postings, same={"booked_at": now})
    bulk.insert_many(connection, _lots, lots, same={"issuer_id": partner.id})
    return entry_of_order


def _credit(session: Session, claims: list[_Claim]) -> None:
    """Move the locked members' available balances by what the rows opened, one statement for all."""
    changes: dict[int, int] = defaultdict(int)
    for claim in claims:
        changes[claim.holder.ids[AVAILABLE]] += claim.row.points
        claim.holder.balances[AVAILABLE] += claim.row.points
    bulk.add_to_balances(session.connection(), changes)
