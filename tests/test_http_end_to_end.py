"""The real thing: `coalition serve` (gunicorn, 2 workers) answering over HTTP, as a till talks to it."""

import json
import urllib.error
import urllib.request

import pytest

from tests.support.server import running_hub

TOKEN = "e2e-operator-token"


@pytest.fixture
def server(database, tmp_path):
    with running_hub(database.engine.url.render_as_string(hide_password=False), tmp_path,
                     env={"COALITION_ADMIN_TOKEN": TOKEN}) as base:
        yield base


def call(base, method, path, token=TOKEN, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_member_earns_at_one_store_and_spends_at_another_over_http(server):
    partner = {"timezone": "Europe/Paris", "currency": "EUR", "adapter": "canonical"}
    status, coffee = call(server, "POST", "/v1/partners", body={"slug": "brew-bar", "name": "Brew Bar", "earn_rate": "2", **partner})
    assert status == 201
    status, fuel = call(server, "POST", "/v1/partners", body={"slug": "fuel-stop", "name": "Fuel Stop", "earn_rate": "0.5", **partner})
    assert status == 201

    status, member = call(server, "POST", "/v1/members", coffee["api_key"], {"email": "cy@example.com"})
    assert status == 201
    card = member["card_number"]

    sale = {"type": "sale", "order_id": "BB-1", "card_number": card, "occurred_at": "2026-11-22T08:15:00+01:00",
            "currency": "EUR", "total": "7.60",
            "items": [{"sku": "FLAT-WHITE", "category": "coffee", "quantity": 2, "unit_price": "3.80"}]}
    status, earned = call(server, "POST", "/v1/transactions", coffee["api_key"], sale, {"Idempotency-Key": "bb-1"})
    assert (status, earned["points"]) == (201, 15)
    # The till lost the answer and retries: same outcome, nothing posted twice.
    assert call(server, "POST", "/v1/transactions", coffee["api_key"], sale, {"Idempotency-Key": "bb-1"}) == (201, earned)

    status, redeemed = call(server, "POST", "/v1/redemptions", fuel["api_key"], {"card_number": card, "points": 10, "order_id": "FS-9"})
    assert status == 201
    assert redeemed["provenance"] == [{"issuer": "brew-bar", "points": 10}]
    status, refused = call(server, "POST", "/v1/redemptions", fuel["api_key"], {"card_number": card, "points": 10, "order_id": "FS-10"})
    assert (status, refused["error"]["code"]) == (422, "insufficient_points")

    status, balance = call(server, "GET", f"/v1/cards/{card}/balance", fuel["api_key"])
    assert (status, balance["available"], balance["pending"], balance["held"]) == (200, 5, 0, 0)
    assert balance["expiring"]["points"] == 5
    assert {name: balance[name] for name in ("tier", "tier_since", "qualifying_points", "next_tier", "points_to_next_tier")} \
        == {"tier": None, "tier_since": None, "qualifying_points": None, "next_tier": None, "points_to_next_tier": None}
    status, page = call(server, "GET", f"/v1/members/{member['member_id']}/history")
    assert [e["kind"] for e in page["items"]] == ["redemption", "earn"]

    assert call(server, "POST", "/v1/redemptions", fuel["api_key"], b"{oops")[0] == 400
    assert call(server, "GET", "/v1/partners/brew-bar", "wrong")[0] == 401
