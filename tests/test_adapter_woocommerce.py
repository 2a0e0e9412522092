"""The woocommerce adapter at its edges (statuses, amounts, lines, the member, topics, the ping, the signature), and
driven through the hub's inbound endpoint as a store's webhooks reach it. The fixtures whole, figure by figure:
tests/test_contract_woocommerce.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from partners.adapters import Payload
from partners.errors import BadSignature, InvalidTransaction, UnreadablePayload
from partners.money import Money
from partners.transactions import Amendment, Cancellation, Ignored, LineItem, Payment
from plugins.woocommerce import WooCommerceAdapter, WooCommerceConfigSchema
from tests.support.fuzz import FUZZ, json_values, mutate_json, parse_or_refuse
from tests.support.ledger import snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"
SECRET = "wc-Hq3!t7&Zr9@pL2^vX5"
CONFIG = WooCommerceConfigSchema().load({"webhook_secret": SECRET})
ADAPTER = WooCommerceAdapter()
CARD = "7000123456789010"
PROCESSING, ON_HOLD = "order_created_processing.json", "order_created_on_hold.json"
PARTIAL, REFUNDED, CANCELLED = "order_updated_partial_refund.json", "order_updated_refunded.json", "order_updated_cancelled.json"
ORDERS = {PROCESSING: "order.created", ON_HOLD: "order.created", PARTIAL: "order.updated", REFUNDED: "order.updated",
          CANCELLED: "order.updated"}
JSON = "application/json"


def utc(*moment: int) -> datetime:
    return datetime(*moment, tzinfo=timezone.utc)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_bytes())


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def payload(body: bytes | dict, topic: str | None = "order.updated", content_type: str = JSON, **headers: str) -> Payload:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Payload(data, content_type, {**({} if topic is None else {"x-wc-webhook-topic": topic}), **headers})


def parse(body: bytes | dict, topic: str | None = "order.updated", config=CONFIG) -> list:
    return ADAPTER.parse(payload(body, topic), config)


def errors(body: bytes | dict, topic: str | None = "order.updated") -> dict[str, list[str]]:
    with pytest.raises(InvalidTransaction) as caught:
        parse(body, topic)
    return caught.value.fields


def without_card(order: dict) -> dict:
    order["meta_data"] = [entry for entry in order["meta_data"] if entry["key"] != "loyalty_card"]
    return order


# Each status the hub reads, what books nothing, said why.

@pytest.mark.parametrize(("status", "expected"), [("cancelled", "cancellation"), ("failed", "cancellation"),
                                                  ("pending", "awaiting"), ("completed", "payment")])
def test_each_status_the_hub_reads(status, expected):
    order = fixture(CANCELLED)
    order["status"] = status
    booked, *amended = parse(order)
    assert amended == ([Amendment("4133", utc(2026, 11, 24, 13, 12, 40), booked.total)] if expected == "awaiting" else [])
    if expected == "cancellation":
        assert booked == Cancellation("4133", utc(2026, 11, 24, 13, 12, 40))
    elif expected == "awaiting":
        assert booked == parse(fixture(ON_HOLD))[0] and booked.awaiting_payment is True
    else:  # a bank transfer marked completed by hand, no payment date: dated by its last change
        assert booked == Payment("4133", utc(2026, 11, 24, 13, 12, 40),
                                 sale=replace(parse(fixture(ON_HOLD))[0], awaiting_payment=False))


@pytest.mark.parametrize("status", ["checkout-draft", "draft", "trash"])
def test_drafts_and_trashed_orders_book_nothing_even_half_filled(status):
    assert parse({"id": 4140, "status": status, "line_items": "not yet"}) == [
        Ignored("4140", f"the order is {status}: not placed, or trashed; it books nothing")]


def test_a_status_a_plugin_added_books_nothing_and_names_the_statuses_read():
    order = fixture(PARTIAL)
    order["status"] = "shipped"
    (ignored,) = parse(order)
    assert ignored.order_id == "4127" and "'shipped'" in ignored.reason and "processing" in ignored.reason


def test_a_guests_order_without_a_card_names_no_member_and_is_not_read_further():
    order = without_card(fixture(ON_HOLD))
    order["total"] = "not an amount"  # never reached: the order is no member's
    assert parse(order) == [Ignored("4133", "a guest's order (customer_id 0) without a loyalty_card: it names no member")]


def test_a_refund_handing_back_nothing_is_ignored_in_the_list():
    order = fixture(PARTIAL)
    order["refunds"][0]["total"] = "-0.00"
    assert parse(order)[1] == Ignored("4131", "the refund hands back 0.00: no points are taken back")


def test_refunds_beyond_the_goods_say_they_took_back_nothing():
    order = fixture(REFUNDED)
    order["refunds"].insert(0, {"id": 4139, "reason": "Shipping", "total": "-5.00"})
    assert parse(order)[2] == Ignored("4139", "the order's earlier refunds handed back all its goods were charged: "
                                              "this one is shipping or fees, which earned no points")


# Fees, amounts, lines.

def test_a_negative_fee_is_a_discount_on_the_order_and_lowers_the_points():
    order = fixture(PROCESSING)
    order["fee_lines"][0].update(name="Loyalty discount", total="-7.29", total_tax="-0.58")
    order["total"] = "80.10"  # 86.97 - 3.24 for the gift wrap - 7.87 off
    (payment,) = parse(order)
    assert payment.sale.total == Money(6561, "USD") and payment.sale.charged == Money(8010 - 500, "USD")


@pytest.mark.parametrize(("written", "minor"), [('"32.400"', 3240), ('"32.4"', 3240), ("32.40", 3240), ("32", 3200)])
def test_amounts_are_read_exactly_trailing_zeros_dropped_a_json_number_too(written, minor):
    order = fixture(PROCESSING)
    order["line_items"][0]["total"] = "AMOUNT"
    body = json.dumps(order).replace('"AMOUNT"', written).encode()
    assert parse(body)[0].sale.total.minor == minor + 4050


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("total", "32.405", "USD has 2 decimals"), ("total", "-32.40", "must not be negative"), ("total", None, "not be null"),
     ("total", True, "decimal string"), ("total", [], "decimal string"), ("quantity", 0, "greater than zero"),
     ("quantity", 2.5, "integer or a decimal")],
)
def test_a_bad_line_is_refused_by_its_path_and_the_ledger_never_sees_it(field, value, message):
    order = fixture(PROCESSING)
    order["line_items"][0][field] = value
    ((path, (problem,)),) = errors(order).items()
    assert path == f"line_items.0.{field}" and message in problem


def test_a_line_is_named_by_sku_else_variation_else_product_else_name_or_refused():
    order = fixture(PROCESSING)
    line = order["line_items"][1]
    assert parse(order)[0].sale.items[1].sku == "143"
    line["variation_id"] = 0
    assert parse(order)[0].sale.items[1].sku == "140"
    line["product_id"] = 0  # a product deleted since: WooCommerce keeps the line's name
    assert parse(order)[0].sale.items[1].sku == "Pour-Over Kettle - Matte Black"
    line["name"] = " "
    assert list(errors(order)) == ["line_items.1.sku"]


def test_a_line_whose_total_does_not_divide_into_whole_cents_is_one_unit_at_its_total():
    order = fixture(PROCESSING)
    order["line_items"][0].update(quantity=3, total="10.00")
    assert parse(order)[0].sale.items[0] == LineItem("CB-1KG", Decimal(1), Money(1000, "USD"))


def test_a_yen_store_writing_two_decimals_books_whole_yen():
    order = fixture(ON_HOLD)
    order.update(currency="JPY", total="3392.00", shipping_total="500.00", shipping_tax="0.00")
    order["line_items"][0]["total"] = "2892.00"
    sale, _ = parse(order)
    assert (sale.total, sale.charged) == (Money(2892, "JPY"), Money(2892, "JPY"))


@pytest.mark.parametrize(("field", "value"), [("date_created_gmt", "20/11/2026"), ("date_created_gmt", None),
                                              ("date_created_gmt", 1763651702), ("currency", "BTC"), ("id", "4127"),
                                              ("shipping_total", "-5.00"), ("refunds", [{"id": 4131}])])
def test_a_bad_order_field_is_refused_by_its_path(field, value):
    order = fixture(PARTIAL)
    order[field] = value
    assert {path.split(".")[0] for path in errors(order)} == {field}


def test_dates_are_the_gmt_ones_read_as_utc():
    order = fixture(PROCESSING)
    order["date_created"] = "1999-01-01T00:00:00"  # the site's local time: not read
    assert parse(order)[0].sale.occurred_at == utc(2026, 11, 20, 15, 15, 2)


def test_an_order_total_below_its_shipping_and_fees_is_refused():
    order = fixture(PROCESSING)
    order["total"] = "7.00"
    assert errors(order) == {"total": ["is 7.00, less than its shipping and fees (8.24)"]}


# The member: the order's card, else the customer through the partner's aliases.

def test_a_card_typed_with_spaces_is_read_without_them():
    order = fixture(PROCESSING)
    order["meta_data"][1]["value"] = " 7000 1234 5678 9010 "
    assert parse(order)[0].sale.card_number == CARD


@pytest.mark.parametrize("value", ["x" * 129, 7000123456789010, ["7000123456789010"], None])
def test_a_card_that_can_be_neither_a_card_nor_an_alias_is_refused_by_its_meta_entry(value):
    order = fixture(PROCESSING)
    order["meta_data"][1]["value"] = value
    assert errors(order) == {"meta_data.1.value": [
        "is neither a card number (16 digits with a Luhn check digit) nor a loyalty number of 1 to 128 characters"]}


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_card_field_left_empty_falls_back_to_the_customers_alias(blank):
    order = fixture(PROCESSING)
    order["meta_data"][1]["value"] = blank
    sale = parse(order)[0].sale
    assert (sale.card_number, sale.alias_only) == ("57", True)


def test_by_billing_email_the_alias_is_the_address_lower_cased():
    config = WooCommerceConfigSchema().load({"webhook_secret": SECRET, "alias_from": "billing_email"})
    sale = parse(without_card(fixture(PROCESSING)), config=config)[0].sale
    assert (sale.card_number, sale.alias_only) == ("maya.chen@example.com", True)
    order = without_card(fixture(PROCESSING))
    order["billing"]["email"] = ""
    assert parse(order, config=config) == [Ignored("4127", "the order has no loyalty_card and no billing e-mail: it "
                                                           "names no member")]


# Topics, the ping, bodies that are not WooCommerce's.

@pytest.mark.parametrize("topic", ["order.deleted", "product.created", "action.woocommerce_order_status_completed", "", None])
def test_only_the_order_created_and_updated_topics_are_read(topic):
    assert list(errors(fixture(PROCESSING), topic)) == ["headers.x-wc-webhook-topic"]


def test_the_ping_of_a_webhook_saved_is_ignored_and_needs_no_signature():
    ping = payload((FIXTURES / "ping.txt").read_bytes(), None, "application/x-www-form-urlencoded")
    assert ADAPTER.verify(ping, CONFIG) is True
    assert ADAPTER.parse(ping, CONFIG) == [Ignored("webhook 17", "WooCommerce's ping on saving webhook 17: answered 200 "
                                                                 "so WooCommerce activates the webhook; it books nothing")]


def test_another_form_encoded_body_is_unreadable():
    with pytest.raises(UnreadablePayload):
        ADAPTER.parse(payload(b"webhook_id=17&x=1", None, "application/x-www-form-urlencoded"), CONFIG)


def test_a_legacy_api_delivery_says_which_api_version_to_choose():
    assert list(errors({"order": fixture(PROCESSING)})) == ["order"]


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b'{"total": NaN}', b"[" * 100_000],
                         ids=["malformed", "empty", "binary", "nan", "deep"])
def test_a_body_that_is_not_json_is_unreadable(body):
    with pytest.raises(UnreadablePayload):
        parse(body)


@pytest.mark.parametrize("body", [b"[]", b'"order"', b"null"])
def test_json_that_is_not_an_object_is_invalid(body):
    assert list(errors(body)) == ["_schema"]


# The signature.

def test_a_body_signed_with_the_webhooks_secret_verifies():
    body = (FIXTURES / PROCESSING).read_bytes()
    assert ADAPTER.verify(payload(body, **{"x-wc-webhook-signature": sign(body)}), CONFIG) is True


@pytest.mark.parametrize("headers", [{}, {"x-wc-webhook-signature": ""}, {"x-wc-webhook-signature": sign(b"{}")},
                                     {"x-wc-webhook-signature": sign(b"x", "another-store")}],
                         ids=["missing", "empty", "other-body", "other-secret"])
def test_a_missing_or_wrong_signature_is_refused(headers):
    with pytest.raises(BadSignature):
        ADAPTER.verify(payload((FIXTURES / PROCESSING).read_bytes(), **headers), CONFIG)


def test_the_secret_is_decoded_of_html_entities_as_woocommerce_signs_with_it():
    """`generate_signature` signs with wp_specialchars_decode($secret, ENT_QUOTES): a secret saved as `a&amp;b<`
    signs as `a&b<`; `&amp;lt;` is decoded once, as PHP's strtr does."""
    body = b'{"id": 1}'
    config = {"webhook_secret": "a&amp;b&lt;&#039;&#x27;&quot;&amp;lt;&LT;"}
    assert ADAPTER.verify(payload(body, **{"x-wc-webhook-signature": sign(body, "a&b<''\"&lt;&LT;")}), config) is True


@pytest.mark.parametrize("config", [{}, {"webhook_secret": ""}, {"webhook_secret": "s", "alias_from": "phone"},
                                    {"webhook_secret": "s", "store": "x"}])
def test_the_config_is_a_secret_and_where_aliases_come_from(config):
    with pytest.raises(ValidationError):
        WooCommerceConfigSchema().load(config)


# Whatever arrives, only the two adapter errors or valid canonical transactions come out.

VALUES = json_values(["32.40", "-17.50", "0", "-0.00", "1e3", "12.505", "USD", "JPY", "XXX", "", "processing",
                      "on-hold", "refunded", "trash", "2026-11-20T15:15:02", CARD, "loyalty_card", "7000 1234"])
READ_KEYS = {"id", "status", "customer_id", "billing", "email", "meta_data", "key", "value", "currency", "total",
             "date_created_gmt", "date_modified_gmt", "date_paid_gmt", "shipping_total", "shipping_tax", "line_items",
             "name", "product_id", "variation_id", "quantity", "sku", "fee_lines", "total_tax", "refunds"}


def assert_only_adapter_outcomes(body: bytes, topic: str) -> None:
    parse_or_refuse(ADAPTER, payload(body, topic), CONFIG)


@FUZZ
@given(body=st.binary(max_size=300), topic=st.sampled_from(["order.created", "order.updated"]))
def test_random_bytes_never_escape_as_another_error(body, topic):
    assert_only_adapter_outcomes(body, topic)


@FUZZ
@given(value=VALUES)
def test_random_json_never_escapes_as_another_error(value):
    assert_only_adapter_outcomes(json.dumps(value).encode(), "order.updated")


# ---------------------------------------------------------------- at the hub, through POST /v1/partners/<slug>/inbound


@pytest.fixture
def clock(clock):
    """The hub's clock on the fixtures' week: the hub books no sale dated far from its clock."""
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    return clock


@pytest.fixture
def store(hub):
    """A WooCommerce store's partner and a member enrolled there."""
    key = hub.create_partner("beans", currency="USD", adapter="woocommerce", adapter_config={"webhook_secret": SECRET})
    member_id, card = hub.enrol(key)
    return {"key": key, "member_id": member_id, "card": card}


def wire(name: str, card: str | None = None, **changes) -> bytes:
    """The fixture as WooCommerce posts it (`wp_json_encode`: compact, slashes escaped), with the member's card."""
    order = fixture(name)
    order.update(changes)
    text = json.dumps(order, separators=(",", ":")).replace("/", "\\/")
    return (text.replace(CARD, card) if card else text).encode()


def deliver(hub, body: bytes, topic: str = "order.updated", secret: str = SECRET, content_type: str = JSON):
    event = topic.split(".")[-1]
    headers = {"User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)", "X-WC-Webhook-Source": "https://beans.example.com/",
               "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Event": event,
               "X-WC-Webhook-Signature": sign(body, secret), "X-WC-Webhook-ID": "17",
               "X-WC-Webhook-Delivery-ID": hashlib.md5(body).hexdigest()}
    return hub.client.post("/v1/partners/beans/inbound", data=body, headers=headers, content_type=content_type)


def test_a_paid_order_earns_on_its_lines_and_a_resent_one_books_nothing_twice(hub, store, database):
    shown = hub.call("GET", "/v1/partners/beans").json
    assert (shown["adapter_config"], shown["inbound_url"], shown["inbound_topics"]) == (
        {"webhook_secret": "********"}, "/v1/partners/beans/inbound", ["order.created", "order.updated"])
    order = wire(PROCESSING, store["card"])
    booked = deliver(hub, order, "order.created")
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == 72  # 72.90 of goods: not the 86.97 with tax, shipping and the fee
    assert hub.points(store["card"])["available"] == 72
    after = snapshot(database)
    for topic in ("order.created", "order.updated"):  # WooCommerce resends, or the order is saved again
        again = deliver(hub, order, topic)
        assert (again.status_code, again.json["ignored"]) == (200, True), again.json
        assert "paid already" in again.json["reason"]
    assert snapshot(database) == after


def test_a_missing_or_wrong_signature_is_401_and_books_nothing(hub, store, database):
    order = wire(PROCESSING, store["card"])
    before = snapshot(database)
    unsigned = hub.client.post("/v1/partners/beans/inbound", data=order, content_type=JSON,
                               headers={"X-WC-Webhook-Topic": "order.created"})
    other = deliver(hub, order, "order.created", secret="another-store")
    tampered = hub.client.post("/v1/partners/beans/inbound", data=order.replace(b"32.40", b"324.00"), content_type=JSON,
                               headers={"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": sign(order)})
    for refused in (unsigned, other, tampered):
        assert (refused.status_code, refused.json["error"]["code"]) == (401, "bad_signature")
    assert snapshot(database) == before


def test_a_bad_field_is_422_naming_its_path_and_books_nothing(hub, store, database):
    order = fixture(PROCESSING)
    order["meta_data"][1]["value"] = store["card"]
    order["line_items"][1]["total"] = "40.505"
    before = snapshot(database)
    refused = deliver(hub, json.dumps(order).encode(), "order.created")
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "invalid_transaction")
    assert refused.json["error"]["details"] == {"line_items.1.total": ["USD has 2 decimals; '40.505' has 3"]}
    assert snapshot(database) == before


def test_the_ping_and_a_guests_order_are_200_ignored_and_book_nothing(hub, store, database):
    before = snapshot(database)
    ping = hub.client.post("/v1/partners/beans/inbound", data=(FIXTURES / "ping.txt").read_bytes(),
                           content_type="application/x-www-form-urlencoded",
                           headers={"User-Agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"})
    assert ping.status_code == 200, ping.json  # anything else and WooCommerce does not activate the webhook
    assert ping.json["ignored"] is True and "ping" in ping.json["reason"]
    guest = deliver(hub, json.dumps(without_card(fixture(ON_HOLD))).encode(), "order.created")
    assert guest.status_code == 200, guest.json
    assert guest.json == {"ignored": True, "order_id": "4133",
                          "reason": "a guest's order (customer_id 0) without a loyalty_card: it names no member"}
    assert snapshot(database) == before


def test_an_order_on_hold_shows_its_points_pending_until_an_update_says_it_is_processing(hub, store):
    held = deliver(hub, wire(ON_HOLD, store["card"]), "order.created")
    assert held.status_code == 201, held.json
    assert held.json["transactions"][1]["ignored"] is True  # the lines as booked: nothing to take back or add
    assert hub.points(store["card"])["available"] == 0 and hub.points(store["card"])["pending"] == 24
    paid = deliver(hub, wire(ON_HOLD, store["card"], status="processing", date_paid_gmt="2026-11-23T14:20:05",
                             date_modified_gmt="2026-11-23T14:20:06"))
    assert paid.status_code == 201, paid.json
    assert paid.json["released_points"] == 24
    assert (hub.points(store["card"])["available"], hub.points(store["card"])["pending"]) == (24, 0)


def test_a_cancelled_order_takes_its_points_back_pending_or_not(hub, store, database):
    deliver(hub, wire(ON_HOLD, store["card"]), "order.created")
    cancelled = deliver(hub, wire(CANCELLED, store["card"]))
    assert cancelled.status_code == 201, cancelled.json
    assert cancelled.json["cancelled"] is True and cancelled.json["points"] == -24
    assert (hub.points(store["card"])["available"], hub.points(store["card"])["pending"]) == (0, 0)
    after = snapshot(database)
    assert deliver(hub, wire(CANCELLED, store["card"])).status_code == 200
    assert snapshot(database) == after

    deliver(hub, wire(PROCESSING, store["card"]), "order.created")
    paid_then_cancelled = deliver(hub, wire(PROCESSING, store["card"], status="cancelled"))
    assert paid_then_cancelled.json["points"] == -72
    assert hub.points(store["card"])["available"] == 0


def test_a_partial_refund_takes_back_its_share_and_the_full_refund_the_rest(hub, store, database):
    deliver(hub, wire(PROCESSING, store["card"]), "order.created")
    partial = deliver(hub, wire(PARTIAL, store["card"]))
    assert partial.status_code == 201, partial.json
    payment, refund = partial.json["transactions"]
    assert payment == {"ignored": True, "order_id": "4127",
                       "reason": "the order's points are not awaiting payment: it was booked paid, or paid already"}
    assert refund["points"] == -16  # 17.50 of the 78.73 charged for goods: 72 x 1620 / 7290
    assert hub.points(store["card"])["available"] == 56
    refunded = deliver(hub, wire(REFUNDED, store["card"]))
    assert refunded.status_code == 201, refunded.json
    first, rest, cancellation = refunded.json["transactions"]
    assert first == {"duplicate": True, "order_id": "4131"}
    assert rest["points"] == -55  # 72 x 5669 / 7290, floored: 6123 of 78.73, not the 69.47 with shipping and the fee
    assert (cancellation["cancelled"], cancellation["points"]) == (True, -1)  # whatever the refunds left
    assert [(e["kind"], e["order_id"], e["points"]) for e in hub.history(store["member_id"])["items"]] == [
        ("refund", "4127", -1), ("refund", "4135", -55), ("refund", "4131", -16), ("earn", "4127", 72)]
    assert hub.points(store["card"])["available"] == 0
    after = snapshot(database)
    again = deliver(hub, wire(REFUNDED, store["card"]))
    assert again.status_code == 200, again.json
    assert snapshot(database) == after


def test_a_registered_customer_without_a_card_earns_through_the_partners_alias(hub, store, database):
    order = json.dumps(without_card(fixture(PROCESSING))).encode()
    before = snapshot(database)
    stranger = deliver(hub, order, "order.created")
    assert (stranger.status_code, stranger.json["ignored"]) == (200, True), stranger.json
    assert snapshot(database) == before
    alias = hub.call("PUT", "/v1/card-aliases/57", store["key"], json={"card_number": store["card"]})
    assert alias.status_code in (200, 201), alias.json
    booked = deliver(hub, order, "order.created")
    assert (booked.status_code, booked.json["points"]) == (201, 72), booked.json


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(ORDERS)), data=st.data())
def test_no_signed_delivery_makes_the_hub_answer_500(hub, store, name, data):
    """A store's plugins may write anything into an order: signed, it is booked, ignored or refused, never a 500."""
    document = mutate_json(json.loads(wire(name, store["card"])), data, READ_KEYS, VALUES)
    answered = deliver(hub, json.dumps(document).encode(), ORDERS[name])
    assert answered.status_code in (200, 201, 400, 409, 422), answered.json


def test_an_order_edited_on_hold_earns_on_its_lines_as_they_are_now(hub, store):
    deliver(hub, wire(ON_HOLD, store["card"]), "order.created")
    order = fixture(ON_HOLD)
    order["line_items"][0].update(quantity=2, subtotal="48.00", total="48.00")  # a second dripper added
    order["date_modified_gmt"] = "2026-11-22T09:00:00"
    body = json.dumps(order).replace(CARD, store["card"]).encode()
    edited = deliver(hub, body)
    assert edited.status_code == 201, edited.json
    duplicate, topped_up = edited.json["transactions"]
    assert duplicate["duplicate"] is True and topped_up["points"] == 24 and topped_up["edited"] is True
    assert (hub.points(store["card"])["available"], hub.points(store["card"])["pending"]) == (0, 48)
    again = deliver(hub, body)
    assert again.status_code == 200 and again.json["transactions"][1]["ignored"] is True
    assert hub.points(store["card"])["pending"] == 48
