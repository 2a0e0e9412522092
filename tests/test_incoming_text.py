"""One gate for incoming text: control characters are a 422 naming the field, deep JSON a 400, never a 500.

PostgreSQL refuses a NUL in text with an error, so each case runs on both
databases; a refused request leaves the ledger exactly as it was.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from network.api import idempotency
from tests.support.ledger import snapshot

NUL = "A-\x00-1"
SALE = {"type": "sale", "occurred_at": "2026-03-14T10:30:00+01:00", "currency": "EUR", "total": "10.00"}
DEEP = 10_000


@pytest.fixture
def before(world, database):
    """Something booked, and the ledger's state before the refused request."""
    assert world.hub.sale(world.coffee, world.card, "25.00", order="EXISTING").status_code == 201
    return snapshot(database)


def expect(response, status, code, field):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == code, error
    assert field in error["details"], error
    assert "\x00" not in json.dumps(error, ensure_ascii=False)


# (id, method, path, who, body, code, field); `who` is "coffee" or None (the operator); {card} and {member} filled in
JSON_FIELDS = [
    ("sale order_id", "POST", "/v1/transactions", "coffee", {**SALE, "order_id": NUL, "card_number": "{card}"},
     "invalid_transaction", "order_id"),
    ("sale sku", "POST", "/v1/transactions", "coffee",
     {**SALE, "order_id": "S-1", "card_number": "{card}", "items": [{"sku": "X\x00", "quantity": 1, "unit_price": "10.00"}]},
     "invalid_transaction", "items.0.sku"),
    ("sale escape", "POST", "/v1/transactions", "coffee", {**SALE, "order_id": "S-\x1b[2J", "card_number": "{card}"},
     "invalid_transaction", "order_id"),
    ("redemption order_id", "POST", "/v1/redemptions", "coffee", {"card_number": "{card}", "points": 1, "order_id": NUL},
     "validation_error", "order_id"),
    ("redemption DEL", "POST", "/v1/redemptions", "coffee", {"card_number": "{card}", "points": 1, "order_id": "X\x7f"},
     "validation_error", "order_id"),
    ("partner name", "POST", "/v1/partners", None,
     {"slug": "nul-co", "name": "Nul\x00Co", "timezone": "UTC", "currency": "EUR", "earn_rate": "1"},
     "validation_error", "name"),
    ("partner rename", "PATCH", "/v1/partners/brew-bar", None, {"name": "Brew\x00Bar"}, "validation_error", "name"),
    ("tier name", "PUT", "/v1/network/tiers", None, {"tiers": [{"name": "Sil\x00ver", "threshold": 0, "multiplier": "1"}]},
     "validation_error", "tiers.0.name"),
    ("block reason", "POST", "/v1/cards/{card}/block", None, {"reason": "lo\x00st"}, "validation_error", "reason"),
    ("webhook url", "PUT", "/v1/partners/brew-bar/webhook", "coffee",
     {"url": "https://hooks.example/\x00", "secret": "s" * 20}, "validation_error", "url"),
    ("merge member id", "POST", "/v1/members/{member}/merge", None, {"member_id": "a\x00b"}, "validation_error", "member_id"),
    ("enrol name", "POST", "/v1/members", "coffee", {"name": "Ann\x00"}, "validation_error", "name"),
    ("a key", "POST", "/v1/members", "coffee", {"na\x00me": "Ann"}, "validation_error", "na\\x00me"),
    ("a donation's charity", "POST", "/v1/donations", "coffee", {"card_number": "{card}", "charity": "f\x00", "points": 1},
     "validation_error", "charity"),
]


def fill(value, world):
    if isinstance(value, str):
        return value.replace("{card}", world.card).replace("{member}", world.member_id)
    if isinstance(value, dict):
        return {fill(k, world): fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, world) for v in value]
    return value


@pytest.mark.parametrize(("method", "path", "who", "body", "code", "field"), [case[1:] for case in JSON_FIELDS],
                         ids=[case[0] for case in JSON_FIELDS])
def test_a_control_character_in_a_json_string_is_a_422_naming_the_field(world, database, before, method, path, who,
                                                                         body, code, field):
    key = world.coffee if who == "coffee" else None
    response = world.hub.call(method, fill(path, world), key, json=fill(body, world),
                              headers={"Idempotency-Key": "nul-1"})
    expect(response, 422, code, field)
    assert snapshot(database) == before


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/partners/a%00b", "slug"),
    ("/v1/members/a%00b/history", "member_id"),
    ("/v1/members/a%00b", "member_id"),
    ("/v1/cards/7000%00/balance", "card_number"),
    ("/v1/partners/brew-bar/webhook/deliveries?status=a%00b", "status"),
])
def test_a_control_character_in_a_path_or_query_parameter_is_a_422_naming_it(world, database, before, path, field):
    expect(world.hub.call("GET", path), 422, "validation_error", field)
    assert snapshot(database) == before


def test_tab_and_newline_are_text_not_control(world):
    renamed = world.hub.call("PATCH", "/v1/partners/brew-bar", json={"name": "Brew\tBar\r\nParis"})
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["name"] == "Brew\tBar\r\nParis"


def test_a_batch_books_every_good_row_and_rejects_the_one_with_a_nul(hub, database, clock):
    key = hub.create_partner("nyc-5", currency="USD", adapter="csv")
    _, card = hub.enrol(key)
    header = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n"
    sold_at = (clock.now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # the hub books no sale dated far from its clock
    rows = [f"B-{n},sale,{card},{sold_at},USD,1.00,\n" for n in range(2510)]
    rows.insert(1200, f"B-\x00-bad,sale,{card},{sold_at},USD,1.00,\n")
    result = hub.call("POST", "/v1/transactions/batch", key, data=(header + "".join(rows)).encode(),
                      content_type="text/csv")
    assert result.status_code == 200, result.get_data(as_text=True)
    assert result.json["accepted"] == 2510 and result.json["rejected_total"] == 1
    assert result.json["rejected"] == [{"row": 1201, "code": "invalid_row", "message": "The row is invalid",
                                        "errors": {"order_id": ["contains a control character"]}}]
    assert hub.balance(card)["available"] == 2510


def test_a_reconciliation_file_with_a_nul_lists_that_row(hub, clock, database):
    coffee = hub.create_partner("coffee")
    _, card = hub.enrol(coffee)
    assert hub.sale(coffee, card, "20.00", order="C-1").status_code == 201
    clock.advance(hours=1)
    closed = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    assert closed.status_code == 201, closed.json
    before = snapshot(database)
    response = hub.call("POST", "/v1/settlement/statements/1/reconciliation", coffee,
                        data="order_id,type,points\nC-1,sale,20\nC-\x00,sale,5\n", headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["matched"]["count"] == 1
    assert {"row": 2, "errors": {"order_id": ["contains a control character"]}} in response.json["rejected"]
    assert snapshot(database) == before


def test_a_poslog_value_with_a_c1_control_is_a_422_naming_it(hub, database):
    key = hub.create_partner("till-9", adapter="poslog")
    before = snapshot(database)
    body = ('<?xml version="1.0" encoding="UTF-8"?><POSLog xmlns="http://www.nrf-arts.org/IXRetail/namespace/">'
            "<Transaction><SequenceNumber>1\u0085</SequenceNumber></Transaction></POSLog>").encode()
    response = hub.call("POST", "/v1/transactions", key, data=body, content_type="application/xml")
    expect(response, 422, "invalid_transaction", "SequenceNumber")
    assert snapshot(database) == before


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# (method, path, who); every one refuses a 10,000-deep body before its parser or its fingerprint recurses
DEEP_ENDPOINTS = [
    ("POST", "/v1/transactions", "coffee"),
    ("POST", "/v1/redemptions", "coffee"),
    ("POST", "/v1/members", "coffee"),
    ("POST", "/v1/donations", "coffee"),
    ("POST", "/v1/settlement/runs", None),
    ("PUT", "/v1/network/tiers", None),
    ("PUT", "/v1/partners/brew-bar/rules", None),
    ("POST", "/v1/redemptions/1/void", "coffee"),
    ("POST", "/v1/redemptions/1/reversal", "coffee"),
    ("DELETE", "/v1/members/{member}", None),
    ("DELETE", "/v1/partners/brew-bar/webhook", "coffee"),
]


@pytest.mark.parametrize(("method", "path", "who"), DEEP_ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in DEEP_ENDPOINTS])
@pytest.mark.parametrize("levels", [65, DEEP])
def test_a_body_nested_too_deep_is_a_400_before_anything_recurses(world, database, before, method, path, who, levels):
    key = world.coffee if who == "coffee" else None
    response = world.hub.call(method, fill(path, world), key, data=nested(levels), content_type="application/json",
                              headers={"Idempotency-Key": "deep-1"})
    expect(response, 400, "body_too_deep", "body")
    assert snapshot(database) == before


def test_sixty_four_levels_are_read_as_any_body_is(world, database, before):
    response = world.hub.call("POST", "/v1/redemptions", world.coffee, data=nested(64), content_type="application/json")
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_error"
    assert snapshot(database) == before


def test_the_idempotency_fingerprint_never_recurses_unboundedly():
    deep = nested(100_000)
    assert idempotency.fingerprint("POST", "/v1/x", deep) == idempotency.fingerprint("POST", "/v1/x", deep)


@pytest.mark.parametrize("token", [None, "not-a-key"])
def test_a_stranger_is_answered_401_whatever_its_body_holds(world, database, before, token):
    """The caller is checked first: someone with no key learns nothing from the gate's verdict on its input."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for kwargs in ({"json": {"card_number": "a\x00b", "points": 5}}, {"data": nested(DEEP), "content_type": "application/json"}):
        answer = world.hub.client.post("/v1/redemptions", headers=headers, **kwargs)
        assert answer.status_code == 401, answer.json
        assert answer.json["error"]["code"] == ("invalid_token" if token else "missing_token")
    answer = world.hub.client.get("/v1/members/a%00b/history", headers=headers)
    assert answer.status_code == 401, answer.json
    assert snapshot(database) == before
