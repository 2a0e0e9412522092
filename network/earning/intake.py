"""Transactions arriving from partners: signatures checked, then booked one by one or a file at a time.

A file is booked in chunks, each its own database transaction: memory stays
flat whatever the file's size, a bad row costs only itself, and a file sent
twice books nothing twice (its order ids are already taken).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

from sqlalchemy.orm import Session

from network.db import Database
from network.earning import order_edits, order_status, sales, unfunded
from network.earning.terms import Terms
from network.errors import DomainError, Invalid, Unauthenticated
from network.ledger import locks
from network.parties.registry import PartnerRef
from partners.adapters import Adapter, Payload, Row, SignedAdapter
from partners.earning import RuleSet
from partners.errors import BadSignature
from partners.rules import Award
from partners.transactions import Amendment, Cancellation, Ignored, Payment, Refund, Sale, Transaction

#: Rows per database transaction: large enough that a customer met twice in a
#: chunk is locked once, small enough that a retried chunk costs little.
CHUNK_ROWS = 4000
MAX_LISTED_REJECTIONS = 1000


def verify(adapter: Adapter, config: dict, payload: Payload) -> bool:
    """Check a signed format's signature before reading the body: 401 when missing or wrong.

    True when a signature was checked and holds; False when the format or
    this partner's settings ask for no check (then only the partner's API
    key can vouch for the body).
    """
    if not isinstance(adapter, SignedAdapter):
        return False
    try:
        return adapter.verify(payload, config)
    except BadSignature as exc:
        raise Unauthenticated(str(exc) or "The payload's signature does not match", code="bad_signature") from None


def book_one(
    session: Session, partner: PartnerRef, rules: RuleSet, transaction: Transaction | Ignored, *, now: datetime,
    terms: Terms, platform: bool = False,
) -> dict:
    """One transaction booked. `platform`: the body is a shop platform's (Shopify, Square, WooCommerce), which
    retries anything but a 2xx for days or gives up on the endpoint: what was never the hub's to book (a refund of an
    order booked for no member, a shopper whose id is no alias) is ignored, said why, and nothing of it is written."""
    if not platform:
        return _booked(session, partner, rules, transaction, now=now, terms=terms)
    try:
        with session.begin_nested():
            return _booked(session, partner, rules, transaction, now=now, terms=terms)
    except Invalid as refused:
        reason = _not_the_hubs(session, partner, transaction, refused)
        if reason is None:
            raise
        return ignored(Ignored(transaction.order_id, reason))


def _booked(session: Session, partner: PartnerRef, rules: RuleSet, transaction: Transaction | Ignored, *,
            now: datetime, terms: Terms) -> dict:
    if isinstance(transaction, Sale):
        booked = sales.record_sale(session, partner, rules, transaction, now=now, terms=terms)
    elif isinstance(transaction, Refund):
        booked = sales.record_refund(session, partner, transaction, now=now, terms=terms)
    elif isinstance(transaction, Payment):
        booked = order_status.record_payment(session, partner, rules, transaction, now=now, terms=terms)
    elif isinstance(transaction, Cancellation):
        booked = order_status.record_cancellation(session, partner, transaction, now=now, terms=terms)
    elif isinstance(transaction, Amendment):
        booked = order_edits.record_amendment(session, partner, rules, transaction, now=now, terms=terms)
    else:
        booked = transaction
    return ignored(booked) if isinstance(booked, Ignored) else booked


#: How a card lookup refuses a reference that names no member.
_NO_MEMBER = ("unknown_card", "invalid_card", "unknown_alias")


def _not_the_hubs(session: Session, partner: PartnerRef, transaction: Transaction | Ignored, refused: Invalid) -> str | None:
    """Why a platform's refused transaction is none of the hub's business, or None when it is a real refusal."""
    sale = transaction.sale if isinstance(transaction, Payment) else transaction
    if isinstance(sale, Sale) and sale.alias_only and refused.code in _NO_MEMBER:
        return f"the shopper's id {sale.card_number!r} is no alias of a member's card: the shopper is no member"
    if isinstance(transaction, Amendment) and refused.code == "refund_exceeds_sale":
        return f"the edit takes back more than is left of the order {transaction.order_id}: it was refunded already"
    if not isinstance(transaction, Refund):
        return None
    if refused.code == "unknown_order":
        return (f"a refund of {transaction.original_order_id}, an order the hub never booked (no member's card was "
                "on it)")
    if refused.code == "refund_exceeds_sale" and order_status.cancelled(session, partner, transaction.original_order_id):
        return f"the order {transaction.original_order_id} was cancelled: its points were taken back already"
    if refused.code == "unmeasurable_refund":
        return f"{refused.message}; no points are taken back"
    return None


def ignored(transaction: Ignored) -> dict:
    return {"ignored": True, "order_id": transaction.order_id, "reason": transaction.reason}


@dataclass
class BatchOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected_total: int = 0
    rejected: list[dict] = field(default_factory=list)
    #: The accepted sales, and the points they awarded (the others were refunds): for /metrics, not the answer.
    sales: int = 0
    points_earned: int = 0

    def reject(self, row: int, code: str, message: str, errors: dict) -> None:
        self.rejected_total += 1
        if len(self.rejected) < MAX_LISTED_REJECTIONS:
            self.rejected.append({"row": row, "code": code, "message": message, "errors": errors})

    def refuse(self, row: int, error: DomainError) -> None:
        fields = {key: value for key, value in error.details.items() if isinstance(value, list)}
        self.reject(row, error.code, error.message, fields or {"_schema": [error.message]})

    def view(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected,
                "rejected_total": self.rejected_total}


def import_rows(
    db: Database,
    partner: PartnerRef,
    rules: RuleSet,
    rows: Iterable[Row],
    *,
    clock: Callable[[], datetime],
    terms: Terms,
    on_progress: Callable[[int], None] | None = None,
    audit: Callable[[Session, dict], None] | None = None,
) -> BatchOutcome:
    """Book a stream of rows, a chunk per transaction.

    A chunk's sales are booked in bulk; its refunds follow once every sale
    before them in the file is committed. On PostgreSQL two chunks book at
    once, on two connections, while this thread reads and prices the next:
    the database and Python then keep both cores busy. Sales and refunds
    lock their members all at once, in account id order, so they do not
    deadlock on each other (a referral paid on a first sale locks its
    referrer afterwards; a deadlock there is detected and the chunk retried).
    `audit` writes a chunk's event in the chunk's own transaction.
    """
    audit = audit or (lambda session, what: None)
    outcome = BatchOutcome()
    workers = 2 if db.engine.dialect.name == "postgresql" else 1
    in_flight: deque[tuple[_Prepared, Future]] = deque()

    def settle() -> None:
        chunk, sold = in_flight.popleft()
        booked = sold.result()
        if chunk.refunds:
            booked += db.transact(lambda session: _audited(audit, session, {"refund_rows": len(chunk.refunds)},
                                                           chunk.book_refunds(session, partner, now=clock(), terms=terms)))
        for row in chunk.invalid:
            outcome.reject(row.number, "invalid_row", "The row is invalid", dict(row.errors))
        for row, result in sorted(booked, key=lambda booking: booking[0].number):
            if result == sales.DUPLICATE or (isinstance(result, DomainError) and result.code == "duplicate_order"):
                outcome.duplicates += 1
            elif isinstance(result, DomainError):
                outcome.refuse(row.number, result)
            else:
                outcome.accepted += 1
                if isinstance(row.transaction, Sale):
                    outcome.sales += 1
                    outcome.points_earned += result["points"]
        if on_progress:
            on_progress(chunk.size)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="coalition-import") as pool:
        for rows_read in _chunks(iter(rows), CHUNK_ROWS):
            chunk = _Prepared.of(rows_read, partner, rules, now=clock(), terms=terms)
            sold = pool.submit(db.transact, lambda session, chunk=chunk: _audited(
                audit, session, {"rows": chunk.size}, chunk.book_sales(session, partner, now=clock(), terms=terms)))
            in_flight.append((chunk, sold))
            if len(in_flight) >= workers:
                settle()
        while in_flight:
            settle()
    return outcome


@dataclass
class _Prepared:
    """A chunk of rows, read and priced, ready to book."""

    size: int
    invalid: list[Row]
    sales: list[tuple[Row, list[Award] | DomainError]]
    refunds: list[Row]
    rules: RuleSet | None = None  # what priced them: a campaign's audience prices again for the members

    @classmethod
    def of(cls, chunk: list[Row], partner: PartnerRef, rules: RuleSet, *, now: datetime, terms: Terms) -> _Prepared:
        invalid = [row for row in chunk if row.errors]
        priced = [(row, sales.price(partner, rules, row.transaction, now=now, terms=terms))
                  for row in chunk if not row.errors and isinstance(row.transaction, Sale)]
        refunds = [row for row in chunk if not row.errors and isinstance(row.transaction, Refund)]
        return cls(len(chunk), invalid, priced, refunds, rules)

    def book_sales(self, session: Session, partner: PartnerRef, *, now: datetime, terms: Terms) -> list:
        booked = sales.book_sales(session, partner, [(row.transaction, awards) for row, awards in self.sales],
                                  now=now, terms=terms, rules=self.rules)
        return [(row, result) for (row, _), result in zip(self.sales, booked)]

    def book_refunds(self, session: Session, partner: PartnerRef, *, now: datetime, terms: Terms) -> list:
        if not self.refunds:
            return []
        # The members of the sales the partner's funds may release after them are locked with theirs, in one order.
        queue = unfunded.ahead_of_refunds(session, partner, [row.transaction.original_order_id for row in self.refunds])
        if queue is None:
            locks.lock_refunded_members(session, partner.id, [row.transaction for row in self.refunds])
        results = []
        for row in self.refunds:
            try:
                with session.begin_nested():  # a refusal takes back whatever the refund had written
                    results.append((row, sales.record_refund(session, partner, row.transaction, now=now, terms=terms,
                                                             queue=queue, release=False)))
            except DomainError as refusal:
                results.append((row, refusal))
        unfunded.after_refunds(session, partner, now, queue)
        return results


def _audited(audit: Callable[[Session, dict], None], session: Session, what: dict, booked: list) -> list:
    """The chunk's audit event, if it wrote anything: a file sent again books nothing and leaves nothing."""
    if any(result is not sales.DUPLICATE and not isinstance(result, DomainError) for _, result in booked):
        audit(session, what)
    return booked


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while chunk := list(islice(rows, size)):
        yield chunk
