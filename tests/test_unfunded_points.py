"""Sales past a partner's limit booked pending until funds arrive, released oldest first; refunds give back the draw.

Worked by hand. Brew Bar earns 1 point a euro; its issue fee is 0.002 a point and its redeem rate 0.010, nothing is
spent anywhere, so each point it issues draws 0.012. It is prepaid with `over_limit` pending and sends 1.20: 100
points' worth. Green Grocer (2 points a euro) is where members try to spend.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.events import events
from tests.support.ledger import ids, snapshot
from tests.support.races import race

FIXTURES = Path(__file__).parent / "fixtures"
NOW = "2026-03-14T09:30:00+00:00"


def contract(hub, slug="brew-bar", issue_fee="0.002", redeem_rate="0.010", **funding):
    answer = hub.call("PUT", f"/v1/partners/{slug}/contract", json={"issue_fee": issue_fee, "redeem_rate": redeem_rate,
                                                                    **funding})
    assert answer.status_code == 201, answer.json
    return answer.json


def fund(hub, amount, reference, slug="brew-bar"):
    answer = hub.call("POST", f"/v1/partners/{slug}/prepayments", json={"amount": amount, "reference": reference})
    assert answer.status_code == 201, answer.json
    return answer.json


def credit(hub, slug="brew-bar"):
    answer = hub.call("GET", f"/v1/partners/{slug}/credit")
    assert answer.status_code == 200, answer.json
    return answer.json


def figures(hub, slug="brew-bar"):
    found = credit(hub, slug)
    return found["funded"], found["drawn"], found["available"], found["points_left"]


def held(hub, card):
    balance = hub.balance(card)
    return balance["available"], balance["pending"]


@pytest.fixture
def waiting(hub, world):
    """Brew Bar, prepaid 1.20 with over_limit pending, has drawn 0.96 (80 points) for Ann."""
    assert contract(hub, funding="prepaid", over_limit="pending")["funding"]["over_limit"] == "pending"
    fund(hub, "1.20", "BANK-1")
    assert hub.sale(world.coffee, world.card, "80.00", order="PAID-1").status_code == 201


def test_past_its_limit_a_pending_partners_sale_is_booked_pending_and_draws_nothing(hub, world, waiting, database):
    exposure = credit(hub)
    assert (exposure["drawn"], exposure["available"], exposure["points_left"]) == ("0.96", "0.24", 20)
    # 30 points would draw 0.36, past the 0.24 left: booked all the same, pending, and nothing drawn.
    answer = hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")
    assert answer.status_code == 201, answer.json
    assert (answer.json["points"], answer.json["awaiting_funds"]) == (30, True)
    assert answer.json["balance"] == {"available": 80, "pending": 30, "held": 0}
    assert credit(hub) == exposure
    assert held(hub, world.card) == (80, 30)
    # The member sees them and cannot spend them.
    spent = hub.redeem(world.grocer, world.card, 81)
    assert (spent.status_code, spent.json["error"]["code"]) == (422, "insufficient_points")
    # 10 more would fit in the 0.24 left, but a sale never overtakes one that waits: it waits behind it.
    behind = hub.sale(world.coffee, world.card, "10.00", order="WAIT-2")
    assert behind.json["awaiting_funds"] is True and credit(hub) == exposure
    assert held(hub, world.card) == (80, 40)
    (reached,) = events(database, "credit_limit_reached")  # once, until funds or the limit change
    assert reached == ("credit_limit_reached", "brew-bar", {"partner": "brew-bar", "funding": "prepaid",
                                                            "over_limit": "pending", "drawn": "0.96", "may_draw": "1.2"})
    assert [data["order_id"] for _, _, data in events(database, "points_earned")] == ["PAID-1", "WAIT-1", "WAIT-2"]


def test_the_wallet_shows_points_that_wait_as_pending_with_no_date(hub, world, waiting, client):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")
    made = hub.call("POST", f"/v1/members/{world.member_id}/wallet-links", world.coffee).json
    assert client.get(made["url"]).status_code == 302
    page = client.get("/wallet").get_data(as_text=True)
    assert 'data-figure="pending">30<' in page and 'data-figure="available">80<' in page
    assert "30 pending points wait for the shop before they can be spent" in page and "9999" not in page


def test_funds_release_the_waiting_sales_oldest_first_as_far_as_they_cover(hub, world, waiting, database, clock):
    bob = hub.enrol(world.coffee)[1]
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")  # 0.36
    hub.sale(world.coffee, world.card, "10.00", order="WAIT-2")  # 0.12
    hub.sale(world.coffee, bob, "50.00", order="WAIT-3")  # 0.60
    clock.advance(minutes=5)
    # 0.30 more: 0.54 to draw on. WAIT-1 takes 0.36 (0.18 left), WAIT-2 0.12 (0.06 left); WAIT-3 needs 0.60: waits.
    answer = fund(hub, "0.30", "BANK-2")
    assert answer["released"] == {"sales": 2, "points": 40}
    assert (answer["funded"], answer["drawn"], answer["available"], answer["points_left"]) == ("1.5", "1.44", "0.06", 5)
    assert held(hub, world.card) == (120, 0) and held(hub, bob) == (0, 50)
    assert [data for _, _, data in events(database, "points_funded")] == [  # each: the balance after the release
        {"member_id": world.member_id, "partner": "brew-bar", "order_id": "WAIT-1", "points": 30,
         "available_at": "2026-03-14T09:35:00+00:00", "balance": {"available": 120, "pending": 0, "held": 0}},
        {"member_id": world.member_id, "partner": "brew-bar", "order_id": "WAIT-2", "points": 10,
         "available_at": "2026-03-14T09:35:00+00:00", "balance": {"available": 120, "pending": 0, "held": 0}}]
    # Exactly the 0.06 left would cover these 5 points, but WAIT-3 is first in the queue.
    assert hub.sale(world.coffee, world.card, "5.00", order="WAIT-4").json["awaiting_funds"] is True
    # 0.60 more: WAIT-3 takes 0.60, WAIT-4 the last 0.06.
    assert fund(hub, "0.60", "BANK-3")["released"] == {"sales": 2, "points": 55}
    assert figures(hub) == ("2.1", "2.1", "0", 0)
    assert held(hub, world.card) == (125, 0) and held(hub, bob) == (50, 0)
    assert hub.redeem(world.grocer, world.card, 125).status_code == 201
    # A prepayment with nothing waiting releases nothing.
    assert fund(hub, "0.12", "BANK-4")["released"] == {"sales": 0, "points": 0}


def test_a_higher_limit_releases_what_it_covers_and_lifting_control_releases_the_rest(hub, world, clock, database):
    contract(hub, slug="green-grocer", funding="credit", credit_limit="0.24", over_limit="pending")  # 20 points
    assert hub.sale(world.grocer, world.card, "10.00", order="G-1").status_code == 201  # 20 points: 0.24
    assert hub.sale(world.grocer, world.card, "7.50", order="G-2").json["awaiting_funds"] is True  # 15: 0.18
    assert hub.sale(world.grocer, world.card, "5.00", order="G-3").json["awaiting_funds"] is True  # 10: 0.12
    clock.advance(minutes=1)
    raised = contract(hub, slug="green-grocer", funding="credit", credit_limit="0.45")  # 0.21 more
    assert raised["funding"]["over_limit"] == "pending"  # unsent: as it was
    assert figures(hub, "green-grocer") == ("0", "0.42", "0.03", 2)  # G-2 drew; G-3 (0.12) waits
    assert held(hub, world.card) == (35, 10)
    clock.advance(minutes=1)
    contract(hub, slug="green-grocer", funding="none")
    assert held(hub, world.card) == (45, 0)  # released, drawing nothing: nothing is drawn any more
    assert [data["order_id"] for _, _, data in events(database, "points_funded")] == ["G-2", "G-3"]


def test_the_bank_statement_funds_release_the_waiting_sales(hub, world, waiting, database):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")  # 0.36
    camt = ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>'
            '<Ntry><Amt Ccy="EUR">0.12</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-03-14</Dt></BookgDt>'
            f'<AcctSvcrRef>BANK-9</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>FUND-P{ids(database)["brew-bar"]}'
            '</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>').encode()
    answer = hub.call("POST", "/v1/settlement/bank-statements", data=camt, content_type="application/xml")
    assert answer.status_code == 200, answer.json
    assert answer.json["released"] == [{"partner": "brew-bar", "sales": 1, "points": 30}]
    assert figures(hub) == ("1.32", "1.32", "0", 0) and held(hub, world.card) == (110, 0)


def test_a_batch_draws_for_its_first_rows_and_the_rest_wait_in_order(hub, world, waiting, database):
    hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "csv", "adapter_config": {}})
    body = "order_id,card_number,total,currency,occurred_at\n" + "".join(
        f"F-{n},{world.card},{total},EUR,{NOW}\n" for n, total in enumerate(["15.00", "10.00", "5.00"]))
    answer = hub.call("POST", "/v1/transactions/batch", world.coffee, data=body, content_type="text/csv")
    assert answer.json["accepted"] == 3, answer.json
    # 0.24 left: F-0 draws 0.18 (0.06 left); F-1 needs 0.12: it waits, and F-2 (0.06 would do) behind it.
    assert figures(hub) == ("1.2", "1.14", "0.06", 5) and held(hub, world.card) == (95, 15)
    assert fund(hub, "0.12", "BANK-2")["released"] == {"sales": 2, "points": 15}
    assert figures(hub) == ("1.32", "1.32", "0", 0) and held(hub, world.card) == (110, 0)


def test_a_refund_gives_back_to_the_micro_what_its_points_drew(hub, world, clock, database):
    """A point of 0.001234 fee and 0.005678 redeem rate draws 0.006912; under a fee of 0.002, 0.007678 (the
    liability still values the points outstanding at 0.005678)."""
    contract(hub, issue_fee="0.001234", redeem_rate="0.005678", funding="prepaid")
    fund(hub, "1.00", "BANK-1")
    assert credit(hub)["point_cost"] == "0.006912"
    hub.sale(world.coffee, world.card, "37.00", order="OLD")  # 37 x 0.006912 = 0.255744
    clock.advance(minutes=1)
    contract(hub, funding="prepaid")
    assert credit(hub)["point_cost"] == "0.007678"
    hub.sale(world.coffee, world.card, "10.00", order="NEW")  # 10 x 0.007678 = 0.07678
    assert credit(hub)["drawn"] == "0.332524"
    # 12 of OLD's points come back: 12 x 0.006912 = 0.082944, at the cost they drew at, not today's.
    assert hub.refund(world.coffee, "OLD", "12.00").json["points"] == -12
    assert credit(hub)["drawn"] == "0.24958"
    assert hub.refund(world.coffee, "OLD", "25.00").json["points"] == -25  # the rest: 25 x 0.006912 = 0.1728
    assert credit(hub)["drawn"] == "0.07678"
    assert hub.refund(world.coffee, "NEW", "10.00").json["points"] == -10
    assert credit(hub)["drawn"] == "0" and credit(hub)["available"] == "1"


def test_a_refund_of_points_that_waited_gives_back_nothing_and_leaves_the_queue(hub, world, waiting, database):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")
    before = credit(hub)
    refunded = hub.refund(world.coffee, "WAIT-1", "30.00")
    assert refunded.json["points"] == -30 and held(hub, world.card) == (80, 0)
    assert credit(hub) == before  # it never drew
    # Nothing waits any more, so a sale that fits draws again.
    answer = hub.sale(world.coffee, world.card, "20.00", order="FITS")
    assert "awaiting_funds" not in answer.json and figures(hub) == ("1.2", "1.2", "0", 0)
    assert fund(hub, "1.00", "BANK-2")["released"] == {"sales": 0, "points": 0}


def test_a_refund_of_a_released_sale_gives_back_what_it_drew_on_release(hub, world, waiting, database):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")
    # Taken while it waited: drew nothing; its 25 points left would draw 0.30, past the 0.24 left: it waits on.
    assert hub.refund(world.coffee, "WAIT-1", "5.00").json["points"] == -5
    assert figures(hub) == ("1.2", "0.96", "0.24", 20) and held(hub, world.card) == (80, 25)
    assert fund(hub, "0.12", "BANK-2")["released"] == {"sales": 1, "points": 25}  # 25 x 0.012 = 0.30 of the 0.36
    assert figures(hub) == ("1.32", "1.26", "0.06", 5)
    assert hub.refund(world.coffee, "WAIT-1", "25.00").json["points"] == -25
    assert figures(hub) == ("1.32", "0.96", "0.36", 30)


def test_a_refund_that_gives_back_funds_releases_what_they_now_cover(hub, world, waiting, database):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")  # 0.36, past the 0.24 left: waits
    # 20 of PAID-1's points come back: 20 x 0.012 = 0.24, so 0.48 to draw on. WAIT-1 takes 0.36, 0.12 is left.
    refunded = hub.refund(world.coffee, "PAID-1", "20.00")
    assert refunded.json["points"] == -20 and refunded.json["balance"]["pending"] == 0, refunded.json
    assert figures(hub) == ("1.2", "1.08", "0.12", 10)
    assert held(hub, world.card) == (90, 0)
    assert [(data["order_id"], data["points"], data["balance"]) for _, _, data in events(database, "points_funded")] == [
        ("WAIT-1", 30, {"available": 90, "pending": 0, "held": 0})]
    # Nothing waits any more: a 1-point sale draws its 0.012 at once.
    one = hub.sale(world.coffee, world.card, "1.00", order="ONE")
    assert "awaiting_funds" not in one.json, one.json
    assert figures(hub) == ("1.2", "1.092", "0.108", 9) and held(hub, world.card) == (91, 0)


def test_a_refund_of_a_waiting_sale_releases_it_once_the_funds_cover_what_is_left(hub, world, waiting, database):
    bob = hub.enrol(world.coffee)[1]
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")  # 0.36, past the 0.24 left
    hub.sale(world.coffee, bob, "10.00", order="WAIT-2")  # 0.12, behind it
    # 10 of WAIT-1's points taken while it waited: its 20 left draw exactly the 0.24; WAIT-2 has nothing left to draw.
    assert hub.refund(world.coffee, "WAIT-1", "10.00").json["points"] == -10
    assert figures(hub) == ("1.2", "1.2", "0", 0)
    assert held(hub, world.card) == (100, 0) and held(hub, bob) == (0, 10)
    assert [data["order_id"] for _, _, data in events(database, "points_funded")] == ["WAIT-1"]


def test_a_sale_first_releases_what_waits_that_the_funds_cover(hub, world, waiting, database):
    """Bob's WAIT-1 (0.36) waits, Ann's WAIT-2 (0.12) behind it; Bob leaves, his points forfeited: WAIT-2 fits the
    0.24 left but nothing released it. The next sale does, before it draws for itself."""
    bob_id, bob = hub.enrol(world.coffee)
    carol = hub.enrol(world.coffee)[1]
    hub.sale(world.coffee, bob, "30.00", order="WAIT-1")
    hub.sale(world.coffee, world.card, "10.00", order="WAIT-2")
    assert hub.call("DELETE", f"/v1/members/{bob_id}").json["forfeited"] == 30
    assert held(hub, world.card) == (80, 10)
    one = hub.sale(world.coffee, carol, "1.00", order="ONE")  # 0.012
    assert "awaiting_funds" not in one.json, one.json
    # WAIT-2 drew 0.12, then ONE 0.012: 1.092 of 1.20.
    assert figures(hub) == ("1.2", "1.092", "0.108", 9)
    assert held(hub, world.card) == (90, 0) and held(hub, carol) == (1, 0)
    assert [data["order_id"] for _, _, data in events(database, "points_funded")] == ["WAIT-2"]
    assert fund(hub, "0.12", "BANK-2")["released"] == {"sales": 0, "points": 0}  # WAIT-1 left the queue


def test_points_that_waited_on_a_member_merged_since_are_released_to_the_survivor(hub, world, waiting, database):
    bob_id, bob = hub.enrol(world.coffee)
    hub.sale(world.coffee, bob, "30.00", order="WAIT-1")
    merged = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": bob_id})
    assert merged.status_code == 200 and merged.json["moved"] == {"available": 0, "pending": 30}, merged.json
    assert fund(hub, "0.12", "BANK-2")["released"] == {"sales": 1, "points": 30}
    assert held(hub, world.card) == (110, 0)
    assert [data["member_id"] for _, _, data in events(database, "points_funded")] == [world.member_id]


@pytest.mark.parametrize("body, field", [
    ({"funding": "prepaid", "over_limit": "later"}, "over_limit"),
    ({"funding": "none", "over_limit": "pending"}, "over_limit"),
    ({"over_limit": "pending"}, "over_limit"),
    ({"funding": "prepaid", "over_limit": 1}, "over_limit"),
])
def test_a_bad_over_limit_is_refused_naming_its_field(hub, world, body, field, database):
    before = snapshot(database)
    answer = hub.call("PUT", "/v1/partners/brew-bar/contract", json={"issue_fee": "0.002", "redeem_rate": "0.01", **body})
    assert answer.status_code == 422 and field in answer.json["error"]["details"], answer.json
    assert snapshot(database) == before


@pytest.mark.parametrize("body, field", [
    ({"amount": "-0.50", "reference": "BANK-7"}, "amount"),
    ({"amount": "lots", "reference": "BANK-7"}, "amount"),
    ({"amount": "0.50", "reference": ""}, "reference"),
    ({"amount": "0.50"}, "reference"),
    ({"amount": "0.50", "reference": "BANK-1"}, "reference"),  # recorded already: 409, nothing released
])
def test_a_refused_prepayment_releases_nothing(hub, world, waiting, body, field, database):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")
    before = snapshot(database)
    answer = hub.call("POST", "/v1/partners/brew-bar/prepayments", json=body)
    assert answer.status_code in (409, 422) and field in answer.json["error"]["details"], answer.json
    assert snapshot(database) == before and held(hub, world.card) == (80, 30)


def test_a_batch_past_the_limit_tells_the_partner_too(hub, world, database):
    contract(hub, funding="prepaid")  # refuse: nothing funded
    hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "csv", "adapter_config": {}})
    body = f"order_id,card_number,total,currency,occurred_at\nB-1,{world.card},10.00,EUR,{NOW}\n"
    for _ in range(2):
        answer = hub.call("POST", "/v1/transactions/batch", world.coffee, data=body, content_type="text/csv")
        assert [r["code"] for r in answer.json["rejected"]] == ["credit_limit_reached"]
    assert [data["over_limit"] for _, _, data in events(database, "credit_limit_reached")] == ["refuse"]  # once


def test_a_refusal_kept_under_its_idempotency_key_tells_the_partner_too(hub, world, database):
    contract(hub, funding="prepaid")  # refuse: nothing funded
    body = {"type": "sale", "order_id": "K-1", "card_number": world.card, "occurred_at": NOW, "currency": "EUR",
            "total": "10.00"}
    for replayed in (None, "true"):
        answer = hub.call("POST", "/v1/transactions", world.coffee, headers={"Idempotency-Key": "till-7-0042"},
                          json=body)
        assert (answer.status_code, answer.headers.get("Idempotent-Replayed")) == (402, replayed)
    assert len(events(database, "credit_limit_reached")) == 1


SECRET = "shpss_0c9e4b7a2d5f"


def shopify(hub, card, financial_status="paid", topic="orders/create", **changes):
    data = json.loads((FIXTURES / "shopify" / "orders_create.json").read_text())
    data.update(note_attributes=[{"name": "loyalty_card", "value": card}], financial_status=financial_status, **changes)
    payload = json.dumps(data).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), payload, hashlib.sha256).digest()).decode()
    return hub.client.post("/v1/partners/maple/inbound", data=payload, content_type="application/json",
                           headers={"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature})


@pytest.mark.parametrize("over_limit", ["refuse", "pending"])
def test_a_platforms_webhook_past_the_limit_is_refused_or_waits_and_tells_the_partner(hub, clock, database,
                                                                                      over_limit):
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    key = hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    card = hub.enrol(key)[1]
    contract(hub, slug="maple", funding="prepaid", over_limit=over_limit)  # nothing funded: the 61 points draw 0.732
    placed = shopify(hub, card)
    assert [data["over_limit"] for _, _, data in events(database, "credit_limit_reached")] == [over_limit]
    if over_limit == "refuse":
        assert (placed.status_code, placed.json["error"]["code"]) == (402, "credit_limit_reached")
        assert held(hub, card) == (0, 0)
        return
    assert placed.status_code == 201 and placed.json["awaiting_funds"] is True
    assert held(hub, card) == (0, 61)
    assert fund(hub, "0.732", "BANK-1", slug="maple")["released"] == {"sales": 1, "points": 61}
    assert held(hub, card) == (61, 0)


def test_an_unpaid_order_past_the_limit_waits_for_its_payment_and_its_funds(hub, clock, database):
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    key = hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    card = hub.enrol(key)[1]
    contract(hub, slug="maple", funding="prepaid", over_limit="pending")
    assert shopify(hub, card, financial_status="pending").json["awaiting_funds"] is True
    assert fund(hub, "0.732", "BANK-1", slug="maple")["released"] == {"sales": 1, "points": 61}
    assert held(hub, card) == (0, 61)  # funded, not paid yet
    (funded,) = events(database, "points_funded")
    assert funded[2]["available_at"] is None
    assert shopify(hub, card, topic="orders/paid").json["released_points"] == 61
    assert held(hub, card) == (61, 0)



def test_an_edit_that_lowers_an_order_releases_what_its_points_give_back(hub, clock, database):
    clock.now = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)
    key = hub.create_partner("maple", currency="USD", adapter="shopify", adapter_config={"webhook_secret": SECRET})
    card = hub.enrol(key)[1]
    contract(hub, slug="maple", funding="prepaid", over_limit="pending")
    fund(hub, "0.72", "BANK-1", slug="maple")
    assert "awaiting_funds" not in shopify(hub, card, subtotal_price="60.00", current_subtotal_price="60.00").json
    second = shopify(hub, card, id=5864920318275, subtotal_price="10.00", current_subtotal_price="10.00")
    assert second.json["awaiting_funds"] is True  # 10 points: 0.12, and the first order's 60 drew all 0.72
    # The first order's goods come to 40.00 after an edit: 20 points back give back 0.24, and the second draws 0.12.
    edited = shopify(hub, card, topic="orders/updated", subtotal_price="60.00", current_subtotal_price="40.00")
    assert (edited.json["edited"], edited.json["points"]) == (True, -20), edited.json
    assert figures(hub, "maple") == ("0.72", "0.6", "0.12", 10)
    assert held(hub, card) == (50, 0)


def test_a_batchs_refunds_release_what_they_give_back_once_after_them(hub, world, waiting, database):
    hub.sale(world.coffee, world.card, "30.00", order="WAIT-1")  # 0.36, past the 0.24 left
    hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "csv", "adapter_config": {}})
    body = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n" + "".join(
        f"R-{n},refund,,{NOW},EUR,10.00,PAID-1\n" for n in range(2))
    answer = hub.call("POST", "/v1/transactions/batch", world.coffee, data=body, content_type="text/csv")
    assert answer.json["accepted"] == 2 and answer.json["rejected"] == [], answer.json
    # 2 x 10 points back: 0.24 given back, 0.48 to draw on; WAIT-1 takes 0.36.
    assert figures(hub) == ("1.2", "1.08", "0.12", 10) and held(hub, world.card) == (90, 0)
    assert [data["order_id"] for _, _, data in events(database, "points_funded")] == ["WAIT-1"]

@pytest.mark.postgres_only
def test_releases_racing_each_other_and_sales_never_overdraw(hub, world, database):
    """10 sales of 10 points wait; 3 prepayments of 0.60 (50 points each) and 10 new sales of 10 points race."""
    contract(hub, funding="prepaid", over_limit="pending")
    fund(hub, "0.12", "BANK-0")
    first = [hub.enrol(world.coffee)[1] for _ in range(10)]
    late = [hub.enrol(world.coffee)[1] for _ in range(10)]
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # all 0.12 drawn
    for card in first:
        assert hub.sale(world.coffee, card, "10.00").json["awaiting_funds"] is True

    def one(i):
        if i < 3:
            return hub.call("POST", "/v1/partners/brew-bar/prepayments", json={"amount": "0.60", "reference": f"R-{i}"})
        return hub.sale(world.coffee, late[i - 3], "10.00")

    answers = race(13, one)
    assert sorted(a.status_code for a in answers) == [201] * 13, [a.json for a in answers if a.status_code != 201]
    assert all(held(hub, card) == (10, 0) for card in first)  # the oldest waited longest: released first
    found = credit(hub)
    assert (found["funded"], Decimal(found["drawn"]) <= Decimal(found["funded"])) == ("1.92", True)
    spendable = sum(held(hub, card)[0] for card in [world.card, *first, *late])
    assert Decimal(found["drawn"]) == spendable * Decimal("0.012")
    assert sum(sum(held(hub, card)) for card in late) == 100


@pytest.mark.postgres_only
def test_sales_drawing_while_funds_release_the_queue_never_overdraw(hub, world, database):
    """Funds for 50 points and nothing waiting; 10 sales of 10 points and 2 prepayments of 0.30 (25 points) race."""
    contract(hub, funding="prepaid", over_limit="pending")
    fund(hub, "0.60", "BANK-0")
    cards = [hub.enrol(world.coffee)[1] for _ in range(10)]

    def one(i):
        if i < 2:
            return hub.call("POST", "/v1/partners/brew-bar/prepayments", json={"amount": "0.30", "reference": f"R-{i}"})
        return hub.sale(world.coffee, cards[i - 2], "10.00")

    answers = race(12, one)
    assert sorted(a.status_code for a in answers) == [201] * 12, [a.json for a in answers if a.status_code != 201]
    found = credit(hub)
    assert found["funded"] == "1.2" and Decimal(found["drawn"]) <= Decimal("1.2")
    spendable = sum(held(hub, card)[0] for card in cards)
    assert Decimal(found["drawn"]) == spendable * Decimal("0.012") and spendable % 10 == 0
    assert sum(sum(held(hub, card)) for card in cards) == 100  # every sale booked, spendable or waiting



@pytest.fixture
def deadlocks(monkeypatch):
    """The deadlocks PostgreSQL broke (and the hub retried, hiding them from the answers), as they happen."""
    from network import db

    seen, retryable = [], db._retryable

    def counting(exc, attempt):
        if getattr(exc.orig, "sqlstate", None) == "40P01":
            seen.append(str(exc.orig).splitlines()[0])
        return retryable(exc, attempt)

    monkeypatch.setattr(db, "_retryable", counting)
    return seen


def pause_once(monkeypatch, module, name):
    """Make module.name stop, once, after it ran, until the test says go: a transaction held open at that point."""
    reached, go, original = threading.Event(), threading.Event(), getattr(module, name)

    def pausing(*args, **kwargs):
        done = original(*args, **kwargs)
        if not reached.is_set():
            reached.set()
            go.wait(20)
        return done

    monkeypatch.setattr(module, name, pausing)
    return reached, go


@pytest.mark.postgres_only
def test_a_sale_arriving_while_a_larger_one_queues_waits_behind_it(hub, world, waiting, monkeypatch, database):
    """WAIT-1 (30 points: 0.36, past the 0.24 left) is queued, its transaction still open, when Bob's 10 points (0.12,
    which the 0.24 would cover) arrive: Bob's sale reads the queue under the partner's row, after WAIT-1 commits."""
    from network.parties import funding

    bob = hub.enrol(world.coffee)[1]
    queued, go = pause_once(monkeypatch, funding, "wait")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(hub.sale, world.coffee, world.card, "30.00", order="WAIT-1")
        assert queued.wait(20)
        second = pool.submit(hub.sale, world.coffee, bob, "10.00", order="WAIT-2")
        time.sleep(0.5)  # Bob's sale has reached the partner's row by now
        go.set()
        assert first.result().json["awaiting_funds"] is True
        assert second.result().json.get("awaiting_funds") is True, second.result().json
    assert figures(hub) == ("1.2", "0.96", "0.24", 20) and held(hub, bob) == (0, 10)
    assert fund(hub, "0.36", "BANK-2")["released"] == {"sales": 2, "points": 40}  # WAIT-1 first, then WAIT-2


@pytest.mark.postgres_only
def test_a_release_of_many_pages_and_a_refund_at_once_do_not_deadlock(hub, world, monkeypatch, database, deadlocks):
    """Four members' sales of 10 points wait, two to a page; funds for all four release them while the third member's
    earlier sale is refunded. The release locks all four members before the partner's row, so the refund waits for
    its member rather than holding it while it waits for the partner's row."""
    from network.earning import unfunded
    from network.parties import funding

    monkeypatch.setattr(unfunded, "PAGE", 2)
    contract(hub, funding="prepaid", over_limit="pending")
    fund(hub, "0.48", "BANK-0")
    cards = [hub.enrol(world.coffee)[1] for _ in range(4)]
    for n, card in enumerate(cards):
        assert "awaiting_funds" not in hub.sale(world.coffee, card, "10.00", order=f"DREW-{n}").json  # 0.12 each
    for n, card in enumerate(cards):
        assert hub.sale(world.coffee, card, "10.00", order=f"WAIT-{n}").json["awaiting_funds"] is True
    first_page, go = pause_once(monkeypatch, funding, "drew")
    with ThreadPoolExecutor(max_workers=2) as pool:
        funds = pool.submit(hub.call, "POST", "/v1/partners/brew-bar/prepayments",
                            json={"amount": "0.48", "reference": "BANK-1"})
        assert first_page.wait(20)  # the first page drew: the release holds the partner's row
        refund = pool.submit(hub.refund, world.coffee, "DREW-2", "10.00")
        time.sleep(0.5)  # the refund is waiting for a lock by now
        go.set()
        assert funds.result().json["released"] == {"sales": 4, "points": 40}, funds.result().json
        assert refund.result().json["points"] == -10, refund.result().json
    assert deadlocks == []
    # 0.96 funded; 8 sales drew 0.96, DREW-2 gave back 0.12.
    assert figures(hub) == ("0.96", "0.84", "0.12", 10)
    assert [held(hub, card) for card in cards] == [(20, 0), (20, 0), (10, 0), (20, 0)]


@pytest.mark.postgres_only
def test_the_bank_statements_release_and_a_refund_at_once_do_not_deadlock(hub, world, monkeypatch, database, deadlocks):
    """WAIT-1 waits; a bank statement's 0.12 for the partner releases it while Ann's earlier sale is refunded. The
    import locks Ann before it records the partner's funds (locking its row), so the refund waits for Ann."""
    from network.parties import funding

    contract(hub, funding="prepaid", over_limit="pending")
    fund(hub, "0.12", "BANK-0")
    assert "awaiting_funds" not in hub.sale(world.coffee, world.card, "10.00", order="DREW-0").json  # all 0.12
    assert hub.sale(world.coffee, world.card, "10.00", order="WAIT-1").json["awaiting_funds"] is True
    camt = ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>'
            '<Ntry><Amt Ccy="EUR">0.12</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-03-14</Dt></BookgDt>'
            f'<AcctSvcrRef>BANK-9</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>FUND-P{ids(database)["brew-bar"]}'
            '</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>').encode()
    recorded, go = pause_once(monkeypatch, funding, "fund")
    with ThreadPoolExecutor(max_workers=2) as pool:
        imported = pool.submit(hub.call, "POST", "/v1/settlement/bank-statements", data=camt,
                               content_type="application/xml")
        assert recorded.wait(20)  # the partner's funds are recorded: the import holds its row
        refund = pool.submit(hub.refund, world.coffee, "DREW-0", "10.00")
        time.sleep(0.5)  # the refund is waiting for a lock by now
        go.set()
        assert imported.result().json["released"] == [{"partner": "brew-bar", "sales": 1, "points": 10}]
        assert refund.result().json["points"] == -10, refund.result().json
    assert deadlocks == []
    # 0.24 funded; DREW-0 and WAIT-1 drew 0.12 each, DREW-0 gave its 0.12 back.
    assert figures(hub) == ("0.24", "0.12", "0.12", 10) and held(hub, world.card) == (10, 0)

@pytest.mark.postgres_only
def test_refunds_funds_and_sales_racing_release_the_queue_in_order_and_leave_nothing_covered_waiting(
        hub, world, database, deadlocks):
    """Ten sales of 10 points (0.12 each) wait; five refunds giving back 0.048 each, two prepayments of 0.30 and seven
    new 1-point sales race. 0.24 + 0.60 = 0.84 arrive: exactly the seven oldest waiting sales, whatever the order;
    the new sales always find something waiting ahead of them."""
    contract(hub, funding="prepaid", over_limit="pending")
    fund(hub, "0.24", "BANK-0")
    drew = [hub.enrol(world.coffee)[1] for _ in range(5)]
    queued = [hub.enrol(world.coffee)[1] for _ in range(10)]
    late = [hub.enrol(world.coffee)[1] for _ in range(7)]
    for n, card in enumerate(drew):
        assert "awaiting_funds" not in hub.sale(world.coffee, card, "4.00", order=f"DREW-{n}").json  # 0.048 each
    for card in queued:
        assert hub.sale(world.coffee, card, "10.00").json["awaiting_funds"] is True

    def one(i):
        if i < 5:
            return hub.refund(world.coffee, f"DREW-{i}", "4.00")
        if i < 7:
            return hub.call("POST", "/v1/partners/brew-bar/prepayments", json={"amount": "0.30", "reference": f"R-{i}"})
        return hub.sale(world.coffee, late[i - 7], "1.00")

    answers = race(14, one)
    assert sorted(a.status_code for a in answers) == [201] * 14, [a.json for a in answers if a.status_code != 201]
    assert [held(hub, card) for card in queued] == [(10, 0)] * 7 + [(0, 10)] * 3
    assert [held(hub, card) for card in late] == [(0, 1)] * 7 and [held(hub, card) for card in drew] == [(0, 0)] * 5
    assert figures(hub) == ("0.84", "0.84", "0", 0)
    assert deadlocks == []

def test_the_desk_shows_the_sales_waiting_for_a_partners_funds(app, hub, world, waiting):
    from tests.support.desk import marked
    from tests.support.pages import signed_in

    assert hub.sale(world.coffee, world.card, "30.00", order="WAIT-1").json["awaiting_funds"] is True
    html = signed_in(app, "fin@example.net", "finance").get("/desk/analytics").get_data(as_text=True)
    (row,) = [entry for entry in marked(html, "data-credit") if entry["attrs"]["data-credit"] == "brew-bar"]
    shown = {entry["attrs"]["data-figure"]: entry["text"] for entry in marked(html, "data-figure")
             if entry["attrs"]["data-figure"] in ("over_limit", "waiting_sales", "waiting_points")}
    assert shown == {"over_limit": "sales wait", "waiting_sales": "1", "waiting_points": "30"}
    assert "0.96" in row["text"]  # what Ann's 80 points drew
