"""Sane values at the boundary: a transaction dated far from the hub's clock, or a quantity or amount past the
hub's bounds, is refused naming its field, whichever adapter read it, and books nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from network.earning import intake
from network.earning.terms import Terms
from network.parties.registry import get_partner
from partners.adapters import Row
from partners.money import Money
from partners.transactions import LineItem, Refund, Sale
from tests.support.ledger import snapshot

LIFETIME = timedelta(days=730)


def _sale(card: str, occurred_at: str, order: str = "S-1", total: str = "10.00", **extra) -> dict:
    return {"type": "sale", "order_id": order, "card_number": card, "occurred_at": occurred_at, "currency": "EUR",
            "total": total, **extra}


def _refused(answer, field: str, code: str = "invalid_transaction") -> dict:
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["code"] == code
    assert field in answer.json["error"]["details"], answer.json
    return answer.json["error"]["details"]


@pytest.mark.parametrize("when", [
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+00:00",
    "a day and a minute ahead",
    "a minute past the points' lifetime",
    "a day past the points' lifetime",
])
def test_a_sale_dated_far_from_the_hubs_clock_is_refused_naming_occurred_at(hub, database, clock, when):
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    occurred_at = {
        "a day and a minute ahead": clock.now + timedelta(days=1, minutes=1),
        "a minute past the points' lifetime": clock.now - LIFETIME - timedelta(minutes=1),
        "a day past the points' lifetime": clock.now - LIFETIME - timedelta(days=1),
    }.get(when)
    before = snapshot(database)
    answer = hub.call("POST", "/v1/transactions", key,
                      json=_sale(card, occurred_at.isoformat() if occurred_at else when))
    _refused(answer, "occurred_at")
    assert snapshot(database) == before


def test_the_window_edges_book_and_a_setting_narrows_the_past(hub, app, clock):
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    ahead = hub.call("POST", "/v1/transactions", key, json=_sale(card, (clock.now + timedelta(days=1)).isoformat()))
    assert ahead.status_code == 201, ahead.json
    old = (clock.now - LIFETIME + timedelta(minutes=1)).isoformat()
    assert hub.call("POST", "/v1/transactions", key, json=_sale(card, old, order="S-2")).status_code == 201
    app.config["COALITION_MAX_BACKDATE_DAYS"] = 7
    week = (clock.now - timedelta(days=7, minutes=1)).isoformat()
    _refused(hub.call("POST", "/v1/transactions", key, json=_sale(card, week, order="S-3")), "occurred_at")
    app.config["COALITION_MAX_BACKDATE_DAYS"] = 10_000  # a setting only narrows: the lifetime still bounds it
    _refused(hub.call("POST", "/v1/transactions", key, json=_sale(card, "0001-01-01T00:00:00Z", order="S-4")),
             "occurred_at")


def test_a_refund_dated_far_from_the_hubs_clock_is_refused(hub, database, clock):
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    assert hub.call("POST", "/v1/transactions", key, json=_sale(card, clock.now.isoformat())).status_code == 201
    before = snapshot(database)
    for when in ("9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z"):
        refund = {"type": "refund", "order_id": "R-1", "original_order_id": "S-1", "occurred_at": when,
                  "currency": "EUR", "total": "1.00"}
        _refused(hub.call("POST", "/v1/transactions", key, json=refund), "occurred_at")
    assert snapshot(database) == before


def test_a_refund_dated_before_its_sale_is_refused_and_one_after_it_books(hub, database, clock):
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    sold_at = clock.now - timedelta(hours=2)
    assert hub.call("POST", "/v1/transactions", key, json=_sale(card, sold_at.isoformat())).status_code == 201
    before = snapshot(database)
    refund = {"type": "refund", "order_id": "R-1", "original_order_id": "S-1", "currency": "EUR", "total": "4.00",
              "occurred_at": (sold_at - timedelta(minutes=1)).isoformat()}
    details = _refused(hub.call("POST", "/v1/transactions", key, json=refund), "occurred_at")
    assert "the sale's date" in details["occurred_at"][0]
    assert snapshot(database) == before
    refund["occurred_at"] = sold_at.isoformat()
    booked = hub.call("POST", "/v1/transactions", key, json=refund)
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == -4


def test_a_quantity_of_10_to_the_30_and_a_total_past_the_bound_are_refused(hub, database, clock):
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    before = snapshot(database)
    now = clock.now.isoformat()
    item = {"sku": "LATTE", "quantity": 10**30, "unit_price": "1.00"}
    _refused(hub.call("POST", "/v1/transactions", key, json=_sale(card, now, items=[item])), "items.0.quantity")
    _refused(hub.call("POST", "/v1/transactions", key, json=_sale(card, now, total="10000000000000.01")), "total")
    assert snapshot(database) == before


def test_the_hub_bounds_what_any_adapter_hands_it(hub, database, app, clock):
    """An adapter builds Money and quantities itself (Square's minor units, a plugin's own): the hub still bounds them."""
    key = hub.create_partner("brew-bar")
    _, card = hub.enrol(key)
    state = app.extensions["coalition"]
    partner = database.read(lambda session: get_partner(session, "brew-bar"))
    before = snapshot(database)
    huge = LineItem("LATTE", Decimal(10**30), Money(100, "EUR"))
    rows = [Row(1, Sale("S-1", card, clock.now, Money(1000, "EUR"), (huge,))),
            Row(2, Sale("S-2", card, clock.now, Money(10**16, "EUR"))),
            Row(3, Sale("S-3", card, datetime(9999, 12, 31, tzinfo=timezone.utc), Money(1000, "EUR"))),
            Row(4, Refund("R-1", "S-0", datetime(1, 1, 1, tzinfo=timezone.utc), Money(100, "EUR")))]
    outcome = intake.import_rows(database, partner, state.ruleset(partner), rows, clock=clock, terms=Terms())
    assert outcome.accepted == 0
    assert [(r["row"], r["code"], list(r["errors"])) for r in outcome.rejected] == [
        (1, "invalid_transaction", ["items.0.quantity"]), (2, "invalid_transaction", ["total"]),
        (3, "invalid_transaction", ["occurred_at"]), (4, "invalid_transaction", ["occurred_at"])]
    assert snapshot(database) == before


def test_a_csv_row_dated_far_from_the_clock_is_rejected_and_the_others_book(hub, database, clock):
    key = hub.create_partner("nyc-5", currency="USD", adapter="csv", adapter_config={})
    _, card = hub.enrol(key)
    now = clock.now.isoformat()
    ahead = (clock.now + timedelta(days=1, minutes=1)).isoformat()
    past = (clock.now - LIFETIME - timedelta(minutes=1)).isoformat()
    export = "\n".join([
        "order_id,type,card_number,occurred_at,currency,total,original_order_id",
        f"N-1,sale,{card},{now},USD,12.50,",
        f"N-2,sale,{card},9999-12-31T00:00:00Z,USD,5.00,",
        f"N-3,sale,{card},0001-01-01T00:00:00Z,USD,5.00,",
        f"N-4,sale,{card},{ahead},USD,5.00,",
        f"N-5,sale,{card},{past},USD,5.00,",
        f"N-6,sale,{card},{now},USD,10000000000000.01,",
        f"N-7,refund,{card},9999-12-31T00:00:00Z,USD,1.00,N-1",
        f"N-8,sale,{card},{now},USD,3.05,",
    ]).encode()
    answer = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv")
    assert answer.status_code == 200, answer.json
    assert answer.json["accepted"] == 2 and answer.json["rejected_total"] == 6
    rejected = {r["row"]: r for r in answer.json["rejected"]}
    for row in (2, 3, 4, 5, 7):
        assert rejected[row]["code"] == "invalid_transaction" and list(rejected[row]["errors"]) == ["occurred_at"]
    assert "total" in rejected[6]["errors"]
    assert hub.balance(card)["available"] == 12 + 3  # only N-1 and N-8 booked
