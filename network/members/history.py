"""What happened to a member's points, newest first, one journal entry per line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.models import Account, Award, JournalEntry, Lot, LotMovement, Order, Partner, Posting, int_sum
from network.parties.registry import slugs


def history(
    session: Session, member_id: str, *, partner_id: int | None = None, count: int = 50, below: int | None = None
) -> list[dict]:
    """Up to `count` entries, newest first, with ids below `below` (a keyset, stable while new entries arrive);
    `partner_id` restricts them to the entries that partner created."""
    points = int_sum(Posting.amount).label("points")
    query = (
        select(
            JournalEntry.id,
            JournalEntry.kind,
            JournalEntry.reason,
            JournalEntry.booked_at,
            JournalEntry.occurred_at,
            JournalEntry.reverses_id,
            Partner.slug,
            Order.order_id,
            points,
        )
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(Partner, Partner.id == JournalEntry.partner_id)
        .outerjoin(Order, Order.id == JournalEntry.order_id)
        .where(JournalEntry.member_id == member_id, Account.member_id == member_id)
        .group_by(JournalEntry.id, Partner.slug, Order.order_id)
        .order_by(JournalEntry.id.desc())
        .limit(count)
    )
    if partner_id is not None:
        query = query.where(JournalEntry.partner_id == partner_id)
    if below is not None:
        query = query.where(JournalEntry.id < below)
    page = session.execute(query).all()
    ids = [row.id for row in page]
    provenance: dict[int, dict[int | None, int]] = {}
    for entry_id, issuer_id, moved in session.execute(
        select(LotMovement.entry_id, Lot.issuer_id, int_sum(LotMovement.points))
        .join(Lot, Lot.id == LotMovement.lot_id)
        .where(LotMovement.entry_id.in_(ids))
        .group_by(LotMovement.entry_id, Lot.issuer_id)
    ):
        provenance.setdefault(entry_id, {})[issuer_id] = moved
    for entry_id, issuer_id, credited in session.execute(
        select(Lot.entry_id, Lot.issuer_id, Lot.points).where(Lot.entry_id.in_(ids))
    ):
        by_issuer = provenance.setdefault(entry_id, {})
        by_issuer[issuer_id] = by_issuer.get(issuer_id, 0) + credited
    awards: dict[int, list[dict]] = {}
    for entry_id, rule, points, detail in session.execute(
        select(Award.entry_id, Award.rule, Award.points, Award.detail).where(Award.entry_id.in_(ids)).order_by(Award.id)
    ):
        awards.setdefault(entry_id, []).append({"rule": rule, "points": points, "detail": detail})
    names = slugs(session, {i for by_issuer in provenance.values() for i in by_issuer})
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "partner": row.slug,
            "points": row.points,
            "reason": row.reason,
            "order_id": row.order_id,
            "reverses": row.reverses_id,
            "booked_at": row.booked_at,
            "occurred_at": row.occurred_at,
            "provenance": sorted(
                ({"issuer": names[i], "points": n} for i, n in provenance.get(row.id, {}).items()),
                key=lambda p: p["issuer"],
            ),
            "awards": awards.get(row.id, []),
        }
        for row in page
    ]
