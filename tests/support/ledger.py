"""What the ledger holds, read straight from the database."""

from __future__ import annotations

from sqlalchemy import func, select

from network.models import Account, Base, Partner


def snapshot(database) -> dict:
    """Every ledger table's row count and every member balance: equal before and after a refused request."""
    with database.session() as session:
        counts = {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
                  if t.name != "idempotency_records"}
        balances = session.execute(select(Account.id, Account.balance).where(Account.member_id.is_not(None))).all()
    return {"counts": counts, "balances": sorted(map(tuple, balances))}


def ids(database) -> dict[str, int]:
    """Each partner's database id by its slug, for figures keyed by id."""
    with database.session() as session:
        return dict(session.execute(select(Partner.slug, Partner.id)).all())
