"""Orders paid later, cancelled, and refunded by amount: Shopify's webhooks through the inbound URL, on both databases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.support.ledger import snapshot

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "shpss_0c9e4b7a2d5f"
ORDER_ID = "5864920318274"


@pytest.fixture
def clock(clock):
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    return clock


@pytest.fixture
def shop(hub, clock):
    key = hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    member_id, card = hub.enrol(key)
    return hub, member_id, card


def body(name: str, card: str | None = None, **changes) -> bytes:
    data = json.loads((FIXTURES / "shopify" / name).read_text())
    if card is not None:
        data["note_attributes"] = [{"name": "loyalty_card", "value": card}]
    data.update(changes)
    return json.dumps(data).encode()


def post(hub, payload: bytes, topic: str):
    signature = base64.b64encode(hmac.new(SECRET.encode(), payload, hashlib.sha256).digest()).decode()
    return hub.client.post("/v1/partners/maple/inbound", data=payload, content_type="application/json",
                           headers={"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature})


def points(hub, card) -> tuple[int, int]:
    balance = hub.balance(card)
    return balance["available"], balance["pending"]


def test_an_unpaid_order_earns_pending_points_that_orders_paid_makes_spendable(shop, database):
    hub, member_id, card = shop
    placed = post(hub, body("orders_create.json", card, financial_status="pending"), "orders/create")
    assert placed.status_code == 201, placed.json
    assert placed.json["points"] == 61
    assert points(hub, card) == (0, 61)  # cash on delivery: nothing to spend until it is paid
    spent = hub.redeem(hub.create_partner("corner-cafe", currency="USD"), card, 10)
    assert spent.status_code == 422 and spent.json["error"]["code"] == "insufficient_points"

    paid = post(hub, body("orders_create.json", card, financial_status="paid"), "orders/paid")
    assert paid.status_code == 201, paid.json
    assert paid.json["released_points"] == 61 and paid.json["paid"] is True
    assert points(hub, card) == (61, 0)
    again = post(hub, body("orders_create.json", card, financial_status="paid"), "orders/paid")
    assert again.status_code == 200
    assert again.json["ignored"] is True and "not awaiting payment" in again.json["reason"]
    assert points(hub, card) == (61, 0)


def test_orders_paid_for_an_order_the_hub_never_saw_placed_books_it_paid(shop):
    hub, _, card = shop
    paid = post(hub, body("orders_create.json", card), "orders/paid")
    assert paid.status_code == 201 and paid.json["points"] == 61
    assert points(hub, card) == (61, 0)
    late = post(hub, body("orders_create.json", card, financial_status="pending"), "orders/create")
    assert late.status_code == 200 and late.json == {"duplicate": True, "order_id": ORDER_ID}
    assert points(hub, card) == (61, 0)


def test_a_cancelled_unpaid_order_takes_its_pending_points_back_and_a_resent_cancellation_books_nothing(shop, database):
    hub, member_id, card = shop
    post(hub, body("orders_create.json", card, financial_status="authorized"), "orders/create")
    cancelled = post(hub, body("orders_create.json", card, cancelled_at="2026-11-21T09:00:00-05:00",
                               financial_status="voided"), "orders/cancelled")
    assert cancelled.status_code == 201, cancelled.json
    assert cancelled.json["points"] == -61 and cancelled.json["cancelled"] is True
    assert points(hub, card) == (0, 0)
    before = snapshot(database)
    again = post(hub, body("orders_create.json", card, cancelled_at="2026-11-21T09:00:00-05:00"), "orders/cancelled")
    assert again.status_code == 200 and again.json == {"duplicate": True, "order_id": ORDER_ID}
    paid = post(hub, body("orders_create.json", card), "orders/paid")  # a payment after the cancellation frees nothing
    assert paid.status_code == 200 and paid.json["ignored"] is True
    assert snapshot(database) == before


def test_a_cancellation_after_a_partial_refund_takes_the_rest_and_a_later_refund_is_ignored(shop, database):
    hub, member_id, card = shop
    post(hub, body("orders_create.json", card), "orders/create")
    partial = post(hub, (FIXTURES / "shopify" / "refunds_create_partial.json").read_bytes(), "refunds/create")
    assert partial.json["points"] == -16
    cancelled = post(hub, body("orders_create.json", card, cancelled_at="2026-11-26T09:00:00-05:00"), "orders/cancelled")
    assert cancelled.status_code == 201 and cancelled.json["points"] == -45
    assert points(hub, card) == (0, 0)
    before = snapshot(database)
    full = post(hub, (FIXTURES / "shopify" / "refunds_create_full.json").read_bytes(), "refunds/create")
    assert full.status_code == 200, full.json  # Shopify's own refund of the cancelled order: nothing left, and no retry
    assert full.json["ignored"] is True and "was cancelled" in full.json["reason"]
    assert snapshot(database) == before
    kinds = [item["order_id"] for item in hub.history(member_id)["items"]]
    assert kinds == [ORDER_ID, "1032881062210", ORDER_ID]


def test_a_cancellation_of_an_order_never_booked_is_acknowledged_and_books_nothing(shop, database):
    hub, _, card = shop
    before = snapshot(database)
    answered = post(hub, body("orders_create.json", card, cancelled_at="2026-11-21T09:00:00-05:00"), "orders/cancelled")
    assert answered.status_code == 200
    assert answered.json == {"ignored": True, "order_id": ORDER_ID,
                             "reason": "an order the hub never booked (no member's card was on it)"}
    assert snapshot(database) == before


def test_a_refund_of_an_amount_takes_back_its_share_of_what_the_goods_were_charged(shop, database):
    hub, _, card = shop
    post(hub, body("orders_create.json", card), "orders/create")  # 61 points on 61.65; charged 67.13 for the goods
    refund = json.loads((FIXTURES / "shopify" / "refunds_create_partial.json").read_text())
    refund["refund_line_items"][0]["subtotal"] = 0.0  # lines of 0.00, and 17.64 paid back
    taken = post(hub, json.dumps(refund).encode(), "refunds/create")
    assert taken.status_code == 201, taken.json
    # 17.64 of 67.13 is 16.20 of the 61.65 subtotal (1764 x 6165 // 6713 = 1619): 61 x 16.19 / 61.65 = 16.02
    assert taken.json["points"] == -16
    assert points(hub, card) == (45, 0)


def test_the_partner_view_lists_the_topics_to_subscribe(shop):
    hub, _, _ = shop
    assert hub.call("GET", "/v1/partners/maple").json["inbound_topics"] == [
        "orders/create", "orders/paid", "orders/updated", "orders/cancelled", "refunds/create"]


# Edits: orders/updated with what the goods come to now.

def edited(card, subtotal: str, refunds: list | None = None, **changes) -> bytes:
    return body("orders_create.json", card, current_subtotal_price=subtotal, updated_at="2026-11-22T09:00:00-05:00",
                refunds=refunds or [], **changes)


def test_an_edit_that_takes_an_item_off_takes_its_points_back_once(shop, database):
    hub, member_id, card = shop
    post(hub, body("orders_create.json", card), "orders/create")
    lowered = post(hub, edited(card, "45.45"), "orders/updated")  # the 16.20 bottle taken off
    assert lowered.status_code == 201, lowered.json
    assert lowered.json["points"] == -16 and lowered.json["edited"] is True
    assert points(hub, card) == (45, 0)
    before = snapshot(database)
    again = post(hub, edited(card, "45.45"), "orders/updated")
    assert again.status_code == 200 and again.json["ignored"] is True and "nothing to take back or add" in again.json["reason"]
    tagged = post(hub, edited(card, "45.45", tags="vip"), "orders/updated")  # a tag, not an edit
    assert tagged.status_code == 200 and tagged.json["ignored"] is True
    assert snapshot(database) == before


def test_an_edit_that_adds_an_item_earns_on_it_and_a_full_refund_then_takes_everything_back(shop):
    hub, member_id, card = shop
    post(hub, body("orders_create.json", card), "orders/create")
    raised = post(hub, edited(card, "81.65"), "orders/updated")  # 20.00 more
    assert raised.status_code == 201, raised.json
    assert raised.json["points"] == 20
    assert points(hub, card) == (81, 0)
    refund = json.loads((FIXTURES / "shopify" / "refunds_create_partial.json").read_text())
    refund["refund_line_items"][0]["subtotal"] = 81.65
    refund["refund_line_items"][0]["subtotal_set"]["shop_money"]["amount"] = "81.65"
    everything = post(hub, json.dumps(refund).encode(), "refunds/create")
    assert everything.status_code == 201, everything.json
    assert everything.json["points"] == -81
    assert points(hub, card) == (0, 0)


def test_an_update_carrying_a_refund_already_booked_takes_nothing_twice(shop):
    hub, member_id, card = shop
    post(hub, body("orders_create.json", card), "orders/create")
    post(hub, (FIXTURES / "shopify" / "refunds_create_partial.json").read_bytes(), "refunds/create")
    assert points(hub, card) == (45, 0)
    # Shopify's order after that refund: 16.20 less in current_subtotal_price, the refund listed with its line.
    after = post(hub, edited(card, "45.45", refunds=[{"id": 1032881062210, "refund_line_items": [{"subtotal": 16.2}]}]),
                 "orders/updated")
    assert after.status_code == 200 and after.json["ignored"] is True
    assert points(hub, card) == (45, 0)


def test_an_edit_of_an_unpaid_order_keeps_its_added_points_waiting_for_the_payment(shop):
    hub, member_id, card = shop
    post(hub, body("orders_create.json", card, financial_status="pending"), "orders/create")
    post(hub, edited(card, "81.65", financial_status="pending"), "orders/updated")
    assert points(hub, card) == (0, 81)
    paid = post(hub, body("orders_create.json", card), "orders/paid")
    assert paid.json["released_points"] == 81
    assert points(hub, card) == (81, 0)
