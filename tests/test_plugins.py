"""The plugin contract: hooks, entry points, blocking, `coalition plugins`, and docs for every hook.

Every hook in partners/hookspecs.py must have a test here named
`test_hook_<hook name>` and a section in docs/plugins.md: a new hook without
either fails `test_every_hook_has_a_test_and_a_docs_section`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import pytest
from marshmallow import RAISE, Schema, fields

from network import create_app
from network.config import plugin_settings
from partners import hookspecs
from partners.hookspecs import hookimpl
from partners.money import Money
from partners.plugins import PluginConflict, adapters, make_plugin_manager, rules
from partners.transactions import Sale
from tests.support.hub import ADMIN_TOKEN, HubClient
from tests.support.ledger import snapshot

DOCS = Path(__file__).parent.parent / "docs" / "plugins.md"
BUILT_INS = {"canonical", "csv", "poslog", "shopify", "square", "woocommerce"}


class PipeAdapter:
    """A made-up till format: order|card|cents."""

    name = "pipe"
    content_types = ("text/plain",)
    config_schema = None
    signed = False

    def parse(self, payload, config):
        order, card, cents = payload.body.decode().split("|")
        return [Sale(order, card, datetime(2026, 3, 14, tzinfo=timezone.utc), Money(int(cents), "EUR"))]


class LuckySevensParams(Schema):
    class Meta:
        unknown = RAISE

    points = fields.Integer(required=True, strict=True)


class LuckySevens:
    """A bonus rule from outside: `points` extra when the total ends in .77."""

    name = "lucky_sevens"
    schema = LuckySevensParams
    stage = "bonus"

    def describe(self, params):
        return f"{params['points']} points for a total ending in .77"

    def bonus(self, params, sale):
        return Fraction(params["points"]) if sale.sale.total.minor % 100 == 77 else Fraction(0)


def hub_with(database, clock, *plugins) -> HubClient:
    app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock,
                      "EXTRA_PLUGINS": list(plugins)})
    return HubClient(app.test_client(), ADMIN_TOKEN)


def test_built_ins_register_through_entry_points_like_outside_plugins():
    pm = make_plugin_manager(blocked=[])
    assert BUILT_INS <= set(adapters(pm))
    assert {"base_rate", "category_multiplier", "day_of_week", "sku_bonus", "minimum_spend", "cap",
            "welcome_bonus", "referral", "action"} <= set(rules(pm))
    distributions = {name: dist.project_name for name, dist in
                     ((pm.get_name(plugin), dist) for plugin, dist in pm.list_plugin_distinfo())}
    for name in ("canonical", "earning_rules", "shopify", "square", "woocommerce", "csv", "poslog"):
        assert distributions[name] == "coalition-loyalty"


def test_a_blocked_plugin_is_not_loaded(monkeypatch):
    monkeypatch.setenv("COALITION_BLOCK_PLUGINS", "canonical, shopify")
    found = adapters(make_plugin_manager())
    assert "canonical" not in found and "shopify" not in found
    assert "square" in found


def test_a_hook_misspelled_by_a_plugin_stops_the_hub_from_starting():
    class Typo:
        @hookimpl
        def coalition_register_adaptors(self):
            return []

    with pytest.raises(Exception, match="coalition_register_adaptors"):
        make_plugin_manager(extra=[Typo()], blocked=[])


def test_two_plugins_claiming_one_name_are_refused_at_start():
    class Impostor(PipeAdapter):
        name = "canonical"

    class AdapterPlugin:
        @hookimpl
        def coalition_register_adapters(self):
            return [Impostor()]

    class RulePlugin:
        @hookimpl
        def coalition_register_rules(self):
            bad = LuckySevens()
            bad.name = "cap"
            return [bad]

    with pytest.raises(PluginConflict, match="adapter 'canonical'"):
        adapters(make_plugin_manager(extra=[AdapterPlugin()], blocked=[]))
    with pytest.raises(PluginConflict, match="rule 'cap'"):
        rules(make_plugin_manager(extra=[RulePlugin()], blocked=[]))


def test_hook_coalition_register_adapters(database, clock):
    """An outside adapter books its partner's payloads; it may take the hub's settings or leave them out."""
    seen = {}

    class Plugin:
        @hookimpl
        def coalition_register_adapters(self, settings):
            seen.update(settings)
            return [PipeAdapter()]

    hub = hub_with(database, clock, Plugin())
    assert seen["COALITION_POINTS_LIFETIME_DAYS"] == 730
    assert "COALITION_ADMIN_TOKEN" not in seen  # plugins never see the operator's secret
    key = hub.create_partner("piper", adapter="pipe")
    _, card = hub.enrol(key)
    booked = hub.call("POST", "/v1/transactions", key, data=f"P-1|{card}|1999", content_type="text/plain")
    assert booked.status_code == 201, booked.json
    assert booked.json["points"] == 19
    assert booked.json["awards"] == [{"rule": "base_rate", "points": 19, "detail": "1 point per unit spent"}]
    assert hub.balance(card, key)["available"] == 19

    before = snapshot(database)
    wrong_type = hub.call("POST", "/v1/transactions", key, data=f"P-2|{card}|500", content_type="application/json")
    assert wrong_type.status_code == 415
    assert wrong_type.json["error"] == {"code": "unsupported_media_type",
                                        "message": "The pipe adapter reads text/plain, not application/json",
                                        "details": {"content_type": ["application/json"]}}
    assert snapshot(database) == before


def test_hook_coalition_register_rules(database, clock):
    """An outside rule is validated by its own schema and awards under its own name."""

    class Plugin:
        @hookimpl
        def coalition_register_rules(self):  # the `settings` argument left out
            return [LuckySevens()]

    hub = hub_with(database, clock, Plugin())
    key = hub.create_partner("lucky", rules=[{"rule": "base_rate", "rate": "1"}, {"rule": "lucky_sevens", "points": 7}])
    _, card = hub.enrol(key)
    bad = hub.call("PUT", "/v1/partners/lucky/rules", json=[{"rule": "lucky_sevens", "points": "7"}])
    assert bad.status_code == 422
    assert bad.json["error"]["details"] == {"rules.0.points": ["Not a valid integer."]}

    booked = hub.sale(key, card, "10.77")
    assert booked.json["awards"] == [
        {"rule": "base_rate", "points": 10, "detail": "1 point per unit spent"},
        {"rule": "lucky_sevens", "points": 7, "detail": "7 points for a total ending in .77"},
    ]
    assert hub.sale(key, card, "10.76").json["points"] == 10


def test_hook_coalition_deliver_event(database, clock):
    """Every event reaches every delivery plugin, whoever its audience; a plugin that raises is retried like a webhook."""
    from sqlalchemy import select

    from network.events import deliverer
    from network.models import Delivery, DeliveryAttempt

    sent, flaky_calls = [], []

    class Sms:
        @hookimpl
        def coalition_deliver_event(self, event):  # `settings` left out
            sent.append(event)

    class Flaky:
        @hookimpl
        def coalition_deliver_event(self, event, settings):
            flaky_calls.append((event["id"], settings["COALITION_WEBHOOK_MAX_ATTEMPTS"]))
            if len(flaky_calls) == 1:
                raise ConnectionError("SMS gateway down")

    hub = hub_with(database, clock, Sms(), Flaky())
    app = hub.client.application
    key = hub.create_partner("brew-bar")
    member_id, card = hub.enrol(key, email="ann@example.com", name="Ann")
    hub.sale(key, card, "7.00", order="S-1")
    settings = plugin_settings(app.config)
    pm = app.extensions["coalition"].plugins

    first = deliverer.deliver(app.extensions["coalition"].db, pm, settings, clock)
    assert (first.fanned_out, first.attempts, first.delivered, first.retrying) == (1, 2, 1, 1)
    (event,) = sent
    assert {k: event[k] for k in ("type", "member_id", "partner", "data")} == {
        "type": "points_earned", "member_id": member_id, "partner": "brew-bar",
        "data": {"member_id": member_id, "partner": "brew-bar", "points": 7, "order_id": "S-1",
                 "balance": {"available": 7, "pending": 0, "held": 0}}}
    assert "ann@example.com" not in json.dumps(event) and "Ann" not in json.dumps(event)

    clock.advance(seconds=30)
    again = deliverer.deliver(app.extensions["coalition"].db, pm, settings, clock)
    assert (again.attempts, again.delivered) == (1, 1)
    assert len(sent) == 1  # the plugin that succeeded is not offered the event again
    assert flaky_calls == [(event["id"], 10), (event["id"], 10)]
    with database.session() as session:
        assert sorted(session.scalars(select(Delivery.status))) == ["delivered", "delivered"]
        errors = session.scalars(select(DeliveryAttempt.error).order_by(DeliveryAttempt.id)).all()
    assert sorted(errors, key=str) == ["ConnectionError: SMS gateway down", None, None]


def test_every_hook_has_a_test_and_a_docs_section():
    hooks = sorted(name for name in dir(hookspecs) if name.startswith("coalition_"))
    assert hooks, "no hooks found"
    docs = DOCS.read_text()
    headings = set(re.findall(r"^#+ `?(coalition_\w+)", docs, flags=re.M))
    tests = {name for name in globals() if name.startswith("test_hook_")}
    for hook in hooks:
        assert f"test_hook_{hook}" in tests, f"{hook} has no test named test_hook_{hook}"
        assert hook in headings, f"{hook} has no section in docs/plugins.md"


def test_coalition_plugins_lists_each_plugin_with_distribution_version_and_hooks(runner):
    result = runner.invoke(["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = {plugin["name"]: plugin for plugin in json.loads(result.output)}
    assert listed["shopify"]["distribution"] == "coalition-loyalty"
    assert listed["shopify"]["version"] == "0.1.0"
    assert listed["shopify"]["hooks"] == ["coalition_register_adapters"]
    assert listed["shopify"]["provides"] == ["adapter:shopify"]
    assert "rule:day_of_week" in listed["earning_rules"]["provides"]
    table = runner.invoke(["plugins"])
    assert "canonical  (coalition-loyalty 0.1.0)" in table.output


def test_a_rule_with_no_known_stage_or_an_overlong_name_stops_the_hub_from_starting():
    from partners.plugins import PluginError

    class Staged(LuckySevens):
        stage = "bonuses"

    class Long(LuckySevens):
        name = "x" * 41

    for rule in (Staged(), Long()):
        class Plugin:
            @hookimpl
            def coalition_register_rules(self, rule=rule):
                return [rule]

        with pytest.raises(PluginError):
            rules(make_plugin_manager(extra=[Plugin()], blocked=[]))


def test_a_rule_that_answers_with_a_float_is_a_plugin_bug_not_a_point(database, clock):
    from partners.earning import RuleError, awards_for_sale, compile_rules

    class Floaty(LuckySevens):
        def bonus(self, params, sale):
            return 0.1 * params["points"]

    ruleset = compile_rules({"lucky_sevens": Floaty()}, [{"rule": "lucky_sevens", "points": 7}])
    sale = Sale("S-1", "7000000000000013", datetime(2026, 3, 14, tzinfo=timezone.utc), Money(1077, "EUR"))
    with pytest.raises(RuleError, match="float"):
        awards_for_sale(ruleset, sale, "UTC")
