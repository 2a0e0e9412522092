"""The square adapter held to Square's own documented shapes (tests/fixtures/square/README.md says which).

The order is a RetrieveOrder answer with every field Square sends for a
paid order (tenders, fulfillments, net amounts, modifiers, applied taxes and
discounts); the events are Square's webhook examples. Each is read whole and
its canonical result asserted figure by figure; the retrieved order and its
refund are then booked through the hub, and every real payload is mutated at
random to show that nothing but the adapter's two refusals ever comes out.
"""

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

from partners.adapters import Payload
from partners.errors import InvalidTransaction
from partners.money import Money
from partners.transactions import LineItem, Refund, Sale
from plugins.square import SquareAdapter, SquareConfigSchema
from tests.support.fuzz import FUZZ, json_values, mutate_json, parse_or_refuse
from tests.support.ledger import snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "square"
ADAPTER = SquareAdapter()
UNSIGNED = SquareConfigSchema().load({})
SQUARE = {"signature_key": "sq0wbs-9bXk2vT4Lm", "notification_url": "https://hub.example.com/v1/partners/steakhouse/inbound"}

ORDER, REFUND = "CAISENgvlJ6jLWAzERDzjyHVybY", "EnZdNAlWCmfh6Mt5FMNST1o7taB_vLqH3T8zKm2WpYd6NcR4sBx"
CARD = "7000555012345672"
RETRIEVED, CREATED, UPDATED = "retrieve_order_completed.json", "refund_created_event.json", "refund_updated_event.json"
DOCS_REFUND = "refund_updated_docs_event.json"
ORDER_EVENTS = ["order_created_docs_event.json", "order_updated_docs_event.json"]


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(body: bytes) -> list:
    return ADAPTER.parse(Payload(body, "application/json", {}), UNSIGNED)


def refused(body: bytes) -> InvalidTransaction:
    with pytest.raises(InvalidTransaction) as caught:
        parse(body)
    return caught.value


# ---------------------------------------------------------------- each documented shape, read whole


def test_a_retrieved_completed_order_earns_on_its_total_less_tax_and_weighs_lines_with_their_modifiers():
    """CreateOrder's example, paid: 61.76 USD of which 5.10 tax; the steaks at 22.00 each with a 0.50 sauce."""
    assert parse(raw(RETRIEVED)) == [
        Sale(
            order_id=ORDER,
            card_number=CARD,
            occurred_at=datetime(2026, 11, 20, 20, 47, 53, 293000, tzinfo=timezone.utc),
            total=Money(6176 - 510, "USD"),
            items=(
                LineItem("New York Strip Steak", Decimal(1), Money(1599, "USD")),
                LineItem("BEMYCSMIJL46OCDV4KYIKXIB", Decimal(2), Money(2250, "USD")),
            ),
            paid=Money(6176, "USD"),
        )
    ]


@pytest.mark.parametrize("name", ORDER_EVENTS)
def test_squares_order_events_carry_no_order_and_say_to_retrieve_it(name):
    refusal = refused(raw(name))
    kind = name.split("_")[1]  # created, updated
    assert refusal.message == "Square's order events do not carry the order"
    assert refusal.fields == {f"data.object.order_{kind}": [
        'carries only the order\'s id and state: retrieve the order (GET /v2/orders/{order_id}) and post {"order": ...}']}


def test_refund_created_is_pending_and_refused_by_its_status():
    """Square sends refund.created before the money moves; refund.updated follows once it is COMPLETED."""
    assert refused(raw(CREATED)).fields == {"data.object.refund.status": ["is PENDING: only COMPLETED refunds are booked"]}


def test_refund_updated_completed_is_a_refund_of_its_order_tax_included():
    assert parse(raw(UPDATED)) == [
        Refund(order_id=REFUND, original_order_id=ORDER,
               occurred_at=datetime(2026, 11, 23, 17, 2, 41, 836000, tzinfo=timezone.utc), total=Money(2264, "USD"))
    ]


# ---------------------------------------------------------------- through the hub


@pytest.fixture
def clock(clock):
    """The hub's clock in the fixtures' week: the hub books no sale dated far from it."""
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    return clock


def signed(body: bytes, config: dict = SQUARE) -> dict:
    digest = hmac.new(config["signature_key"].encode(), config["notification_url"].encode() + body, hashlib.sha256).digest()
    return {"x-square-hmacsha256-signature": base64.b64encode(digest).decode()}


def inbound(hub, slug: str, body: bytes, config: dict = SQUARE):
    return hub.client.post(f"/v1/partners/{slug}/inbound", data=body, headers=signed(body, config),
                           content_type="application/json")


def test_the_retrieved_order_and_squares_refund_events_book_end_to_end(hub, database, clock):
    key = hub.create_partner("steakhouse", currency="USD", adapter="square", adapter_config=SQUARE)
    _, card = hub.enrol(key)
    order = raw(RETRIEVED).replace(CARD.encode(), card.encode())
    # The retailer's service fetched the order from Square's API and posts it with the partner's key.
    booked = hub.call("POST", "/v1/transactions", key, data=order, content_type="application/json")
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == 56  # 56.66 USD before tax at 1 point per USD
    before = snapshot(database)
    pending = inbound(hub, "steakhouse", raw(CREATED))
    assert pending.status_code == 422
    assert pending.json["error"]["details"] == {"data.object.refund.status": ["is PENDING: only COMPLETED refunds are booked"]}
    assert snapshot(database) == before
    refunded = inbound(hub, "steakhouse", raw(UPDATED))
    assert refunded.status_code == 201, refunded.json
    assert refunded.json["points"] == -20  # 56 x 22.64 / 61.76 paid = 20.5
    assert hub.points(card)["available"] == 36


@pytest.fixture
def docs_clock(clock):
    clock.now = datetime(2020, 2, 7, 12, tzinfo=timezone.utc)
    return clock


def test_squares_documented_refund_with_its_73_character_id_takes_back_its_orders_points(hub, database, docs_clock):
    """Square's refund ids are its payment's id, '_' and 43 characters more: 73 in Square's own example."""
    key = hub.create_partner("steakhouse", currency="USD", adapter="square", adapter_config=SQUARE)
    _, card = hub.enrol(key)
    order = json.loads(raw(RETRIEVED).replace(CARD.encode(), card.encode()))
    order["order"].update(id="haOyDuHiqtAXMk0d8pDKXpL7Jg4F", created_at="2020-02-06T21:20:05.103Z")
    booked = hub.call("POST", "/v1/transactions", key, data=json.dumps(order).encode(), content_type="application/json")
    assert booked.status_code == 201, booked.json
    refunded = inbound(hub, "steakhouse", raw(DOCS_REFUND))
    assert refunded.status_code == 201, refunded.json
    assert refunded.json["points"] == -9  # 56 x 10.00 / 61.76 = 9.07


# ---------------------------------------------------------------- the real payloads, mutated


VALUES = json_values(["6176", "2250", "0.250", "-1", "USD", "JPY", "XXX", "", "COMPLETED", "PENDING", "OPEN",
                      "2026-11-20T20:47:53.293Z", CARD, "loyalty_card", "\u202e\U0001f969", "9" * 300])
READ_KEYS = {
    "data", "object", "order", "refund", "order_created", "order_updated", "id", "order_id", "created_at", "state",
    "status", "line_items", "catalog_object_id", "name", "quantity", "base_price_money", "gross_sales_money",
    "metadata", "loyalty_card", "category", "total_money", "total_tax_money", "amount_money", "amount", "currency",
}
NAMES = [RETRIEVED, CREATED, UPDATED, DOCS_REFUND, *ORDER_EVENTS]


def every_key(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {key for child in node.values() for key in every_key(child)}
    if isinstance(node, list):
        return {key for child in node for key in every_key(child)}
    return set()


def outcome_only(document) -> None:
    parse_or_refuse(ADAPTER, Payload(json.dumps(document).encode(), "application/json", {}), UNSIGNED)


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_the_fields_the_adapter_reads_mutated_never_escape_as_another_error(name, data):
    outcome_only(mutate_json(json.loads(raw(name)), data, READ_KEYS, VALUES))


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_any_field_square_sends_mutated_never_escapes_as_another_error(name, data):
    document = json.loads(raw(name))
    outcome_only(mutate_json(document, data, every_key(document), VALUES))


@FUZZ
@given(name=st.sampled_from(NAMES), depth=st.integers(1, 40), data=st.data())
def test_a_real_payload_buried_in_nesting_never_escapes_as_another_error(name, depth, data):
    document = json.loads(raw(name))
    wrapped = copy.deepcopy(document)
    for _ in range(depth):
        wrapped = data.draw(st.sampled_from([[wrapped], {"order": wrapped}, {"data": {"object": wrapped}}]))
    outcome_only(wrapped)
