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
