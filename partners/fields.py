"""Marshmallow fields that refuse what JSON makes easy to get wrong.

`fields.Integer` accepts `true` and `5.0`; `fields.Decimal` accepts floats.
Points and money must never come from a float or a boolean, so these fields
take only what they say.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from marshmallow import ValidationError, fields, validate

from partners.cards import REFERENCE_ERROR, is_card_reference, is_valid_card_number
from partners.money import CURRENCY_DECIMALS

#: The most of one line a sale may carry: far above any till's, far below a sum that could drift or overflow.
MAX_QUANTITY = 10**6
#: The longest order id the ledger keeps (orders.order_id): Square's refund ids are 73 characters, and any platform's
#: id fits. An adapter's longer id is refused, never cut.
MAX_ORDER_ID = 255
#: The most points one request may move: far below a 64-bit column, so sums of many still fit.
MAX_POINTS = 10**15

_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$")


class Points(fields.Integer):
    """A whole, positive number of points, as a JSON integer."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("example", 100)
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_POINTS))  # declared, so the OpenAPI document shows it
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number of points (a JSON integer)")
        if value <= 0:
            raise ValidationError("must be greater than zero")
        if value > MAX_POINTS:
            raise ValidationError("is too large")
        return value


def decimal_pattern(bounds: validate.Range | None) -> str:
    """The decimals `_DECIMAL` reads that `bounds` admits, as one expression, for the OpenAPI document.

    Exact for bounds 0 (inclusive or not) to a power of ten; without bounds, `_DECIMAL` itself.
    Above zero, a fraction below 1 is written with at most 18 digits either side of its first nonzero one.
    """
    if bounds is None or bounds.max is None:
        return _DECIMAL.pattern
    digits = len(str(int(bounds.max))) - 1
    if Decimal(bounds.max) != 10**digits or (bounds.min not in (None, 0, 1)) or not bounds.max_inclusive:
        return _DECIMAL.pattern
    fraction = r"(\.[0-9]{1,18})?"
    below = f"[1-9][0-9]{{0,{digits - 1}}}{fraction}" if digits else ""
    at_max = "1" + "0" * digits + r"(\.0{1,18})?"
    if bounds.min == 1 and bounds.min_inclusive:
        zero = ""
    elif bounds.min == 0 and not bounds.min_inclusive:
        zero = r"0\.[0-9]{0,8}[1-9][0-9]{0,8}"
    else:
        zero = f"0{fraction}"
    return "^(" + "|".join(part for part in (zero, below, at_max) if part) + ")$"


class DecimalString(fields.String):
    """A non-negative decimal written as a string ("1.5"), returned as Decimal; the document gets its pattern."""

    def __init__(self, **kwargs):
        checks = kwargs.get("validate")
        checks = checks if isinstance(checks, (list, tuple)) else [checks]
        bounds = next((check for check in checks if isinstance(check, validate.Range)), None)
        kwargs.setdefault("metadata", {}).setdefault("pattern", decimal_pattern(bounds))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError('must be a decimal string such as "1.5"')
        if not _DECIMAL.match(value):
            raise ValidationError(f"{value!r} is not a non-negative decimal")
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern already guards it
            raise ValidationError(f"{value!r} is not a decimal") from None


class Quantity(fields.Field):
    """A positive quantity of at most MAX_QUANTITY: a JSON integer or a decimal string ("0.750" kg)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=0, min_inclusive=False, max=MAX_QUANTITY))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            quantity = Decimal(value)
        elif isinstance(value, str) and _DECIMAL.match(value):
            quantity = Decimal(value)
        else:
            raise ValidationError('must be an integer or a decimal string such as "0.750"')
        if quantity <= 0:
            raise ValidationError("must be greater than zero")
        if quantity > MAX_QUANTITY:
            raise ValidationError(f"must be at most {MAX_QUANTITY}")
        return quantity


class Currency(fields.String):
    """An ISO 4217 code the hub knows the minor units of; the document lists them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.OneOf(sorted(CURRENCY_DECIMALS)))
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs)
        if code not in CURRENCY_DECIMALS:
            raise ValidationError(f"{code!r} is not an ISO 4217 currency code")
        return code


class CardReference(fields.String):
    """A card number or a partner's alias of one (partners.cards.is_card_reference): what a sale names its member by."""

    def _deserialize(self, value, attr, data, **kwargs):
        reference = super()._deserialize(value, attr, data, **kwargs)
        if not is_card_reference(reference):
            raise ValidationError(REFERENCE_ERROR)
        return reference


class CardNumber(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if not is_valid_card_number(number):
            raise ValidationError("is not a valid card number (16 digits with a Luhn check digit)")
        return number


class PlatformId(fields.Field):
    """A shop platform's id (Shopify's, WooCommerce's): a positive 64-bit JSON integer, kept as text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise ValidationError("must be a positive integer id")
        return str(value)


_FRACTION = re.compile(r"-?[0-9]+\.[0-9]+")
_MAX_DECIMALS = 18


class AmountText(fields.Field):
    """An amount as a platform writes it, a decimal string or a JSON number (read as Decimal, never a float), as exact
    decimal text with its sign; a fraction's trailing zeros dropped ("4500.0" yen is 4500). The currency's decimals are
    checked with the currency, by `Money.parse`."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            text = value
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, Decimal):
            if not value.is_finite() or value.as_tuple().exponent < -_MAX_DECIMALS:
                raise ValidationError(f"{value} has more decimals than any currency")
            if value.adjusted() > _MAX_DECIMALS:
                raise ValidationError(f"{value} is too large an amount")
            text = format(value, "f")
        else:
            raise ValidationError('must be a decimal string such as "16.20" or a JSON number')
        return text.rstrip("0").rstrip(".") if _FRACTION.fullmatch(text) else text
