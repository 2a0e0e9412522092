"""Points issued, redeemed, expired and outstanding in a window: the settlement figures, read for any span.

The very queries a statement's close runs (settlement.figures), so a
report over a closed month shows the statement's figures to the point.
A partner's figures are those of the points it issued, wherever they were
spent, beside what was spent at its own tills.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.window import Window, days_between, share
from network.ledger.kinds import EntryKind
from network.models import JournalEntry, Lot, LotMovement
from settlement.figures import (
    UNPRICED,
    Period,
    breakage,
    credited,
    issued_less_clawbacks,
    moved,
    outstanding,
    spent_less_reversals,
)
from settlement.runs import opening_before


def points(session: Session, window: Window, partner_id: int | None = None) -> dict:
    """The window's points for the network (`partner_id` None) or for the points one partner issued."""
    period = Period(window.start, window.end)
    credits, movements = credited(session, period, None), moved(session, period, UNPRICED)
    issued = issued_less_clawbacks(session, period, UNPRICED, credits, movements).points
    spent = spent_less_reversals(session, period, UNPRICED, movements)
    expired = breakage(session, period, movements)
    opening = opening_before(session, window.end)
    # From a statement ending where the window starts, the window's credits and movements are the outstanding's too.
    same_span = opening is not None and opening.at == window.start
    held = outstanding(session, window.end, opening=opening, credits=credits if same_span else None,
                       movements=movements if same_span else None)
    if partner_id is None:
        figures = {"issued": sum(issued.values()), "redeemed": sum(spent.redeemed.values()),
                   "expired": sum(expired.values()), "outstanding": sum(held.values())}
        elsewhere = sum(p for (issuer, redeemer), p in spent.matrix.items() if issuer != redeemer)
    else:
        mine = {redeemer: p for (issuer, redeemer), p in spent.matrix.items() if issuer == partner_id}
        figures = {"issued": issued.get(partner_id, 0), "redeemed": sum(mine.values()),
                   "expired": expired.get(partner_id, 0), "outstanding": held.get(partner_id, 0),
                   "spent_here": spent.redeemed.get(partner_id, 0)}
        elsewhere = sum(p for redeemer, p in mine.items() if redeemer != partner_id)
    figures["spent_elsewhere_share"] = share(elsewhere, figures["redeemed"])
    figures["average_days_to_spend"] = days_to_spend(session, window, partner_id)
    return figures


def days_to_spend(session: Session, window: Window, partner_id: int | None = None) -> str | None:
    """The average days from earning a point to spending it, over the points redeemed in the window (one decimal).

    Each redeemed point counts once, from its lot's earning to the
    redemption that took it: the window's redemption movements joined to
    their lots. A partner's: the points it issued. None when none was spent.
    """
    dialect = session.get_bind().dialect.name
    taken = -LotMovement.points
    query = (select(func.sum(taken * days_between(dialect, JournalEntry.booked_at, Lot.earned_at)), func.sum(taken))
             .select_from(LotMovement).join(JournalEntry, JournalEntry.id == LotMovement.entry_id)
             .join(Lot, Lot.id == LotMovement.lot_id)
             .where(JournalEntry.kind == EntryKind.REDEMPTION, LotMovement.booked_at >= window.start,
                    LotMovement.booked_at < window.end, JournalEntry.booked_at >= window.start,
                    JournalEntry.booked_at < window.end))
    if partner_id is not None:
        query = query.where(LotMovement.issuer_id == partner_id)
    weighted, points = session.execute(query).one()
    if not points:
        return None
    return str((Decimal(str(weighted)) / Decimal(points)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


def redemption_rate(figures: dict) -> str | None:
    """Points redeemed over points issued in the window (a share; None when none were issued)."""
    return share(figures["redeemed"], figures["issued"])
