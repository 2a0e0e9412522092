"""Bad input gets a clear error naming the field, and the ledger stays exactly as it was."""

import json

import pytest

from tests.support.ledger import snapshot

VALID_SALE = {
    "type": "sale", "order_id": "Z-1", "occurred_at": "2026-03-14T10:30:00+01:00",
    "currency": "EUR", "total": "10.00",
}


@pytest.fixture
def before(world, database):
    """A ledger with something in it, and its state before the bad request."""
    world.hub.sale(world.coffee, world.card, "25.00", order="EXISTING")
    return snapshot(database)


def sale(world, **changes):
    body = {**VALID_SALE, "card_number": world.card, **changes}
    return {k: v for k, v in body.items() if v is not ...}


def expect(response, status, code, field=None):
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field is not None:
        assert field in error["details"], error


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"order_id": ...}, "order_id"),
        ({"occurred_at": ...}, "occurred_at"),
        ({"total": ...}, "total"),
        ({"card_number": ...}, "card_number"),
        ({"type": "gift"}, "type"),
        ({"total": 10.0}, "total"),
        ({"total": "10.001"}, "total"),
        ({"total": "-10.00"}, "total"),
        ({"total": "ten"}, "total"),
        ({"currency": "ZZZ"}, "currency"),
        ({"currency": "JPY", "total": "10.5"}, "total"),
        ({"occurred_at": "2026-03-14T10:30:00"}, "occurred_at"),
        ({"order_id": 17}, "order_id"),
        ({"order_id": ""}, "order_id"),
        ({"card_number": "7" * 129}, "card_number"),
        ({"card_number": " 7000000000000008"}, "card_number"),
        ({"card_number": 7000000000000008}, "card_number"),
        ({"items": [{"sku": "X", "quantity": 1.5, "unit_price": "1.00"}]}, "items.0.quantity"),
        ({"items": [{"sku": "X", "quantity": 1, "unit_price": "1.001"}]}, "items.0.unit_price"),
        ({"items": [{"quantity": 1, "unit_price": "1.00"}]}, "items.0.sku"),
        ({"points": 5}, "points"),
    ],
)
def test_invalid_transactions_name_the_field_and_post_nothing(world, database, before, changes, field):
    response = world.hub.call("POST", "/v1/transactions", world.coffee, json=sale(world, **changes))
    expect(response, 422, "invalid_transaction", field)
    assert snapshot(database) == before


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2"])
def test_unparsable_bodies_are_400(world, database, before, body):
    response = world.hub.call("POST", "/v1/transactions", world.coffee, data=body, content_type="application/json")
    expect(response, 400, "unreadable_body")
    response = world.hub.call("POST", "/v1/redemptions", world.coffee, data=body, content_type="application/json")
    assert response.status_code in (400, 422)
    assert snapshot(database) == before


@pytest.mark.parametrize("body", [b"[]", b"42", b'"sale"', b"null"])
def test_json_that_is_not_an_object_is_422(world, database, before, body):
    response = world.hub.call("POST", "/v1/transactions", world.coffee, data=body, content_type="application/json")
    expect(response, 422, "invalid_transaction")
    assert snapshot(database) == before


@pytest.mark.parametrize(
    ("points", "message"),
    [(0, "greater than zero"), (-5, "greater than zero"), (2.0, "whole number"), (2.5, "whole number"),
     ("5", "whole number"), (True, "whole number"), (None, None), (10**16, "too large")],
)
def test_redemptions_take_only_positive_integer_points(world, database, before, points, message):
    response = world.hub.redeem(world.grocer, world.card, points)
    expect(response, 422, "validation_error", "points")
    if message:
        assert message in response.json["error"]["details"]["points"][0]
    assert snapshot(database) == before


def test_redemption_fields_are_required_and_unknown_ones_refused(world, database, before):
    response = world.hub.call("POST", "/v1/redemptions", world.grocer, json={"points": 5, "colour": "red"})
    expect(response, 422, "validation_error")
    assert set(response.json["error"]["details"]) == {"card_number", "order_id", "colour"}
    assert snapshot(database) == before


def test_insufficient_points_posts_nothing(world, database, before):
    response = world.hub.redeem(world.grocer, world.card, 26)
    expect(response, 422, "insufficient_points")
    assert response.json["error"]["details"] == {"requested": 26, "available": 25}
    assert snapshot(database) == before


def test_a_card_that_fails_its_check_digit_and_is_no_alias_is_invalid_card(world, database, before):
    """Read as a possible alias of the partner's (tests/test_card_aliases.py), then refused as the typo it is."""
    expect(world.hub.sale(world.coffee, "7000000000000009", "5.00"), 422, "invalid_card", "card_number")
    assert snapshot(database) == before


def test_unknown_card_is_404(world, database, before):
    from partners.cards import luhn_check_digit

    unknown = "123456789012345" + luhn_check_digit("123456789012345")
    expect(world.hub.sale(world.coffee, unknown, "5.00"), 404, "unknown_card", "card_number")
    expect(world.hub.redeem(world.coffee, unknown, 5), 404, "unknown_card", "card_number")
    expect(world.hub.call("GET", f"/v1/cards/{unknown}/balance"), 404, "unknown_card")
    expect(world.hub.call("GET", "/v1/cards/1234/balance"), 422, "invalid_card")
    assert snapshot(database) == before


def test_unknown_member_and_partner_are_404(world):
    expect(world.hub.call("GET", "/v1/members/nobody/history"), 404, "unknown_member")
    expect(world.hub.call("GET", "/v1/members/nobody"), 404, "unknown_member")
    expect(world.hub.call("GET", "/v1/partners/nobody"), 404, "unknown_partner")


def test_refunds_that_cannot_be(world, database, before):
    hub = world.hub
    expect(hub.refund(world.coffee, "EXISTING", "25.01"), 422, "refund_exceeds_sale", "total")
    expect(hub.refund(world.coffee, "NEVER-SOLD", "1.00"), 422, "unknown_order", "original_order_id")
    # The sale belongs to Brew Bar: the grocer cannot refund it.
    expect(hub.refund(world.grocer, "EXISTING", "1.00"), 422, "unknown_order", "original_order_id")
    expect(hub.refund(world.coffee, "EXISTING", "1.00", currency="USD"), 422, "currency_mismatch", "currency")
    expect(hub.refund(world.coffee, "EXISTING", "0.00"), 422, "invalid_transaction", "total")
    assert snapshot(database) == before


def test_a_resent_sale_is_409_and_never_credited_twice(world, database, before):
    response = world.hub.sale(world.coffee, world.card, "99.00", order="EXISTING")
    expect(response, 409, "duplicate_order", "order_id")
    assert snapshot(database) == before
    # The same order id at another partner, or as another kind, is its own order.
    assert world.hub.sale(world.grocer, world.card, "1.00", order="EXISTING").status_code == 201
    assert world.hub.redeem(world.coffee, world.card, 1, order="EXISTING").status_code == 201


def test_a_sale_in_another_currency_than_the_partners_is_refused(world, database, before):
    expect(world.hub.sale(world.coffee, world.card, "10.00", currency="USD"), 422, "currency_mismatch", "currency")
    assert snapshot(database) == before


def test_authentication_and_roles(world, database, before):
    hub = world.hub
    body = {"card_number": world.card, "points": 1, "order_id": "AUTH-1"}
    expect(hub.client.post("/v1/redemptions", json=body), 401, "missing_token")
    expect(hub.client.post("/v1/redemptions", json=body, headers={"Authorization": "Bearer nope"}), 401, "invalid_token")
    expect(hub.client.post("/v1/redemptions", json=body, headers={"Authorization": "Basic abc"}), 401, "missing_token")
    # Authentication comes before validation: a stranger learns nothing about the body.
    expect(hub.client.post("/v1/redemptions", json={}, headers={"Authorization": "Bearer nope"}), 401, "invalid_token")
    # The operator does not redeem; partners do not create partners.
    expect(hub.call("POST", "/v1/redemptions", json=body), 403, "wrong_role")
    partner = {"slug": "rogue", "name": "Rogue", "timezone": "UTC", "currency": "EUR"}
    expect(hub.call("POST", "/v1/partners", world.coffee, json=partner), 403, "wrong_role")
    # A partner reads itself, not another partner.
    assert hub.call("GET", "/v1/partners/brew-bar", world.coffee).status_code == 200
    expect(hub.call("GET", "/v1/partners/brew-bar", world.grocer), 403, "wrong_partner")
    assert snapshot(database) == before


def test_huge_bodies_are_refused_before_they_are_read(world, database, before):
    huge = json.dumps({**sale(world), "items": [{"sku": "X" * 60, "quantity": 1, "unit_price": "1.00"}] * 20000})
    assert len(huge) > 1024 * 1024
    response = world.hub.call("POST", "/v1/transactions", world.coffee, data=huge, content_type="application/json")
    expect(response, 413, "payload_too_large")
    assert snapshot(database) == before


def test_partner_creation_validates_every_field(hub, database):
    before = snapshot(database)
    response = hub.call("POST", "/v1/partners", json={"slug": "Bad Slug!", "name": "", "timezone": "Mars/Olympus",
                                                      "currency": "EURO", "earn_rate": 1.5, "adapter": "canonical"})
    expect(response, 422, "validation_error")
    assert set(response.json["error"]["details"]) == {"slug", "name", "timezone", "currency", "earn_rate"}
    unknown_adapter = {"slug": "ok", "name": "Ok", "timezone": "UTC", "currency": "EUR", "adapter": "telepathy"}
    expect(hub.call("POST", "/v1/partners", json=unknown_adapter), 422, "validation_error", "adapter")
    assert snapshot(database) == before
    hub.create_partner("taken")
    taken = {"slug": "taken", "name": "Again", "timezone": "UTC", "currency": "EUR"}
    expect(hub.call("POST", "/v1/partners", json=taken), 409, "partner_exists", "slug")


def test_unknown_routes_and_methods_answer_in_the_error_shape(hub):
    expect(hub.call("GET", "/v1/nothing-here"), 404, "not_found")
    expect(hub.call("DELETE", "/v1/partners"), 405, "method_not_allowed")


def test_numbers_too_large_for_the_ledger_are_refused_not_crashed(world, database, before):
    hub = world.hub
    expect(hub.sale(world.coffee, world.card, "999999999999999999"), 422, "invalid_transaction", "total")
    expect(hub.call("GET", f"/v1/members/{world.member_id}/history", query_string={"before": 10**20}), 422,
           "validation_error", "before")
    expect(hub.call("POST", f"/v1/redemptions/{10**20}/reversal", world.coffee), 404, "unknown_redemption")
    huge_rate = {"slug": "greedy", "name": "Greedy", "timezone": "UTC", "currency": "EUR", "earn_rate": "999999999999999999"}
    expect(hub.call("POST", "/v1/partners", json=huge_rate), 422, "validation_error", "earn_rate")
    assert snapshot(database) == before
