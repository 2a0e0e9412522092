"""A partner's order ids: once per partner and kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from network.errors import Conflict
from network.models import Order, int_sum


def find(session: Session, partner_id: int, kind: str, order_id: str) -> Order | None:
    return session.scalar(
        select(Order).where(Order.partner_id == partner_id, Order.kind == kind, Order.order_id == order_id)
    )


def ensure_new(session: Session, partner_id: int, kind: str, order_id: str) -> None:
    existing = find(session, partner_id, kind, order_id)
    if existing is not None:
        raise Conflict(
            f"This partner already booked a {kind} with order id {order_id!r}",
            {"order_id": [order_id], "journal_id": existing.entry_id},
            code="duplicate_order",
        )


def record(
    session: Session,
    *,
    partner_id: int,
    kind: str,
    order_id: str,
    member_id: str,
    entry_id: int | None,
    points: int,
    booked_at: datetime,
    occurred_at: datetime | None = None,
    currency: str | None = None,
    total_minor: int | None = None,
    original_id: int | None = None,
) -> None:
    session.execute(
        insert(Order).values(
            partner_id=partner_id,
            kind=kind,
            order_id=order_id,
            member_id=member_id,
            entry_id=entry_id,
            original_id=original_id,
            currency=currency,
            total_minor=total_minor,
            points=points,
            occurred_at=occurred_at,
            booked_at=booked_at,
        )
    )


def refunded_so_far(session: Session, sale_id: int) -> int:
    return session.scalar(
        select(int_sum(Order.total_minor)).where(Order.original_id == sale_id, Order.kind == "refund")
    )
