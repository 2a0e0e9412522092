"""Points issued, redeemed, expired and outstanding in a window: the settlement figures, read for any span.

The very queries a statement's close runs (settlement.figures), so a
report over a closed month shows the statement's figures to the point.
A partner's figures are those of the points it issued, wherever they were
spent, beside what was spent at its own tills.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from analytics.window import Window, share
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
    return figures


def redemption_rate(figures: dict) -> str | None:
    """Points redeemed over points issued in the window (a share; None when none were issued)."""
    return share(figures["redeemed"], figures["issued"])
