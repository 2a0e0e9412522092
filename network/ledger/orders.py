"""A partner's order ids: once per partner and kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.db import insert_unless_taken
from network.errors import Conflict
from network.ledger import bulk
from network.ledger.kinds import OrderKind
from network.models import JournalEntry, Order, int_sum

_orders = Order.__table__
#: The orders that take back part of a sale: refunds, its cancellation, and edits that lowered it.
TAKING_BACK = (OrderKind.REFUND, OrderKind.CANCELLATION, OrderKind.EDIT)
_INSERT_NEW = insert_unless_taken(_orders, ["partner_id", "kind", "order_id"])


def find(session: Session, partner_id: int, kind: str, order_id: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.partner_id == partner_id, Order.kind == kind, Order.order_id == order_id)
    )


def duplicate(session: Session, partner_id: int, kind: str, order_id: str) -> Conflict:
    existing = find(session, partner_id, kind, order_id)
    entry = session.scalar(select(JournalEntry.id).where(JournalEntry.order_id == existing.id)) if existing else None
    return Conflict(
        f"This partner already booked a {kind} with order id {order_id!r}",
        {"order_id": [order_id], "journal_id": entry},
        code="duplicate_order",
    )


def claim(
    session: Session,
    *,
    partner_id: int,
    kind: str,
    order_id: str,
    member_id: str,
    points: int,
    booked_at: datetime,
    occurred_at: datetime | None = None,
    currency: str | None = None,
    total_minor: int | None = None,
    original_id: int | None = None,
) -> int:
    """Record the order, first thing, or raise 409 if this partner already booked it.

    One statement: a concurrent request with the same order id waits for the
    first one's transaction and then finds the row taken.
    """
    row = session.connection().execute(
        _INSERT_NEW[session.get_bind().dialect.name],
        {
            "partner_id": partner_id,
            "kind": kind,
            "order_id": order_id,
            "member_id": member_id,
            "original_id": original_id,
            "currency": currency,
            "total_minor": total_minor,
            "points": points,
            "occurred_at": occurred_at,
            "booked_at": booked_at,
        },
    ).first()
    if row is None:
        raise duplicate(session, partner_id, kind, order_id)
    return row.id


def claim_many(session: Session, *, partner_id: int, kind: str, same: dict, rows: list[dict]) -> dict[str, int]:
    """Record many orders of one kind in one statement; returns the ids of those not booked before.

    Order ids missing from the answer were taken already. The rows must
    have distinct order ids; `same` holds the values common to all of them.
    """
    claimed = bulk.insert_many(
        session.connection(),
        _orders,
        rows,
        same={"partner_id": partner_id, "kind": kind, **same},
        returning=("id", "order_id"),
        unless_taken=("partner_id", "kind", "order_id"),
    )
    return {row.order_id: row.id for row in claimed}


def refunded_so_far(session: Session, sale_id: int) -> int:
    """What the sale's refunds, edits and cancellation took, in the sale's measure (minor units)."""
    return session.scalar(select(int_sum(Order.total_minor)).where(
        Order.original_id == sale_id, Order.kind.in_(TAKING_BACK)))
