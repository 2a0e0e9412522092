"""Adapters arrive through the `coalition` entry points, built-ins included."""

import pytest

from partners.hookspecs import hookimpl
from partners.plugins import PluginConflict, adapters, make_plugin_manager


def test_the_canonical_adapter_registers_through_entry_points():
    pm = make_plugin_manager(blocked=[])
    assert "canonical" in adapters(pm)
    names = {name for name, _ in pm.list_name_plugin()}
    assert "canonical" in names
    assert [dist.project_name for _, dist in pm.list_plugin_distinfo()] == ["coalition-loyalty"]


def test_a_blocked_plugin_is_not_loaded(monkeypatch):
    monkeypatch.setenv("COALITION_BLOCK_PLUGINS", "canonical")
    assert "canonical" not in adapters(make_plugin_manager())


def test_two_adapters_with_one_name_are_refused_at_start():
    class Impostor:
        name = "canonical"

        def parse(self, body, content_type):
            return []

    class Plugin:
        @hookimpl
        def coalition_register_adapters(self):
            return [Impostor()]

    with pytest.raises(PluginConflict):
        adapters(make_plugin_manager(extra=[Plugin()], blocked=[]))


def test_an_outside_adapter_is_used_for_its_partners(database, clock):
    """A plugin registered like any other: its partner's payloads go through it."""
    from datetime import datetime, timezone

    from network import create_app
    from partners.money import Money
    from partners.transactions import Sale

    class Pipe:
        name = "pipe"

        def parse(self, body, content_type):
            order, card, cents = body.decode().split("|")
            return [Sale(order, card, datetime(2026, 3, 14, tzinfo=timezone.utc), Money(int(cents), "EUR"))]

    class Plugin:
        @hookimpl
        def coalition_register_adapters(self):
            return [Pipe()]

    app = create_app({"DATABASE": database, "COALITION_ADMIN_TOKEN": "op", "CLOCK": clock, "EXTRA_PLUGINS": [Plugin()]})
    client = app.test_client()
    op = {"Authorization": "Bearer op"}
    created = client.post("/v1/partners", headers=op, json={"slug": "piper", "name": "Piper", "timezone": "UTC",
                                                            "currency": "EUR", "adapter": "pipe"})
    assert created.status_code == 201
    key = {"Authorization": "Bearer " + created.json["api_key"]}
    card = client.post("/v1/members", headers=key, json={}).json["card_number"]
    booked = client.post("/v1/transactions", headers=key, data=f"P-1|{card}|1999", content_type="text/plain")
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == 19
