"""Property-based: whatever a till sends, the hub answers 2xx or a 4xx in the error shape, never 500.

Runs on SQLite (one app for all examples: the ledger grows, and the
invariants are checked at the end).
"""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.ledger import snapshot

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False), st.text(max_size=30),
    st.sampled_from(["12.50", "0", "-1", "1e3", "12.505", "EUR", "JPY", "sale", "refund",
                     "2026-03-14T10:30:00+01:00", "2026-03-14", "7000000000000008"]),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def canonical_fields(card):
    return st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["sale", "refund"]) | json_values,
            "order_id": st.text(min_size=1, max_size=70) | json_values,
            "original_order_id": st.sampled_from(["SEED-1", "nope"]) | json_values,
            "card_number": st.just(card) | json_values,
            "occurred_at": st.sampled_from(["2026-03-14T10:30:00+01:00", "2026-03-14T10:30:00"]) | json_values,
            "currency": st.sampled_from(["EUR", "JPY", "KWD", "XXX"]) | json_values,
            "total": st.sampled_from(["0.01", "10.00", "99999.99", "1.5", "12.505"]) | json_values,
            "items": st.lists(
                st.fixed_dictionaries({}, optional={"sku": json_values, "quantity": json_values, "unit_price": json_values}),
                max_size=3,
            ) | json_values,
        },
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_transactions_never_500(world, database, data):
    hub = world.hub
    if hub.sale(world.coffee, world.card, "50.00", order="SEED-1").status_code not in (201, 409):
        raise AssertionError("seed sale failed")
    payload = data.draw(canonical_fields(world.card))
    before = snapshot(database)
    response = hub.call("POST", "/v1/transactions", world.coffee, json=payload)
    assert response.status_code in (201, 400, 404, 409, 422), response.get_data(as_text=True)
    if response.status_code != 201:
        assert set(response.json) == {"error"}
        assert response.json["error"]["code"]
        assert snapshot(database) == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.fixed_dictionaries({}, optional={"card_number": json_values, "points": json_values, "order_id": json_values}) | json_values)
def test_redemptions_never_500(world, database, payload):
    before = snapshot(database)
    response = world.hub.call("POST", "/v1/redemptions", world.grocer, data=json.dumps(payload), content_type="application/json")
    assert response.status_code in (201, 400, 404, 409, 422), response.get_data(as_text=True)
    if response.status_code != 201:
        assert response.json["error"]["code"]
        assert snapshot(database) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_never_500(world, body):
    for path in ("/v1/transactions", "/v1/redemptions", "/v1/members", "/v1/partners"):
        key = None if path == "/v1/partners" else world.coffee
        response = world.hub.call("POST", path, key, data=body, content_type="application/json")
        assert response.status_code < 500, (path, response.get_data(as_text=True))
