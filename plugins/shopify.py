"""The `shopify` adapter: Shopify's own order and refund webhooks.

A shop subscribes the topics below to the hub's inbound endpoint and needs no
middleware: Shopify signs every body with the shop's webhook secret, so the
request authenticates itself. The member's card travels as a cart attribute
named `loyalty_card`, which Shopify copies into the order's `note_attributes`.

- `orders/create`: points are earned on `subtotal_price`, the goods after
  discounts and before tax and shipping. An order not yet paid
  (`financial_status` pending, authorized or partially_paid: cash on
  delivery, a bank transfer) books its points pending, not to be spent;
- `orders/paid`: they become the member's (the partner's return window
  starts); an order the hub never saw placed is booked, paid;
- `orders/updated`: an edit that changed what the goods come to
  (`current_subtotal_price`, refunded lines added back) takes back or tops up
  the difference; any other update changes nothing;
- `orders/cancelled`: whatever the order still earns is taken back;
- `refunds/create`: a refund's total is the sum of its refunded lines'
  subtotals, the same measure, so a full refund takes back what the order
  earned. A refund of an amount (no line, or lines of 0.00, and money paid
  back) is measured by the hub as its money, less shipping, over what the
  order charged for its goods (`total_price` less shipping).

Nothing is booked, and the answer says why, for:
- an order already voided (`financial_status: "voided"`) or cancelled
  (`cancelled_at` set) when it is placed, and one without a card;
- a refund handing back shipping, duties or nothing: no points were earned on
  that money; a refund or a cancellation of an order the hub never booked.
Test orders (`"test": true`) are booked like any other: whether a development
shop is wired to the live hub is the partner's decision, not the adapter's.

Shopify writes money as decimal strings ("16.20") in orders and, in refund
lines, as JSON numbers (16.2). Both are read exactly (never through a float);
trailing zeros are dropped ("4500.0" yen is 4500), any other decimal beyond
the currency's own is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from partners.adapters import Payload
from partners.cards import REFERENCE_ERROR, is_card_reference
from partners.errors import InvalidTransaction, flatten_errors
from partners.fields import AmountText, Currency, PlatformId, Quantity
from partners.hookspecs import hookimpl
from partners.money import MAX_MINOR, Money, MoneyError
from partners.payloads import read_json
from partners.signatures import require_base64_hmac
from partners.transactions import Amendment, Cancellation, Ignored, LineItem, Payment, Refund, Sale, Transaction

TOPIC_HEADER = "x-shopify-topic"
SIGNATURE_HEADER = "x-shopify-hmac-sha256"
CARD_ATTRIBUTE = "loyalty_card"



class ShopifyConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    webhook_secret = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the shop's webhook signing secret (Settings > Notifications > Webhooks)"},
    )


class _LineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(load_default=None, allow_none=True)
    variant_id = PlatformId(load_default=None, allow_none=True)
    product_id = PlatformId(load_default=None, allow_none=True)
    quantity = Quantity(required=True)
    price = AmountText(required=True)
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

    id = PlatformId(required=True)
    created_at = fields.AwareDateTime(required=True)
    currency = Currency(required=True)
    subtotal_price = AmountText(required=True)
    total_price = AmountText(load_default=None, allow_none=True)
    total_shipping_price_set = fields.Nested(lambda: _MoneySetSchema(), load_default=None, allow_none=True)
    financial_status = fields.String(load_default=None, allow_none=True)
    cancelled_at = fields.AwareDateTime(load_default=None, allow_none=True)
    updated_at = fields.AwareDateTime(load_default=None, allow_none=True)
    note_attributes = fields.List(fields.Dict(), load_default=list)
    line_items = fields.List(fields.Nested(_LineSchema), required=True)


class _ShopMoneySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    currency_code = Currency(required=True)
    amount = AmountText(load_default=None, allow_none=True)


class _MoneySetSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    shop_money = fields.Nested(_ShopMoneySchema, required=True)


class _RefundLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    quantity = Quantity(required=True)
    subtotal = AmountText(required=True)
    subtotal_set = fields.Nested(_MoneySetSchema, load_default=None, allow_none=True)
    line_item = fields.Nested(_LineSchema, required=True)


class _TransactionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    currency = Currency(load_default=None, allow_none=True)
    amount = AmountText(load_default=None, allow_none=True)
    kind = fields.String(load_default=None, allow_none=True)
    status = fields.String(load_default=None, allow_none=True)


class _AdjustmentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    kind = fields.String(load_default=None, allow_none=True)
    amount = AmountText(load_default="0")
    tax_amount = AmountText(load_default="0")


class _ShippingRefundSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    subtotal_amount_set = fields.Nested(_MoneySetSchema, load_default=None, allow_none=True)


class _RefundSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = PlatformId(required=True)
    order_id = PlatformId(required=True)
    created_at = fields.AwareDateTime(load_default=None, allow_none=True)
    processed_at = fields.AwareDateTime(load_default=None, allow_none=True)
    refund_line_items = fields.List(fields.Nested(_RefundLineSchema), required=True)
    transactions = fields.List(fields.Nested(_TransactionSchema), load_default=list)
    order_adjustments = fields.List(fields.Nested(_AdjustmentSchema), load_default=list)
    refund_shipping_lines = fields.List(fields.Nested(_ShippingRefundSchema), load_default=list)

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


#: What Shopify calls an order placed but not (wholly) paid: cash on delivery, a bank transfer, a payment authorised only.
UNPAID = ("pending", "authorized", "partially_paid")


def _order(data: Any) -> Sale | Ignored:
    """The order as Shopify sends it in every order topic: a sale, or why it is none of the hub's."""
    order = _load(_OrderSchema(), data)
    if order["financial_status"] == "voided" or order["cancelled_at"]:
        return Ignored(str(order["id"]), "the order is voided or cancelled: it earns nothing")
    if not any(entry.get("name") == CARD_ATTRIBUTE for entry in order["note_attributes"]):
        # a shopper without a loyalty card: nothing to book, and nothing for Shopify to retry
        return Ignored(str(order["id"]), f"the order has no {CARD_ATTRIBUTE} attribute: the shopper is no member")
    errors: dict[str, list[str]] = {}
    currency = order["currency"]
    card = _card(order["note_attributes"], errors)
    total = _money(order["subtotal_price"], currency, "subtotal_price", errors)
    charged = _charged(order, currency, errors)
    items = tuple(
        _item(line, line["quantity"], currency, f"line_items.{index}", errors)
        for index, line in enumerate(order["line_items"])
    )
    if errors:
        raise InvalidTransaction(errors)
    return Sale(order_id=order["id"], card_number=card, occurred_at=order["created_at"], total=total, items=items,
                charged=charged, awaiting_payment=order["financial_status"] in UNPAID)


def _charged(order: dict, currency: str, errors: dict[str, list[str]]) -> Money | None:
    """What the customer was charged for the goods, tax included, shipping not: what a refund of an amount is a share of."""
    if order["total_price"] is None:
        return None
    price = _money(order["total_price"], currency, "total_price", errors)
    shipping = (order["total_shipping_price_set"] or {}).get("shop_money", {}).get("amount") or "0"
    shipped = _money(shipping, currency, "total_shipping_price_set.shop_money.amount", errors)
    if price is None or shipped is None:
        return None
    return Money(max(price.minor - shipped.minor, 0), currency)


def _sale(data: Any) -> list[Transaction]:
    """orders/create: booked at once, pending until `orders/paid` when not paid yet."""
    return [_order(data)]


def _paid(data: Any) -> list[Transaction]:
    """orders/paid: the order's held points are released; an order the hub never saw placed is booked, paid."""
    order = _order(data)
    if isinstance(order, Ignored):
        return [order]
    return [Payment(order.order_id, order.occurred_at, replace(order, awaiting_payment=False))]


def _cancelled(data: Any) -> list[Transaction]:
    """orders/cancelled: whatever the order still earns is taken back, pending or not."""
    order = _load(_CancelledSchema(), data)
    return [Cancellation(str(order["id"]), order["cancelled_at"] or order["updated_at"] or order["created_at"])]


def _updated(data: Any) -> list[Transaction]:
    """orders/updated: an edit that changed what the goods come to is taken back or topped up by the difference.

    The measure is `current_subtotal_price` (after edits, returns and
    refunds) with the refunded lines' subtotals added back: refunds come, and
    are booked, as refunds/create. Anything else Shopify updates (a note, a
    tag, a fulfilment) leaves the total as it was, and the hub says so.
    """
    order = _load(_UpdatedSchema(), data)
    order_id = str(order["id"])
    if order["cancelled_at"]:
        return [Ignored(order_id, "the order is cancelled: orders/cancelled takes its points back")]
    if not any(entry.get("name") == CARD_ATTRIBUTE for entry in order["note_attributes"]):
        return [Ignored(order_id, f"the order has no {CARD_ATTRIBUTE} attribute: the shopper is no member")]
    if order["current_subtotal_price"] is None:
        return [Ignored(order_id, "the order has no current_subtotal_price: its edits cannot be measured")]
    errors: dict[str, list[str]] = {}
    currency = order["currency"]
    now = _money(order["current_subtotal_price"], currency, "current_subtotal_price", errors)
    refunded = [_money(line["subtotal"], currency, f"refunds.{r}.refund_line_items.{i}.subtotal", errors)
                for r, refund in enumerate(order["refunds"]) for i, line in enumerate(refund["refund_line_items"])]
    if errors:
        raise InvalidTransaction(errors)
    minor = now.minor + sum(money.minor for money in refunded)
    if minor > MAX_MINOR:
        raise InvalidTransaction({"current_subtotal_price": ["with the refunded lines, too large an amount"]})
    return [Amendment(order_id, order["updated_at"] or order["created_at"], Money(minor, currency))]


class _RefundedLineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    subtotal = AmountText(required=True)


class _EmbeddedRefundSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    refund_line_items = fields.List(fields.Nested(_RefundedLineSchema), load_default=list)


class _UpdatedSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = PlatformId(required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(load_default=None, allow_none=True)
    cancelled_at = fields.AwareDateTime(load_default=None, allow_none=True)
    currency = Currency(required=True)
    current_subtotal_price = AmountText(load_default=None, allow_none=True)
    note_attributes = fields.List(fields.Dict(), load_default=list)
    refunds = fields.List(fields.Nested(_EmbeddedRefundSchema), load_default=list)


class _CancelledSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = PlatformId(required=True)
    created_at = fields.AwareDateTime(required=True)
    cancelled_at = fields.AwareDateTime(load_default=None, allow_none=True)
    updated_at = fields.AwareDateTime(load_default=None, allow_none=True)


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
    if not lines and not _paid_back(refund):
        return [Ignored(str(refund["id"]), "the refund returns no line item and no money: points are earned on the "
                                           "lines' subtotal, so none are taken back")]
    errors: dict[str, list[str]] = {}
    currency = _refund_currency(refund, errors)
    if currency is None:
        raise InvalidTransaction(errors)
    if not lines:
        return [_amount_refund(refund, currency, errors)]
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
        return [_amount_refund(refund, currency, errors)]
    return [
        Refund(
            order_id=refund["id"],
            original_order_id=refund["order_id"],
            occurred_at=refund["created_at"] or refund["processed_at"],
            total=Money(minor, currency),
            items=items,
        )
    ]


def _paid_back(refund: dict) -> list[dict]:
    """The refund's money handed back: its successful refund transactions."""
    return [t for t in refund["transactions"] if t["kind"] == "refund" and t["status"] == "success" and t["amount"]]


def _amount_refund(refund: dict, currency: str, errors: dict[str, list[str]]) -> Transaction:
    """A refund of an amount, naming no line (or lines of 0.00): the money back for goods, less any for shipping.

    Its share of the sale is that money over what the sale charged for its goods (the hub measures it, as only the
    order knows what it charged); a refund of shipping alone takes back nothing.
    """
    back = [_money(t["amount"], currency, f"transactions.{i}.amount", errors) for i, t in enumerate(_paid_back(refund))]
    # Shopify writes a shipping refund's adjustment as a negative amount ("-5.99"): its size is what matters.
    shipping = [_money(a[field].removeprefix("-"), currency, f"order_adjustments.{i}.{field}", errors)
                for i, a in enumerate(refund["order_adjustments"]) if a["kind"] == "shipping_refund"
                for field in ("amount", "tax_amount")]
    shipping += [_money(line["subtotal_amount_set"]["shop_money"]["amount"] or "0", currency,
                        f"refund_shipping_lines.{i}.subtotal_amount_set.shop_money.amount", errors)
                 for i, line in enumerate(refund["refund_shipping_lines"]) if line["subtotal_amount_set"]]
    if errors:
        raise InvalidTransaction(errors)
    goods = sum(money.minor for money in back) - sum(money.minor for money in shipping)
    if goods > MAX_MINOR:
        raise InvalidTransaction({"transactions": ["the refunded amounts add up to too large an amount"]})
    if goods <= 0:
        return Ignored(str(refund["id"]), "the refund hands back shipping or nothing: points are earned on the goods, "
                                          "so none are taken back")
    return Refund(order_id=refund["id"], original_order_id=refund["order_id"],
                  occurred_at=refund["created_at"] or refund["processed_at"], total=Money(0, currency),
                  charged_back=Money(goods, currency))


_TOPICS = {"orders/create": _sale, "orders/paid": _paid, "orders/updated": _updated, "orders/cancelled": _cancelled,
           "refunds/create": _refund}


class ShopifyAdapter:
    name = "shopify"
    content_types = ("application/json",)
    config_schema = ShopifyConfigSchema
    signed = True
    #: The webhook topics a shop subscribes to the partner's inbound URL (listed in the partner's view).
    topics = tuple(_TOPICS)

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        data = read_json(payload.body)
        topic = payload.headers.get(TOPIC_HEADER)
        reader = _TOPICS.get(topic)
        if reader is None:
            raise InvalidTransaction(
                {f"headers.{TOPIC_HEADER}": [f"is {topic!r}; only {', '.join(_TOPICS)} are read"]},
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
