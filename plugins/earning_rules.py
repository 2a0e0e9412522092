"""The built-in earning rules, registered exactly as an outside package's rules would be.

Each rule only states its parameters and its arithmetic; partners.earning
decides when it runs and floors what it returns. Multipliers give the extra
points only (x2 adds one more base), so two promotions on one purchase add up
instead of compounding: coffee x2 on a weekend x2 earns 3x, not 4x.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from partners.fields import DecimalString, Points
from partners.hookspecs import hookimpl
from partners.rules import Award, SaleContext

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: As the partner API's own `earn_rate`: a slip of a few digits must not mint a fortune.
MAX_RATE = 1000
MAX_MULTIPLIER = 100


def _number(value: Decimal) -> str:
    """Decimal("1.50") reads 1.5 and Decimal("10") stays 10, not 1E+1."""
    return f"{value.normalize():f}"


def _points(count: Decimal | int) -> str:
    return f"{_number(Decimal(count))} point{'' if count == 1 else 's'}"


def _extra(multiplier: Decimal) -> Fraction:
    return Fraction(multiplier) - 1


class _Count(fields.Integer):
    """A whole number of times, at least one; `true` is not 1."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number (a JSON integer)")
        if value < 1:
            raise ValidationError("must be at least 1")
        return value


def _multiplier() -> DecimalString:
    return DecimalString(
        required=True,
        validate=validate.Range(min=1, max=MAX_MULTIPLIER, error=f"must be between 1 and {MAX_MULTIPLIER}"),
    )


def _distinct(days: list[str]) -> None:
    if len(set(days)) != len(days):
        raise ValidationError("must not name a day twice")


class _Params(Schema):
    class Meta:
        unknown = RAISE


class BaseRateParams(_Params):
    rate = DecimalString(
        required=True, validate=validate.Range(max=MAX_RATE, error=f"must be at most {MAX_RATE} points per unit")
    )


class CategoryMultiplierParams(_Params):
    category = fields.String(required=True, validate=validate.Length(min=1, max=64))
    multiplier = _multiplier()


class DayOfWeekParams(_Params):
    days = fields.List(
        fields.String(validate=validate.OneOf(DAYS, error="must be one of " + ", ".join(DAYS))),
        required=True,
        validate=[validate.Length(min=1, error="must name at least one day"), _distinct],
    )
    multiplier = _multiplier()


class SkuBonusParams(_Params):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    points = Points(required=True)


class MinimumSpendParams(_Params):
    amount = DecimalString(required=True)


class CapParams(_Params):
    max_points = Points(required=True)


class WelcomeBonusParams(_Params):
    points = Points(required=True)


class ReferralParams(_Params):
    referrer_points = Points(required=True)
    referred_points = Points(required=True)


class ActionParams(_Params):
    action = fields.String(
        required=True,
        validate=validate.Regexp(r"[a-z0-9_-]{1,64}\Z", error="must be 1-64 lowercase letters, digits, _ or -"),
    )
    points = Points(required=True)
    per_day = _Count(required=True)


class BaseRate:
    name = "base_rate"
    schema = BaseRateParams
    stage = "base"

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"{_points(params['rate'])} per unit spent"

    def base(self, params: Mapping[str, Any], sale: SaleContext) -> list[Fraction]:
        rate = Fraction(params["rate"])
        return [rate * line.amount for line in sale.lines]


class CategoryMultiplier:
    name = "category_multiplier"
    schema = CategoryMultiplierParams
    stage = "bonus"

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"{params['category']} x{_number(params['multiplier'])}"

    def bonus(self, params: Mapping[str, Any], sale: SaleContext) -> Fraction:
        wanted = params["category"].casefold()
        matching = (
            points for line, points in zip(sale.lines, sale.base_lines)
            if line.category is not None and line.category.casefold() == wanted
        )
        return sum(matching, Fraction(0)) * _extra(params["multiplier"])


class DayOfWeek:
    name = "day_of_week"
    schema = DayOfWeekParams
    stage = "bonus"

    def describe(self, params: Mapping[str, Any]) -> str:
        days = [day for day in DAYS if day in params["days"]]
        times = f"x{_number(params['multiplier'])}"
        if days == ["sat", "sun"]:
            return f"weekend {times} (sat, sun)"
        return f"{', '.join(days)} {times}"

    def bonus(self, params: Mapping[str, Any], sale: SaleContext) -> Fraction:
        if DAYS[sale.local_time.weekday()] not in params["days"]:
            return Fraction(0)
        return sale.base * _extra(params["multiplier"])


class SkuBonus:
    name = "sku_bonus"
    schema = SkuBonusParams
    stage = "bonus"

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"{_points(params['points'])} per {params['sku']}"

    def bonus(self, params: Mapping[str, Any], sale: SaleContext) -> Fraction:
        """A unit given away (free, or discounted to nothing) is not sold: it earns no bonus nobody could refund."""
        sold = (line.quantity for line in sale.lines if line.sku == params["sku"] and line.amount > 0)
        return params["points"] * sum(sold, Fraction(0))


class MinimumSpend:
    name = "minimum_spend"
    schema = MinimumSpendParams
    stage = "gate"

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"points from {_number(params['amount'])} spent"

    def admits(self, params: Mapping[str, Any], sale: SaleContext) -> bool:
        return sale.amount >= Fraction(params["amount"])


class Cap:
    name = "cap"
    schema = CapParams
    stage = "limit"

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"at most {params['max_points']} points per sale"

    def limit(self, params: Mapping[str, Any], sale: SaleContext, awards: list[Award]) -> list[Award]:
        """The first awards keep their points and the last give way: bonuses are cut before base points."""
        room = params["max_points"]
        kept = []
        for award in awards:
            points = min(award.points, room)
            room -= points
            kept.append(award if points == award.points else self._trim(award, points, params))
        return kept

    def _trim(self, award: Award, points: int, params: Mapping[str, Any]) -> Award:
        return replace(award, points=points, detail=f"{award.detail}, capped at {params['max_points']} points per sale")


class WelcomeBonus:
    name = "welcome_bonus"
    schema = WelcomeBonusParams
    stage = "event"

    def describe(self, params: Mapping[str, Any]) -> str:
        return "welcome bonus"


class Referral:
    name = "referral"
    schema = ReferralParams
    stage = "event"

    def describe(self, params: Mapping[str, Any]) -> str:
        return "referral bonus"


class Action:
    name = "action"
    schema = ActionParams
    stage = "event"

    def describe(self, params: Mapping[str, Any]) -> str:
        return f"action {params['action']}"


@hookimpl
def coalition_register_rules():
    return [
        BaseRate(), CategoryMultiplier(), DayOfWeek(), SkuBonus(), MinimumSpend(), Cap(),
        WelcomeBonus(), Referral(), Action(),
    ]
