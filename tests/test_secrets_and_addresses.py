"""No secret in a replay or anywhere in the database but as its hash; the hub's public address is configuration."""

from __future__ import annotations

from sqlalchemy import select

from network import config
from network.models import Base, IdempotencyRecord
from partners.credentials import hash_api_key

SHOPIFY_SECRET = "shpss_replay_secret_0123456789"
WEBHOOK_SECRET = "whsec_replay_secret_0123456789"


def dump(database) -> str:
    """Every row of every table, as text."""
    with database.session() as session:
        return "\n".join(f"{table.name}: {tuple(row)}" for table in Base.metadata.sorted_tables
                         for row in session.execute(select(table)))


def idempotency_records(database) -> str:
    with database.session() as session:
        return "\n".join(map(str, session.execute(select(IdempotencyRecord.__table__)).all()))


def test_a_new_partners_key_is_shown_once_and_stored_only_as_its_hash(hub, database):
    headers = {"Idempotency-Key": "create-maple"}
    body = {"slug": "maple", "name": "Maple", "timezone": "UTC", "currency": "USD", "earn_rate": "1",
            "adapter": "shopify", "adapter_config": {"webhook_secret": SHOPIFY_SECRET}}
    first = hub.call("POST", "/v1/partners", headers=headers, json=body)
    assert first.status_code == 201, first.json
    key = first.json["api_key"]
    assert key and "api_key_shown" not in first.json
    assert hub.call("GET", "/v1/partners/maple", key).status_code == 200  # the key works

    stored = dump(database)
    assert key not in stored
    assert hash_api_key(key) in stored
    assert SHOPIFY_SECRET not in idempotency_records(database)  # the adapter's secret is masked in the answer

    replay = hub.call("POST", "/v1/partners", headers=headers, json=body)
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
    assert replay.json == {**first.json, "api_key": None, "api_key_shown": "once"}
    assert key not in replay.get_data(as_text=True)


def test_a_webhook_secret_is_not_kept_in_the_idempotency_record(world, database):
    headers = {"Idempotency-Key": "hook-1"}
    body = {"url": "https://hooks.example/brew", "secret": WEBHOOK_SECRET}
    first = world.hub.call("PUT", "/v1/partners/brew-bar/webhook", world.coffee, headers=headers, json=body)
    assert first.status_code in (200, 201), first.json
    again = world.hub.call("PUT", "/v1/partners/brew-bar/webhook", world.coffee, headers=headers, json=body)
    assert again.get_data() == first.get_data()
    assert WEBHOOK_SECRET not in first.get_data(as_text=True)
    assert WEBHOOK_SECRET not in idempotency_records(database)


def shopify_partner(hub, host: str):
    body = {"slug": "maple", "name": "Maple", "timezone": "UTC", "currency": "USD", "earn_rate": "1",
            "adapter": "shopify", "adapter_config": {"webhook_secret": SHOPIFY_SECRET}}
    return hub.call("POST", "/v1/partners", headers={"Host": host}, json=body)


def test_the_host_header_never_makes_the_inbound_url(hub):
    created = shopify_partner(hub, "evil.example")
    assert created.status_code == 201, created.json
    assert created.json["inbound_url"] == "/v1/partners/maple/inbound"
    shown = hub.call("GET", "/v1/partners/maple", headers={"Host": "evil.example"})
    assert shown.json["inbound_url"] == "/v1/partners/maple/inbound"
    assert "evil" not in created.get_data(as_text=True) + shown.get_data(as_text=True)


def test_the_inbound_url_is_built_on_the_configured_public_url(app, hub):
    app.config["COALITION_PUBLIC_URL"] = "https://hub.example.com"
    created = shopify_partner(hub, "evil.example")
    assert created.json["inbound_url"] == "https://hub.example.com/v1/partners/maple/inbound"
    shown = hub.call("GET", "/v1/partners/maple", headers={"Host": "evil.example"})
    assert shown.json["inbound_url"] == "https://hub.example.com/v1/partners/maple/inbound"


def test_the_public_url_is_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COALITION_PUBLIC_URL", "https://hub.example.com/")
    assert config.from_environment(str(tmp_path))["COALITION_PUBLIC_URL"] == "https://hub.example.com"
    monkeypatch.delenv("COALITION_PUBLIC_URL")
    assert config.from_environment(str(tmp_path))["COALITION_PUBLIC_URL"] is None
