"""The programme report: members, points, redemption rate and return after a reward, for one window and scope.

Its three parts read different tables and take seconds each on a big
ledger, so they come as separate reads (`parts`) that a caller may run side
by side (`network.db.Database.lagging_reads`), and `assemble` makes the
report of their answers; `programme` runs them one after the other on one
session.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from analytics.members import DORMANT_DAYS, members
from analytics.points import points, redemption_rate
from analytics.returns import RETURN_DAYS, return_after_reward
from analytics.window import Window


def parts(window: Window, partner: tuple[int, str] | None = None, *, dormant_days: int = DORMANT_DAYS,
          return_days: int = RETURN_DAYS) -> dict[str, Callable[[Session], dict]]:
    """The report's independent reads; `partner` (id, slug) narrows them to its members and the points it issued."""
    partner_id = None if partner is None else partner[0]
    return {
        "points": lambda session: points(session, window, partner_id),
        "returns": lambda session: return_after_reward(session, window, partner_id, days=return_days),
        "members": lambda session: members(session, window, partner_id, dormant_days=dormant_days),
    }


def assemble(window: Window, partner: tuple[int, str] | None, found: dict[str, dict]) -> dict:
    """The report of its parts' answers."""
    returns = found["returns"]
    # Redeemers and the others are every member who bought or redeemed in the window: the active ones.
    active = returns["redeemers"]["members"] + returns["others"]["members"]
    return {
        "period": window.view(),
        "partner": None if partner is None else partner[1],
        "members": {"enrolled": found["members"]["enrolled"], "active": active,
                    **{name: found["members"][name] for name in ("dormant", "lapsed", "dormant_days")}},
        "points": found["points"],
        "redemption_rate": redemption_rate(found["points"]),
        "return_after_reward": returns,
    }


def programme(session: Session, window: Window, partner: tuple[int, str] | None = None, *,
              dormant_days: int = DORMANT_DAYS, return_days: int = RETURN_DAYS) -> dict:
    """The whole report on one session, its parts one after the other."""
    works = parts(window, partner, dormant_days=dormant_days, return_days=return_days)
    return assemble(window, partner, {name: work(session) for name, work in works.items()})
