"""Partner contracts: versions of the money per point a partner pays when it issues and receives when points are spent at it.

Versions are appended, each in force from its `effective_from` until the
next one's; settlement values every movement at the version in force when
the movement was booked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid
from network.models import Contract, Statement
from network.parties.registry import PartnerRef


@dataclass(frozen=True)
class ContractVersion:
    id: int
    partner_id: int
    effective_from: datetime
    currency: str
    issue_fee: Decimal
    redeem_rate: Decimal

    def view(self) -> dict:
        return {"effective_from": self.effective_from, "currency": self.currency,
                "issue_fee": str(self.issue_fee), "redeem_rate": str(self.redeem_rate)}


_COLUMNS = (Contract.id, Contract.partner_id, Contract.effective_from, Contract.currency, Contract.issue_fee,
            Contract.redeem_rate)


def add_version(
    session: Session, partner: PartnerRef, *, issue_fee: Decimal, redeem_rate: Decimal, currency: str,
    effective_from: datetime, now: datetime,
) -> ContractVersion:
    """Add a version; one already starting at that instant is a conflict (versions are never rewritten).

    One starting inside a closed period is refused: the statement already
    priced that period, and a correction belongs to the open one.
    """
    closed = session.scalar(select(func.max(Statement.period_end)))
    if closed is not None and effective_from < closed:
        raise Invalid("A contract version cannot start inside a closed period; correct it from the open one",
                      {"effective_from": [f"must be at or after {closed.isoformat()}, where the last statement ended"]},
                      code="period_closed")
    taken = session.scalar(
        select(Contract.id).where(Contract.partner_id == partner.id, Contract.effective_from == effective_from)
    )
    if taken is not None:
        raise Conflict("A contract version already starts at that instant", {"effective_from": [effective_from.isoformat()]},
                       code="contract_version_exists")
    contract_id = session.execute(
        insert(Contract).values(partner_id=partner.id, effective_from=effective_from, currency=currency,
                                issue_fee=issue_fee, redeem_rate=redeem_rate, created_at=now).returning(Contract.id)
    ).scalar_one()
    return ContractVersion(contract_id, partner.id, effective_from, currency, issue_fee, redeem_rate)


def versions(session: Session, partner_ids: set[int] | None = None) -> list[ContractVersion]:
    """Every version (of these partners), oldest first."""
    query = select(*_COLUMNS).order_by(Contract.partner_id, Contract.effective_from)
    if partner_ids is not None:
        query = query.where(Contract.partner_id.in_(partner_ids))
    return [ContractVersion(*row) for row in session.execute(query)]
