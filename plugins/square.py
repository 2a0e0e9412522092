"""The `square` adapter: Square's Order and Refund objects, bare or in Square's webhook event.

Square's order webhooks (`order.created`, `order.updated`) carry only an
order's id, state and version, never its lines or totals, so the retailer's
integration retrieves the completed order (`GET /v2/orders/{order_id}`) and
posts the answer as it comes, `{"order": {...}}`. Refund webhooks carry the
whole refund and may be posted as Square sends them. An event envelope is
unwrapped, and every error names its path in what was posted
(`data.object.refund.status`), so a developer finds it in Square's own body.

Points are earned on `total_money` less `total_tax_money`: what the buyer
paid before tax, with whatever else Square counts in `total_money` (service
charges such as delivery). The member's card is the order's
`metadata.loyalty_card`: a hub card or the partner's alias of one. A line's
unit price is its `gross_sales_money` over its quantity, its modifiers
included (`base_price_money`, the variation's alone, where that does not
divide into minor units), so rules weigh each line by what it sold for.

Only a COMPLETED order or refund is booked; any other state is refused by name
so the integration posts it again once Square completes it.

Square writes money as integer minor units (`{"amount": 1050, "currency":
"USD"}`); a fractional number or a string is refused, never rounded.

The signature is optional: with no `signature_key` configured, `verify`
accepts every body, and the partner must authenticate with its API key. It
guards the inbound URL only: an order the retailer's service fetched from
Square and posts with the partner's API key was never signed by Square, so
the key vouches for it (`key_vouches`). An order without `loyalty_card` (a
shopper who is no member) is ignored, said why, and answered 200; so is a
refund of an order the hub never booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from partners.adapters import Payload
from partners.cards import REFERENCE_ERROR, is_card_reference
from partners.errors import InvalidTransaction, flatten_errors
from partners.fields import MAX_ORDER_ID, Currency, Quantity
from partners.hookspecs import hookimpl
from partners.money import MAX_MINOR, Money
from partners.payloads import read_json
from partners.signatures import require_base64_hmac
from partners.transactions import Ignored, LineItem, Refund, Sale, Transaction

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
CARD_KEY = "loyalty_card"

_ID = validate.Length(min=1, max=MAX_ORDER_ID, error=f"must be 1 to {MAX_ORDER_ID} characters long")


class SquareConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    signature_key = fields.String(
        validate=validate.Length(min=1),
        metadata={"description": "the webhook subscription's signature key; omit to accept unsigned bodies"},
    )
    notification_url = fields.Url(
        schemes={"https"},
        metadata={"description": "the subscription's notification URL, exactly as registered with Square"},
    )

    @validates_schema
    def _url_with_key(self, data, **kwargs):
        if "signature_key" in data and "notification_url" not in data:
            raise ValidationError(
                "is required with signature_key: Square signs the notification URL together with the body",
                "notification_url",
            )


class _MinorUnits(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a JSON integer of minor units (1050 for 10.50 USD)")
        if value < 0:
            raise ValidationError("must not be negative")
        if value > MAX_MINOR:
            raise ValidationError("is too large an amount")
        return value


class _MoneySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    amount = _MinorUnits(required=True)
    currency = Currency(required=True)

    @post_load
    def _money(self, data, **kwargs) -> Money:
        return Money(data["amount"], data["currency"])


class _LineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    catalog_object_id = fields.String(load_default=None)
    name = fields.String(load_default=None)
    quantity = Quantity(required=True)
    base_price_money = fields.Nested(_MoneySchema, required=True)
    #: The variation's price and its modifiers' (an extra shot, a sauce), times the quantity, before discounts.
    gross_sales_money = fields.Nested(_MoneySchema, load_default=None)
    metadata = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)

    @validates_schema
    def _named(self, data, **kwargs):
        if not (data["catalog_object_id"] or data["name"]):
            raise ValidationError("is required when the line has no catalog_object_id", "name")


class _OrderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=_ID)
    created_at = fields.AwareDateTime(required=True)
    state = fields.String(
        required=True,
        validate=validate.OneOf(["COMPLETED"], error="is {input}: only COMPLETED orders are booked; post the order once it completes"),
    )
    line_items = fields.List(fields.Nested(_LineSchema), load_default=list)
    total_money = fields.Nested(_MoneySchema, required=True)
    total_tax_money = fields.Nested(_MoneySchema, required=True)
    metadata = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)

    @validates_schema
    def _consistent(self, data, **kwargs):
        total, tax = data["total_money"], data["total_tax_money"]
        errors: dict[str, list[str]] = {}
        if CARD_KEY in data["metadata"] and not is_card_reference(data["metadata"][CARD_KEY]):
            errors[f"metadata.{CARD_KEY}"] = [f"must be the member's card: {REFERENCE_ERROR.removeprefix('is ')}"]
        if tax.currency != total.currency:
            errors["total_tax_money.currency"] = [f"is {tax.currency} but total_money is in {total.currency}"]
        elif tax.minor > total.minor:
            errors["total_tax_money.amount"] = ["is more than total_money"]
        for index, line in enumerate(data["line_items"]):
            if line["base_price_money"].currency != total.currency:
                errors[f"line_items.{index}.base_price_money.currency"] = [f"is not the order's currency, {total.currency}"]
            gross = line["gross_sales_money"]
            if gross is not None and gross.currency != total.currency:
                errors[f"line_items.{index}.gross_sales_money.currency"] = [f"is not the order's currency, {total.currency}"]
        if errors:
            raise ValidationError(errors)


class _RefundSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=_ID)
    order_id = fields.String(required=True, validate=_ID)
    created_at = fields.AwareDateTime(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["COMPLETED"], error="is {input}: only COMPLETED refunds are booked"),
    )
    amount_money = fields.Nested(_MoneySchema, required=True)

    @validates_schema
    def _positive(self, data, **kwargs):
        if data["amount_money"].minor == 0:
            raise ValidationError("must be greater than zero", "amount_money.amount")


def _unit_price(line: dict) -> Money:
    """What one unit sold for before discounts, its modifiers included: `gross_sales_money` over the quantity.

    `base_price_money` is the variation's price alone, so a steak with a sauce would weigh less than it sold for
    beside the order's other lines. Where the gross does not divide into whole minor units, the base price stands.
    """
    gross = line["gross_sales_money"]
    if gross is not None:
        unit = Decimal(gross.minor) / line["quantity"]
        if unit == unit.to_integral_value():
            return Money(int(unit), gross.currency)
    return line["base_price_money"]


def _sale(order: dict) -> Sale | Ignored:
    if CARD_KEY not in order["metadata"]:  # a shopper without a card: answered 200, so Square stops retrying
        return Ignored(order["id"], f"the order's metadata has no {CARD_KEY}: the shopper is no member")
    total, tax = order["total_money"], order["total_tax_money"]
    items = tuple(
        LineItem(
            sku=line["catalog_object_id"] or line["name"],
            quantity=line["quantity"],
            unit_price=_unit_price(line),
            category=line["metadata"].get("category"),
        )
        for line in order["line_items"]
    )
    return Sale(
        order_id=order["id"],
        card_number=order["metadata"][CARD_KEY],
        occurred_at=order["created_at"],
        total=Money(total.minor - tax.minor, total.currency),
        items=items,
        # A Square refund's amount includes its share of the tax: measure it against what was paid.
        paid=total,
    )


def _refund(refund: dict) -> Refund:
    return Refund(
        order_id=refund["id"],
        original_order_id=refund["order_id"],
        occurred_at=refund["created_at"],
        total=refund["amount_money"],
    )


_KINDS = {"order": (_OrderSchema, _sale), "refund": (_RefundSchema, _refund)}


def _holder(body: Any) -> tuple[str, dict]:
    """The object that holds `order` or `refund`, and its path in the body."""
    if not isinstance(body, dict):
        raise InvalidTransaction({"_schema": ['must be a JSON object: {"order": ...}, {"refund": ...} or a Square webhook event']})
    if "data" not in body:
        return "", body
    data = body["data"]
    holder = data.get("object") if isinstance(data, dict) else None
    if not isinstance(holder, dict):
        raise InvalidTransaction({"data.object": ["must be the event's object, holding an order or a refund"]})
    return "data.object.", holder


def _neither(holder: dict, prefix: str) -> InvalidTransaction:
    summary = next((key for key in holder if key.startswith("order_")), None)
    if summary is not None:
        return InvalidTransaction(
            {prefix + summary: ['carries only the order\'s id and state: retrieve the order (GET /v2/orders/{order_id}) and post {"order": ...}']},
            "Square's order events do not carry the order",
        )
    return InvalidTransaction({prefix.rstrip(".") or "_schema": ['must hold either "order" or "refund"']})


class SquareAdapter:
    name = "square"
    content_types = ("application/json",)
    config_schema = SquareConfigSchema
    signed = True
    #: Posted with the partner's API key (POST /v1/transactions), an order needs no Square signature: the retailer's
    #: service fetched it from Square's API, which signs nothing; the signature guards the inbound URL.
    key_vouches = True

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        prefix, holder = _holder(read_json(payload.body))
        kinds = [kind for kind in _KINDS if kind in holder]
        if len(kinds) != 1:
            raise _neither(holder, prefix)
        schema, build = _KINDS[kinds[0]]
        try:
            loaded = schema().load(holder[kinds[0]])
        except ValidationError as exc:
            raise InvalidTransaction(flatten_errors(exc.messages, prefix + kinds[0])) from None
        return [build(loaded)]

    def verify(self, payload: Payload, config: Mapping[str, Any]) -> bool:
        key = config.get("signature_key")
        if not key:
            return False
        # Square signs the notification URL together with the body.
        require_base64_hmac(payload.headers, SIGNATURE_HEADER, key, config["notification_url"].encode() + payload.body)
        return True


@hookimpl
def coalition_register_adapters():
    return [SquareAdapter()]
