"""What members are worth so far: one member's spend and points, and the averages by partner, tier and cohort.

A member's own is read through their journal entries (indexed by member),
so one member costs a few index look-ups on any size of ledger; spend is
their orders' (analytics.spend), a sale too small to earn a point, which
wrote no entry, aside.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.spend import bought_at, of_member, signed, spending
from analytics.window import month_of
from network.ledger.kinds import MEMBER_ACCOUNTS, EntryKind, OrderKind
from network.models import Account, JournalEntry, Member, Order, Partner, Posting, Tier, int_sum
from partners.money import Money

#: How each kind of entry shows in a member's points: anything not named is `other`.
POINTS_OF = {
    EntryKind.EARN: "earned", EntryKind.REFUND: "earned", EntryKind.OPENING: "earned",
    EntryKind.BONUS: "bonus",
    EntryKind.REDEMPTION: "redeemed", EntryKind.REDEMPTION_REVERSAL: "redeemed",
    EntryKind.EXPIRY: "expired", EntryKind.FORFEITURE: "expired",
}


def member_value(session: Session, member: Member) -> dict:
    """{"member_id", "enrolled_at", "purchases", "first_purchase", "last_purchase", "spend", "points"}."""
    entry = JournalEntry
    sale = Order.kind == OrderKind.SALE
    spend = session.execute(
        select(Order.currency, int_sum(signed), func.count().filter(sale), func.min(bought_at).filter(sale),
               func.max(bought_at).filter(sale))
        .where(*spending(of_member(member.id))).group_by(Order.currency)
    ).all()
    points: dict[str, int] = defaultdict(int)
    for kind, amount in session.execute(
        select(entry.kind, int_sum(Posting.amount))
        .join(Posting, Posting.entry_id == entry.id).join(Account, Account.id == Posting.account_id)
        .where(Account.member_id == member.id, Account.kind.in_(MEMBER_ACCOUNTS))
        .group_by(entry.kind)
    ):
        points[POINTS_OF.get(kind, "other")] += amount
    firsts = [row[3] for row in spend if row[3] is not None]
    lasts = [row[4] for row in spend if row[4] is not None]
    return {
        "member_id": member.id,
        "enrolled_at": member.created_at.isoformat(),
        "purchases": sum(row[2] for row in spend),
        "first_purchase": min(firsts).isoformat() if firsts else None,
        "last_purchase": max(lasts).isoformat() if lasts else None,
        "spend": [{"currency": currency, "amount": str(Money(minor, currency))}
                  for currency, minor, *_ in sorted(spend, key=lambda row: row[0] or "") if currency],
        "points": {"earned": points["earned"], "bonus": points["bonus"], "redeemed": -points["redeemed"],
                   "expired": -points["expired"], "other": points["other"], "balance": sum(points.values())},
    }


#: What a lifetime average may be grouped by: the partner that enrolled the member, the member's tier, or its cohort.
GROUPINGS = ("partner", "tier", "cohort")


def averages(session: Session, until: datetime, by: str) -> list[dict]:
    """Members' spend and net points so far (before `until`), in total and per member, for each group `by` names.

    Two GROUP BYs: each member's totals (their orders, by currency: analytics.spend), then
    the groups over every member, so members who never bought count in
    their group's average as the zero they are. Averages are rounded half to
    even, to the minor unit for money and to 2 places for points.
    """
    group = _group(session, by)
    each = (select(Order.member_id, Order.currency, int_sum(signed).label("spend"), int_sum(Order.points).label("points"))
            .where(*spending(Order.booked_at < until)).group_by(Order.member_id, Order.currency).subquery())
    population = (Member.created_at < until, Member.merged_into.is_(None))
    sizes = dict(session.execute(select(group, func.count()).select_from(Member).where(*population).group_by(group)).all())
    totals = session.execute(
        select(group, each.c.currency, func.sum(each.c.spend), func.sum(each.c.points))
        .select_from(Member).join(each, each.c.member_id == Member.id).where(*population).group_by(group, each.c.currency)).all()
    spend: dict = defaultdict(list)
    points: dict = defaultdict(int)
    for key, currency, minor, earned in totals:
        points[key] += int(earned or 0)
        if currency:
            spend[key].append((currency, int(minor or 0)))
    return [{"group": key, "members": size,
             "spend": [{"currency": currency, "total": str(Money(minor, currency)),
                        "per_member": str(Money(_per(minor, size), currency))} for currency, minor in sorted(spend[key])],
             "points": {"net_earned": points[key], "per_member": str(_per_points(points[key], size))}}
            for key, size in sorted(sizes.items(), key=lambda item: (item[0] is None, str(item[0])))]


def _group(session: Session, by: str):
    if by == "partner":
        return select(Partner.slug).where(Partner.id == Member.enrolled_by).scalar_subquery()
    if by == "tier":
        # No tier is the ladder's first rung (position 0); a member of a network without tiers is in none.
        return select(Tier.name).where(Tier.position == func.coalesce(Member.tier, 0)).scalar_subquery()
    if by == "cohort":
        return month_of(session.get_bind().dialect.name, Member.created_at)
    raise ValueError(f"cannot group members by {by!r}")


def _per(minor: int, members: int) -> int:
    return int((Decimal(minor) / members).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)) if members else 0


def _per_points(points: int, members: int) -> Decimal:
    return (Decimal(points) / members).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) if members else Decimal("0.00")
