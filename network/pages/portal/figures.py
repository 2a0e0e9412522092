"""What a partner's "Today" page counts: its own earns, redemptions, enrolments and rewards, summed by the database.

Each figure is one aggregate over the ledger's own rows: points are the
postings to the partner's hot accounts (an earn debits its issuance account
by exactly the points it awarded, a redemption credits its redemption
account by the points spent), so the page and the ledger cannot disagree.
"Today" is the partner's own day, in its time zone; the period is the open
settlement period, from the last statement's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from network.ledger.journal import ISSUANCE, REDEMPTION
from network.ledger.kinds import CardStatus, EntryKind, OrderKind
from network.members import cards
from network.models import JournalEntry, Member, Order, Posting, Reward, RewardRedemption, Statement, int_sum
from network.parties.registry import PartnerRef

#: How many of the catalogue's rewards the page ranks.
TOP_REWARDS = 5
#: The kinds of order a partner looks up by its own id.
LOOKED_UP = (OrderKind.SALE, OrderKind.REFUND, OrderKind.CANCELLATION, OrderKind.REDEMPTION)


@dataclass(frozen=True)
class Movement:
    count: int
    points: int


@dataclass(frozen=True)
class Span:
    """One stretch of time's figures."""

    earned: Movement
    redeemed: Movement
    enrolled: int


@dataclass(frozen=True)
class Today:
    day_start: datetime
    period_start: datetime | None
    today: Span
    period: Span
    enrolled_ever: int
    #: (sku, name, units taken, not reversed), most taken first.
    top_rewards: list[tuple[str, str, int]]


@dataclass(frozen=True)
class FoundOrder:
    kind: str
    order_id: str
    points: int
    card: str | None
    booked_at: datetime


def day_start(now: datetime, zone: str) -> datetime:
    """The start of `now`'s day where the partner is, in UTC."""
    local = now.astimezone(ZoneInfo(zone))
    return datetime.combine(local.date(), time(0), ZoneInfo(zone)).astimezone(timezone.utc)


def today(session: Session, partner: PartnerRef, now: datetime) -> Today:
    start = day_start(now, partner.timezone)
    period = session.scalar(select(func.max(Statement.period_end)))
    return Today(start, period, _span(session, partner, start), _span(session, partner, period),
                 _enrolled(session, partner.id, None), _top_rewards(session, partner.id))


def _span(session: Session, partner: PartnerRef, since: datetime | None) -> Span:
    return Span(_moved(session, partner.account_id(ISSUANCE), EntryKind.EARN, since, -1),
                _moved(session, partner.account_id(REDEMPTION), EntryKind.REDEMPTION, since, 1),
                _enrolled(session, partner.id, since))


def _moved(session: Session, account_id: int, kind: str, since: datetime | None, sign: int) -> Movement:
    query = (select(func.count(distinct(Posting.entry_id)), int_sum(Posting.amount))
             .join(JournalEntry, JournalEntry.id == Posting.entry_id)
             .where(Posting.account_id == account_id, JournalEntry.kind == kind))
    if since is not None:
        query = query.where(JournalEntry.booked_at >= since)
    count, points = session.execute(query).one()
    return Movement(count, sign * points)


def _enrolled(session: Session, partner_id: int, since: datetime | None) -> int:
    query = select(func.count()).select_from(Member).where(Member.enrolled_by == partner_id)
    if since is not None:
        query = query.where(Member.created_at >= since)
    return session.scalar(query)


def _top_rewards(session: Session, partner_id: int) -> list[tuple[str, str, int]]:
    units = int_sum(RewardRedemption.quantity).label("units")
    rows = session.execute(
        select(Reward.sku, Reward.name, units).join(RewardRedemption, RewardRedemption.reward_id == Reward.id)
        .where(Reward.partner_id == partner_id, RewardRedemption.reversal_entry_id.is_(None))
        .group_by(Reward.id, Reward.sku, Reward.name).order_by(units.desc(), Reward.sku).limit(TOP_REWARDS)
    ).all()
    return [(sku, name, taken) for sku, name, taken in rows]


def find_orders(session: Session, partner_id: int, order_id: str) -> list[FoundOrder]:
    """The partner's orders with this id (a sale and its refund may share one), each member shown by a masked card."""
    rows = session.execute(
        select(Order.kind, Order.order_id, Order.points, Order.member_id, Order.booked_at)
        .where(Order.partner_id == partner_id, Order.order_id == order_id, Order.kind.in_(LOOKED_UP))
        .order_by(Order.booked_at, Order.id)
    ).all()
    return [FoundOrder(row.kind, row.order_id, row.points, _masked_card(session, row.member_id), row.booked_at)
            for row in rows]


def _masked_card(session: Session, member_id: str) -> str | None:
    held = cards.cards_of(session, member_id)
    chosen = [card for card in held if card.status == CardStatus.ACTIVE] or held
    return cards.mask(chosen[-1].number) if chosen else None
