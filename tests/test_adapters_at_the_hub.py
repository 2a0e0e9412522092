"""Each built-in adapter driven through the hub: settings, signatures, inbound webhooks, batches, bad input.

Fixtures are the platforms' own payloads (tests/fixtures/<adapter>/); the
card numbers in them are replaced by the card of a member enrolled here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from network.earning import intake
from network.earning.terms import Terms
from network.parties.registry import get_partner
from partners.adapters import Row
from partners.money import Money
from partners.transactions import Refund, Sale
from tests.support.ledger import snapshot

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "shpss_5f1c0e2a9b7d4c3e8a6f"
SQUARE = {"signature_key": "sq0wbs-Kx9vT2", "notification_url": "https://hub.example.com/v1/partners/corner-cafe/inbound"}


@pytest.fixture
def clock(clock):
    """The hub's clock on the platforms' fixtures' week: the hub books no sale dated far from its clock."""
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    return clock


def fixture(path: str, **cards: str) -> bytes:
    text = (FIXTURES / path).read_text()
    for fixture_card, card in cards.items():
        text = text.replace(fixture_card, card)
    return text.encode()


def shopify_headers(body: bytes, topic: str, secret: str = SECRET) -> dict:
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Shop-Domain": "maple.myshopify.com"}


def square_headers(body: bytes, key: str = SQUARE["signature_key"]) -> dict:
    signed = SQUARE["notification_url"].encode() + body
    return {"x-square-hmacsha256-signature": base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).decode()}


def inbound(hub, slug, body, headers, content_type="application/json"):
    return hub.client.post(f"/v1/partners/{slug}/inbound", data=body, headers=headers, content_type=content_type)


# ---------------------------------------------------------------- settings


def test_adapter_settings_are_validated_by_the_adapters_own_schema(hub, database):
    before = snapshot(database)
    missing = hub.call("POST", "/v1/partners", json={"slug": "maple", "name": "Maple", "timezone": "America/New_York",
                                                     "currency": "USD", "adapter": "shopify"})
    assert missing.status_code == 422
    assert "adapter_config.webhook_secret" in missing.json["error"]["details"]
    unknown = hub.call("POST", "/v1/partners", json={"slug": "maple", "name": "Maple", "timezone": "UTC",
                                                     "currency": "USD", "adapter": "csv",
                                                     "adapter_config": {"columns": {"amount": "Total"}}})
    assert unknown.status_code == 422
    assert "adapter_config.columns.amount" in unknown.json["error"]["details"]
    assert snapshot(database) == before

    hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    shown = hub.call("GET", "/v1/partners/maple").json
    assert shown["adapter_config"] == {"webhook_secret": "********"}
    assert shown["inbound_url"] == "/v1/partners/maple/inbound"  # no COALITION_PUBLIC_URL here: the path
    moved = hub.call("PUT", "/v1/partners/maple/adapter", json={"adapter": "csv", "adapter_config": {"delimiter": ";"}})
    assert moved.status_code == 200, moved.json
    assert moved.json["adapter"] == "csv" and moved.json["inbound_url"] is None
    refused = hub.call("PUT", "/v1/partners/maple/adapter", json={"adapter": "square", "adapter_config": {"signature_key": "k"}})
    assert refused.status_code == 422
    assert "adapter_config.notification_url" in refused.json["error"]["details"]
    assert hub.call("GET", "/v1/partners/maple").json["adapter"] == "csv"


# ---------------------------------------------------------------- shopify


def test_shopify_webhooks_book_on_the_subtotal_and_claw_back_their_share(hub, database):
    key = hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    member_id, card = hub.enrol(key)
    order = fixture("shopify/orders_create.json", **{"7000123456789010": card})

    booked = inbound(hub, "maple", order, shopify_headers(order, "orders/create"))
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == 61  # subtotal 61.65 USD at 1 point per USD: not the 72.48 with tax and shipping
    again = inbound(hub, "maple", order, shopify_headers(order, "orders/create"))
    assert again.status_code == 200
    assert again.json == {"duplicate": True, "order_id": "5864920318274"}

    refund = fixture("shopify/refunds_create_partial.json")
    clawed = inbound(hub, "maple", refund, shopify_headers(refund, "refunds/create"))
    assert clawed.status_code == 201, clawed.json
    assert clawed.json["points"] == -16  # 61 x 16.20 / 61.65 = 16.03
    assert hub.balance(card)["available"] == 45
    assert [e["order_id"] for e in hub.history(member_id)["items"]] == ["1032881062210", "5864920318274"]


def test_a_shopify_webhook_with_a_missing_or_wrong_signature_is_401_and_posts_nothing(hub, database):
    key = hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    _, card = hub.enrol(key)
    order = fixture("shopify/orders_create.json", **{"7000123456789010": card})
    before = snapshot(database)
    unsigned = {"X-Shopify-Topic": "orders/create"}
    for headers in (unsigned, shopify_headers(order, "orders/create", secret="another-shop"),
                    shopify_headers(order.replace(b"61.65", b"99.99"), "orders/create")):
        refused = inbound(hub, "maple", order, headers)
        assert refused.status_code == 401
        assert refused.json["error"]["code"] == "bad_signature"
    # With the partner's key the signature is still required: the body is Shopify's, so Shopify must have signed it.
    keyed = hub.call("POST", "/v1/transactions", key, data=order, headers=unsigned, content_type="application/json")
    assert keyed.status_code == 401
    assert snapshot(database) == before
    signed = hub.call("POST", "/v1/transactions", key, data=order, headers=shopify_headers(order, "orders/create"),
                      content_type="application/json")
    assert signed.status_code == 201


def test_a_shopify_order_without_a_loyalty_card_is_acknowledged_and_books_nothing(hub, database):
    hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    body = json.loads(fixture("shopify/orders_create.json"))
    body["note_attributes"] = [{"name": "gift_wrap", "value": "no"}]
    order = json.dumps(body).encode()
    before = snapshot(database)
    answered = inbound(hub, "maple", order, shopify_headers(order, "orders/create"))
    assert answered.status_code == 200
    assert answered.json == {"ignored": True, "order_id": str(body["id"]),
                             "reason": "the order has no loyalty_card attribute: the shopper is no member"}
    assert snapshot(database) == before


def test_square_ignores_what_was_never_the_hubs_and_takes_a_keyed_order_without_its_signature(hub, database):
    """A refund of an order the hub never booked (a shopper without a card) and an order without a card are 200
    ignored, said why, so Square stops retrying; an order the retailer's service fetched and posts with the partner's
    key needs no Square signature (Square signs its webhooks, never its API's answers)."""
    key = hub.create_partner("corner-cafe", currency="USD", adapter="square", adapter_config=SQUARE)
    _, card = hub.enrol(key)
    before = snapshot(database)
    refund = json.loads(fixture("square/refund_partial.json"))
    refund["refund"]["order_id"] = "ORDER-NEVER-BOOKED"
    refund = json.dumps(refund).encode()
    ignored = inbound(hub, "corner-cafe", refund, square_headers(refund))
    assert ignored.status_code == 200 and ignored.json["ignored"] is True
    assert "ORDER-NEVER-BOOKED" in ignored.json["reason"]
    order = json.loads(fixture("square/order_completed.json"))
    del order["order"]["metadata"]["loyalty_card"]
    cardless = json.dumps(order).encode()
    answered = hub.call("POST", "/v1/transactions", key, data=cardless, content_type="application/json")
    assert (answered.status_code, answered.json["ignored"]) == (200, True)
    after = snapshot(database)  # nothing booked; the key's request left its audit event, as every write does
    assert after["balances"] == before["balances"]
    assert {name: after["counts"][name] for name in ("orders", "journal_entries", "postings", "lots")} == {
        name: before["counts"][name] for name in ("orders", "journal_entries", "postings", "lots")}
    order["order"]["metadata"]["loyalty_card"] = card
    keyed = hub.call("POST", "/v1/transactions", key, data=json.dumps(order).encode(), content_type="application/json")
    assert keyed.status_code == 201, keyed.json  # no X-Square-Hmacsha256-Signature: the key vouches


def test_inbound_is_only_for_signed_formats(hub):
    hub.create_partner("brew-bar")
    refused = inbound(hub, "brew-bar", b"{}", {})
    assert refused.status_code == 404
    assert refused.json["error"]["code"] == "no_inbound_endpoint"
    assert inbound(hub, "nobody", b"{}", {}).status_code == 404


# ---------------------------------------------------------------- square


def test_square_orders_earn_on_total_less_tax_and_refunds_are_measured_against_what_was_paid(hub):
    key = hub.create_partner("corner-cafe", currency="USD", adapter="square", adapter_config=SQUARE)
    _, card = hub.enrol(key)
    order = fixture("square/order_completed.json", **{"7000555012345672": card})
    booked = inbound(hub, "corner-cafe", order, square_headers(order))
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == 19  # (20.67 - 1.28) USD
    full = fixture("square/refund_updated_full_event.json")
    refunded = inbound(hub, "corner-cafe", full, square_headers(full))
    assert refunded.status_code == 201, refunded.json
    assert refunded.json["points"] == -19  # 20.67 of 20.67 paid: all of it
    assert hub.balance(card)["available"] == 0


def test_square_without_a_signature_key_takes_payloads_only_with_the_partners_key(hub, database):
    key = hub.create_partner("corner-cafe", currency="USD", adapter="square")
    _, card = hub.enrol(key)
    order = fixture("square/order_completed.json", **{"7000555012345672": card})
    before = snapshot(database)
    refused = inbound(hub, "corner-cafe", order, square_headers(order))
    assert refused.status_code == 401
    assert snapshot(database) == before
    booked = hub.call("POST", "/v1/transactions", key, data=order, content_type="application/json")
    assert booked.status_code == 201, booked.json
    partial = hub.call("POST", "/v1/transactions", key, data=fixture("square/refund_partial.json"),
                       content_type="application/json")
    assert partial.json["points"] == -4  # 19 x 4.41 / 20.67


def test_a_square_order_event_without_the_order_names_what_to_do(hub, database):
    key = hub.create_partner("corner-cafe", currency="USD", adapter="square")
    before = snapshot(database)
    answered = hub.call("POST", "/v1/transactions", key, data=fixture("square/order_updated_event.json"),
                        content_type="application/json")
    assert answered.status_code == 422
    assert "data.object.order_updated" in answered.json["error"]["details"]
    assert snapshot(database) == before


# ---------------------------------------------------------------- csv


def csv_partner(hub, **config):
    key = hub.create_partner("nyc-5", currency="USD", adapter="csv", adapter_config=config)
    cards = [hub.enrol(key)[1] for _ in range(2)]
    return key, cards


def test_a_csv_batch_books_good_rows_lists_bad_ones_and_counts_resent_ones_as_duplicates(hub, database):
    key, (ann, bob) = csv_partner(hub)
    export = fixture("csv/eod_default.csv", **{"7000000000000005": ann, "7123456789012342": bob})
    first = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv")
    assert first.status_code == 200, first.json
    # rows 1-3 book (two sales and a refund of the first); row 4 refunds a sale this hub never saw,
    # row 5 is a card of no member here
    assert first.json["accepted"] == 3 and first.json["duplicates"] == 0
    assert [(r["row"], r["code"]) for r in first.json["rejected"]] == [(4, "unknown_order"), (5, "unknown_card")]
    assert hub.balance(ann)["available"] == 12 - 4  # 12.50 earned 12; 4.20 of 12.50 claws back 4
    assert hub.balance(bob)["available"] == 3
    after_first = snapshot(database)
    again = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv")
    assert again.json["accepted"] == 0 and again.json["duplicates"] == 3
    assert snapshot(database) == after_first


def test_a_bad_row_in_the_middle_costs_only_itself(hub):
    key, (ann, bob) = csv_partner(hub)
    export = fixture("csv/bad_rows.csv", **{"7000000000000005": ann, "7123456789012342": bob})
    result = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv").json
    rejected = {r["row"]: r for r in result["rejected"]}
    assert result["accepted"] >= 1 and 2 in rejected and 3 in rejected
    assert "total" in rejected[2]["errors"]
    assert result["rejected_total"] == len(result["rejected"])
    assert hub.balance(ann)["available"] == 8


def test_a_french_export_with_its_own_columns_dates_and_words(hub):
    key = hub.create_partner("lyon", currency="EUR", timezone="Europe/Paris", adapter="csv",
                             adapter_config=json.loads((FIXTURES / "csv/eod_fr.config.json").read_text()))
    ann = hub.enrol(key)[1]
    bob = hub.enrol(key)[1]
    export = fixture("csv/eod_fr.csv", **{"7000000000000005": ann, "7123456789012342": bob})
    result = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv").json
    assert result["accepted"] == 3, result  # the last row's card belongs to no member here
    assert [r["code"] for r in result["rejected"]] == ["unknown_card"]
    assert hub.balance(ann)["available"] == 12 - 4
    assert hub.balance(bob)["available"] == 1024


def test_batches_need_a_batch_adapter_and_its_media_type(hub, database):
    key, _ = csv_partner(hub)
    wrong = hub.call("POST", "/v1/transactions/batch", key, data=b"{}", content_type="application/json")
    assert wrong.status_code == 415
    assert wrong.json["error"] == {"code": "unsupported_media_type",
                                   "message": "The csv adapter reads text/csv, not application/json",
                                   "details": {"content_type": ["application/json"]}}
    canonical = hub.create_partner("brew-bar")
    refused = hub.call("POST", "/v1/transactions/batch", canonical, data=b"a,b\n", content_type="text/csv")
    assert refused.status_code == 415 and refused.json["error"]["code"] == "batch_not_supported"
    headless = hub.call("POST", "/v1/transactions/batch", key, data=b"nothing,useful\n1,2\n", content_type="text/csv")
    assert headless.status_code == 400


def test_a_csv_on_the_single_endpoint_is_all_or_nothing(hub, database):
    key, (ann, bob) = csv_partner(hub)
    export = fixture("csv/bad_rows.csv", **{"7000000000000005": ann, "7123456789012342": bob})
    before = snapshot(database)
    refused = hub.call("POST", "/v1/transactions", key, data=export, content_type="text/csv")
    assert refused.status_code == 422
    assert "row 2.total" in refused.json["error"]["details"]
    assert snapshot(database) == before


def test_coalition_import_books_a_file_like_the_batch_endpoint(hub, runner, tmp_path):
    key, (ann, bob) = csv_partner(hub)
    path = tmp_path / "eod.csv"
    path.write_bytes(fixture("csv/eod_default.csv", **{"7000000000000005": ann, "7123456789012342": bob}))
    result = runner.invoke(["import", "--partner", "nyc-5", path])
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["accepted"] == 3 and [r["row"] for r in summary["rejected"]] == [4, 5]
    assert result.exit_code == 1  # a rejected row is worth a non-zero exit in a nightly job
    again = runner.invoke(["import", "--partner", "nyc-5", path])
    assert json.loads(again.output[again.output.index("{"):])["duplicates"] == 3
    assert hub.balance(ann)["available"] == 8


# ---------------------------------------------------------------- poslog


def test_a_poslog_file_books_each_transaction_and_ignores_the_cancelled_one(hub):
    key = hub.create_partner("hardware", currency="EUR", adapter="poslog")
    ann, bob = hub.enrol(key)[1], hub.enrol(key)[1]
    log = fixture("poslog/day_namespaced.xml", **{"7000000000000005": ann, "7123456789012342": bob})
    booked = hub.call("POST", "/v1/transactions", key, data=log, content_type="application/xml")
    assert booked.status_code == 201, booked.json
    results = booked.json["transactions"]
    assert len(results) == 2  # a sale and its return; the cancelled transaction is not booked
    assert results[0]["points"] > 0 and results[1]["points"] < 0
    assert hub.balance(bob)["available"] == 0


def test_xml_bombs_and_external_entities_are_refused_unexpanded(hub, database):
    key = hub.create_partner("hardware", currency="EUR", adapter="poslog")
    before = snapshot(database)
    for name in ("billion_laughs.xml", "external_entity.xml", "truncated.xml", "wrong_root.xml"):
        refused = hub.call("POST", "/v1/transactions", key, data=fixture(f"poslog/{name}"), content_type="application/xml")
        assert refused.status_code == 400, (name, refused.json)
        assert "root:" not in json.dumps(refused.json)  # /etc/passwd never echoed back
    assert snapshot(database) == before


# ---------------------------------------------------------------- any adapter, any body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(adapter=st.sampled_from(["canonical", "csv", "poslog", "square"]), body=st.binary(max_size=300))
def test_no_body_makes_the_hub_answer_500(hub, backend, adapter, body):
    slug = f"fuzz-{adapter}"
    key = hub.__dict__.setdefault("keys", {}).get(slug)
    if key is None:
        key = hub.keys[slug] = hub.create_partner(slug, adapter=adapter)
    content_type = {"canonical": "application/json", "csv": "text/csv", "poslog": "application/xml",
                    "square": "application/json"}[adapter]
    answered = hub.call("POST", "/v1/transactions", key, data=body, content_type=content_type)
    assert answered.status_code in (200, 400, 404, 409, 415, 422), answered.json


def test_an_order_id_longer_than_the_ledger_keeps_is_refused_not_cut(hub, database, app):
    """An outside adapter may produce any id; the hub refuses one it could not keep whole."""
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    state = app.extensions["coalition"]
    partner = database.read(lambda session: get_partner(session, "brew-bar"))
    long_id, when = "L" * 256, datetime(2026, 3, 14, tzinfo=timezone.utc)
    before = snapshot(database)

    def book(transaction):
        return intake.import_rows(database, partner, state.ruleset(partner), [Row(1, transaction)],
                                  clock=lambda: when, terms=Terms(lifetime=timedelta(days=30)))

    sale = book(Sale(long_id, card, when, Money(1000, "EUR")))
    assert sale.accepted == 0 and sale.rejected[0]["errors"] == {"order_id": ["has 256 characters"]}
    refund = book(Refund("R-1", long_id, when, Money(100, "EUR")))
    assert refund.rejected[0]["errors"] == {"original_order_id": ["has 256 characters"]}
    assert snapshot(database) == before


def test_a_body_nested_past_any_real_payload_is_unreadable_not_a_crash(hub, database):
    key = hub.create_partner("brew-bar")
    before = snapshot(database)
    deep = b"[" * 100_000
    assert hub.call("POST", "/v1/transactions", key, data=deep, content_type="application/json").status_code == 400
    assert hub.call("PUT", "/v1/partners/brew-bar/rules", data=deep, content_type="application/json").status_code == 400
    assert snapshot(database) == before


def test_a_till_resending_its_growing_ncr_log_books_each_member_sale_once_by_the_tills_own_number(hub, clock, database):
    """The NCR log of tests/fixtures/poslog, dated this week: the till names its member by its own membership number,
    which the partner made an alias of the member's hub card."""
    till = hub.create_partner("corner-till", currency="USD", timezone="America/New_York")
    assert hub.call("PUT", "/v1/partners/corner-till/adapter", json={"adapter": "poslog", "adapter_config": {}}).status_code == 200
    member, card = hub.enrol(till)
    assert hub.call("PUT", "/v1/card-aliases/0000000000000040000066677", till, json={"card_number": card}).status_code == 200
    day = (FIXTURES / "poslog" / "ncr_acs_day.xml").read_text().replace("2017-10-01", "2026-11-27").replace("2017-09-30", "2026-11-26")

    def send(text):
        answer = hub.call("POST", "/v1/transactions/batch", till, data=text.encode(), content_type="application/xml")
        assert answer.status_code == 200, answer.json
        return answer.json

    first = send(day)
    assert (first["accepted"], first["duplicates"], first["rejected_total"]) == (2, 0, 0)
    assert hub.balance(card)["available"] == 4 + 7  # 4.02 paid; 8.22 less 0.94 tax: 7.28
    before = snapshot(database)
    again = send(day)
    assert (again["accepted"], again["duplicates"]) == (0, 2) and snapshot(database)["balances"] == before["balances"]
    later = day.replace("</POSLog>", """<Transaction><RetailStoreID>9</RetailStoreID><WorkstationID>34</WorkstationID>
      <SequenceNumber>162</SequenceNumber><EndDateTime>2026-11-27T09:00:00</EndDateTime><CurrencyCode>USD</CurrencyCode>
      <RetailTransaction><LineItem><Sale><ItemID>42</ItemID><ExtendedAmount>20.00</ExtendedAmount><Quantity>1</Quantity>
      </Sale></LineItem><LineItem><acs:LoyaltyMembership><acs:LoyaltyID>0000000000000040000066677</acs:LoyaltyID>
      </acs:LoyaltyMembership></LineItem><Total TotalType="TransactionGrandAmount">20.00</Total></RetailTransaction>
      </Transaction><Transaction><RetailStoreID>9</RetailStoreID><WorkstationID>34</WorkstationID><SequenceNumber>163
      </SequenceNumber><EndDateTime>2026-11-27T09:05:00</EndDateTime><CurrencyCode>USD</CurrencyCode><RetailTransaction>
      <LineItem><Sale><ItemID>43</ItemID><ExtendedAmount>5.00</ExtendedAmount></Sale></LineItem><LineItem>
      <acs:LoyaltyMembership><acs:LoyaltyID>NO-SUCH-MEMBER</acs:LoyaltyID></acs:LoyaltyMembership></LineItem>
      <Total TotalType="TransactionGrandAmount">5.00</Total></RetailTransaction></Transaction></POSLog>""")
    grown = send(later)
    assert (grown["accepted"], grown["duplicates"], grown["rejected_total"]) == (1, 2, 1)
    assert grown["rejected"][0]["row"] == 7 and grown["rejected"][0]["code"] == "invalid_card"
    assert hub.balance(card)["available"] == 11 + 20
