"""What members take for points at a partner: its reward catalogue, and amounts paid at its rate.

A reward's stock is only ever changed by one conditional UPDATE
(`stock >= quantity`), so tills racing for the last unit cannot take it
below zero: the losers are refused and, their transaction rolled back, lose
no points. The per-member limit is counted under the member's lock over the
units the member took (less those reversed) and those held for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid, NotFound
from network.ledger.kinds import HoldStatus
from network.lifecycle.hold_release import restock
from network.models import Hold, Partner, Reward, RewardRedemption, int_sum
from network.parties.registry import PartnerRef
from partners.money import Money, MoneyError, decimals

_rewards = Reward.__table__


@dataclass(frozen=True)
class Taken:
    """Units of one reward a member is about to take, and what they cost."""

    reward_id: int
    sku: str
    name: str
    quantity: int
    points: int
    limited_stock: bool

    def view(self) -> dict:
        return {"sku": self.sku, "name": self.name, "quantity": self.quantity}


def _view(row) -> dict:
    return {
        "sku": row.sku,
        "name": row.name,
        "points": row.points,
        "stock": row.stock,
        "per_member_limit": row.per_member_limit,
        "active": row.active,
    }


def add(session: Session, partner_id: int, *, sku: str, name: str, points: int, stock: int | None,
        per_member_limit: int | None, now: datetime) -> dict:
    if _find(session, partner_id, sku) is not None:
        raise Conflict(f"This partner already has a reward {sku!r}", {"sku": [sku]}, code="reward_exists")
    session.execute(insert(_rewards).values(partner_id=partner_id, sku=sku, name=name, points=points, stock=stock,
                                            per_member_limit=per_member_limit, active=True, created_at=now))
    return _view(_find(session, partner_id, sku))


def change(session: Session, partner_id: int, sku: str, changes: dict) -> dict:
    """Change a reward's name, price, stock, limit, or retire it (`active: false`); the rest stays."""
    if _find(session, partner_id, sku) is None:
        raise NotFound(f"No reward {sku!r} at this partner", {"sku": [sku]}, code="unknown_reward")
    if changes:
        session.execute(update(_rewards).where(_rewards.c.partner_id == partner_id, _rewards.c.sku == sku).values(**changes))
    return _view(_find(session, partner_id, sku))


def one(session: Session, partner_id: int, sku: str) -> dict:
    found = _find(session, partner_id, sku)
    if found is None:
        raise NotFound(f"No reward {sku!r} at this partner", {"sku": [sku]}, code="unknown_reward")
    return _view(found)


def catalogue(session: Session, partner_id: int, *, retired: bool = False) -> list[dict]:
    query = select(_rewards).where(_rewards.c.partner_id == partner_id).order_by(_rewards.c.sku)
    if not retired:
        query = query.where(_rewards.c.active.is_(True))
    return [_view(row) for row in session.execute(query)]


def _find(session: Session, partner_id: int, sku: str):
    return session.execute(select(_rewards).where(_rewards.c.partner_id == partner_id, _rewards.c.sku == sku)).first()


def choose(session: Session, partner: PartnerRef, member_id: str, sku: str, quantity: int) -> Taken:
    """The reward a member asks for at this partner, checked against its per-member limit.

    The caller holds the member's lock, so two of the member's own
    redemptions cannot both pass the limit.
    """
    reward = _find(session, partner.id, sku)
    if reward is None:
        raise NotFound(f"No reward {sku!r} at {partner.name}", {"sku": [sku]}, code="unknown_reward")
    if not reward.active:
        raise Invalid(f"The reward {sku!r} is retired", {"sku": [sku]}, code="reward_retired")
    if reward.per_member_limit is not None:
        used = taken_by(session, reward.id, member_id)
        if used + quantity > reward.per_member_limit:
            raise Invalid(
                f"The member may take {reward.per_member_limit} of {sku!r}; {used} taken or held already",
                {"sku": [sku], "limit": reward.per_member_limit, "taken": used, "quantity": quantity},
                code="reward_limit_reached",
            )
    return Taken(reward.id, reward.sku, reward.name, quantity, reward.points * quantity, reward.stock is not None)


def taken_by(session: Session, reward_id: int, member_id: str) -> int:
    """Units of the reward the member took (not reversed since) or has on an authorised hold."""
    taken = session.scalar(
        select(int_sum(RewardRedemption.quantity)).where(
            RewardRedemption.reward_id == reward_id, RewardRedemption.member_id == member_id,
            RewardRedemption.reversal_entry_id.is_(None),
        )
    )
    held = session.scalar(
        select(int_sum(Hold.quantity)).where(Hold.reward_id == reward_id, Hold.member_id == member_id,
                                             Hold.status == HoldStatus.AUTHORIZED)
    )
    return taken + held


def reserve(session: Session, taken: Taken) -> None:
    """Take the units from stock, or refuse: one statement, so concurrent tills queue on the reward's row."""
    if not taken.limited_stock:
        return
    left = session.execute(
        update(_rewards)
        .where(_rewards.c.id == taken.reward_id, _rewards.c.stock >= taken.quantity)
        .values(stock=_rewards.c.stock - taken.quantity)
        .returning(_rewards.c.stock)
    ).first()
    if left is None:
        stock = session.scalar(select(_rewards.c.stock).where(_rewards.c.id == taken.reward_id))
        raise Conflict(f"{taken.name} is out of stock ({stock} left, {taken.quantity} asked for)",
                       {"sku": [taken.sku], "stock": stock, "quantity": taken.quantity}, code="out_of_stock")


def record(session: Session, reward_id: int, member_id: str, entry_id: int, quantity: int) -> None:
    session.execute(insert(RewardRedemption).values(reward_id=reward_id, member_id=member_id, entry_id=entry_id,
                                                    quantity=quantity))


def on_reversal(session: Session, entry_id: int, reversal_id: int) -> None:
    """A reversed reward redemption gives its units back to stock and no longer counts to the limit."""
    row = session.execute(select(RewardRedemption.id, RewardRedemption.reward_id, RewardRedemption.quantity)
                          .where(RewardRedemption.entry_id == entry_id)).first()
    if row is not None:
        restock(session, row.reward_id, row.quantity)
        session.execute(update(RewardRedemption).where(RewardRedemption.id == row.id).values(reversal_entry_id=reversal_id))


def priced(session: Session, partner: PartnerRef, amount: str) -> tuple[Money, int]:
    """An amount in the partner's currency and the points it costs at the partner's rate (read now, not cached)."""
    try:
        money = Money.parse(amount, partner.currency)
    except MoneyError as exc:
        raise Invalid("The amount is invalid", {"amount": [str(exc)]}) from None
    if money.minor == 0:
        raise Invalid("The amount is invalid", {"amount": ["must be greater than zero"]})
    rate = session.scalar(select(Partner.points_per_unit).where(Partner.id == partner.id))
    if rate is None:
        raise Invalid(f"{partner.name} has no points rate, so it takes points, not amounts",
                      {"amount": ["this partner has no points_per_unit"]}, code="no_points_rate")
    return money, points_for(money, rate)


def points_for(money: Money, points_per_unit: Decimal) -> int:
    """Points for an amount, exactly, rounded up: the member never pays less than the price."""
    exact = Fraction(money.minor, 10 ** decimals(money.currency)) * Fraction(points_per_unit)
    return math.ceil(exact)
