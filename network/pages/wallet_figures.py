"""What a member's wallet shows: one balance across stores, where it came from, and what it buys.

Read in one transaction from the same functions the API answers with, so
the wallet and a till's balance read never disagree. Everything is said in
the member's terms: points, partners by name, awards by their reason in
words, rewards by how far away they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from network.events import notices
from network.ledger.journal import AVAILABLE, PENDING
from network.lifecycle import expiry, pending, tiers
from network.members import aliases, cards, history
from network.models import Account, Lot, Partner, int_sum
from network.spending import holds

#: How many history lines the wallet shows at once, and how many rewards.
HISTORY_LINES, REWARDS_SHOWN = 30, 8


@dataclass(frozen=True)
class Reward:
    name: str
    partner: str
    points: int
    #: Points still missing; 0: the member can take it now.
    away: int


def wallet(session: Session, member_id: str, *, now: datetime, policy: expiry.Policy, window: tiers.Window,
           ladder: list[tiers.Tier]) -> dict:
    """The wallet's figures; the caller has checked the member is live (`cards.get_member`)."""
    booked = cards.balances(session, member_id, now)
    balance = holds.as_of(booked, holds.expired_points(session, now, member_id=member_id, held=booked["held"]))
    names = dict(session.execute(select(Partner.slug, Partner.name)).all())
    entries = history.history(session, member_id, count=HISTORY_LINES)
    for entry in entries:
        entry["partner_name"] = names.get(entry["partner"], entry["partner"])
    return {
        "balance": balance,
        "releases": _releases(session, member_id, now),
        "expiring": expiry.next_expiring(session, member_id, policy),
        "tier": tiers.member_view(session, member_id, now=now, window=window, known=ladder),
        "history": entries,
        "sources": _sources(session, member_id),
        "rewards": _rewards(session, balance["available"]),
        "card": next((card for card in cards.cards_of(session, member_id) if card.status == "active"), None),
        "aliases": aliases.of_member(session, member_id),
    }


def _releases(session: Session, member_id: str, now: datetime) -> list[tuple[datetime | None, int]]:
    """Pending points by the day they become available (a return window still open); None for those that wait for
    news (the order's payment, the partner's funds), whose date is a mark no day reaches, not one to show."""
    rows = session.execute(
        select(Lot.available_at, int_sum(Lot.remaining)).join(Account, Account.id == Lot.account_id)
        .where(Lot.member_id == member_id, Lot.remaining > 0, Account.kind == PENDING, Lot.available_at > now)
        .group_by(Lot.available_at).order_by(Lot.available_at)
    ).all()
    dated = [(at, points) for at, points in rows if at not in _NEWS]
    waiting = sum(points for at, points in rows if at in _NEWS)
    return dated + ([(None, waiting)] if waiting else [])


_NEWS = (pending.UNPAID, pending.UNFUNDED, pending.UNFUNDED_UNPAID)


def _sources(session: Session, member_id: str) -> list[tuple[str, int]]:
    """Which partners the points held now came from, most first (points the network funded as the network's)."""
    rows = session.execute(
        select(func.coalesce(Partner.name, "The network"), int_sum(Lot.remaining))
        .join(Account, Account.id == Lot.account_id).outerjoin(Partner, Partner.id == Lot.issuer_id)
        .where(Lot.member_id == member_id, Lot.remaining > 0, Account.kind.in_((AVAILABLE, PENDING)))
        .group_by(Partner.name)
    ).all()
    return sorted(((name, points) for name, points in rows), key=lambda row: (-row[1], row[0]))


def _rewards(session: Session, available: int) -> list[Reward]:
    """Rewards on offer at every partner: those the member can take now, then the nearest."""
    offered = [Reward(row.name, row.partner_name, row.points, max(0, row.points - available))
               for row in notices.offers(session)]
    return sorted(offered, key=lambda reward: (reward.away, reward.points))[:REWARDS_SHOWN]
