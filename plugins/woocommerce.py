"""The `woocommerce` adapter: WooCommerce's own `order.created` and `order.updated` webhooks.

A store adds two webhooks (WooCommerce > Settings > Advanced > Webhooks, API
version "WP REST API Integration v3") whose delivery URL is the partner's
inbound URL and whose secret is the partner's `webhook_secret`. WooCommerce
signs each body (`X-WC-Webhook-Signature`, base64 HMAC-SHA256), so the store
needs no middleware.

Why it is shaped this way:

- Every delivery is the whole order as it now stands (the REST API's order
  object), not an event: what the hub does follows from `status`. Processing
  or completed is a `Payment` (the hub books the sale if it never saw it,
  releases the points it holds pending, or answers that it is paid already);
  pending or on-hold is a sale booked pending until paid, and what its lines
  come to now (an `Amendment`: WooCommerce edits orders only in those
  statuses, so an edit's difference is taken back or topped up); cancelled or failed
  is a `Cancellation`; refunded is the refunds and then a `Cancellation` of
  whatever is left. Each entry of `refunds[]` is a refund of its own id on any
  status, so a delivery sent again books nothing twice.
- Points are earned on the sum of `line_items[].total`: after coupons, before
  tax and shipping, as Shopify's subtotal. A fee line with a positive total (a
  payment surcharge, a handling or gift-wrap charge) buys no goods and earns
  nothing; a negative one is how WooCommerce books a discount on the whole
  order (`WC_Cart::add_fee` with a negative amount), and lowers the points as a
  coupon would.
- `refunds[]` carries only an amount (tax and shipping included, written
  negative) and no lines, so a refund is money handed back
  (`Refund.charged_back`), measured against what the goods were charged
  (`Sale.charged`: `total` less shipping, its tax and positive fees with theirs);
  the refunds together hand back no more than that, so a full refund, shipping
  and fees included, takes back the sale and no more. A refund carries no
  date: it is dated by the order's `date_modified_gmt` in the delivery that
  shows it.
- The member is the order's `meta_data` entry `loyalty_card` (a checkout field
  writes it), else the customer, through this partner's aliases: by its
  `customer_id` (the default) or, with `"alias_from": "billing_email"`, its
  billing e-mail lower-cased. A guest order (`customer_id` 0) with no card
  names no member.
- WooCommerce does not retry a failed delivery, and disables a webhook after
  five failures in a row: whatever is not the hub's to book (a shopper who is
  no member, a draft, the ping WooCommerce sends when a webhook is saved) is
  answered 200 ignored, said why. A body that is wrong is still refused (422
  naming the field), so the store's webhook log shows what to fix.
- Dates are the `*_gmt` ones: WooCommerce writes them in UTC without an offset
  ("2026-11-20T15:15:00"); the others are the site's local time, also without
  one.
- Money is WooCommerce's decimal strings ("10.00"), read exactly; trailing
  zeros are dropped (a yen shop set to two decimals writes "1800.00").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timezone
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from partners.adapters import Payload
from partners.cards import REFERENCE_ERROR, is_card_reference, is_valid_card_number
from partners.errors import InvalidTransaction, UnreadablePayload, flatten_errors
from partners.fields import AmountText, Currency, PlatformId, Quantity
from partners.hookspecs import hookimpl
from partners.money import MAX_MINOR, Money, MoneyError
from partners.payloads import read_json
from partners.signatures import require_base64_hmac
from partners.transactions import Amendment, Cancellation, Ignored, LineItem, Payment, Refund, Sale, Transaction

TOPIC_HEADER = "x-wc-webhook-topic"
SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPICS = ("order.created", "order.updated")
CARD_KEY = "loyalty_card"
ALIAS_SOURCES = ("customer_id", "billing_email")

PAID = ("processing", "completed")
AWAITING = ("pending", "on-hold")
CANCELLED = ("cancelled", "failed")
REFUNDED = "refunded"
#: Orders that are not orders yet (a block checkout's draft) or no longer (trashed): nothing to book or take back.
UNBOOKED = ("draft", "checkout-draft", "auto-draft", "trash")

#: What WooCommerce posts when a webhook is saved (`WC_Webhook::deliver_ping`): unsigned, form-encoded.
_PING = re.compile(rb"webhook_id=([0-9]{1,20})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?")
#: The entities `wp_specialchars_decode($secret, ENT_QUOTES)` turns back into characters before WooCommerce signs.
_ENTITY = re.compile(r"&(lt|gt|quot|amp|#0*(?:34|38|39|60|62)|#[xX]0*(?:22|26|27));")
_NAMED = {"lt": "<", "gt": ">", "quot": '"', "amp": "&"}


class WooCommerceConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    webhook_secret = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "the webhooks' secret (WooCommerce > Settings > Advanced > Webhooks > Secret)"},
    )
    alias_from = fields.String(
        validate=validate.OneOf(ALIAS_SOURCES),
        metadata={"description": "what names a member with no loyalty_card on the order, as this partner's alias of a "
                                 "card: customer_id (the default) or billing_email (lower-cased)"},
    )


class _Reference(fields.Field):
    """A reference that may be unset: a JSON integer, 0 for none (a guest's `customer_id`, a line's `variation_id`)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            raise ValidationError("must be a non-negative integer id (0 for none)")
        return value


class _Gmt(fields.DateTime):
    """A `*_gmt` date: UTC, which WooCommerce writes without an offset."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValidationError('must be a date and time such as "2026-11-20T15:15:00" (UTC)')
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
        except OverflowError:
            raise ValidationError("is out of range") from None


class _BillingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    email = fields.String(load_default="", allow_none=True)


class _HeadSchema(Schema):
    """What decides whether an order is the hub's at all, read before the rest so a non-member's order is never refused."""

    class Meta:
        unknown = EXCLUDE

    id = PlatformId(required=True)
    status = fields.String(required=True)
    customer_id = _Reference(load_default=0)
    billing = fields.Nested(_BillingSchema, load_default=dict)
    meta_data = fields.List(fields.Dict(), load_default=list)


class _LineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(load_default=None, allow_none=True)
    product_id = _Reference(load_default=0)
    variation_id = _Reference(load_default=0)
    quantity = Quantity(required=True)
    total = AmountText(required=True)
    sku = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _named(self, data, **kwargs):
        if not ((data["sku"] or "").strip() or data["variation_id"] or data["product_id"] or (data["name"] or "").strip()):
            raise ValidationError("is empty and the line has no variation_id, product_id or name to stand for it", "sku")


class _FeeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    total = AmountText(required=True)
    total_tax = AmountText(load_default="0")


class _RefundSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = PlatformId(required=True)
    total = AmountText(required=True)


class _OrderSchema(_HeadSchema):
    currency = Currency(required=True)
    date_created_gmt = _Gmt(required=True)
    date_modified_gmt = _Gmt(load_default=None, allow_none=True)
    date_paid_gmt = _Gmt(load_default=None, allow_none=True)
    total = AmountText(required=True)
    shipping_total = AmountText(required=True)
    shipping_tax = AmountText(required=True)
    line_items = fields.List(fields.Nested(_LineSchema), required=True)
    fee_lines = fields.List(fields.Nested(_FeeSchema), load_default=list)
    refunds = fields.List(fields.Nested(_RefundSchema), load_default=list)


def _load(schema: Schema, data: Any) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidTransaction(flatten_errors(exc.messages)) from None


class _Reader:
    """One order's amounts, each read exactly, every bad one named by its path before any is used."""

    def __init__(self, currency: str):
        self.currency = currency
        self.errors: dict[str, list[str]] = {}

    def money(self, text: str, path: str, *, signed: bool = False) -> int:
        """Minor units; a negative amount only where WooCommerce writes one (`signed`). 0 once an error is noted."""
        negative = text.startswith("-")
        if negative and not signed:
            self.errors[path] = ["must not be negative"]
            return 0
        try:
            minor = Money.parse(text.removeprefix("-") if negative else text, self.currency).minor
        except MoneyError as exc:
            self.errors[path] = [str(exc)]
            return 0
        return -minor if negative else minor

    def check(self) -> None:
        if self.errors:
            raise InvalidTransaction(self.errors)


def _item(line: dict, minor: int, currency: str) -> LineItem:
    """The line at its total after discounts: per unit where that is whole minor units, else the line as one unit."""
    sku = ((line["sku"] or "").strip() or str(line["variation_id"] or line["product_id"] or "")
           or line["name"].strip()[:64])
    quantity = line["quantity"]
    unit = Decimal(minor) / quantity
    if unit == unit.to_integral_value():
        return LineItem(sku=sku, quantity=quantity, unit_price=Money(int(unit), currency))
    return LineItem(sku=sku, quantity=Decimal(1), unit_price=Money(minor, currency))


def _card(head: dict, config: Mapping[str, Any]) -> tuple[str, bool] | Ignored:
    """The member's reference and whether it is only an alias; or why the order names no member."""
    order_id = head["id"]
    for index, entry in enumerate(head["meta_data"]):
        value = entry.get("value")
        if entry.get("key") != CARD_KEY or (isinstance(value, str) and not value.strip()):
            continue  # a checkout field left empty writes "": no card typed
        number = "".join(value.split()) if isinstance(value, str) else None
        if number is None or not is_valid_card_number(number):
            number = value.strip() if isinstance(value, str) else None
        if not is_card_reference(number):
            raise InvalidTransaction({f"meta_data.{index}.value": [REFERENCE_ERROR]})
        return number, False
    if config.get("alias_from", "customer_id") == "billing_email":
        email = (head["billing"].get("email") or "").strip().lower()
        if not email:
            return Ignored(order_id, f"the order has no {CARD_KEY} and no billing e-mail: it names no member")
        if not is_card_reference(email):
            return Ignored(order_id, f"the order has no {CARD_KEY} and its billing e-mail is no alias a card could have")
        return email, True
    if head["customer_id"] == 0:
        return Ignored(order_id, f"a guest's order (customer_id 0) without a {CARD_KEY}: it names no member")
    return str(head["customer_id"]), True


def _order(data: dict, config: Mapping[str, Any]) -> list[Transaction]:
    head = _load(_HeadSchema(), data)
    status = head["status"]
    if status in UNBOOKED:
        return [Ignored(head["id"], f"the order is {status}: not placed, or trashed; it books nothing")]
    if status not in (*PAID, *AWAITING, *CANCELLED, REFUNDED):
        return [Ignored(head["id"], f"the order's status is {status!r}, which the hub does not read (it reads "
                                    f"{', '.join((*AWAITING, *PAID, *CANCELLED, REFUNDED))})")]
    card = _card(head, config)
    if isinstance(card, Ignored):
        return [card]
    order = _load(_OrderSchema(), data)
    sale = _sale(order, *card, awaiting=status in AWAITING)
    refunds = _refunds(order, sale)
    modified = order["date_modified_gmt"] or order["date_created_gmt"]
    if status in PAID:
        return [Payment(order["id"], order["date_paid_gmt"] or modified, sale=sale), *refunds]
    if status in AWAITING:
        # WooCommerce lets an order be edited while pending or on hold: its lines now are the truth (an edit
        # the hub has counted already changes nothing).
        return [sale, Amendment(order["id"], modified, sale.total), *refunds]
    return [*refunds, Cancellation(order["id"], modified)]


def _sale(order: dict, card: str, alias_only: bool, *, awaiting: bool) -> Sale:
    currency = order["currency"]
    read = _Reader(currency)
    lines = [read.money(line["total"], f"line_items.{index}.total") for index, line in enumerate(order["line_items"])]
    fees = [(read.money(fee["total"], f"fee_lines.{index}.total", signed=True),
             read.money(fee["total_tax"], f"fee_lines.{index}.total_tax", signed=True))
            for index, fee in enumerate(order["fee_lines"])]
    total = read.money(order["total"], "total")
    shipping = read.money(order["shipping_total"], "shipping_total") + read.money(order["shipping_tax"], "shipping_tax")
    read.check()
    goods = sum(lines) + sum(fee for fee, _ in fees if fee < 0)
    charged = total - shipping - sum(fee + tax for fee, tax in fees if fee > 0)
    if charged < 0:
        raise InvalidTransaction({"total": [f"is {Money(total, currency)}, less than its shipping and fees "
                                            f"({Money(total - charged, currency)})"]})
    if sum(lines) > MAX_MINOR:
        raise InvalidTransaction({"line_items": ["the line totals add up to too large an amount"]})
    items = tuple(_item(line, minor, currency) for line, minor in zip(order["line_items"], lines))
    return Sale(order_id=order["id"], card_number=card, occurred_at=order["date_created_gmt"],
                total=Money(max(goods, 0), currency), items=items, charged=Money(charged, currency),
                awaiting_payment=awaiting, alias_only=alias_only)


def _refunds(order: dict, sale: Sale) -> list[Refund | Ignored]:
    """Each refund as money handed back, oldest first, none beyond what the goods were charged with those before it.

    `refunds[]` is every refund the order has, so the cap comes out the same in every delivery: a full refund hands
    back shipping and fees too, which earned nothing, and must not read as more than the sale.
    """
    currency = sale.total.currency
    read = _Reader(currency)
    amounts = [abs(read.money(refund["total"], f"refunds.{index}.total", signed=True))
               for index, refund in enumerate(order["refunds"])]
    read.check()
    occurred_at = order["date_modified_gmt"] or order["date_created_gmt"]
    left = sale.charged.minor if sale.charged and sale.total.minor else 0
    taken: list[Refund | Ignored] = []
    # WooCommerce lists the newest refund first; ids grow with time, so the oldest is taken back first.
    for refund, minor in sorted(zip(order["refunds"], amounts), key=lambda pair: int(pair[0]["id"])):
        if minor == 0:
            taken.append(Ignored(refund["id"], "the refund hands back 0.00: no points are taken back"))
        elif sale.total.minor == 0:
            taken.append(Ignored(refund["id"], "the order's goods earned nothing: no points are taken back"))
        elif left == 0:
            taken.append(Ignored(refund["id"], "the order's earlier refunds handed back all its goods were charged: "
                                               "this one is shipping or fees, which earned no points"))
        else:
            back, left = min(minor, left), left - min(minor, left)
            taken.append(Refund(order_id=refund["id"], original_order_id=order["id"], occurred_at=occurred_at,
                                total=Money(0, currency), charged_back=Money(back, currency)))
    return taken


def _ping(body: bytes) -> str | None:
    match = _PING.fullmatch(body.strip())
    return match.group(1).decode() if match else None


def _signing_key(secret: str) -> str:
    """The secret as WooCommerce signs with it: `generate_signature` decodes HTML entities in it first."""
    if "&" not in secret:
        return secret

    def character(match: re.Match) -> str:
        name = match.group(1)
        if name in _NAMED:
            return _NAMED[name]
        return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))

    return _ENTITY.sub(character, secret)


class WooCommerceAdapter:
    name = "woocommerce"
    #: JSON deliveries, and the form-encoded ping WooCommerce sends when a webhook is saved.
    content_types = ("application/json", "application/x-www-form-urlencoded")
    config_schema = WooCommerceConfigSchema
    signed = True
    #: The webhooks a store adds, delivered to the partner's inbound URL (the partner's view lists them).
    topics = TOPICS

    def parse(self, payload: Payload, config: Mapping[str, Any]) -> list[Transaction]:
        webhook = _ping(payload.body)
        if webhook is not None:
            return [Ignored(f"webhook {webhook}", f"WooCommerce's ping on saving webhook {webhook}: answered 200 so "
                                                  "WooCommerce activates the webhook; it books nothing")]
        if payload.content_type != "application/json":
            raise UnreadablePayload("a form-encoded body that is not WooCommerce's ping (webhook_id=N): deliveries are JSON")
        topic = payload.headers.get(TOPIC_HEADER)
        if topic not in TOPICS:
            raise InvalidTransaction({f"headers.{TOPIC_HEADER}": [f"is {topic!r}; only {' and '.join(TOPICS)} are read"]},
                                     "Unsupported WooCommerce webhook topic")
        data = read_json(payload.body)
        if not isinstance(data, dict):
            raise InvalidTransaction({"_schema": [f"must be a JSON object (the {topic} webhook's order)"]})
        if "order" in data and "id" not in data:
            raise InvalidTransaction({"order": ["is the legacy REST API's shape: set the webhook's API version to "
                                                "WP REST API Integration v3"]})
        return _order(data, config)

    def verify(self, payload: Payload, config: Mapping[str, Any]) -> bool:
        if _ping(payload.body) is not None:
            return True  # WooCommerce signs no ping, and a ping books nothing: there is nothing to forge
        require_base64_hmac(payload.headers, SIGNATURE_HEADER, _signing_key(config["webhook_secret"]), payload.body)
        return True


@hookimpl
def coalition_register_adapters():
    return [WooCommerceAdapter()]
