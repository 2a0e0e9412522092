"""A period's settlement figures, read from the ledger's lots and their movements.

Every point carries its issuer on its lot, and every movement of a lot
(redeemed, reversed, refunded, expired) is recorded with the entry that
moved it and the lot's issuer. A period [start, end) takes the movements
booked in it, by booking time, so a closed period's figures never change:
what is booked later belongs to a later period. Points are integers; money
is an integer count of minor units of the settlement currency, each amount
rounded half to even once per (issuer, redeemer, contract version).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property
from typing import NamedTuple

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session, aliased

from network.ledger.kinds import BREAKAGE_ENTRIES, HOLD_ENTRIES, REDEMPTION_ENTRIES, EntryKind
from network.models import JournalEntry, Lot, LotMovement, Partner, int_sum
from network.parties.contracts import ContractVersion, versions
from partners.money import Money, decimals

#: The issuer of points no partner issued (a network-wide promotion): it pays for them when they are spent.
NETWORK = None

#: Points only moved from one member to another (network.members.merge): the lots they open were issued long ago.
MOVES = (EntryKind.MERGE,)


@dataclass(frozen=True)
class Period:
    start: datetime | None  # None: from the beginning of the ledger
    end: datetime


@dataclass(frozen=True)
class Opening:
    """Points members held at `at`, by issuer: a closed statement's outstanding, where the next one starts."""

    at: datetime
    held: dict[int | None, int]


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
    #: partner -> minor units it receives (negative: pays) by disputes upheld in the period (settlement.disputes)
    adjustments: dict[int, int] = field(default_factory=dict)

    def net(self, party: int | None) -> int:
        """Minor units the party receives (positive) or pays (negative) through the network."""
        if party is NETWORK:
            return (sum(self.fees.values()) - sum(a for (issuer, _), a in self.obligations.items() if issuer is NETWORK)
                    - sum(self.adjustments.values()))
        owed_to = sum(a for (_, redeemer), a in self.obligations.items() if redeemer == party)
        owed_by = sum(a for (issuer, _), a in self.obligations.items() if issuer == party)
        return owed_to - owed_by - self.fees.get(party, 0) + self.adjustments.get(party, 0)


def amount(points: int, rate: Decimal, currency: str) -> int:
    """points x rate in minor units, rounded half to even once."""
    places = decimals(currency)
    exact = Decimal(points) * rate * (Decimal(10) ** places)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _booked_in(period: Period, column):
    """SQL for "booked in [start, end)": a closed period's figures never change with what is booked later."""
    condition = column < period.end
    return condition if period.start is None else condition & (column >= period.start)


def _movements(period: Period, *columns):
    """SELECT columns FROM the period's lot movements with their entry: every figure but issuance reads them.

    A movement is booked with its entry and names its lot's issuer (ledger
    invariants), so both are chosen by booking time: on PostgreSQL the
    movements' partition for the month and the entries' index, and no lot
    at all, rather than every entry and lot ever written.
    """
    return (
        select(*columns)
        .select_from(LotMovement)
        .join(JournalEntry, JournalEntry.id == LotMovement.entry_id)
        .where(_booked_in(period, LotMovement.booked_at), _booked_in(period, JournalEntry.booked_at))
    )


@dataclass(frozen=True)
class Contracts:
    """The contract versions in the settlement currency: every amount is valued at one of them."""

    currency: str
    versions: tuple[ContractVersion, ...]

    @classmethod
    def of(cls, session: Session, currency: str) -> Contracts:
        return cls(currency, tuple(v for v in versions(session) if v.currency == currency))

    @cached_property
    def by_id(self) -> dict[int, ContractVersion]:
        return {v.id: v for v in self.versions}

    def in_force_sql(self, party, at):
        """SQL for the id of the version in force for `party` at time `at` (NULL when none): one GROUP BY key."""
        whens = [
            ((party == v.partner_id) & (at >= v.effective_from), literal(v.id))
            for v in sorted(self.versions, key=lambda v: v.effective_from, reverse=True)
        ]
        return case(*whens, else_=literal(None)) if whens else literal(None)

    def in_force(self, at: datetime) -> dict[int, ContractVersion]:
        """Each partner's latest version that started before `at`: the terms a statement names."""
        latest: dict[int, ContractVersion] = {}
        for version in sorted(self.versions, key=lambda v: v.effective_from):
            if version.effective_from < at:
                latest[version.partner_id] = version
        return latest


#: No contract at all: the figures in points alone (reports that price nothing), so in no currency either.
UNPRICED = Contracts("", ())


class IssueKey(NamedTuple):
    issuer: int | None
    version: int | None  # the issuer's contract version when the points were credited


class SpendKey(NamedTuple):
    issuer: int | None
    redeemer: int
    version: int | None  # the redeemer's contract version when the points were spent


@dataclass(frozen=True)
class Issued:
    points: dict[int | None, int]  # by issuer
    fees: dict[int, int]  # by issuer, minor units it pays the network


@dataclass(frozen=True)
class Spent:
    matrix: dict[tuple[int | None, int], int]  # (issuer, redeemer) -> points
    redeemed: dict[int | None, int]  # by redeemer
    obligations: dict[tuple[int | None, int], int]  # (issuer, redeemer) -> minor units, issuer != redeemer


def settle(session: Session, period: Period, currency: str, *, opening: Opening | None = None) -> Figures:
    """The period's figures: one step per figure a statement shows, each one or two GROUP BYs.

    `opening`: the outstanding points at the period's start, when a closed
    statement says them; without it they are summed from the first entry.
    """
    if opening is not None and opening.at != period.start:
        raise ValueError(f"an opening at {opening.at} does not start a period from {period.start}")
    contracts = Contracts.of(session, currency)
    credits = credited(session, period, contracts)
    movements = moved(session, period, contracts)
    issued = issued_less_clawbacks(session, period, contracts, credits, movements)
    spent = spent_less_reversals(session, period, contracts, movements)
    # The period's credits and movements are the outstanding's too, when it starts from the period's start.
    same_span = opening is not None or period.start is None
    return Figures(
        currency=currency,
        period=period,
        issued=issued.points,
        fees=issued.fees,
        redeemed=spent.redeemed,
        matrix=spent.matrix,
        obligations=spent.obligations,
        expired=breakage(session, period, movements),
        outstanding=outstanding(session, period.end, opening=opening, credits=credits if same_span else None,
                                movements=movements if same_span else None),
        contracts=partners_contracts(session, contracts, period.end),
    )


class Moved(NamedTuple):
    """The period's lot movements summed by what every figure but issuance tells apart."""

    issuer: int | None  # the lot's
    partner: int | None  # the entry's: where points were spent, or which partner refunded
    kind: str  # the entry's
    issue_version: int | None  # a refund's: the issuer's version when it was booked (a claw-back lowers its fee)
    spend_version: int | None  # the entry partner's version when it (or the redemption it reverses) was booked
    points: int  # negative: taken from lots


def moved(session: Session, period: Period, contracts: Contracts) -> list[Moved]:
    """Every movement of the period in one GROUP BY: claw-backs, spending, breakage and the outstanding read it.

    One scan of the period's movements and their entries instead of one per
    figure (a month's close read them four times). A reversal is grouped
    under the version of the redemption it reverses.
    """
    entry, lot_issuer, original = JournalEntry, LotMovement.issuer_id, aliased(JournalEntry)
    issue_version = case((entry.kind == EntryKind.REFUND, contracts.in_force_sql(lot_issuer, entry.booked_at)),
                         else_=literal(None))
    spend_version = contracts.in_force_sql(entry.partner_id, func.coalesce(original.booked_at, entry.booked_at))
    query = (
        _movements(period, lot_issuer, entry.partner_id, entry.kind, issue_version, spend_version,
                   int_sum(LotMovement.points))
        .outerjoin(original, (original.id == entry.reverses_id) & (entry.kind == EntryKind.REDEMPTION_REVERSAL))
        .group_by(lot_issuer, entry.partner_id, entry.kind, issue_version, spend_version)
    )
    return [Moved(*row) for row in session.execute(query)]


class CreditKey(NamedTuple):
    issuer: int | None
    version: int | None  # the issuer's contract version when the points were credited
    moved: bool  # a merge's: points issued long ago, moved from one member to another


def credited(session: Session, period: Period, contracts: Contracts | None) -> dict[CreditKey, int]:
    """Points credited to members in the period (their lots), by issuer, issue-fee version and whether a merge moved
    them: issuance and the outstanding read the one scan of lots (with no `contracts`, no version)."""
    entry, lot = JournalEntry, Lot
    version = literal(None) if contracts is None else contracts.in_force_sql(lot.issuer_id, entry.booked_at)
    moved = entry.kind.in_(MOVES)
    query = (
        select(lot.issuer_id, version, moved, int_sum(lot.points))
        .join(entry, entry.id == lot.entry_id)
        .where(_booked_in(period, entry.booked_at))
        .group_by(lot.issuer_id, version, moved)
    )
    return {CreditKey(issuer, version_id, bool(was_moved)): points
            for issuer, version_id, was_moved, points in session.execute(query)}


def issued_less_clawbacks(session: Session, period: Period, contracts: Contracts,
                          credits: dict[CreditKey, int] | None = None, movements: list[Moved] | None = None) -> Issued:
    """Points issued less those refunds clawed back, by issuer: the issue fee is charged on the net."""
    issued = Issued(points=defaultdict(int), fees=defaultdict(int))
    if credits is None:
        credits = credited(session, period, contracts)
    if movements is None:
        movements = moved(session, period, contracts)
    for (issuer, version), points in _issue_points(credits, movements).items():
        issued.points[issuer] += points
        if issuer is not NETWORK and version is not None:
            issued.fees[issuer] += amount(points, contracts.by_id[version].issue_fee, contracts.currency)
    return issued


def _issue_points(credits: dict[CreditKey, int], movements: list[Moved]) -> dict[IssueKey, int]:
    """Net points by issuer and issue-fee version: the fee is rounded once per version, not per sale."""
    points: dict[IssueKey, int] = defaultdict(int)
    for (issuer, version_id, was_moved), credit in credits.items():
        if not was_moved:  # lots a merge opened only moved points issued long ago
            points[IssueKey(issuer, version_id)] += credit
    for m in movements:  # a refund takes back its own partner's points; another issuer's it spends (below)
        if m.kind == EntryKind.REFUND and m.partner == m.issuer:
            points[IssueKey(m.issuer, m.issue_version)] += m.points
    return points


def spent_less_reversals(session: Session, period: Period, contracts: Contracts,
                         movements: list[Moved] | None = None) -> Spent:
    """Points spent less reversals, by issuer and redeemer: what one partner owes another."""
    spent = Spent(matrix=defaultdict(int), redeemed=defaultdict(int), obligations=defaultdict(int))
    if movements is None:
        movements = moved(session, period, contracts)
    for (issuer, redeemer, version), points in _spend_points(movements).items():
        spent.matrix[issuer, redeemer] += points
        spent.redeemed[redeemer] += points
        if issuer != redeemer and version is not None:
            rate = contracts.by_id[version].redeem_rate
            spent.obligations[issuer, redeemer] += amount(points, rate, contracts.currency)
    return spent


def _spend_points(movements: list[Moved]) -> dict[SpendKey, int]:
    """Net points by issuer, redeemer and the redeemer's version when the redemption was booked.

    A reversal is valued at its redemption's version. A refund that takes another
    issuer's points, and a repayment of what a refund left owing, spend those
    points at the refunding partner (network.earning.clawback).
    """
    points: dict[SpendKey, int] = defaultdict(int)
    for m in movements:
        spends = (m.kind in REDEMPTION_ENTRIES or m.kind == EntryKind.REPAYMENT
                  or (m.kind == EntryKind.REFUND and (m.issuer is None or m.issuer != m.partner)))
        if spends:
            points[SpendKey(m.issuer, m.partner, m.spend_version)] -= m.points
    return points


def breakage(session: Session, period: Period, movements: list[Moved] | None = None) -> dict[int | None, int]:
    """Points that expired or were forfeited in the period, by issuer: the issuer keeps what is never spent."""
    expired: dict[int | None, int] = defaultdict(int)
    for m in moved(session, period, UNPRICED) if movements is None else movements:
        if m.kind in BREAKAGE_ENTRIES:
            expired[m.issuer] -= m.points
    return expired


def outstanding(session: Session, end: datetime, *, opening: Opening | None = None,
                credits: dict[CreditKey, int] | None = None, movements: list[Moved] | None = None
                ) -> dict[int | None, int]:
    """Points members still hold at `end`, by issuer: each issuer's liability.

    Every lot credited before it, less every movement booked before it but a
    hold's: held points are still the member's until captured, and a release
    gives them back. With an `opening` (what members held at an earlier
    time: the last statement's figure), only what was booked since is read,
    so a month's close reads that month and not the years before it.
    `credits` and `movements`: what `credited` and `moved` found over that same span, if the caller has them.
    """
    since = Period(opening.at if opening else None, end)
    held: dict[int | None, int] = defaultdict(int, opening.held if opening else {})
    for key, points in (credited(session, since, None) if credits is None else credits).items():
        held[key.issuer] += points
    for m in moved(session, since, UNPRICED) if movements is None else movements:
        if m.kind not in HOLD_ENTRIES:
            held[m.issuer] += m.points
    return held


def partners_contracts(session: Session, contracts: Contracts, end: datetime) -> dict[int, ContractVersion | None]:
    """Every partner that existed by `end` with its version in force (None: none yet): each gets a section."""
    in_force = contracts.in_force(end)
    return {partner_id: in_force.get(partner_id)
            for partner_id in session.scalars(select(Partner.id).where(Partner.created_at < end))}


def money(minor: int, currency: str) -> str:
    return str(Money(minor, currency))
