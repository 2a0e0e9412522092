"""Disputes, worked by hand: the grocer disputes a sale of statement 1; finance upholds it with 0.40 back, which
statement 2 pays in the grocer's net and lists; a second dispute is rejected with a note.

Statement 1 (tests/support/desk.trade): Brew Bar pays 1.60, the grocer receives 1.10.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.desk import trade
from tests.support.ledger import snapshot


@pytest.fixture
def closed(hub, world, clock):
    hub.sale(world.grocer, world.card, "5.00", order="G-TEST")  # a sale the grocer will say was a test
    trade(hub, world, clock)
    answer = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    assert answer.status_code == 201, answer.json
    return answer.json["statement"]


def file(hub, key, order_ids, reason="a test order", sequence=1, **more):
    return hub.call("POST", f"/v1/settlement/statements/{sequence}/disputes", key,
                    json={"order_ids": order_ids, "reason": reason, **more})


def test_an_upheld_dispute_is_paid_in_the_next_statement_and_listed(hub, world, clock, closed):
    filed = file(hub, world.grocer, ["G-TEST"], reason="G-TEST was our till's test sale")
    assert filed.status_code == 201, filed.json
    assert filed.json | {"id": None, "created_at": None} == {
        "id": None, "sequence": 1, "partner": "green-grocer", "order_ids": ["G-TEST"],
        "reason": "G-TEST was our till's test sale", "status": "open", "adjustment": None, "note": None,
        "created_at": None, "resolved_at": None}
    dispute = filed.json["id"]
    other = file(hub, world.grocer, ["G-TEST"], reason="and again").json["id"]
    ended = hub.call("POST", f"/v1/settlement/disputes/{dispute}/resolution",
                     json={"outcome": "adjusted", "note": "Fee and points of G-TEST refunded", "amount": "0.40"})
    assert ended.status_code == 200, ended.json
    assert (ended.json["status"], ended.json["adjustment"]) == ("adjusted", "0.40")
    again = hub.call("POST", f"/v1/settlement/disputes/{dispute}/resolution", json={"outcome": "rejected", "note": "x"})
    assert (again.status_code, again.json["error"]["code"]) == (409, "dispute_closed")
    assert hub.call("POST", f"/v1/settlement/disputes/{other}/resolution",
                    json={"outcome": "rejected", "note": "Same order as dispute " + str(dispute)}).status_code == 200
    # Statement 2: nothing else happened, so the grocer's net is the adjustment, and the network pays it.
    clock.advance(hours=1)
    second = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()}).json
    sections = {s["partner"]: s for s in second["statement"]["partners"]}
    assert (sections["green-grocer"]["adjustment"], sections["green-grocer"]["net"]) == ("0.40", "0.40")
    assert "adjustment" not in sections["brew-bar"] and sections["network"]["net"] == "-0.40"
    assert second["statement"]["transfers"] == [{"partner": "green-grocer", "direction": "receives", "amount": "0.40"}]
    assert second["statement"]["disputes"] == [
        {"id": dispute, "statement": 1, "partner": "green-grocer", "order_ids": ["G-TEST"], "outcome": "adjusted",
         "adjustment": "0.40", "note": "Fee and points of G-TEST refunded"},
        {"id": other, "statement": 1, "partner": "green-grocer", "order_ids": ["G-TEST"], "outcome": "rejected",
         "adjustment": None, "note": f"Same order as dispute {dispute}"}]
    assert "disputes" not in closed  # a statement with none ended keeps the shape it always had
    # The partner reads its own disputes, and how each ended.
    mine = hub.call("GET", "/v1/settlement/statements/1/disputes", world.grocer).json["items"]
    assert [(d["id"], d["status"]) for d in mine] == [(dispute, "adjusted"), (other, "rejected")]
    assert hub.call("GET", "/v1/settlement/statements/1/disputes", world.coffee).json["items"] == []


def test_a_dispute_names_only_the_partners_orders_of_that_period(hub, world, closed, database):
    before = snapshot(database)
    foreign = file(hub, world.grocer, ["G-TEST", "NOT-MINE", "G-TEST"])
    assert (foreign.status_code, foreign.json["error"]["code"]) == (422, "not_in_statement")
    assert foreign.json["error"]["details"]["order_ids"] == ["NOT-MINE"]
    assert file(hub, world.grocer, ["G-TEST"], sequence=9).json["error"]["code"] == "unknown_statement"
    assert file(hub, world.coffee, ["G-TEST"]).json["error"]["code"] == "not_in_statement"  # the grocer's order
    assert file(hub, world.coffee, ["G-TEST"], partner="green-grocer").json["error"]["code"] == "wrong_partner"
    assert file(hub, None, ["G-TEST"]).json["error"]["details"] == {"partner": ["is required for the operator"]}
    assert file(hub, world.grocer, []).status_code == 422
    assert snapshot(database) == before
    assert file(hub, None, ["G-TEST"], partner="green-grocer").status_code == 201  # finance files for the partner


@pytest.mark.parametrize("body, field", [
    ({"outcome": "adjusted", "note": "n"}, "amount"),
    ({"outcome": "rejected", "note": "n", "amount": "1.00"}, "amount"),
    ({"outcome": "forgiven", "note": "n"}, "outcome"),
    ({"outcome": "adjusted", "note": "n", "amount": "0.001"}, "amount"),
    ({"outcome": "adjusted", "note": "n", "amount": "0"}, "amount"),
])
def test_a_resolution_names_what_is_wrong(hub, world, closed, body, field):
    dispute = file(hub, world.grocer, ["G-TEST"]).json["id"]
    answer = hub.call("POST", f"/v1/settlement/disputes/{dispute}/resolution", json=body)
    assert answer.status_code == 422 and field in answer.json["error"]["details"], answer.json
    assert hub.call("GET", "/v1/settlement/statements/1/disputes").json["items"][0]["status"] == "open"
    assert hub.call("POST", f"/v1/settlement/disputes/{dispute}/resolution", world.grocer,
                    json={"outcome": "rejected", "note": "mine"}).status_code == 403
