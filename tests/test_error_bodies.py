"""A refusal's details are written like the answers around them: a time in ISO 8601, the same with or without a key."""

from __future__ import annotations

from datetime import timedelta


def test_a_refused_void_names_the_holds_expiry_in_iso_8601_with_or_without_a_key(world, clock):
    hub = world.hub
    hub.sale(world.coffee, world.card, "30.00")
    placed = hub.call("POST", "/v1/redemptions", world.grocer,
                      json={"card_number": world.card, "points": 20, "order_id": "G-1", "capture": False}).json
    hold_id = placed["redemption_id"]
    assert hub.call("POST", f"/v1/redemptions/{hold_id}/capture", world.grocer, json={"points": 5}).status_code == 201

    plain = hub.call("POST", f"/v1/redemptions/{hold_id}/void", world.grocer)
    keyed = hub.call("POST", f"/v1/redemptions/{hold_id}/void", world.grocer, headers={"Idempotency-Key": "void-1"})
    replayed = hub.call("POST", f"/v1/redemptions/{hold_id}/void", world.grocer, headers={"Idempotency-Key": "void-1"})

    expected = {"status": "captured", "expires_at": (clock.now + timedelta(hours=1)).isoformat()}
    assert (plain.status_code, plain.json["error"]["code"]) == (409, "hold_captured")
    assert plain.json["error"]["details"] == expected
    assert keyed.status_code == replayed.status_code == 409
    assert plain.json == keyed.json == replayed.json
    assert replayed.headers["Idempotent-Replayed"] == "true"


def test_a_refusal_carrying_a_decimal_a_date_or_an_id_is_answered_not_a_500(app):
    """Every answer and stored refusal goes through one encoder: a detail it could not write would be a 500."""
    import json
    from datetime import date, datetime, timezone
    from decimal import Decimal
    from uuid import UUID

    from network.api.errors import handle_domain_error
    from network.errors import Invalid

    details = {"amount": Decimal("12.50"), "on": date(2026, 12, 1), "at": datetime(2026, 12, 1, 9, tzinfo=timezone.utc),
               "id": UUID("12345678-1234-5678-1234-567812345678")}
    with app.test_request_context():
        response = handle_domain_error(Invalid("refused", details))
    assert response.status_code == 422
    assert json.loads(response.get_data())["error"]["details"] == {
        "amount": "12.50", "on": "2026-12-01", "at": "2026-12-01T09:00:00+00:00", "id": "12345678-1234-5678-1234-567812345678"}
