"""The `shopify` adapter: Shopify's own `orders/create` and `refunds/create` webhooks.

A shop subscribes those two topics to the hub's inbound endpoint and needs no
middleware: Shopify signs every body with the shop's webhook secret, so the
request authenticates itself. The member's card travels as a cart attribute
named `loyalty_card`, which Shopify copies into the order's `note_attributes`.

Points are earned on `subtotal_price`, the goods after discounts and before
tax and shipping. A refund's total is the sum of its refunded lines'
subtotals, the same measure, so a full refund takes back what the order earned.

Nothing is booked (an empty list) for:
- an order already voided (`financial_status: "voided"`) or cancelled
  (`cancelled_at` set) when the webhook fires;
- a refund without refunded lines (shipping, duties or a goodwill adjustment
  only), or whose lines add up to zero: no points were earned on that money.
Test orders (`"test": true`) are booked like any other: whether a development
shop is wired to the live hub is the partner's decision, not the adapter's.

Shopify writes money as decimal strings ("16.20") in orders and, in refund
lines, as JSON numbers (16.2). Both are read exactly (never through a float);
trailing zeros are dropped ("4500.0" yen is 4500), any other decimal beyond
the currency's own is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from partners.adapters import Payload
from partners.cards import REFERENCE_ERROR, is_card_reference
from partners.errors import InvalidTransaction, flatten_errors
from partners.fields import Currency, Quantity
from partners.hookspecs import hookimpl
from partners.money import MAX_MINOR, Money, MoneyError
from partners.payloads import read_json
from partners.signatures import require_base64_hmac
from partners.transactions import Ignored, LineItem, Refund, Sale, Transaction

TOPIC_HEADER = "x-shopify-topic"
SIGNATURE_HEADER = "x-shopify-hmac-sha256"
CARD_ATTRIBUTE = "loyalty_card"

_FRACTION = re.compile(r"[0-9]+\.[0-9]+")
_MAX_DECIMALS = 18


class ShopifyConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    webhook_secret = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the shop's webhook signing secret (Settings > Notifications > Webhooks)"},
    )


class _Id(fields.Field):
    """Shopify's ids: positive 64-bit JSON integers, kept as text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            raise ValidationError("must be a positive integer id")
        return str(value)


class _Amount(fields.Field):
    """An amount as exact decimal text; the currency's decimals are checked with the currency."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            text = value
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, Decimal):
            text = _decimal_text(value)
        else:
            raise ValidationError('must be a decimal string such as "16.20" or a JSON number')
        return text.rstrip("0").rstrip(".") if _FRACTION.fullmatch(text) else text


def _decimal_text(number: Decimal) -> str:
    if number.as_tuple().exponent < -_MAX_DECIMALS:
        raise ValidationError(f"{number} has more decimals than any currency")
    if number.adjusted() > _MAX_DECIMALS:
        raise ValidationError(f"{number} is too large an amount")
    return format(number, "f")


class _LineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(load_default=None, allow_none=True)
    variant_id = _Id(load_default=None, allow_none=True)
    product_id = _Id(load_default=None, allow_none=True)
    quantity = Quantity(required=True)
    price = _Amount(required=True)
    product_type = fields.String(load_default=None, allow_none=True)
    #: A custom line item (a gift wrap, a service typed at checkout) has no sku, variant or product: its title names it.
    title = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _named(self, data, **kwargs):
        if not (data["sku"] or data["variant_id"] or data["product_id"] or (data["title"] or "").strip()):
            raise ValidationError("is empty and the line has no variant_id, product_id or title to stand for it", "sku")


class _OrderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = _Id(required=True)
    created_at = fields.AwareDateTime(required=True)
    currency = Currency(required=True)
    subtotal_price = _Amount(required=True)
    financial_status = fields.String(load_default=None, allow_none=True)
    cancelled_at = fields.String(load_default=None, allow_none=True)
    note_attributes = fields.List(fields.Dict(), load_default=list)
    line_items = fields.List(fields.Nested(_LineSchema), required=True)


class _ShopMoneySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    currency_code = Currency(required=True)


class _MoneySetSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    shop_money = fields.Nested(_ShopMoneySchema, required=True)


class _RefundLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    quantity = Quantity(required=True)
    subtotal = _Amount(required=True)
    subtotal_set = fields.Nested(_MoneySetSchema, load_default=None, allow_none=True)
    line_item = fields.Nested(_LineSchema, required=True)


class _TransactionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    currency = Currency(load_default=None, allow_none=True)


class _RefundSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = _Id(required=True)
    order_id = _Id(required=True)
    created_at = fields.AwareDateTime(load_default=None, allow_none=True)
    processed_at = fields.AwareDateTime(load_default=None, allow_none=True)
    refund_line_items = fields.List(fields.Nested(_RefundLineSchema), required=True)
    transactions = fields.List(fields.Nested(_TransactionSchema), load_default=list)

    @validates_schema
    def _dated(self, data, **kwargs):
        if data["created_at"] is None and data["processed_at"] is None:
            raise ValidationError("is required (or processed_at)", "created_at")


def _load(schema: Schema, data: Any) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidTransaction(flatten_errors(exc.messages)) from None


def _money(text: str, currency: str, path: str, errors: dict[str, list[str]]) -> Money | None:
    try:
        return Money.parse(text, currency)
    except MoneyError as exc:
        errors[path] = [str(exc)]
        return None


def _item(line: dict, quantity: Decimal, currency: str, path: str, errors: dict[str, list[str]]) -> LineItem | None:
    price = _money(line["price"], currency, f"{path}.price", errors)
    if price is None:
        return None
    sku = line["sku"] or line["variant_id"] or line["product_id"] or line["title"].strip()[:64]
    return LineItem(sku=sku, quantity=quantity, unit_price=price, category=line["product_type"] or None)


def _card(attributes: list[dict], errors: dict[str, list[str]]) -> str | None:
    path = f"note_attributes.{CARD_ATTRIBUTE}"
    values = [entry.get("value") for entry in attributes if entry.get("name") == CARD_ATTRIBUTE]
    if not values:
        errors[path] = [f"is missing: the checkout must set a cart attribute named {CARD_ATTRIBUTE}"]
        return None
    number = "".join(values[0].split()) if isinstance(values[0], str) else values[0]
    if not is_card_reference(number) or any(value != values[0] for value in values):
        errors[path] = [REFERENCE_ERROR]
        return None
    return number


def _sale(data: Any) -> list[Transaction]:
    order = _load(_OrderSchema(), data)
    if order["financial_status"] == "voided" or order["cancelled_at"]:
        return [Ignored(str(order["id"]), "the order is voided or cancelled: it earns nothing")]
    if not any(entry.get("name") == CARD_ATTRIBUTE for entry in order["note_attributes"]):
        # a shopper without a loyalty card: nothing to book, and nothing for Shopify to retry
        return [Ignored(str(order["id"]), f"the order has no {CARD_ATTRIBUTE} attribute: the shopper is no member")]
    errors: dict[str, list[str]] = {}
    currency = order["currency"]
    card = _card(order["note_attributes"], errors)
    total = _money(order["subtotal_price"], currency, "subtotal_price", errors)
    items = tuple(
        _item(line, line["quantity"], currency, f"line_items.{index}", errors)
        for index, line in enumerate(order["line_items"])
    )
    if errors:
        raise InvalidTransaction(errors)
    return [Sale(order_id=order["id"], card_number=card, occurred_at=order["created_at"], total=total, items=items)]


def _refund_currency(refund: dict, errors: dict[str, list[str]]) -> str | None:
    named = [
        (f"refund_line_items.{index}.subtotal_set.shop_money.currency_code", line["subtotal_set"]["shop_money"]["currency_code"])
        for index, line in enumerate(refund["refund_line_items"])
        if line["subtotal_set"]
    ] or [
        (f"transactions.{index}.currency", transaction["currency"])
        for index, transaction in enumerate(refund["transactions"])
        if transaction["currency"]
    ]
    if not named:
        errors["refund_line_items.0.subtotal_set"] = ["is required to know the refund's currency (or transactions[].currency)"]
        return None
    currency = named[0][1]
    for path, code in named[1:]:
        if code != currency:
            errors[path] = [f"is {code} but the refund is in {currency}: one refund has one currency"]
    return currency


def _refund(data: Any) -> list[Transaction]:
    refund = _load(_RefundSchema(), data)
    lines = refund["refund_line_items"]
    if not lines:
        return [Ignored(str(refund["id"]), "the refund returns no line item (shipping or an adjustment only): points "
                                           "are earned on the lines' subtotal, so none are taken back")]
    errors: dict[str, list[str]] = {}
    currency = _refund_currency(refund, errors)
    if currency is None:
        raise InvalidTransaction(errors)
    subtotals = [_money(line["subtotal"], currency, f"refund_line_items.{index}.subtotal", errors) for index, line in enumerate(lines)]
    items = tuple(
        _item(line["line_item"], line["quantity"], currency, f"refund_line_items.{index}.line_item", errors)
        for index, line in enumerate(lines)
    )
    if errors:
        raise InvalidTransaction(errors)
    minor = sum(subtotal.minor for subtotal in subtotals)
    if minor > MAX_MINOR:
        raise InvalidTransaction({"refund_line_items": ["the subtotals add up to too large an amount"]})
    if minor == 0:
        return [Ignored(str(refund["id"]), "the refunded lines' subtotals are 0.00: no points are taken back")]
    return [
        Refund(
            order_id=refund["id"],
            original_order_id=refund["order_id"],
            occurred_at=refund["created_at"] or refund["processed_at"],
            total=Money(minor, currency),
            items=items,
        )
    ]


_TOPICS = {"orders/create": _sale, "refunds/create": _refund}


class ShopifyAdapter:
    name = "shopify"
    content_types = ("application/json",)
    config_schema = ShopifyConfigSchema
    signed = True

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        data = read_json(payload.body)
        topic = payload.headers.get(TOPIC_HEADER)
        reader = _TOPICS.get(topic)
        if reader is None:
            raise InvalidTransaction(
                {f"headers.{TOPIC_HEADER}": [f"is {topic!r}; only {' and '.join(_TOPICS)} are read"]},
                "Unsupported Shopify webhook topic",
            )
        if not isinstance(data, dict):
            raise InvalidTransaction({"_schema": [f"must be a JSON object (the {topic} webhook body)"]})
        return reader(data)

    def verify(self, payload: Payload, config: Mapping[str, Any]) -> bool:
        require_base64_hmac(payload.headers, SIGNATURE_HEADER, config["webhook_secret"], payload.body)
        return True


@hookimpl
def coalition_register_adapters():
    return [ShopifyAdapter()]
