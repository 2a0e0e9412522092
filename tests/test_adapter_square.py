"""The square adapter, read against Square's Orders and Refunds API objects and webhook events (tests/fixtures/square)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import datetime, timezone
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
from plugins.square import SquareAdapter, SquareConfigSchema
from tests.support.fuzz import FUZZ, json_values, mutate_json, parse_or_refuse

FIXTURES = Path(__file__).parent / "fixtures" / "square"
KEY = "5Kx9-vQz2LmR8tWcYb4NhA"
URL = "https://hub.example.com/v1/partners/corner-cafe/inbound"
SIGNED = SquareConfigSchema().load({"signature_key": KEY, "notification_url": URL})
UNSIGNED = SquareConfigSchema().load({})
ADAPTER = SquareAdapter()
ORDER, JPY_ORDER = "order_completed.json", "order_completed_jpy.json"
PARTIAL, FULL_EVENT, SUMMARY_EVENT = "refund_partial.json", "refund_updated_full_event.json", "order_updated_event.json"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> dict:
    return json.loads(raw(name))


def sign(body: bytes, key: str = KEY, url: str = URL) -> str:
    return base64.b64encode(hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()).decode()


def payload(body: bytes | dict, **headers: str) -> Payload:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Payload(data, "application/json", headers)


def parse(body: bytes | dict) -> list:
    return ADAPTER.parse(payload(body), UNSIGNED)


def errors(body: bytes | dict) -> dict[str, list[str]]:
    with pytest.raises(InvalidTransaction) as caught:
        parse(body)
    return caught.value.fields


def order(**changes) -> dict:
    document = fixture(ORDER)
    document["order"].update(changes)
    return document


# The sale and refunds the fixtures stand for, figure by figure.

def test_a_completed_order_earns_on_its_total_less_tax():
    assert parse(raw(ORDER)) == [
        Sale(
            order_id="Ho4wU9Ys0BbTzvd6JVdoyM4Uzq9YY",
            card_number="7000555012345672",
            occurred_at=datetime(2026, 11, 20, 15, 15, 0, 482000, tzinfo=timezone.utc),
            total=Money(2067 - 128, "USD"),
            items=(
                LineItem("W62UWFY35CWMYGVWK6TWJDNI", Decimal(2), Money(575, "USD"), "coffee"),
                LineItem("Almond Croissant", Decimal(1), Money(450, "USD"), None),
            ),
            paid=Money(2067, "USD"),
        )
    ]


def test_a_yen_order_is_in_whole_yen_and_keeps_a_weighed_quantity():
    assert parse(raw(JPY_ORDER)) == [
        Sale(
            order_id="mQ7cK2vR9tX4bN8pL1zH6sJ3wYZY",
            card_number="7000123456789010",
            occurred_at=datetime(2026, 11, 21, 5, 40, 11, 730000, tzinfo=timezone.utc),
            total=Money(1914, "JPY"),
            items=(
                LineItem("5ZHYWK2QF7GJ4XHLOBT3MDLA", Decimal(3), Money(600, "JPY"), "tea"),
                LineItem("QX3NB7LW2RKD5YFHVJ8TMC6P", Decimal("0.250"), Money(1200, "JPY"), None),
            ),
            paid=Money(2100, "JPY"),
        )
    ]


def test_a_completed_partial_refund_names_its_order():
    assert parse(raw(PARTIAL)) == [
        Refund(
            order_id="r9BcXk2sT8pLwQ4yHnJ3vZ6aDEFGH_fT7kQ2mW9xPz",
            original_order_id="Ho4wU9Ys0BbTzvd6JVdoyM4Uzq9YY",
            occurred_at=datetime(2026, 11, 22, 18, 4, 51, 227000, tzinfo=timezone.utc),
            total=Money(441, "USD"),
        )
    ]


def test_a_refund_updated_event_is_read_as_square_posts_it():
    assert parse(raw(FULL_EVENT)) == [
        Refund(
            order_id="r9BcXk2sT8pLwQ4yHnJ3vZ6aDEFGH_Lh3vN8sQ1cRd",
            original_order_id="Ho4wU9Ys0BbTzvd6JVdoyM4Uzq9YY",
            occurred_at=datetime(2026, 11, 23, 9, 12, 30, 118000, tzinfo=timezone.utc),
            total=Money(2067, "USD"),
        )
    ]


def test_an_order_wrapped_in_an_event_is_read_like_a_bare_one():
    event = fixture(SUMMARY_EVENT)
    event["data"]["object"] = fixture(ORDER)
    assert parse(event) == parse(raw(ORDER))


def test_an_order_updated_event_says_to_retrieve_the_order():
    (problem,) = errors(raw(SUMMARY_EVENT))["data.object.order_updated"]
    assert "GET /v2/orders/" in problem


# States.

@pytest.mark.parametrize("state", ["OPEN", "DRAFT", "CANCELED"])
def test_only_a_completed_order_is_booked(state):
    assert errors(order(state=state)) == {
        "order.state": [f"is {state}: only COMPLETED orders are booked; post the order once it completes"]
    }


@pytest.mark.parametrize("status", ["PENDING", "REJECTED", "FAILED"])
def test_only_a_completed_refund_is_booked(status):
    refund = fixture(PARTIAL)
    refund["refund"]["status"] = status
    assert errors(refund) == {"refund.status": [f"is {status}: only COMPLETED refunds are booked"]}


def test_errors_inside_an_event_are_named_by_their_path_in_the_event():
    event = fixture(FULL_EVENT)
    event["data"]["object"]["refund"]["status"] = "PENDING"
    assert list(errors(event)) == ["data.object.refund.status"]


# Money: integer minor units only.

@pytest.mark.parametrize("amount", [20.67, 2067.0, "2067", "20.67", True, None, {"value": 2067}])
def test_an_amount_that_is_not_a_json_integer_is_refused_by_name(amount):
    document = order()
    document["order"]["total_money"]["amount"] = amount
    assert list(errors(document)) == ["order.total_money.amount"]


def test_a_negative_amount_is_refused():
    document = order()
    document["order"]["line_items"][0]["base_price_money"]["amount"] = -575
    assert errors(document) == {"order.line_items.0.base_price_money.amount": ["must not be negative"]}


@pytest.mark.parametrize("currency", ["usd", "US$", "XXX", 840])
def test_a_currency_that_is_not_iso_4217_is_refused(currency):
    document = order()
    document["order"]["total_money"]["currency"] = currency
    assert list(errors(document)) == ["order.total_money.currency"]


def test_tax_in_another_currency_than_the_total_is_refused():
    document = order(total_tax_money={"amount": 128, "currency": "CAD"})
    assert errors(document) == {"order.total_tax_money.currency": ["is CAD but total_money is in USD"]}


def test_tax_above_the_total_is_refused():
    document = order(total_tax_money={"amount": 2068, "currency": "USD"})
    assert errors(document) == {"order.total_tax_money.amount": ["is more than total_money"]}


def test_a_line_priced_in_another_currency_is_refused():
    document = order()
    document["order"]["line_items"][1]["base_price_money"]["currency"] = "EUR"
    assert list(errors(document)) == ["order.line_items.1.base_price_money.currency"]


def test_a_zero_refund_is_refused():
    refund = fixture(PARTIAL)
    refund["refund"]["amount_money"]["amount"] = 0
    assert errors(refund) == {"refund.amount_money.amount": ["must be greater than zero"]}


# The card, the lines and the ids.

@pytest.mark.parametrize("metadata", [{"loyalty_card": ""}, {"loyalty_card": " 7000555012345672"},
                                      {"loyalty_card": "7" * 129}])
def test_an_order_without_a_card_or_an_alias_in_its_metadata_is_refused(metadata):
    assert list(errors(order(metadata=metadata))) == ["order.metadata.loyalty_card"]


def test_an_order_without_a_card_is_a_shopper_who_is_no_member_ignored_with_why():
    (ignored,) = parse(order(metadata={}))
    assert ignored == Ignored(ignored.order_id, "the order's metadata has no loyalty_card: the shopper is no member")


def test_a_number_that_is_no_hub_card_goes_on_to_the_hub_as_a_possible_alias():
    """The seller's own customer number: booked if the partner made it an alias, else `invalid_card` at the hub."""
    (sale,) = parse(order(metadata={"loyalty_card": "7000555012345671"}))
    assert sale.card_number == "7000555012345671"


def test_a_line_with_neither_catalog_id_nor_name_is_refused():
    document = order()
    del document["order"]["line_items"][1]["name"]
    assert errors(document) == {"order.line_items.1.name": ["is required when the line has no catalog_object_id"]}


@pytest.mark.parametrize("quantity", ["0", "-1", "one", 1.5])
def test_a_bad_quantity_is_named_by_its_line(quantity):
    document = order()
    document["order"]["line_items"][0]["quantity"] = quantity
    assert list(errors(document)) == ["order.line_items.0.quantity"]


def test_an_order_without_an_id_is_refused_on_the_id():
    document = order()
    del document["order"]["id"]
    assert errors(document) == {"order.id": ["Missing data for required field."]}


def test_a_real_refund_id_of_73_characters_is_read_whole():
    refund = fixture(PARTIAL)
    refund["refund"]["id"] = "KkAkhdMsgzn59SM8A89WgKwekxLZY_ptNBVqHYxt5gAdfcobBe4u1AZsXhoz06KTtuq9Ls24P"
    (read,) = parse(refund)
    assert read.order_id == refund["refund"]["id"] and len(read.order_id) == 73


def test_an_id_longer_than_the_hubs_order_ids_is_refused():
    refund = fixture(PARTIAL)
    refund["refund"]["id"] = "K" * 256
    assert errors(refund) == {"refund.id": ["must be 1 to 255 characters long"]}


# Bodies that are not Square's.

@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"order": {"total_money": {"amount": Infinity}}}', b"[" * 100_000,
     raw(ORDER)[: len(raw(ORDER)) // 2]],
    ids=["malformed", "empty", "binary", "infinity", "deep", "truncated"],
)
def test_a_body_that_is_not_json_is_unreadable(body):
    with pytest.raises(UnreadablePayload):
        parse(body)


@pytest.mark.parametrize("body", [b"[]", b'[{"order": {}}]', b'"order"', b"null", b"{}", b'{"order": {}, "refund": {}}'])
def test_json_that_is_neither_an_order_nor_a_refund_is_invalid(body):
    assert list(errors(body)) == ["_schema"]


@pytest.mark.parametrize("data", [None, [], {"type": "refund"}, {"object": "refund"}])
def test_an_event_without_an_object_is_invalid(data):
    assert list(errors({"type": "refund.updated", "data": data})) == ["data.object"]


def test_an_event_holding_a_payment_is_invalid():
    assert list(errors({"type": "payment.updated", "data": {"type": "payment", "object": {"payment": {}}}})) == ["data.object"]


# The signature.

def test_a_body_signed_with_the_subscriptions_key_and_url_verifies():
    body = raw(FULL_EVENT)
    assert ADAPTER.verify(payload(body, **{"x-square-hmacsha256-signature": sign(body)}), SIGNED) is True


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-square-hmacsha256-signature": ""}, {"x-square-hmacsha256-signature": sign(b"{}")},
     {"x-square-hmacsha256-signature": sign(raw(FULL_EVENT), key="another-key")},
     {"x-square-hmacsha256-signature": sign(raw(FULL_EVENT), url="https://elsewhere.example.com/hook")},
     {"x-square-hmacsha256-signature": "not base64 ü"}],
    ids=["missing", "empty", "other-body", "other-key", "other-url", "garbage"],
)
def test_a_missing_or_wrong_signature_is_refused(headers):
    with pytest.raises(BadSignature):
        ADAPTER.verify(payload(raw(FULL_EVENT), **headers), SIGNED)


def test_a_body_changed_after_signing_is_refused():
    body = raw(FULL_EVENT)
    tampered = body.replace(b'"amount": 2067', b'"amount": 20670')
    assert tampered != body
    with pytest.raises(BadSignature):
        ADAPTER.verify(payload(tampered, **{"x-square-hmacsha256-signature": sign(body)}), SIGNED)


def test_without_a_signature_key_nothing_is_checked_and_verify_says_so():
    """False: the hub then takes this partner's Square payloads only with its API key, never at the inbound URL."""
    assert ADAPTER.verify(payload(raw(FULL_EVENT)), UNSIGNED) is False
    assert ADAPTER.verify(payload(raw(FULL_EVENT), **{"x-square-hmacsha256-signature": "whatever"}), UNSIGNED) is False


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"signature_key": KEY}, "notification_url"),
        ({"signature_key": KEY, "notification_url": "http://hub.example.com/inbound"}, "notification_url"),
        ({"signature_key": KEY, "notification_url": "not a url"}, "notification_url"),
        ({"signature_key": "", "notification_url": URL}, "signature_key"),
        ({"signature_key": KEY, "notification_url": URL, "location": "L8K3N7XQ2PZ1B"}, "location"),
    ],
)
def test_the_config_names_what_is_wrong(config, field):
    with pytest.raises(ValidationError) as caught:
        SquareConfigSchema().load(config)
    assert list(caught.value.messages) == [field]


# Whatever arrives, only the two adapter errors or booked transactions come out.

VALUES = json_values(["2067", "1", "0.250", "-1", "USD", "JPY", "XXX", "", "COMPLETED", "PENDING",
                        "2026-11-20T15:15:00.482Z", "7000555012345672", "loyalty_card", "category"])
READ_KEYS = {
    "data", "object", "order", "refund", "id", "order_id", "created_at", "state", "status", "line_items", "catalog_object_id",
    "name", "quantity", "base_price_money", "metadata", "loyalty_card", "category", "total_money", "total_tax_money",
    "amount_money", "amount", "currency",
}
FIXTURE_NAMES = [ORDER, JPY_ORDER, PARTIAL, FULL_EVENT, SUMMARY_EVENT]


def assert_only_adapter_outcomes(body: bytes):
    parse_or_refuse(ADAPTER, Payload(body, "application/json", {}), UNSIGNED)


@FUZZ
@given(body=st.binary(max_size=300))
def test_random_bytes_never_escape_as_another_error(body):
    assert_only_adapter_outcomes(body)


@FUZZ
@given(value=VALUES | st.fixed_dictionaries({}, optional={"order": VALUES, "refund": VALUES, "data": VALUES}))
def test_random_json_never_escapes_as_another_error(value):
    assert_only_adapter_outcomes(json.dumps(value).encode())


@FUZZ
@given(name=st.sampled_from(FIXTURE_NAMES), data=st.data())
def test_mutated_fixtures_never_escape_as_another_error(name, data):
    assert_only_adapter_outcomes(json.dumps(mutate_json(copy.deepcopy(fixture(name)), data, READ_KEYS, VALUES)).encode())
