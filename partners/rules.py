"""The shape of an earning rule: a canonical sale in, point awards out.

A partner's rules are a JSON list such as
``[{"rule": "base_rate", "rate": "1"}, {"rule": "cap", "max_points": 500}]``.
Each entry names a rule plugin; the rest of the entry is that rule's
parameters, validated by the rule's own `schema`.

Rules act in stages, whatever order the partner lists them in, so that a
multiplier always has base points to multiply and a cap always sees every
award:

========  =====================================================================
``gate``  ``admits(params, sale) -> bool``: no points at all unless every gate admits
``base``  ``base(params, sale) -> list[Fraction]``: exact base points per line
``bonus`` ``bonus(params, sale) -> Fraction``: exact extra points of the sale
``limit`` ``limit(params, sale, awards) -> list[Award]``: trims the floored awards
``event`` no method: the hub reads the parameters when the event happens
          (``welcome_bonus`` on enrolment, ``referral`` on a first sale,
          ``action`` on ``POST /v1/actions``)
========  =====================================================================

Every award is computed exactly (Fractions, never floats) and floored to
whole points on its own; an award of zero is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, Literal, Protocol

from marshmallow import Schema

from partners.transactions import LineItem, Sale

Stage = Literal["gate", "base", "bonus", "limit", "event"]
STAGES: tuple[Stage, ...] = ("gate", "base", "bonus", "limit", "event")


@dataclass(frozen=True)
class Award:
    """Points given for one reason: what a member reads in their history."""

    rule: str
    points: int
    detail: str = ""


@dataclass(frozen=True)
class Line:
    """A line of the sale with its share of the sale's total.

    `amount` is the line's price spread pro rata over the sale's total (major
    units, exact), so a discount or a total that differs from the sum of the
    lines lowers every line alike. A sale sent without lines is one line with
    no sku and no category.
    """

    item: LineItem | None
    amount: Fraction

    @property
    def sku(self) -> str | None:
        return self.item.sku if self.item else None

    @property
    def category(self) -> str | None:
        return self.item.category if self.item else None

    @property
    def quantity(self) -> Fraction:
        return Fraction(self.item.quantity) if self.item else Fraction(1)


@dataclass(frozen=True)
class SaleContext:
    """What a rule may look at: the sale, its local time, and the base points so far."""

    sale: Sale
    #: The sale's time in the partner's time zone ("double points on Saturdays" is local).
    local_time: datetime
    lines: tuple[Line, ...]
    #: Exact base points per line, filled in once the base rules have run.
    base_lines: tuple[Fraction, ...] = ()

    @property
    def amount(self) -> Fraction:
        """The sale's total in major units, exactly."""
        return sum((line.amount for line in self.lines), Fraction(0))

    @property
    def base(self) -> Fraction:
        """Exact base points of the whole sale."""
        return sum(self.base_lines, Fraction(0))


class EarningRule(Protocol):
    #: The `rule` value that selects this plugin in a partner's rules.
    name: str
    #: Validates the rule's parameters (every key of the entry but `rule`).
    schema: type[Schema]
    stage: Stage

    def describe(self, params: Mapping[str, Any]) -> str:
        """A short phrase for the member's history: "coffee x2"."""
        ...


class GateRule(EarningRule, Protocol):
    def admits(self, params: Mapping[str, Any], sale: SaleContext) -> bool: ...


class BaseRule(EarningRule, Protocol):
    def base(self, params: Mapping[str, Any], sale: SaleContext) -> Sequence[Fraction]: ...


class BonusRule(EarningRule, Protocol):
    def bonus(self, params: Mapping[str, Any], sale: SaleContext) -> Fraction: ...


class LimitRule(EarningRule, Protocol):
    def limit(self, params: Mapping[str, Any], sale: SaleContext, awards: list[Award]) -> list[Award]: ...
