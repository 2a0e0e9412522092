"""Spending points at a partner, and taking a redemption back.

A redemption of n points debits the member's available account and credits
the redeeming partner's redemption account. The lots it consumes (oldest
expiry first) say whose points were spent: that is what settlement bills.
A donation is a redemption at a charity. A till's `redeem` spends at once;
its `hold` authorises the points instead, and the hold (network.spending.holds)
becomes a redemption when it is captured. Both take the same `Price`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, InsufficientPoints, Invalid, NotFound
from network.events import outbox
from network.ledger import journal, locks, orders
from network.ledger.journal import AVAILABLE, REDEMPTION, MemberAccounts
from network.ledger.kinds import EntryKind, OrderKind, PartnerKind
from network.lifecycle import upkeep
from network.members import cards, merge
from network.models import JournalEntry, Lot, LotMovement
from network.parties.registry import PartnerRef, get_partner, provenance
from network.spending import holds, rewards
from partners.money import Money


@dataclass(frozen=True, slots=True)
class Price:
    """What a redemption costs: exactly one of so many points, a reward by sku (with a quantity), or an amount.

    An amount is money in the partner's currency, paid with points at its points rate.
    """

    points: int | None = None
    sku: str | None = None
    quantity: int = 1
    amount: str | None = None

    def __post_init__(self) -> None:
        if sum(given is not None for given in (self.points, self.sku, self.amount)) != 1:
            raise ValueError("a price is exactly one of points, sku or amount")
        if self.quantity != 1 and self.sku is None:
            raise ValueError("a quantity is only for a reward (sku)")


class Cost(NamedTuple):
    """A price worked out for a locked member: the points, the reward or money behind them, what the answer adds."""

    points: int
    reward: rewards.Taken | None
    money: Money | None
    shown: dict


def redeem(session: Session, partner: PartnerRef, *, card_number: str, order_id: str, price: Price, now: datetime) -> dict:
    """Spend points at a till now: so many points, a reward by sku, or an amount at the partner's rate."""
    member, cost = _lock_and_cost(session, partner, card_number, price, now)
    if orders.find(session, partner.id, OrderKind.HOLD, order_id) is not None:
        raise orders.duplicate(session, partner.id, OrderKind.HOLD, order_id)
    order = orders.claim(session, partner_id=partner.id, kind=OrderKind.REDEMPTION, order_id=order_id,
                         member_id=member.member_id, points=-cost.points, booked_at=now)
    _check_available(member, cost.points)
    if cost.reward is not None:
        rewards.reserve(session, cost.reward)
    entry_id, by_issuer = _spend(session, member, partner, cost.points, reason=f"Redemption {order_id} at {partner.name}",
                                 now=now, order=order, order_id=order_id)
    if cost.reward is not None:
        rewards.record(session, cost.reward.reward_id, member.member_id, entry_id, cost.reward.quantity)
    return {
        "redemption_id": entry_id,
        "points": cost.points,
        "member_id": member.member_id, "balance": member.balance_view(),
        "provenance": provenance(session, by_issuer),
        **cost.shown,
    }


def hold(session: Session, partner: PartnerRef, *, card_number: str, order_id: str, price: Price, now: datetime,
         until: datetime) -> dict:
    """Authorise a price's points until `until`, for a later capture or void (network.spending.holds)."""
    member, cost = _lock_and_cost(session, partner, card_number, price, now)
    held = holds.place(session, partner, member, points=cost.points, order_id=order_id, now=now, expires_at=until,
                       reward=cost.reward, amount_minor=cost.money.minor if cost.money else None)
    return {**held, **cost.shown}


def _lock_and_cost(session: Session, partner: PartnerRef, card_number: str, price: Price,
                   now: datetime) -> tuple[MemberAccounts, Cost]:
    """Lock the card's holder, bring them up to date, and work out the price for them."""
    member = locks.lock_member_by_card(session, card_number)
    upkeep.bring_up_to_date(session, member, now)
    if price.sku is not None:
        reward = rewards.choose(session, partner, member.member_id, price.sku, price.quantity)
        return member, Cost(reward.points, reward, None, {"reward": reward.view()})
    if price.amount is not None:
        money, points = rewards.priced(session, partner, price.amount)
        return member, Cost(points, None, money, {"amount": str(money), "currency": money.currency})
    return member, Cost(price.points, None, None, {})


def donate(session: Session, *, card_number: str, charity: str, points: int, donor: PartnerRef | None,
           now: datetime) -> dict:
    """Give points to a charity: a redemption at the charity, so settlement bills each lot's issuer to it."""
    recipient = get_partner(session, charity)
    if recipient.kind != PartnerKind.CHARITY:
        raise Invalid(f"{recipient.name} is not a charity", {"charity": [f"{charity!r} is a {recipient.kind}"]},
                      code="not_a_charity")
    member = locks.lock_member_by_card(session, card_number)
    upkeep.bring_up_to_date(session, member, now)
    _check_available(member, points)
    via = f" via {donor.name}" if donor is not None else ""
    entry_id, by_issuer = _spend(session, member, recipient, points, reason=f"Donation to {recipient.name}{via}", now=now)
    return {
        "donation_id": entry_id,
        "charity": recipient.slug,
        "points": points,
        "member_id": member.member_id, "balance": member.balance_view(),
        "provenance": provenance(session, by_issuer),
    }


def _spend(session: Session, member: MemberAccounts, at: PartnerRef, points: int, *, reason: str, now: datetime,
           order: int | None = None, order_id: str | None = None) -> tuple[int, dict[int | None, int]]:
    """Book points spent at a partner (a till, or a charity's donation box) on a locked member whose balance was checked.

    One "redemption" entry (what settlement bills each lot's issuer for), the
    lots it takes, the member's activity (which keeps their points alive)
    and the `points_redeemed` event, all in the caller's transaction.
    """
    entry_id = journal.post(
        session,
        kind=EntryKind.REDEMPTION,
        legs=[(member.ids[AVAILABLE], -points), (at.account_id(REDEMPTION), points)],
        member=member,
        partner_id=at.id,
        reason=reason,
        booked_at=now,
        order_id=order,
    )
    by_issuer = journal.consume_lots(session, member, points, entry_id)
    cards.touch(session, [member], now)
    outbox.points_redeemed(session, member, at, points=points, order_id=order_id, redemption_id=entry_id, now=now)
    return entry_id, by_issuer


def _check_available(member, points: int) -> None:
    available = member.balances[AVAILABLE]
    if available < points:
        raise InsufficientPoints(
            f"The card has {available} points available; {points} were asked for",
            {"requested": points, "available": available},
        )


def reverse(session: Session, partner: PartnerRef, redemption_id: int, *, now: datetime) -> dict:
    """Cancel a redemption (the till voided the basket): points go back into the very lots they came from.

    A captured hold is reversed by the hold's id too (its captured redemption is).
    """
    entry = session.get(JournalEntry, redemption_id) if redemption_id < 2**63 else None
    if entry is not None and entry.kind == EntryKind.HOLD and entry.partner_id == partner.id:
        captured = holds.captured_entry(session, partner.id, redemption_id)
        entry = session.get(JournalEntry, captured) if captured is not None else None
    if entry is None or entry.kind != EntryKind.REDEMPTION or entry.partner_id != partner.id:
        raise NotFound("No such redemption at this partner", code="unknown_redemption")
    member, holder = locks.lock_with_holder(session, entry.member_id)
    upkeep.bring_up_to_date(session, member, now)
    if session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id)) is not None:
        raise Conflict("The redemption was already reversed", code="already_reversed")
    consumed = session.execute(
        select(LotMovement.lot_id, LotMovement.points, Lot.issuer_id)
        .join(Lot, Lot.id == LotMovement.lot_id)
        .where(LotMovement.entry_id == entry.id)
    ).all()
    points = -sum(row.points for row in consumed)
    reversal_id = journal.post(
        session,
        kind=EntryKind.REDEMPTION_REVERSAL,
        legs=[(partner.account_id(REDEMPTION), -points), (member.ids[AVAILABLE], points)],
        member=member,
        partner_id=partner.id,
        reason=f"Reversal of redemption {entry.id} at {partner.name}",
        booked_at=now,
        reverses_id=entry.id,
    )
    by_issuer: dict[int | None, int] = {}
    for row in consumed:
        session.execute(update(Lot).where(Lot.id == row.lot_id).values(remaining=Lot.remaining - row.points))
        by_issuer[row.issuer_id] = by_issuer.get(row.issuer_id, 0) - row.points
    session.execute(
        journal.INSERT_MOVEMENTS, [{"lot_id": row.lot_id, "entry_id": reversal_id, "points": -row.points} for row in consumed]
    )
    rewards.on_reversal(session, entry.id, reversal_id)
    # The member may have been merged or deleted since: the points follow where its others went.
    member = merge.rehome(session, member, holder, now=now)
    return {
        "reversal_id": reversal_id,
        "redemption_id": entry.id,
        "points": points,
        "member_id": member.member_id, "balance": member.balance_view(),
        "provenance": provenance(session, by_issuer),
    }

