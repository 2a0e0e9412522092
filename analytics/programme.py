"""The programme report: members, points, redemption rate and return after a reward, for one window and scope."""

from __future__ import annotations

from sqlalchemy.orm import Session

from analytics.members import DORMANT_DAYS, members
from analytics.points import points, redemption_rate
from analytics.returns import RETURN_DAYS, return_after_reward
from analytics.window import Window


def programme(session: Session, window: Window, partner: tuple[int, str] | None = None, *,
              dormant_days: int = DORMANT_DAYS, return_days: int = RETURN_DAYS) -> dict:
    """The whole report; `partner` (id, slug) narrows it to that partner's members and the points it issued."""
    partner_id = None if partner is None else partner[0]
    figures = points(session, window, partner_id)
    returns = return_after_reward(session, window, partner_id, days=return_days)
    # Redeemers and the others are every member who bought or redeemed in the window: the active ones.
    active = returns["redeemers"]["members"] + returns["others"]["members"]
    return {
        "period": window.view(),
        "partner": None if partner is None else partner[1],
        "members": members(session, window, partner_id, active=active, dormant_days=dormant_days),
        "points": figures,
        "redemption_rate": redemption_rate(figures),
        "return_after_reward": returns,
    }
