"""What the report shows, read once after the run: the hub's own records and the signed statement's figures.

Counts (partners, members, sales) come from the database, points and money
from the statement (settlement.figures): the headline and the tables print
the same numbers, so they cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from network.demo.catalogue import BIKE_SHOP, PARTNERS, PLUGIN_PARTNERS
from settlement.figures import money
from settlement.statement import NETWORK_SLUG

TRADES = {t.slug: t.trade for t in (*PARTNERS, *PLUGIN_PARTNERS, BIKE_SHOP)}


@dataclass(frozen=True)
class PartnerFigures:
    slug: str
    name: str
    adapter: str
    rules: list[dict]
    enrolled: int  # members enrolled at its till
    sales: int
    takings: int  # cents of its sales
    refunds: int
    redemptions: int
    section: dict  # its section of the statement: issued, redeemed, expired, outstanding, fee, net, contract

    @property
    def trade(self) -> str:
        return TRADES.get(self.slug, "")


@dataclass(frozen=True)
class Summary:
    partners: list[PartnerFigures]
    members: int
    statement: dict  # the signed statement's body
    ledger: dict[str, list[str]]  # each invariant, with its offending rows

    def total(self, column: str) -> int:
        return sum(getattr(p, column) for p in self.partners)

    def name(self, slug: str) -> str:
        return next((p.name for p in self.partners if p.slug == slug), "the network" if slug == NETWORK_SLUG else slug)

    def section(self, slug: str) -> dict:
        return next(s for s in self.statement["partners"] if s["partner"] == slug)

    def net_positions(self) -> list[NetPosition]:
        """Each party's net (partners, then the network), from the statement's obligations and fees."""
        zero = Decimal(money(0, self.statement["currency"]))
        receives, pays = defaultdict(lambda: zero), defaultdict(lambda: zero)
        for obligation in self.statement["obligations"]:
            receives[obligation["to"]] += Decimal(obligation["amount"])
            pays[obligation["from"]] += Decimal(obligation["amount"])
        positions = []
        for section in self.statement["partners"]:
            slug = section["partner"]
            fees = Decimal(section["fees"]) if slug == NETWORK_SLUG else zero - Decimal(section["fee"])
            positions.append(NetPosition(self.name(slug), receives[slug], pays[slug], fees, Decimal(section["net"])))
        return positions


@dataclass(frozen=True)
class NetPosition:
    """What one party receives and pays for points, and its fees (paid: negative; the network's: received)."""

    party: str
    receives: Decimal
    pays: Decimal
    fees: Decimal
    net: Decimal


def read(session, statement: dict) -> Summary:
    from network.ledger.invariants import check
    from network.models import Member, Order, Partner

    orders = {(partner, kind): (n, minor) for partner, kind, n, minor in session.execute(
        select(Order.partner_id, Order.kind, func.count(), func.coalesce(func.sum(Order.total_minor), 0))
        .group_by(Order.partner_id, Order.kind))}
    enrolled = dict(session.execute(select(Member.enrolled_by, func.count()).group_by(Member.enrolled_by)).all())
    sections = {s["partner"]: s for s in statement["partners"]}
    partners = []
    for row in session.execute(select(Partner.id, Partner.slug, Partner.name, Partner.adapter, Partner.rules)
                               .order_by(Partner.id)):
        (sales, takings), (refunds, _), (redemptions, _) = (orders.get((row.id, kind), (0, 0))
                                                            for kind in ("sale", "refund", "redemption"))
        partners.append(PartnerFigures(row.slug, row.name, row.adapter, row.rules, enrolled.get(row.id, 0),
                                       sales, takings, refunds, redemptions, sections[row.slug]))
    return Summary(partners, sum(enrolled.values()), statement, check(session))
