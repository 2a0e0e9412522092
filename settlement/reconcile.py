"""Reconciliation: a partner's own records for a closed period, side by side with the hub's orders.

A partner sends a CSV of its records for the period of a statement, with the
columns `order_id,type,points` (any order, other columns ignored, header
names case-insensitive):

- `type` is `sale`, `refund` or `redemption`;
- `points` is an integer: what the partner believes the order earned (a sale,
  zero or more) or took back (a refund, a cancellation, a redemption). Those
  may be written either as the hub reports them in its own orders
  (negative: `-40`) or as a plain quantity (`40`): the type gives the sign, so
  both mean -40. A negative sale is refused.

The hub's side is the partner's orders of those kinds whose booking
time falls in the statement's period `[start, end)`: the same booking-time
rule the statement itself follows, so a refund booked after the period ended
belongs to the next period's reconciliation, whatever sale it refunds.

Memory. Neither side is held in Python. The partner's records are streamed
from the file into a temporary table of the session's own connection (in
chunks of `CHUNK_ROWS`), and the comparison is a handful of joins that the
database runs against the orders' (partner, kind, order id) unique index;
only the counts, the totals and at most `MAX_LISTED` items per list come
back. A period with a million orders therefore costs the hub one temporary
table, not a million Python objects (a dict of the file alone would be a few
hundred MB). The temporary table lives only in the caller's transaction: the
caller rolls it back (or closes the session), on SQLite and PostgreSQL alike;
it is dropped at the end anyway. Nothing in the ledger is written.

Bad rows (no order id, an unknown type, points that are not an integer, a
second record of the same type and order id) are listed with their row
number, as the batch import does (row 1 is the first after the header; blank
lines count but are skipped); the rest of the file is still reconciled. A
file without the header is refused as a whole (`BadRequest`, HTTP 400).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import IO

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Session

from network.db import Database
from network.errors import BadRequest, NotFound
from network.ledger.kinds import OrderKind
from network.models import Order, Partner, Statement, int_sum
from partners.fields import MAX_ORDER_ID
from partners.payloads import ControlCharacter, csv_records
from partners.text import REASON

TYPES = (OrderKind.SALE, OrderKind.REFUND, OrderKind.CANCELLATION, OrderKind.REDEMPTION)
COLUMNS = ("order_id", "type", "points")
MAX_ID = MAX_ORDER_ID
MAX_LISTED = 1000
CHUNK_ROWS = 5000
_POINTS = re.compile(r"[+-]?[0-9]{1,18}")

# A table of its own metadata: never part of the ledger's schema or its migrations.
_rows = Table(
    "reconcile_partner_rows",
    MetaData(),
    Column("row", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("order_id", String(MAX_ID), nullable=False),
    Column("points", BigInteger, nullable=False),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True, slots=True)
class PartnerRecord:
    """One data row of the partner's file: a record, or the reasons it is not one (`errors`)."""

    row: int
    order_id: str | None = None
    type: str | None = None
    points: int | None = None
    errors: dict[str, list[str]] | None = None


# ---------------------------------------------------------------- reading the file


def read_records(stream: IO[bytes]) -> Iterator[PartnerRecord]:
    """Stream the partner's CSV (bytes) as records; the header is read at the first step.

    Raises `BadRequest` (code `bad_header`) when the file is empty, its first
    non-blank line is not CSV, or lacks one of the columns.
    """
    text_stream = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        records = csv_records(csv.reader(text_stream))
        at = _header(records)
        width = max(at.values()) + 1
        for number, record in enumerate(records, start=1):
            if isinstance(record, ControlCharacter):
                named = {index: name for name, index in at.items()}.get(record.column, "_row")
                yield PartnerRecord(number, errors={named: [REASON]})
            elif isinstance(record, csv.Error):
                yield PartnerRecord(number, errors={"_row": [f"is not CSV: {record}"]})
            elif any(field.strip() for field in record):
                yield _record(number, record, at, width)
    finally:
        text_stream.detach()  # the caller's stream is the caller's to close


def _header(records: Iterator[list[str] | csv.Error]) -> dict[str, int]:
    wanted = ", ".join(COLUMNS)
    for record in records:
        if isinstance(record, csv.Error):
            raise BadRequest(f"The header is not CSV: {record}", {"header": [str(record)]}, code="bad_header")
        if not any(field.strip() for field in record):
            continue
        names = [field.strip().lower() for field in record]
        at = {name: names.index(name) for name in COLUMNS if name in names}
        missing = [name for name in COLUMNS if name not in at]
        doubled = sorted({name for name in COLUMNS if names.count(name) > 1})
        if missing or doubled:
            problems = [f"lacks {', '.join(missing)}"] if missing else []
            problems += [f"names {', '.join(doubled)} twice"] if doubled else []
            raise BadRequest(f"The first line must be a header with the columns {wanted}; it {' and '.join(problems)}",
                             {"header": problems}, code="bad_header")
        return at
    raise BadRequest(f"The file is empty: it has no header ({wanted})", {"header": ["is missing"]}, code="bad_header")


def _record(number: int, record: list[str], at: dict[str, int], width: int) -> PartnerRecord:
    try:
        "".join(record).encode("utf-8")
    except UnicodeEncodeError:
        return PartnerRecord(number, errors={"_row": ["is not UTF-8 text"]})
    if len(record) < width:
        return PartnerRecord(number, errors={"_row": [f"has {len(record)} fields; the header has at least {width}"]})
    order_id, kind, raw = (record[at[name]].strip() for name in COLUMNS)
    kind = kind.lower()
    errors: dict[str, list[str]] = {}
    if not order_id:
        errors["order_id"] = ["is required"]
    elif len(order_id) > MAX_ID:
        errors["order_id"] = [f"is longer than {MAX_ID} characters"]
    if kind not in TYPES:
        errors["type"] = [f"{kind!r} is not one of {', '.join(TYPES)}" if kind else "is required"]
    points = None
    if not _POINTS.fullmatch(raw):
        errors["points"] = ["is required" if not raw else f"{raw!r} is not a whole number of points"]
    else:
        points = int(raw)
        if kind == OrderKind.SALE and points < 0:
            errors["points"] = ["a sale earns points: it cannot be negative"]
        elif kind in (OrderKind.REFUND, OrderKind.CANCELLATION, OrderKind.REDEMPTION):
            points = -abs(points)  # "40" and "-40" both take 40 points back, as the hub's orders record it
    if errors:
        return PartnerRecord(number, errors=errors)
    return PartnerRecord(number, order_id, kind, points)


# ---------------------------------------------------------------- the comparison


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _statement(session: Session, sequence: int) -> Statement:
    found = session.get(Statement, sequence) if 0 < sequence < 2**31 else None
    if found is None:
        raise NotFound(f"No statement {sequence}", code="unknown_statement")
    return found


def reconcile(session: Session, statement_sequence: int, partner_id: int, rows: Iterable[PartnerRecord]) -> dict:
    """Compare `rows` (the partner's records) with the partner's orders booked in the statement's period.

    Leaves a temporary table in the session's transaction (dropped before
    returning); run it in a transaction the caller then rolls back or closes.
    """
    stored = _statement(session, statement_sequence)
    slug = session.scalar(select(Partner.slug).where(Partner.id == partner_id))
    if slug is None:
        raise NotFound(f"No partner {partner_id}", code="unknown_partner")
    connection = session.connection()
    _rows.create(connection)
    # Dropped on success; on an error the caller's rollback takes the table away (DDL is transactional on both).
    answer = _compare(session, stored, partner_id, slug, rows)
    _rows.drop(connection)
    return answer


def _compare(session: Session, stored: Statement, partner_id: int, slug: str, rows: Iterable[PartnerRecord]) -> dict:
    connection = session.connection()
    records, rejected_total, rejected = _drain(connection, rows)
    # Built after the load (cheaper than keeping it up row by row); the duplicate check and every join use it.
    connection.execute(text("CREATE INDEX reconcile_partner_rows_key ON reconcile_partner_rows (kind, order_id, row)"))
    if connection.dialect.name == "postgresql":
        # Autovacuum never analyses a temporary table: without statistics the planner guesses badly.
        connection.execute(text("ANALYZE reconcile_partner_rows"))
    duplicates_total, duplicates = _duplicates(connection)
    if duplicates_total:
        rejected = sorted(rejected + duplicates, key=lambda r: r["row"])[:MAX_LISTED]
        rejected_total += duplicates_total
        records -= duplicates_total

    in_period = [Order.partner_id == partner_id, Order.kind.in_(TYPES), Order.booked_at < stored.period_end]
    if stored.period_start is not None:
        in_period.append(Order.booked_at >= stored.period_start)
    hub = (select(Order.id, Order.kind, Order.order_id, Order.points, Order.booked_at)
           .where(*in_period).subquery("hub"))
    p = _rows
    same_order = and_(hub.c.kind == p.c.kind, hub.c.order_id == p.c.order_id)

    def totals(statement) -> tuple[int, int]:
        count, points = connection.execute(statement).one()
        return int(count), int(points)

    matched = totals(select(func.count(), int_sum(hub.c.points)).select_from(hub.join(p, same_order))
                     .where(hub.c.points == p.c.points))

    differ = hub.join(p, same_order)
    mismatched_count, mismatched_hub, mismatched_partner = connection.execute(
        select(func.count(), int_sum(hub.c.points), int_sum(p.c.points)).select_from(differ)
        .where(hub.c.points != p.c.points)
    ).one()
    mismatched_items = [
        {"row": r.row, "order_id": r.order_id, "type": r.kind, "hub_points": r.hub_points, "partner_points": r.points}
        for r in connection.execute(
            select(p.c.row, p.c.order_id, p.c.kind, p.c.points, hub.c.points.label("hub_points")).select_from(differ)
            .where(hub.c.points != p.c.points).order_by(p.c.row).limit(MAX_LISTED)
        )
    ]

    not_at_partner = hub.outerjoin(p, same_order)
    missing_partner = totals(select(func.count(), int_sum(hub.c.points)).select_from(not_at_partner)
                             .where(p.c.row.is_(None)))
    missing_partner_items = [
        {"order_id": r.order_id, "type": r.kind, "points": r.points, "booked_at": _when(r.booked_at)}
        for r in connection.execute(
            select(hub.c.order_id, hub.c.kind, hub.c.points, hub.c.booked_at).select_from(not_at_partner)
            .where(p.c.row.is_(None)).order_by(hub.c.booked_at, hub.c.id).limit(MAX_LISTED)
        )
    ]

    absent = ~exists().where(same_order)
    missing_hub = totals(select(func.count(), int_sum(p.c.points)).where(absent))
    # An order the hub has, but booked outside this period, says when: usually a boundary question, not a loss.
    elsewhere = Order.__table__.alias("elsewhere")
    first_missing = (select(p.c.row, p.c.order_id, p.c.kind, p.c.points).where(absent)
                     .order_by(p.c.row).limit(MAX_LISTED).subquery("first_missing"))
    missing_hub_items = [
        {"row": r.row, "order_id": r.order_id, "type": r.kind, "points": r.points, "hub_booked_at": _when(r.booked_at)}
        for r in connection.execute(
            select(first_missing, elsewhere.c.booked_at)
            .select_from(first_missing.outerjoin(elsewhere, and_(elsewhere.c.partner_id == partner_id,
                                                                 elsewhere.c.kind == first_missing.c.kind,
                                                                 elsewhere.c.order_id == first_missing.c.order_id)))
            .order_by(first_missing.c.row)
        )
    ]

    return {
        "sequence": stored.sequence,
        "partner": slug,
        "period": {"start": _when(stored.period_start), "end": _when(stored.period_end)},
        "records": records,
        "matched": {"count": matched[0], "points": matched[1]},
        "missing_at_hub": {"count": missing_hub[0], "points": missing_hub[1], "items": missing_hub_items},
        "missing_at_partner": {"count": missing_partner[0], "points": missing_partner[1],
                               "items": missing_partner_items},
        "mismatched": {"count": int(mismatched_count), "hub_points": int(mismatched_hub),
                       "partner_points": int(mismatched_partner), "items": mismatched_items},
        "rejected": rejected,
        "rejected_total": rejected_total,
    }


def _drain(connection, rows: Iterable[PartnerRecord]) -> tuple[int, int, list[dict]]:
    """Spool the good records into the temporary table, a chunk per INSERT; (records, rejected total, listed)."""
    loaded, rejected_total, rejected = 0, 0, []
    iterator = iter(rows)
    while True:
        chunk, seen = [], 0
        for record in islice(iterator, CHUNK_ROWS):
            seen += 1
            if record.errors:
                rejected_total += 1
                if len(rejected) < MAX_LISTED:
                    rejected.append({"row": record.row, "errors": record.errors})
            else:
                chunk.append({"row": record.row, "kind": record.type, "order_id": record.order_id,
                              "points": record.points})
        if chunk:
            connection.execute(insert(_rows), chunk)
            loaded += len(chunk)
        if seen < CHUNK_ROWS:
            return loaded, rejected_total, rejected


def _duplicates(connection) -> tuple[int, list[dict]]:
    """Later records of a (type, order id) already given: rejected, and removed before the comparison."""
    first = _rows.alias("earlier_row")
    earlier = and_(first.c.kind == _rows.c.kind, first.c.order_id == _rows.c.order_id, first.c.row < _rows.c.row)
    earliest = select(func.min(first.c.row)).where(earlier).scalar_subquery()
    total = connection.execute(select(func.count()).select_from(_rows).where(exists().where(earlier))).scalar_one()
    if not total:
        return 0, []
    listed = [
        {"row": r.row, "errors": {"order_id": [f"{r.order_id!r} was already given as a {r.kind} at row {r.first}"]}}
        for r in connection.execute(
            select(_rows.c.row, _rows.c.kind, _rows.c.order_id, earliest.label("first"))
            .where(exists().where(earlier)).order_by(_rows.c.row).limit(MAX_LISTED)
        )
    ]
    connection.execute(_rows.delete().where(exists().where(earlier)))
    return int(total), listed


# ---------------------------------------------------------------- the command line


def reconcile_file(db: Database, sequence: int, partner_slug: str, stream: IO[bytes]) -> dict:
    """What `coalition settlement reconcile --partner SLUG SEQUENCE FILE` prints: reconcile a file (bytes).

    One session, rolled back at the end: the temporary table goes with it and
    the ledger is untouched. Not retried: the stream can be read only once.
    """
    with db.session() as session:
        try:
            partner_id = session.scalar(select(Partner.id).where(Partner.slug == partner_slug))
            if partner_id is None:
                raise NotFound(f"No partner {partner_slug!r}", {"partner": [partner_slug]}, code="unknown_partner")
            return reconcile(session, sequence, partner_id, read_records(stream))
        finally:
            session.rollback()
