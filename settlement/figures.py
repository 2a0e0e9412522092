"""A period's settlement figures, read from the ledger's lots and their movements.

Every point carries its issuer on its lot, and every movement of a lot
(redeemed, reversed, refunded, expired) is recorded with the entry that
moved it. A period [start, end) takes the movements booked in it, by booking
time, so a closed period's figures never change: what is booked later
belongs to a later period. Points are integers; money is an integer count
of minor units of the settlement currency, each amount rounded half to even
once per (issuer, redeemer, contract version).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session, aliased

from network.ledger.kinds import BREAKAGE_ENTRIES, HOLD_ENTRIES, REDEMPTION_ENTRIES, EntryKind
from network.models import JournalEntry, Lot, LotMovement, Partner, int_sum
from network.parties.contracts import ContractVersion, versions
from partners.money import Money, decimals

#: The issuer of points no partner issued (a network-wide promotion): it pays for them when they are spent.
NETWORK = None

REDEMPTIONS = REDEMPTION_ENTRIES
#: Points only moved from one member to another (network.members.merge): the lots they open were issued long ago.
MOVES = (EntryKind.MERGE,)


@dataclass(frozen=True)
class Period:
    start: datetime | None  # None: from the beginning of the ledger
    end: datetime


@dataclass
class Figures:
    """What each party did in the period and what it owes; parties are partner ids, NETWORK for the network."""

    currency: str
    period: Period
    issued: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))
    redeemed: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))
    expired: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))
    outstanding: dict[int | None, int] = field(default_factory=lambda: defaultdict(int))
    #: (issuer, redeemer) -> points of the issuer's lots spent at the redeemer
    matrix: dict[tuple[int | None, int], int] = field(default_factory=lambda: defaultdict(int))
    #: (issuer, redeemer) -> minor units the issuer owes the redeemer (issuer != redeemer)
    obligations: dict[tuple[int | None, int], int] = field(default_factory=lambda: defaultdict(int))
    fees: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    contracts: dict[int, ContractVersion | None] = field(default_factory=dict)

    def net(self, party: int | None) -> int:
        """Minor units the party receives (positive) or pays (negative) through the network."""
        if party is NETWORK:
            return sum(self.fees.values()) - sum(a for (issuer, _), a in self.obligations.items() if issuer is NETWORK)
        owed_to = sum(a for (_, redeemer), a in self.obligations.items() if redeemer == party)
        owed_by = sum(a for (issuer, _), a in self.obligations.items() if issuer == party)
        return owed_to - owed_by - self.fees.get(party, 0)


def amount(points: int, rate: Decimal, currency: str) -> int:
    """points x rate in minor units, rounded half to even once."""
    places = decimals(currency)
    exact = Decimal(points) * rate * (Decimal(10) ** places)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _version_of(contracts: list[ContractVersion], party, at):
    """SQL for the id of the contract version in force for `party` at time `at` (NULL when none)."""
    whens = [
        ((party == v.partner_id) & (at >= v.effective_from), literal(v.id))
        for v in sorted(contracts, key=lambda v: v.effective_from, reverse=True)
    ]
    return case(*whens, else_=literal(None)) if whens else literal(None)


def settle(session: Session, period: Period, currency: str) -> Figures:
    contracts = [v for v in versions(session) if v.currency == currency]
    by_id = {v.id: v for v in contracts}
    figures = Figures(currency=currency, period=period)
    entry, lot, move, original = JournalEntry, Lot, LotMovement, aliased(JournalEntry)

    def booked_in(column):
        condition = column < period.end
        return condition if period.start is None else condition & (column >= period.start)

    # Points issued (credited on lots, less lots a merge only moved) and clawed back by refunds,
    # by issuer and issue-fee version.
    issued_version = _version_of(contracts, lot.issuer_id, entry.booked_at)
    fee_points: dict[tuple[int | None, int | None], int] = defaultdict(int)
    for issuer, version, points in session.execute(
        select(lot.issuer_id, issued_version, int_sum(lot.points))
        .join(entry, entry.id == lot.entry_id)
        .where(booked_in(entry.booked_at), entry.kind.not_in(MOVES))
        .group_by(lot.issuer_id, issued_version)
    ):
        fee_points[issuer, version] += points
    for issuer, version, points in session.execute(
        select(lot.issuer_id, issued_version, int_sum(-move.points))
        .select_from(move)
        .join(entry, entry.id == move.entry_id)
        .join(lot, lot.id == move.lot_id)
        .where(entry.kind == EntryKind.REFUND, entry.partner_id == lot.issuer_id, booked_in(entry.booked_at))
        .group_by(lot.issuer_id, issued_version)
    ):
        fee_points[issuer, version] -= points
    for (issuer, version), points in fee_points.items():
        figures.issued[issuer] += points
        if issuer is not NETWORK and version is not None:
            figures.fees[issuer] += amount(points, by_id[version].issue_fee, currency)

    # Points spent (less reversals) by issuer and redeemer, valued at the redeemer's
    # version in force when the redemption was booked (a reversal: its redemption's).
    # A refund that takes another issuer's points, and a repayment of what a refund
    # left owing, spend those points at the refunding partner (network.earning.clawback).
    spent_at = func.coalesce(original.booked_at, entry.booked_at)
    redeem_version = _version_of(contracts, entry.partner_id, spent_at)
    by_version: dict[tuple[int | None, int, int | None], int] = defaultdict(int)
    for issuer, redeemer, version, points in session.execute(
        select(lot.issuer_id, entry.partner_id, redeem_version, int_sum(-move.points))
        .select_from(move)
        .join(entry, entry.id == move.entry_id)
        .join(lot, lot.id == move.lot_id)
        .outerjoin(original, (original.id == entry.reverses_id) & (entry.kind == EntryKind.REDEMPTION_REVERSAL))
        .where(
            entry.kind.in_(REDEMPTIONS)
            | (entry.kind == EntryKind.REPAYMENT)
            | ((entry.kind == EntryKind.REFUND) & (lot.issuer_id.is_(None) | (lot.issuer_id != entry.partner_id))),
            booked_in(entry.booked_at),
        )
        .group_by(lot.issuer_id, entry.partner_id, redeem_version)
    ):
        by_version[issuer, redeemer, version] += points
    for (issuer, redeemer, version), points in by_version.items():
        figures.matrix[issuer, redeemer] += points
        figures.redeemed[redeemer] += points
        if issuer != redeemer and version is not None:
            figures.obligations[issuer, redeemer] += amount(points, by_id[version].redeem_rate, currency)

    # Breakage: points that expired or were forfeited in the period, by issuer.
    for issuer, points in session.execute(
        select(lot.issuer_id, int_sum(-move.points))
        .select_from(move)
        .join(entry, entry.id == move.entry_id)
        .join(lot, lot.id == move.lot_id)
        .where(entry.kind.in_(BREAKAGE_ENTRIES), booked_in(entry.booked_at))
        .group_by(lot.issuer_id)
    ):
        figures.expired[issuer] += points

    # Outstanding at the end: every lot credited before it, less every movement booked before it
    # but a hold's (held points are still the member's until captured; a release gives them back).
    for issuer, points in session.execute(
        select(lot.issuer_id, int_sum(lot.points)).join(entry, entry.id == lot.entry_id)
        .where(entry.booked_at < period.end).group_by(lot.issuer_id)
    ):
        figures.outstanding[issuer] += points
    for issuer, points in session.execute(
        select(lot.issuer_id, int_sum(move.points)).select_from(move)
        .join(entry, entry.id == move.entry_id).join(lot, lot.id == move.lot_id)
        .where(entry.booked_at < period.end, entry.kind.not_in(HOLD_ENTRIES)).group_by(lot.issuer_id)
    ):
        figures.outstanding[issuer] += points

    in_force = _in_force(contracts, period.end)
    for partner_id in session.scalars(select(Partner.id).where(Partner.created_at < period.end)):
        figures.contracts[partner_id] = in_force.get(partner_id)
    return figures


def _in_force(contracts: list[ContractVersion], at: datetime) -> dict[int, ContractVersion]:
    latest: dict[int, ContractVersion] = {}
    for version in sorted(contracts, key=lambda v: v.effective_from):
        if version.effective_from < at:
            latest[version.partner_id] = version
    return latest


def money(minor: int, currency: str) -> str:
    return str(Money(minor, currency))
