"""The `per_litre` rule: points for every litre of fuel, whatever it cost.

A fuel station rewards volume, not price: a litre earns the same when the
price at the pump moves. The rule reads the litres from the quantity of the
sale's "fuel" lines, so it works for any adapter that sends fuel that way,
not only for pump logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from coalition_fuelstation.pump_log import FUEL, GRADE
from partners.fields import DecimalString
from partners.rules import SaleContext

#: A slip of a few digits ("100" for "1.00") must not mint a fortune.
MAX_POINTS_PER_LITRE = 100


def _distinct(grades: list[str]) -> None:
    if len(set(grades)) != len(grades):
        raise ValidationError("must not name a grade twice")


class PerLitreParams(Schema):
    class Meta:
        unknown = RAISE

    points = DecimalString(
        required=True,
        validate=validate.Range(
            min=0, min_inclusive=False, max=MAX_POINTS_PER_LITRE,
            error=f"must be more than 0 and at most {MAX_POINTS_PER_LITRE} points per litre",
        ),
    )
    grades = fields.List(
        fields.String(validate=validate.Regexp(GRADE, error="must be a fuel grade such as DIESEL or SP95-E10")),
        validate=[validate.Length(min=1, error="must name at least one grade (leave it out for every grade)"), _distinct],
    )


def _number(value: Decimal) -> str:
    return f"{value.normalize():f}"


class PerLitre:
    name = "per_litre"
    schema = PerLitreParams
    stage = "bonus"

    def describe(self, params: Mapping[str, Any]) -> str:
        grades = params.get("grades")
        fuel = f"litre of {', '.join(grades)}" if grades else "litre of fuel"
        points = params["points"]
        return f"{_number(points)} point{'' if points == 1 else 's'} per {fuel}"

    def bonus(self, params: Mapping[str, Any], sale: SaleContext) -> Fraction:
        """A line given away (its share of the total is nothing) earns nothing a refund could take back."""
        grades = {grade.casefold() for grade in params.get("grades") or ()}
        litres = (
            line.quantity for line in sale.lines
            if line.category is not None and line.category.casefold() == FUEL and line.amount > 0
            and (not grades or line.sku.casefold() in grades)
        )
        return Fraction(params["points"]) * sum(litres, Fraction(0))
