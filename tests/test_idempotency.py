"""Idempotency-Key: a retry replays the first outcome and posts nothing."""

from sqlalchemy import func, select

from network.models import IdempotencyRecord
from tests.support.ledger import snapshot


def test_same_key_same_body_replays_status_and_body_and_posts_nothing(world, database):
    hub = world.hub
    headers = {"Idempotency-Key": "till-7-0001"}
    first = hub.redeem(world.coffee, world.card, 0 + 1, order="K-1", headers=headers)
    assert first.status_code == 422  # nothing to redeem yet: a business refusal, stored too
    hub.sale(world.coffee, world.card, "20.00")
    replay = hub.redeem(world.coffee, world.card, 1, order="K-1", headers=headers)
    assert (replay.status_code, replay.get_data()) == (first.status_code, first.get_data())
    assert replay.headers["Idempotent-Replayed"] == "true"

    body = {"type": "sale", "order_id": "K-2", "card_number": world.card,
            "occurred_at": "2026-03-14T10:30:00+01:00", "currency": "EUR", "total": "12.00"}
    created = hub.call("POST", "/v1/transactions", world.coffee, headers={"Idempotency-Key": "sale-K-2"}, json=body)
    assert created.status_code == 201
    before = snapshot(database)
    # Same payload, other whitespace and key order: still the same request.
    again = hub.call("POST", "/v1/transactions", world.coffee, headers={"Idempotency-Key": "sale-K-2"},
                     data='{ "total": "12.00", ' + __import__("json").dumps(body)[1:].replace('"total": "12.00", ', ""),
                     content_type="application/json")
    assert again.status_code == 201
    assert again.get_data() == created.get_data()
    assert snapshot(database) == before


def test_same_key_other_body_is_refused(world, database):
    hub = world.hub
    hub.sale(world.coffee, world.card, "20.00")
    headers = {"Idempotency-Key": "k-reused"}
    assert hub.redeem(world.coffee, world.card, 5, order="R-1", headers=headers).status_code == 201
    before = snapshot(database)
    other = hub.redeem(world.coffee, world.card, 6, order="R-1", headers=headers)
    assert other.status_code == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    # ... and on another endpoint too.
    other = hub.call("POST", "/v1/members", world.coffee, headers=headers, json={})
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert snapshot(database) == before


def test_a_request_refused_by_validation_is_not_stored(world, database):
    hub = world.hub
    hub.sale(world.coffee, world.card, "20.00")
    headers = {"Idempotency-Key": "fix-and-retry"}
    assert hub.redeem(world.coffee, world.card, 2.5, order="V-1", headers=headers).status_code == 422
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0
    fixed = hub.redeem(world.coffee, world.card, 2, order="V-1", headers=headers)
    assert fixed.status_code == 201


def test_keys_belong_to_their_caller(world):
    hub = world.hub
    hub.sale(world.coffee, world.card, "20.00")
    headers = {"Idempotency-Key": "1"}
    assert hub.redeem(world.coffee, world.card, 5, order="P-1", headers=headers).status_code == 201
    # The grocer's key "1" is its own: not a replay of the coffee chain's request.
    grocer = hub.redeem(world.grocer, world.card, 5, order="P-1", headers=headers)
    assert grocer.status_code == 201
    assert "Idempotent-Replayed" not in grocer.headers
    assert grocer.json["balance"]["available"] == 10


def test_enrolment_with_a_key_enrols_once(hub, database):
    key = hub.create_partner("solo")
    headers = {"Idempotency-Key": "enrol-1"}
    first = hub.call("POST", "/v1/members", key, headers=headers, json={"email": "bo@example.com"})
    before = snapshot(database)
    second = hub.call("POST", "/v1/members", key, headers=headers, json={"email": "bo@example.com"})
    assert first.status_code == second.status_code == 201
    assert first.json == second.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert snapshot(database) == before  # the retry's own enrolment was rolled back
    without = hub.call("POST", "/v1/members", key, json={"email": "bo@example.com"})
    assert without.json["member_id"] != first.json["member_id"]


def test_malformed_keys_are_refused(world):
    response = world.hub.redeem(world.coffee, world.card, 1, headers={"Idempotency-Key": "x" * 256})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["error"]["details"]
