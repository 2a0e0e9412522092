"""Whether the programme pays a partner: its members' revenue beside what the points cost it, and the uplift.

Revenue is what the hub saw at the partner's tills: members' sales less
refunds booked in the window. The cost is the window's settlement figures
under the contracts in force: the issue fees it pays, what it owes other
partners for its points spent there, less what it is owed for honouring
theirs. Incremental revenue compares members who enrolled in the window
with themselves: their spend at the partner in the days after enrolling
against an equal span before, for those members the hub saw buy there
before they enrolled (a till that sends sales from before the card was
linked). Without such members it is not estimated, rather than guessed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from analytics.spend import bought_at, signed, spending
from analytics.window import Window, plus_days, share
from network.models import Member, Order, Partner, int_sum
from partners.money import Money
from settlement.figures import Period, settle

METHOD = ("members' spend at the partner in the window's length of days after enrolling, against their spend in as "
          "many days before, over the members enrolled in the window whose days after have passed and whom the hub "
          "saw buy there before enrolling")


def returns(session: Session, window: Window, currency: str, now: datetime, partner_id: int | None = None) -> list[dict]:
    """A line per partner (or the one named): revenue by currency, the points' cost in `currency`, the uplift.

    `now`: the uplift counts members whose span after enrolling has ended by then.
    """
    figures = settle(session, Period(window.start, window.end), currency)
    revenue = _revenue(session, window, partner_id)
    uplift = _incremental(session, window, partner_id, now)
    partners = session.execute(select(Partner.id, Partner.slug).order_by(Partner.slug)
                               .where(True if partner_id is None else Partner.id == partner_id)).all()
    lines = []
    for pid, slug in partners:
        owes = sum(a for (issuer, _), a in figures.obligations.items() if issuer == pid)
        owed = sum(a for (_, redeemer), a in figures.obligations.items() if redeemer == pid)
        fees = figures.fees.get(pid, 0)
        cost = fees + owes - owed
        sales = revenue.get(pid, {})
        own = sales.get(currency, 0)
        lines.append({
            "partner": slug,
            "revenue": [{"currency": c, "amount": str(Money(m, c))} for c, m in sorted(sales.items())],
            "points_issued": figures.issued.get(pid, 0),
            "cost": {"currency": currency, "issue_fees": str(Money(fees, currency)),
                     "owed_for_points_spent_elsewhere": str(Money(owes, currency)),
                     "received_for_points_spent_here": str(Money(owed, currency)),
                     "net": _signed(cost, currency)},
            "cost_share_of_revenue": share(cost, own) if own > 0 else None,
            "incremental": uplift.get(pid, _none()),
        })
    return lines


def _signed(minor: int, currency: str) -> str:
    return ("-" if minor < 0 else "") + str(Money(abs(minor), currency))


def _revenue(session: Session, window: Window, partner_id: int | None) -> dict[int, dict[str, int]]:
    query = (select(Order.partner_id, Order.currency, int_sum(signed))
             .where(*spending(Order.booked_at >= window.start, Order.booked_at < window.end))
             .group_by(Order.partner_id, Order.currency))
    if partner_id is not None:
        query = query.where(Order.partner_id == partner_id)
    revenue: dict[int, dict[str, int]] = defaultdict(dict)
    for pid, currency, minor in session.execute(query):
        revenue[pid][currency] = int(minor)
    return revenue


def _none() -> dict:
    return {"members": 0, "before": [], "after": [], "incremental": [], "method": METHOD}


def _incremental(session: Session, window: Window, partner_id: int | None, now: datetime) -> dict[int, dict]:
    """Per partner and currency: spend in the span after enrolling and in the span before, of members with a 'before'.

    Only members whose span after enrolling has ended by `now` count: a member enrolled yesterday has one day of
    'after' to set against a whole span of 'before'. A member's orders are all booked after they enrolled (an
    order names its member), so the window's start bounds the orders read.
    """
    dialect = session.get_bind().dialect.name
    days = (window.end - window.start) // timedelta(days=1)
    enrolled = and_(Member.created_at >= window.start, Member.created_at < window.end, Member.merged_into.is_(None),
                    plus_days(dialect, Member.created_at, days) <= now)
    spans = (select(Order.partner_id, Order.currency, Member.id.label("member_id"),
                    int_sum(case((bought_at < Member.created_at, signed), else_=0)).label("before"),
                    int_sum(case((bought_at >= Member.created_at, signed), else_=0)).label("after"),
                    func.count().filter(bought_at < Member.created_at).label("earlier"))
             .select_from(Order).join(Member, Member.id == Order.member_id)
             .where(enrolled, *spending(Order.booked_at >= window.start),
                    bought_at >= plus_days(dialect, Member.created_at, -days),
                    bought_at < plus_days(dialect, Member.created_at, days))
             .group_by(Order.partner_id, Order.currency, Member.id))
    if partner_id is not None:
        spans = spans.where(Order.partner_id == partner_id)
    spans = spans.subquery()
    found: dict[int, dict] = {}
    for pid, currency, members, before, after in session.execute(
            select(spans.c.partner_id, spans.c.currency, func.count(), func.sum(spans.c.before), func.sum(spans.c.after))
            .where(spans.c.earlier > 0).group_by(spans.c.partner_id, spans.c.currency)):
        line = found.setdefault(pid, _none())
        line["members"] = max(line["members"], members)
        before, after = int(before), int(after)
        line["before"].append({"currency": currency, "amount": _signed(before, currency)})
        line["after"].append({"currency": currency, "amount": _signed(after, currency)})
        line["incremental"].append({"currency": currency, "amount": _signed(after - before, currency)})
    return found
