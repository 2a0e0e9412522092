"""The points liability: what the points members still hold would cost, as finance carries it (IFRS 15).

A point outstanding is a promise still owed, worth what redeeming it will
cost: the redeemers' rates under their contracts in force, weighted by where
the issuer's points were actually spent over the last year. Less the share
expected never to be redeemed (breakage), estimated from the points whose
life is over: of those, the share that expired rather than being spent.
Deferred revenue = outstanding x value x (1 - breakage), rounded half to
even once per issuer, in the settlement currency.

The roll-forward of a span (opening, issued, redeemed, expired, closing)
is in points from settlement's figures, and ties to the ledger to the
point (`unexplained`, what the lines leave over, is 0 on a sound ledger); valued, every line but one is at the closing estimate, and the
change of estimate is what revaluing the opening balance moved, the line
that makes the money tie after each line's rounding.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from network.ledger.kinds import EntryKind
from network.models import JournalEntry, Lot, LotMovement, Partner, int_sum
from settlement.figures import (
    NETWORK,
    UNPRICED,
    Contracts,
    Period,
    amount,
    breakage,
    issued_less_clawbacks,
    money,
    moved,
    outstanding,
    spent_less_reversals,
)
from settlement.runs import opening_before
from settlement.statement import NETWORK_SLUG

#: Where points were spent, to weigh the redeemers' rates: the year before the day valued.
SPEND_MIX = timedelta(days=365)
PLACES = Decimal("0.000001")


def parse_breakage(text: str | None) -> Decimal | None:
    """COALITION_EXPECTED_BREAKAGE: a share from 0 to 1 overriding the estimate for every issuer, or unset."""
    if text is None or text == "":
        return None
    try:
        share = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"COALITION_EXPECTED_BREAKAGE must be a decimal from 0 to 1, not {text!r}") from None
    if not share.is_finite() or not 0 <= share < 1:
        raise ValueError(f"COALITION_EXPECTED_BREAKAGE must be from 0 up to (not including) 1, not {text!r}")
    return share


@dataclass(frozen=True)
class Estimate:
    """What one issuer's point is worth at a time, and on what basis."""

    value: Decimal | None  # per point, in the currency; None: no redeemer's rate is known
    value_basis: str
    breakage: Decimal
    breakage_basis: str

    @property
    def unit(self) -> Decimal:
        return (self.value or Decimal(0)) * (1 - self.breakage)

    def view(self) -> dict:
        return {"value_per_point": None if self.value is None else str(self.value.quantize(PLACES)),
                "value_basis": self.value_basis, "breakage": str(self.breakage.quantize(Decimal("0.0001"))),
                "breakage_basis": self.breakage_basis}


def estimates(session: Session, at: datetime, currency: str, override: Decimal | None) -> dict[int | None, Estimate]:
    """Each issuer's estimate at `at` (every partner and the network)."""
    contracts = Contracts.of(session, currency)
    rates = {partner: version.redeem_rate for partner, version in contracts.in_force(at).items()}
    mix = spent_less_reversals(session, Period(at - SPEND_MIX, at), UNPRICED).matrix
    ended = _ended(session, at) if override is None else {}
    issuers = [NETWORK, *session.scalars(select(Partner.id).where(Partner.created_at < at).order_by(Partner.id))]
    network_mix = defaultdict(int)
    for (_, redeemer), points in mix.items():
        network_mix[redeemer] += points
    found = {}
    for issuer in issuers:
        own = {redeemer: points for (i, redeemer), points in mix.items() if i == issuer}
        value, basis = _weighted(own, rates), "where its points were spent in the last 365 days"
        if value is None:
            value, basis = _weighted(network_mix, rates), "where the network's points were spent in the last 365 days"
        if value is None and issuer in rates:
            value, basis = rates[issuer], "its own redeem rate (no spending to weigh yet)"
        if value is None:
            basis = "no redeemer's rate known"
        if override is not None:
            share, share_basis = override, "COALITION_EXPECTED_BREAKAGE"
        else:
            base, expired = ended.get(issuer, (0, 0))
            share = Decimal(expired) / Decimal(base) if base > 0 else Decimal(0)
            share_basis = (f"expired share of the {base} points whose life ended" if base > 0
                           else "none assumed: no points have reached the end of their life")
        found[issuer] = Estimate(value, basis, share, share_basis)
    return found


def _weighted(spent: dict[int, int], rates: dict[int, Decimal]) -> Decimal | None:
    """The redeemers' rates weighted by points spent at each (only redeemers with a rate count)."""
    priced = {redeemer: points for redeemer, points in spent.items() if redeemer in rates and points > 0}
    total = sum(priced.values())
    if not total:
        return None
    return sum(Decimal(points) * rates[redeemer] for redeemer, points in priced.items()) / total


def _ended(session: Session, at: datetime) -> dict[int | None, tuple[int, int]]:
    """By issuer: (points issued on lots whose life ended by `at`, net of claw-backs; those of them that expired).

    A lot a merge opened carries points issued on another lot: its points
    are not issued again, but what expires on it counts.
    """
    over = (Lot.expires_at <= at) & (Lot.earned_at < at)
    base: dict[int | None, int] = defaultdict(int)
    for issuer, points in session.execute(select(Lot.issuer_id, int_sum(Lot.points))
                                          .where(over, Lot.merged_from_id.is_(None)).group_by(Lot.issuer_id)):
        base[issuer] += points
    expired: dict[int | None, int] = defaultdict(int)
    kind = case((JournalEntry.kind.in_((EntryKind.EXPIRY, EntryKind.FORFEITURE)), "expired"),
                (JournalEntry.kind == EntryKind.REFUND, "refunded"), else_="other")
    moved = (select(Lot.issuer_id, kind, int_sum(LotMovement.points))
             .join(LotMovement, LotMovement.lot_id == Lot.id).join(JournalEntry, JournalEntry.id == LotMovement.entry_id)
             .where(over, JournalEntry.booked_at < at).group_by(Lot.issuer_id, kind))
    for issuer, what, points in session.execute(moved):
        if what == "expired":
            expired[issuer] -= points
        elif what == "refunded":
            base[issuer] += points
    return {issuer: (base[issuer], expired[issuer]) for issuer in set(base) | set(expired)}


def liability(session: Session, start: datetime, end: datetime, currency: str, override: Decimal | None) -> dict:
    """The liability at `end` by issuer and for the network, with the roll-forward of [start, end)."""
    slugs = {NETWORK: NETWORK_SLUG, **dict(session.execute(select(Partner.id, Partner.slug)).all())}
    period = Period(start, end)
    opening = outstanding(session, start, opening=opening_before(session, start))
    closing = outstanding(session, end, opening=opening_before(session, end))
    movements = moved(session, period, UNPRICED)
    issued = issued_less_clawbacks(session, period, UNPRICED, movements=movements).points
    spent = spent_less_reversals(session, period, UNPRICED, movements).matrix
    expired = breakage(session, period, movements)
    before, after = estimates(session, start, currency, override), estimates(session, end, currency, override)
    issuers, totals = [], defaultdict(int)
    for issuer in after:
        points = {"opening": opening.get(issuer, 0), "issued": issued.get(issuer, 0),
                  "redeemed": sum(p for (i, _), p in spent.items() if i == issuer), "expired": expired.get(issuer, 0),
                  "closing": closing.get(issuer, 0)}
        minor = {line: amount(points[line], after[issuer].unit, currency)
                 for line in ("issued", "redeemed", "expired", "closing")}
        minor["opening"] = amount(points["opening"], before[issuer].unit if issuer in before else Decimal(0), currency)
        minor["change_of_estimate"] = (minor["closing"] - minor["opening"] - minor["issued"] + minor["redeemed"]
                                       + minor["expired"])
        for line, value in minor.items():
            totals[line] += value
        for line, value in points.items():
            totals[f"points_{line}"] += value
        points["unexplained"] = points["closing"] - (points["opening"] + points["issued"] - points["redeemed"]
                                                     - points["expired"])
        issuers.append({"issuer": slugs[issuer], "outstanding": points["closing"], **after[issuer].view(),
                        "deferred_revenue": money(minor["closing"], currency),
                        "roll_forward": {"points": points, "money": {line: money(minor[line], currency) for line in (
                            "opening", "issued", "redeemed", "expired", "change_of_estimate", "closing")}}})
    return {
        "currency": currency,
        "outstanding": totals["points_closing"],
        "deferred_revenue": money(totals["closing"], currency),
        "roll_forward": {"points": {line: totals[f"points_{line}"] for line in (
                             "opening", "issued", "redeemed", "expired", "closing", "unexplained")},
                         "money": {line: money(totals[line], currency) for line in (
                             "opening", "issued", "redeemed", "expired", "change_of_estimate", "closing")}},
        "issuers": issuers,
    }
