"""The audit trail: who changed what, from where, the value before and after; read by filters; never changed.

That every write route leaves its event is held by the role matrix
(tests/test_isolation_matrix.py), which counts events around each write.
"""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from network.models import AuditEvent
from tests.support.people import token_for


def events(hub, token=None, **query):
    answer = hub.call("GET", "/v1/audit-events", token, query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_a_contract_change_records_the_versions_before_and_after_exactly(hub, world, app):
    first = hub.call("PUT", "/v1/partners/brew-bar/contract", json={
        "issue_fee": "0.002", "redeem_rate": "0.010", "effective_from": "2026-01-01T00:00:00Z"})
    assert first.status_code == 201
    second = hub.call("PUT", "/v1/partners/brew-bar/contract", json={
        "issue_fee": "0.0025", "redeem_rate": "0.011", "effective_from": "2026-04-01T00:00:00+02:00"},
        headers={"User-Agent": "finance-script/1.0"})
    assert second.status_code == 201
    (event, earlier) = events(hub, action="PUT /v1/partners/<slug>/contract")["items"]
    assert event["actor"] == "operator token" and event["role"] == "admin"
    assert event["target"] == "/v1/partners/brew-bar/contract" and event["user_agent"] == "finance-script/1.0"
    assert event["address"] == "127.0.0.1" and event["at"] == app.config["CLOCK"].now.isoformat()
    assert event["before"] == first.json and event["after"] == second.json
    assert earlier["before"] == {"slug": "brew-bar", "versions": [], "funding": {"funding": None}}
    assert event["after"]["versions"][-1] == {
        "effective_from": "2026-03-31T22:00:00+00:00", "currency": "EUR", "issue_fee": "0.0025", "redeem_rate": "0.011"}


def test_a_partner_setting_change_names_its_actor_and_masks_secrets(hub, world, app):
    admin = token_for(app, "ines@brew-bar.example", "partner_admin", "brew-bar")
    changed = hub.call("PUT", "/v1/partners/brew-bar/adapter", admin,
                       json={"adapter": "shopify", "adapter_config": {"webhook_secret": "shpss_topsecret_0123456789"}})
    assert changed.status_code == 200, changed.json
    (event,) = events(hub, actor="ines@brew-bar.example")["items"]
    assert (event["role"], event["before"]["adapter"], event["after"]["adapter"]) == ("partner_admin", "canonical", "shopify")
    assert "shpss_topsecret" not in str(event)
    key = hub.call("POST", "/v1/partners/brew-bar/api-keys", admin, json={"name": "tills"}).json
    (made,) = events(hub, action="POST /v1/partners/<slug>/api-keys")["items"]
    assert made["after"]["id"] == key["id"] and key["key"] not in str(made)


def test_sales_by_a_key_name_the_key_and_filters_and_pages_find_them(hub, world, app):
    for total in ("1.00", "2.00", "3.00"):
        assert hub.sale(world.coffee, world.card, total).status_code == 201
    app.config["CLOCK"].advance(hours=1)
    assert hub.sale(world.grocer, world.card, "4.00").status_code == 201
    sales = events(hub, action="POST /v1/transactions", limit=2)
    assert len(sales["items"]) == 2 and sales["next"] is not None
    assert sales["items"][0]["actor"].startswith("key ") and sales["items"][0]["actor"].endswith("(first key)")
    rest = hub.call("GET", sales["next"]).json
    assert len(rest["items"]) == 2 and rest["next"] is None
    ids = [e["id"] for e in sales["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    since = events(hub, action="POST /v1/transactions", **{"from": app.config["CLOCK"].now.isoformat()})["items"]
    assert len(since) == 1
    assert len(events(hub, target="/v1/partners/brew-bar")["items"]) == 1  # the partner's creation, below the path
    tampered = hub.call("GET", "/v1/audit-events", query_string={"cursor": "%%%"})
    assert tampered.status_code == 422 and "cursor" in tampered.json["error"]["details"]


def test_a_partner_admin_reads_only_its_own_partners_events(hub, world, app):
    brew = token_for(app, "ines@brew-bar.example", "partner_admin", "brew-bar")
    assert hub.sale(world.coffee, world.card, "1.00").status_code == 201
    assert hub.sale(world.grocer, world.card, "1.00").status_code == 201
    assert hub.call("PUT", "/v1/partners/green-grocer/rules", json=[{"rule": "base_rate", "rate": "3"}]).status_code == 200
    seen = events(hub, brew)["items"]
    assert seen and all("green-grocer" not in e["target"] for e in seen)
    assert {e["target"] for e in seen} >= {"/v1/partners/brew-bar", "/v1/transactions"}
    assert hub.call("GET", "/v1/audit-events", world.coffee).json["error"]["code"] == "wrong_role"


def test_the_trail_cannot_be_changed_by_the_api_nor_by_sql(hub, world, app, database):
    assert hub.call("PATCH", "/v1/audit-events").status_code == 405
    assert hub.call("DELETE", "/v1/audit-events").status_code == 405
    assert hub.call("DELETE", "/v1/audit-events/1").status_code == 404
    with database.engine.connect() as connection:
        before = connection.execute(select(AuditEvent.id, AuditEvent.actor).order_by(AuditEvent.id)).all()
    assert before
    for statement in (update(AuditEvent).values(actor="someone else"), delete(AuditEvent)):
        with pytest.raises(DatabaseError, match="append-only"):
            with database.engine.begin() as connection:
                connection.execute(statement)
    with database.engine.connect() as connection:
        assert connection.execute(select(AuditEvent.id, AuditEvent.actor).order_by(AuditEvent.id)).all() == before
        assert connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == len(before)


def test_a_write_with_an_idempotency_key_keeps_one_event_and_its_replay_none(hub, world, app, database):
    """The outcome and the event are written together (one statement on PostgreSQL): one of each, or neither."""
    sale = {"type": "sale", "order_id": "IDEM-1", "card_number": world.card, "occurred_at": "2026-03-14T10:30:00Z",
            "currency": "EUR", "total": "7.00"}
    first = hub.call("POST", "/v1/transactions", world.coffee, json=sale, headers={"Idempotency-Key": "till-7"})
    again = hub.call("POST", "/v1/transactions", world.coffee, json=sale, headers={"Idempotency-Key": "till-7"})
    assert (first.status_code, again.status_code, again.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert again.json == first.json and first.json["points"] == 7
    (event,) = events(hub, action="POST /v1/transactions")["items"]
    assert event["actor"].startswith("key ") and event["target"] == "/v1/transactions"
    with database.session() as session:
        assert session.scalar(text("SELECT count(*) FROM idempotency_records WHERE key = 'till-7'")) == 1


def test_a_revoked_key_read_before_writes_nothing_under_an_idempotency_key(hub, world, database):
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # this worker now knows the key
    key_id = hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"][0]["id"]
    assert hub.call("DELETE", f"/v1/partners/brew-bar/api-keys/{key_id}").status_code == 200
    with database.session() as session:
        counted = session.scalar(text("SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM idempotency_records)"
                                      " + (SELECT count(*) FROM journal_entries)"))
    sale = {"type": "sale", "order_id": "IDEM-2", "card_number": world.card, "occurred_at": "2026-03-14T10:30:00Z",
            "currency": "EUR", "total": "7.00"}
    refused = hub.call("POST", "/v1/transactions", world.coffee, json=sale, headers={"Idempotency-Key": "till-8"})
    assert (refused.status_code, refused.json["error"]["code"]) == (401, "invalid_token")
    with database.session() as session:
        assert session.scalar(text("SELECT (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM idempotency_records)"
                                   " + (SELECT count(*) FROM journal_entries)")) == counted
