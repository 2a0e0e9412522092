"""The shopify adapter, read against Shopify's own webhook bodies (tests/fixtures/shopify)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from partners.adapters import Payload
from partners.errors import BadSignature, InvalidTransaction, UnreadablePayload
from partners.money import Money
from partners.transactions import Ignored, LineItem, Refund, Sale
from plugins.shopify import ShopifyAdapter, ShopifyConfigSchema
from tests.support.fuzz import FUZZ, json_values, mutate_json, parse_or_refuse

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
SECRET = "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"
CONFIG = ShopifyConfigSchema().load({"webhook_secret": SECRET})
ADAPTER = ShopifyAdapter()
NEW_YORK = timezone(timedelta(hours=-5))
ORDER, JPY_ORDER = "orders_create.json", "orders_create_jpy.json"
PARTIAL, FULL = "refunds_create_partial.json", "refunds_create_full.json"
TOPIC = {ORDER: "orders/create", JPY_ORDER: "orders/create", PARTIAL: "refunds/create", FULL: "refunds/create"}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> dict:
    return json.loads(raw(name))


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def payload(body: bytes | dict, topic: str = "orders/create", **headers: str) -> Payload:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Payload(data, "application/json", {"x-shopify-topic": topic, **headers})


def parse(body: bytes | dict, topic: str = "orders/create") -> list:
    return ADAPTER.parse(payload(body, topic), CONFIG)


def errors(body: bytes | dict, topic: str = "orders/create") -> dict[str, list[str]]:
    with pytest.raises(InvalidTransaction) as caught:
        parse(body, topic)
    return caught.value.fields


# The sale and refunds the fixtures stand for, figure by figure.

def test_an_order_earns_on_its_subtotal_after_discounts_before_tax_and_shipping():
    assert parse(raw(ORDER)) == [
        Sale(
            order_id="5864920318274",
            card_number="7000123456789010",
            occurred_at=datetime(2026, 11, 20, 10, 15, tzinfo=NEW_YORK),
            total=Money(6165, "USD"),
            items=(
                LineItem("CB-1L", Decimal(2), Money(1800, "USD"), "Coffee"),
                LineItem("44810233987210", Decimal(1), Money(3250, "USD"), None),
            ),
            charged=Money(6713, "USD"),  # total_price 73.12 less shipping 5.99: the goods, tax included
        )
    ]


def test_a_partial_refund_is_the_subtotal_of_its_refunded_lines():
    assert parse(raw(PARTIAL), "refunds/create") == [
        Refund(
            order_id="1032881062210",
            original_order_id="5864920318274",
            occurred_at=datetime(2026, 11, 24, 16, 2, 11, tzinfo=NEW_YORK),
            total=Money(1620, "USD"),
            items=(LineItem("CB-1L", Decimal(1), Money(1800, "USD"), "Coffee"),),
        )
    ]


def test_a_full_refund_gives_back_exactly_the_orders_subtotal_shipping_and_tax_left_out():
    (refund,) = parse(raw(FULL), "refunds/create")
    (sale,) = parse(raw(ORDER))
    assert refund.total == sale.total == Money(6165, "USD")
    assert (refund.order_id, refund.original_order_id) == ("1032881095000", sale.order_id)
    assert refund.items == sale.items


def test_a_yen_test_order_is_booked_in_whole_yen_and_the_card_may_be_typed_with_spaces():
    assert fixture(JPY_ORDER)["test"] is True
    assert parse(raw(JPY_ORDER)) == [
        Sale(
            order_id="6120447811703",
            card_number="7000987654321010",
            occurred_at=datetime(2026, 11, 21, 14, 5, 33, tzinfo=timezone(timedelta(hours=9))),
            total=Money(7300, "JPY"),
            items=(
                LineItem("SEN-100", Decimal(2), Money(1800, "JPY"), None),
                LineItem("KYU-300", Decimal(1), Money(4200, "JPY"), None),
            ),
            charged=Money(7300, "JPY"),
        )
    ]


# Money as Shopify writes it: strings in orders, JSON numbers in refund lines.

@pytest.mark.parametrize(
    ("name", "field", "value", "minor"),
    [
        (ORDER, "subtotal_price", 61.65, 6165),
        (ORDER, "subtotal_price", 61, 6100),
        (ORDER, "subtotal_price", "61.650", 6165),
        (JPY_ORDER, "subtotal_price", "7300.00", 7300),
        (JPY_ORDER, "subtotal_price", 7300.0, 7300),
    ],
)
def test_amounts_are_read_exactly_from_strings_and_json_numbers(name, field, value, minor):
    order = fixture(name)
    order[field] = value
    (sale,) = parse(order)
    assert sale.total.minor == minor


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (ORDER, 61.655, "USD has 2 decimals"),
        (ORDER, "61.655", "USD has 2 decimals"),
        (JPY_ORDER, "7300.5", "JPY has 0 decimals"),
        (ORDER, 0.30000000000000004, "USD has 2 decimals"),
        (ORDER, -61.65, "not a non-negative decimal"),
        (ORDER, 1e300, "too large"),
        (ORDER, True, "decimal string"),
    ],
)
def test_an_amount_with_more_decimals_than_its_currency_or_no_amount_at_all_is_refused(name, value, message):
    order = fixture(name)
    order["subtotal_price"] = value
    (problem,) = errors(order)["subtotal_price"]
    assert message in problem


def test_a_refund_line_read_as_a_json_number_keeps_its_cents():
    refund = fixture(PARTIAL)
    assert refund["refund_line_items"][0]["subtotal"] == 16.2  # a JSON number, as Shopify sends it
    refund["refund_line_items"][0]["subtotal"] = 16.205
    assert errors(refund, "refunds/create") == {"refund_line_items.0.subtotal": ["USD has 2 decimals; '16.205' has 3"]}


def test_refund_lines_adding_up_beyond_any_real_amount_are_refused():
    refund = fixture(FULL)
    for line in refund["refund_line_items"]:
        line["subtotal"] = "6000000000000.00"
    assert errors(refund, "refunds/create") == {"refund_line_items": ["the subtotals add up to too large an amount"]}


# What books nothing.

@pytest.mark.parametrize(
    "changes",
    [{"financial_status": "voided"}, {"cancelled_at": "2026-11-20T10:20:00-05:00", "cancel_reason": "customer"}],
)
def test_a_voided_or_cancelled_order_books_nothing_even_without_a_card(changes):
    order = fixture(ORDER)
    order.update(changes, note_attributes=[])
    assert parse(order) == [Ignored(str(order["id"]), "the order is voided or cancelled: it earns nothing")]


def test_a_shipping_only_refund_books_nothing():
    refund = fixture(FULL)
    refund["refund_line_items"] = []
    refund["transactions"][0]["amount"] = "5.99"  # the refund_shipping_lines' 5.99, and no more
    (ignored,) = parse(refund, "refunds/create")
    assert isinstance(ignored, Ignored) and "shipping" in ignored.reason


def test_a_refund_of_nothing_at_all_books_nothing():
    refund = fixture(FULL)
    refund.update(refund_line_items=[], transactions=[], refund_shipping_lines=[])
    (ignored,) = parse(refund, "refunds/create")
    assert isinstance(ignored, Ignored) and "no money" in ignored.reason


def test_a_refund_of_an_amount_naming_no_line_is_its_money_for_goods_less_shipping():
    refund = fixture(FULL)
    refund["refund_line_items"] = []
    assert parse(refund, "refunds/create") == [Refund(
        order_id=str(refund["id"]), original_order_id=str(refund["order_id"]),
        occurred_at=datetime(2026, 11, 26, 9, 30, 45, tzinfo=NEW_YORK), total=Money(0, "USD"),
        charged_back=Money(7312 - 599, "USD"),
    )]


def test_a_shipping_refund_written_as_an_order_adjustment_is_left_out_too():
    refund = fixture(FULL)
    refund.update(refund_line_items=[], refund_shipping_lines=[], order_adjustments=[
        {"id": 1, "order_id": refund["order_id"], "refund_id": refund["id"], "amount": "-5.99", "tax_amount": "-0.50",
         "kind": "shipping_refund", "reason": "Shipping refund"}])
    (booked,) = parse(refund, "refunds/create")
    assert booked.charged_back == Money(7312 - 599 - 50, "USD")


def test_a_refund_whose_lines_add_up_to_zero_but_which_paid_money_back_is_a_refund_of_that_money():
    refund = fixture(PARTIAL)
    refund["refund_line_items"][0]["subtotal"] = 0.0
    (booked,) = parse(refund, "refunds/create")
    assert booked.total == Money(0, "USD") and booked.charged_back == Money(1764, "USD")


def test_a_failed_refund_transaction_is_no_money_paid_back():
    refund = fixture(PARTIAL)
    refund["refund_line_items"][0]["subtotal"] = 0.0
    refund["transactions"][0]["status"] = "failure"
    (ignored,) = parse(refund, "refunds/create")
    assert isinstance(ignored, Ignored)


# The refund's currency.

def test_a_refund_without_subtotal_sets_takes_its_currency_from_its_transactions():
    refund = fixture(PARTIAL)
    del refund["refund_line_items"][0]["subtotal_set"]
    (booked,) = parse(refund, "refunds/create")
    assert booked.total == Money(1620, "USD")


def test_a_refund_with_no_currency_anywhere_is_refused():
    refund = fixture(PARTIAL)
    del refund["refund_line_items"][0]["subtotal_set"]
    refund["transactions"] = []
    assert list(errors(refund, "refunds/create")) == ["refund_line_items.0.subtotal_set"]


def test_refund_lines_in_two_currencies_are_refused_on_the_odd_one():
    refund = fixture(FULL)
    refund["refund_line_items"][1]["subtotal_set"]["shop_money"]["currency_code"] = "CAD"
    assert errors(refund, "refunds/create") == {
        "refund_line_items.1.subtotal_set.shop_money.currency_code": ["is CAD but the refund is in USD: one refund has one currency"]
    }


def test_a_refund_dated_only_by_processed_at_is_dated_by_it():
    refund = fixture(PARTIAL)
    refund["created_at"] = None
    refund["processed_at"] = "2026-11-24T16:05:00-05:00"
    (booked,) = parse(refund, "refunds/create")
    assert booked.occurred_at == datetime(2026, 11, 24, 16, 5, tzinfo=NEW_YORK)


# Line items.

def test_a_line_without_sku_or_variant_stands_by_its_product_id():
    order = fixture(ORDER)
    order["line_items"][1].update(sku=None, variant_id=None)
    (sale,) = parse(order)
    assert sale.items[1].sku == "8921040437378"


def test_a_custom_line_item_without_sku_variant_or_product_is_read_by_its_title():
    """Shopify's custom items (typed at checkout: gift wrapping, an engraving) have none of the three: the title names
    the line, and the order books (it was a 422, even for a shopper without a card)."""
    order = fixture(ORDER)
    order["line_items"][1].update(sku="", variant_id=None, product_id=None, title="Gift wrapping")
    (sale,) = parse(order)
    assert sale.items[1].sku == "Gift wrapping"


def test_a_line_with_nothing_to_name_it_by_is_refused():
    order = fixture(ORDER)
    order["line_items"][1].update(sku="", variant_id=None, product_id=None, title=" ")
    assert list(errors(order)) == ["line_items.1.sku"]


def test_a_bad_quantity_is_named_by_its_line():
    order = fixture(ORDER)
    order["line_items"][0]["quantity"] = 0
    assert errors(order) == {"line_items.0.quantity": ["must be greater than zero"]}


# The card.

@pytest.mark.parametrize("value", ["x" * 129, "", "   ", None, 7000123456789010])
def test_a_card_that_can_be_neither_a_card_nor_an_alias_is_refused(value):
    order = fixture(ORDER)
    order["note_attributes"][1]["value"] = value
    assert list(errors(order)) == ["note_attributes.loyalty_card"]


@pytest.mark.parametrize("value", ["7000123456789011", "SHOP-CUSTOMER-8812"])
def test_a_card_that_fails_its_check_digit_goes_on_to_the_hub_which_may_know_it_as_an_alias(value):
    """The shop's own number for its customer, or a typo: the hub books it as an alias of this partner, or refuses
    it as `invalid_card` (tests/test_card_aliases.py)."""
    order = fixture(ORDER)
    order["note_attributes"][1]["value"] = value
    (sale,) = parse(order)
    assert sale.card_number == value


def test_an_order_without_a_loyalty_card_is_a_shopper_who_is_not_a_member_and_books_nothing():
    """Acknowledged, not refused: Shopify retries a refused webhook and then drops the subscription."""
    order = fixture(ORDER)
    order["note_attributes"] = [{"name": "gift_wrap", "value": "no"}]
    assert parse(order) == [Ignored(str(order["id"]), "the order has no loyalty_card attribute: the shopper is no member")]


def test_two_different_cards_on_one_order_are_refused():
    order = fixture(ORDER)
    order["note_attributes"].append({"name": "loyalty_card", "value": "7000987654321010"})
    assert list(errors(order)) == ["note_attributes.loyalty_card"]


# Topics and bodies that are not Shopify's.

@pytest.mark.parametrize("topic", ["orders/edited", "orders/fulfilled", "", None])
def test_only_the_subscribed_topics_are_read(topic):
    headers = {} if topic is None else {"x-shopify-topic": topic}
    with pytest.raises(InvalidTransaction) as caught:
        ADAPTER.parse(Payload(raw(ORDER), "application/json", headers), CONFIG)
    assert list(caught.value.fields) == ["headers.x-shopify-topic"]


def test_an_order_sent_under_the_refund_topic_is_refused():
    assert set(errors(raw(ORDER), "refunds/create")) == {"order_id", "refund_line_items"}


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"subtotal_price": NaN}', b"[" * 100_000, raw(ORDER)[: len(raw(ORDER)) // 2]],
    ids=["malformed", "empty", "binary", "nan", "deep", "truncated"],
)
def test_a_body_that_is_not_json_is_unreadable(body):
    with pytest.raises(UnreadablePayload):
        parse(body)


@pytest.mark.parametrize("body", [b"[]", b"[{}]", b'"order"', b"42", b"null"])
def test_json_that_is_not_an_object_is_invalid(body):
    assert list(errors(body)) == ["_schema"]


def test_an_order_without_an_id_is_refused_on_the_id():
    order = fixture(ORDER)
    del order["id"]
    assert errors(order) == {"id": ["Missing data for required field."]}


@pytest.mark.parametrize("created_at", ["2026-11-20T10:15:00", "20/11/2026", 1763651700])
def test_an_order_time_without_an_offset_is_refused(created_at):
    order = fixture(ORDER)
    order["created_at"] = created_at
    assert list(errors(order)) == ["created_at"]


# The signature.

def test_a_body_signed_with_the_shops_secret_verifies():
    body = raw(ORDER)
    assert ADAPTER.verify(payload(body, **{"x-shopify-hmac-sha256": sign(body)}), CONFIG) is True


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-shopify-hmac-sha256": ""}, {"x-shopify-hmac-sha256": sign(b"{}")},
     {"x-shopify-hmac-sha256": sign(raw(ORDER), "another-shop")}, {"x-shopify-hmac-sha256": "not base64 ü"}],
    ids=["missing", "empty", "other-body", "other-secret", "garbage"],
)
def test_a_missing_or_wrong_signature_is_refused(headers):
    with pytest.raises(BadSignature):
        ADAPTER.verify(payload(raw(ORDER), **headers), CONFIG)


def test_a_body_changed_after_signing_is_refused():
    body = raw(ORDER)
    tampered = body.replace(b'"subtotal_price": "61.65"', b'"subtotal_price": "6165.00"')
    assert tampered != body
    with pytest.raises(BadSignature):
        ADAPTER.verify(payload(tampered, **{"x-shopify-hmac-sha256": sign(body)}), CONFIG)


@pytest.mark.parametrize("config", [{}, {"webhook_secret": ""}, {"webhook_secret": 42}, {"webhook_secret": "s", "shop": "x"}])
def test_the_config_needs_exactly_a_non_empty_webhook_secret(config):
    with pytest.raises(ValidationError):
        ShopifyConfigSchema().load(config)


# Whatever arrives, only the two adapter errors or booked transactions come out.

VALUES = json_values(["61.65", "0", "-1", "1e3", "12.505", "USD", "JPY", "XXX", "", "voided",
                        "2026-11-20T10:15:00-05:00", "7000123456789010", "loyalty_card"])
READ_KEYS = {
    "id", "order_id", "created_at", "processed_at", "currency", "subtotal_price", "financial_status", "cancelled_at",
    "note_attributes", "name", "value", "line_items", "sku", "variant_id", "product_id", "quantity", "price", "product_type",
    "refund_line_items", "subtotal", "subtotal_set", "shop_money", "currency_code", "line_item", "transactions",
}


def assert_only_adapter_outcomes(body: bytes, topic):
    """Shopify's times keep the shop's offset; the hub stores them in UTC."""
    parse_or_refuse(ADAPTER, Payload(body, "application/json", {"x-shopify-topic": topic}), CONFIG, utc=False)


@FUZZ
@given(body=st.binary(max_size=300), topic=st.sampled_from(["orders/create", "refunds/create"]))
def test_random_bytes_never_escape_as_another_error(body, topic):
    assert_only_adapter_outcomes(body, topic)


@FUZZ
@given(value=VALUES, topic=st.sampled_from(["orders/create", "refunds/create"]))
def test_random_json_never_escapes_as_another_error(value, topic):
    assert_only_adapter_outcomes(json.dumps(value).encode(), topic)


@FUZZ
@given(name=st.sampled_from(sorted(TOPIC)), data=st.data())
def test_mutated_fixtures_never_escape_as_another_error(name, data):
    document = mutate_json(copy.deepcopy(fixture(name)), data, READ_KEYS, VALUES)
    assert_only_adapter_outcomes(json.dumps(document).encode(), TOPIC[name])
