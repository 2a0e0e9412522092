"""The woocommerce adapter held to WooCommerce's own order webhooks (tests/fixtures/woocommerce/README.md).

Each fixture is a whole REST API v3 order as a store's `order.created` or
`order.updated` delivers it, every field WooCommerce sends; each is read to
its exact canonical transactions, and then mutated at random (the fields the
adapter reads, and any field at all) to show that only the adapter's two
refusals or valid transactions come out. Driven through the hub in
tests/test_adapter_woocommerce.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from partners.adapters import Payload
from partners.money import Money
from partners.transactions import Amendment, Cancellation, Ignored, LineItem, Payment, Refund, Sale
from plugins.woocommerce import WooCommerceAdapter, WooCommerceConfigSchema
from tests.support.fuzz import FUZZ, json_values, mutate_json, parse_or_refuse

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"
ADAPTER = WooCommerceAdapter()
CONFIG = WooCommerceConfigSchema().load({"webhook_secret": "wc-7Tq2&Lm9"})
CARD = "7000123456789010"
PROCESSING, ON_HOLD = "order_created_processing.json", "order_created_on_hold.json"
PARTIAL, REFUNDED, CANCELLED = "order_updated_partial_refund.json", "order_updated_refunded.json", "order_updated_cancelled.json"
TOPICS = {PROCESSING: "order.created", ON_HOLD: "order.created", PARTIAL: "order.updated", REFUNDED: "order.updated",
          CANCELLED: "order.updated"}


def utc(*moment: int) -> datetime:
    return datetime(*moment, tzinfo=timezone.utc)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str, body: bytes | None = None) -> list:
    return ADAPTER.parse(Payload(raw(name) if body is None else body, "application/json", {"x-wc-webhook-topic": TOPICS[name]}),
                         CONFIG)


SALE_4127 = Sale(
    order_id="4127", card_number=CARD, occurred_at=utc(2026, 11, 20, 15, 15, 2), total=Money(7290, "USD"),
    items=(LineItem("CB-1KG", Decimal(2), Money(1620, "USD")), LineItem("143", Decimal(1), Money(4050, "USD"))),
    charged=Money(7873, "USD"),
)


def test_a_paid_order_is_a_payment_carrying_its_sale_on_the_line_totals_after_coupons_before_tax_shipping_and_fees():
    """Lines 32.40 + 40.50 after the 10% coupon; tax 6.07, shipping 5.00 and the gift-wrapping fee 3.00 (+0.24) earn
    nothing; what the goods were charged is 86.97 less shipping and the fee with its tax."""
    assert parse(PROCESSING) == [Payment("4127", utc(2026, 11, 20, 15, 15, 9), sale=SALE_4127)]


def test_an_order_on_hold_is_its_sale_awaiting_payment():
    assert parse(ON_HOLD) == [
        Sale(order_id="4133", card_number=CARD, occurred_at=utc(2026, 11, 22, 0, 3, 27), total=Money(2400, "USD"),
             items=(LineItem("DRIP-V60", Decimal(1), Money(2400, "USD")),), charged=Money(2592, "USD"),
             awaiting_payment=True),
        Amendment("4133", utc(2026, 11, 22, 0, 3, 28), Money(2400, "USD")),
    ]


def test_a_partial_refund_is_money_handed_back_after_the_payment_which_the_hub_finds_paid_already():
    assert parse(PARTIAL) == [
        Payment("4127", utc(2026, 11, 20, 15, 15, 9), sale=SALE_4127),
        Refund(order_id="4131", original_order_id="4127", occurred_at=utc(2026, 11, 24, 21, 2, 12),
               total=Money(0, "USD"), charged_back=Money(1750, "USD")),
    ]


def test_a_refunded_order_is_its_refunds_oldest_first_none_beyond_the_goods_and_then_its_cancellation():
    """-69.47 hands back shipping and the fee too: only 78.73 - 17.50 of it was charged for goods."""
    when = utc(2026, 11, 25, 16, 30, 45)
    assert parse(REFUNDED) == [
        Refund("4131", "4127", when, Money(0, "USD"), charged_back=Money(1750, "USD")),
        Refund("4135", "4127", when, Money(0, "USD"), charged_back=Money(6123, "USD")),
        Cancellation("4127", when),
    ]


def test_a_cancelled_order_is_its_cancellation_dated_by_its_last_change():
    assert parse(CANCELLED) == [Cancellation("4133", utc(2026, 11, 24, 13, 12, 40))]


def test_the_ping_of_a_webhook_saved_books_nothing():
    ping = Payload(raw("ping.txt"), "application/x-www-form-urlencoded", {})
    assert ADAPTER.verify(ping, CONFIG) is True  # WooCommerce signs no ping
    (ignored,) = ADAPTER.parse(ping, CONFIG)
    assert isinstance(ignored, Ignored) and ignored.order_id == "webhook 17" and "ping" in ignored.reason


# ---------------------------------------------------------------- the real payloads, mutated


VALUES = json_values(["32.40", "-17.50", "0", "-0.00", "1e3", "12.505", "USD", "JPY", "XXX", "", "processing", "on-hold",
                      "refunded", "trash", "2026-11-20T15:15:02", CARD, "loyalty_card", "\u202e\u00e9", "9" * 300])
READ_KEYS = {"id", "status", "customer_id", "billing", "email", "meta_data", "key", "value", "currency", "total",
             "date_created_gmt", "date_modified_gmt", "date_paid_gmt", "shipping_total", "shipping_tax", "line_items",
             "name", "product_id", "variation_id", "quantity", "sku", "fee_lines", "total_tax", "refunds"}


def every_key(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {key for child in node.values() for key in every_key(child)}
    if isinstance(node, list):
        return {key for child in node for key in every_key(child)}
    return set()


def outcome_only(name: str, document) -> None:
    parse_or_refuse(ADAPTER, Payload(json.dumps(document).encode(), "application/json", {"x-wc-webhook-topic": TOPICS[name]}),
                    CONFIG)


@FUZZ
@given(name=st.sampled_from(list(TOPICS)), data=st.data())
def test_the_fields_the_adapter_reads_mutated_never_escape_as_another_error(name, data):
    outcome_only(name, mutate_json(json.loads(raw(name)), data, READ_KEYS, VALUES))


@FUZZ
@given(name=st.sampled_from(list(TOPICS)), data=st.data())
def test_any_field_woocommerce_sends_mutated_never_escapes_as_another_error(name, data):
    document = json.loads(raw(name))
    outcome_only(name, mutate_json(document, data, every_key(document), VALUES))
