"""The desk's admin pages through the test client: one partner's settings and the tier ladder, as each role.

Every form's happy path is checked against what the API's GET then
answers; every refusal against the status the API answers for the same
input, the same fields named on the page, and nothing changed (the ledger's
snapshot and the settings themselves, the settings version, the audit trail).
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta

import pytest

from network.parties.registry import get_partner
from partners.errors import flatten_errors
from tests.support.desk import marked
from tests.support.ledger import snapshot
from tests.support.pages import csrf, signed_in
from tests.support.settings import last_event, settings

SECRET = "shpss_0123456789abcdef0123"
PAGE = "/desk/partners/brew-bar"


def errors_of(answer) -> dict[str, str]:
    return {e["attrs"]["data-error"]: e["text"] for e in marked(answer.get_data(as_text=True), "data-error")}


def figure(page: str, name: str) -> str:
    return next(e["text"] for e in marked(page, "data-figure") if e["attrs"]["data-figure"] == name)


def text_area(page: str, name: str) -> str:
    return html.unescape(re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', page, re.S).group(1))


def api_fields(answer) -> set[str]:
    return set(flatten_errors(answer.json["error"]["details"]))


def unchanged(database):
    """What a refused form must leave as it was."""
    return snapshot(database), settings(database)


def admin_on_the_page(app):
    admin = signed_in(app, "ops@example.net", "admin")
    return admin, csrf(admin.get(PAGE).get_data(as_text=True))


def test_the_partner_page_shows_what_the_api_shows_with_its_secret_masked(app, hub, world, clock):
    rules = [{"rule": "base_rate", "rate": "2"}, {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"},
             {"rule": "welcome_bonus", "points": 50}]
    assert hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "shopify",
                                                                  "adapter_config": {"webhook_secret": SECRET}}).status_code == 200
    hub.put_rules("brew-bar", rules)
    assert hub.call("PUT", "/v1/partners/brew-bar/points-rate", json={"points_per_unit": "100"}).status_code == 200
    for start, fee in ((clock.now - timedelta(days=30), "0.002"), (clock.now - timedelta(days=1), "0.003"),
                       (clock.now + timedelta(days=10), "0.004")):
        assert hub.call("PUT", "/v1/partners/brew-bar/contract", json={
            "issue_fee": fee, "redeem_rate": "0.008", "effective_from": start.isoformat()}).status_code == 201
    admin = signed_in(app, "ops@example.net", "admin")
    listed = admin.get("/desk/partners").get_data(as_text=True)
    assert f'href="{PAGE}"' in listed and 'href="/desk/partners/green-grocer"' in listed

    page = admin.get(PAGE).get_data(as_text=True)
    api = hub.call("GET", "/v1/partners/brew-bar").json
    for name in ("slug", "kind", "timezone", "currency", "pending_days", "adapter", "points_per_unit"):
        assert figure(page, name) == str(api[name]), name
    assert api["name"] in page
    shown = {e["attrs"]["data-setting"]: e["text"] for e in marked(page, "data-setting")}
    assert shown == api["adapter_config"] == {"webhook_secret": "********"}
    assert SECRET not in page
    assert json.loads(text_area(page, "adapter_config")) == {"webhook_secret": "********"}
    assert json.loads(text_area(page, "rules")) == api["rules"] == rules
    words = [e["text"] for e in marked(page, "data-words")]
    assert words == ["2 points per unit spent", "weekend x2 (sat, sun)", "welcome bonus"]
    assert [e["attrs"]["data-rule"] for e in marked(page, "data-rule")] == ["0", "1", "2"]

    versions = hub.call("GET", "/v1/partners/brew-bar/contract").json["versions"]
    rows = marked(page, "data-version")
    assert [datetime.fromisoformat(row["attrs"]["data-version"]) for row in rows] == [
        datetime.fromisoformat(v["effective_from"]) for v in versions]
    assert [e["text"] for e in marked(page, "data-figure") if e["attrs"]["data-figure"] == "issue_fee"] == [
        v["issue_fee"] for v in versions]
    in_force = [datetime.fromisoformat(row["attrs"]["data-version"]) for row in rows if row["text"].endswith("now")]
    assert in_force == [datetime.fromisoformat(versions[1]["effective_from"])]  # yesterday's: the next is not yet


def test_an_admin_chooses_an_adapter_the_api_then_shows_and_a_masked_secret_left_as_shown_is_kept(app, hub, world,
                                                                                                     database):
    admin, token = admin_on_the_page(app)
    version = settings(database)["version"]
    done = admin.post(f"{PAGE}/adapter", data={"adapter": "shopify", "csrf_token": token,
                                               "adapter_config": json.dumps({"webhook_secret": SECRET})})
    assert done.status_code == 302 and done.headers["Location"] == f"{PAGE}?done=adapter"
    api = hub.call("GET", "/v1/partners/brew-bar").json
    assert (api["adapter"], api["adapter_config"]) == ("shopify", {"webhook_secret": "********"})
    assert api["inbound_url"] == "/v1/partners/brew-bar/inbound"
    assert database.read(lambda session: get_partner(session, "brew-bar")).adapter_config == {"webhook_secret": SECRET}
    assert settings(database)["version"] > version
    event = last_event(database)
    assert (event.actor, event.role, event.action, event.target) == (
        "ops@example.net", "admin", "POST /desk/partners/<slug>/adapter", f"{PAGE}/adapter")
    assert (event.before["adapter"], event.after["adapter"]) == ("canonical", "shopify")
    assert event.after["adapter_config"] == {"webhook_secret": "********"} and SECRET not in json.dumps(event.after)

    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert "The adapter is saved" in page and SECRET not in page
    again = admin.post(f"{PAGE}/adapter", data={"adapter": "shopify", "csrf_token": token,
                                                "adapter_config": text_area(page, "adapter_config")})
    assert again.status_code == 302
    assert database.read(lambda session: get_partner(session, "brew-bar")).adapter_config == {"webhook_secret": SECRET}
    rotated = admin.post(f"{PAGE}/adapter", data={"adapter": "shopify", "csrf_token": token,
                                                  "adapter_config": '{"webhook_secret": "a-new-secret"}'})
    assert rotated.status_code == 302
    assert database.read(lambda session: get_partner(session, "brew-bar")).adapter_config == {
        "webhook_secret": "a-new-secret"}
    moved = admin.post(f"{PAGE}/adapter", data={"adapter": "csv", "csrf_token": token,
                                                "adapter_config": '{"delimiter": ";", "decimal_separator": ","}'})
    assert moved.status_code == 302
    api = hub.call("GET", "/v1/partners/brew-bar").json
    assert (api["adapter"], api["adapter_config"]) == ("csv", {"delimiter": ";", "decimal_separator": ","})


#: Adapter forms the API refuses, and the fields it names: the page answers the same status and names the same.
REFUSED_ADAPTERS = [
    ("nope", {}, {"adapter"}),
    ("shopify", {}, {"adapter_config.webhook_secret"}),
    ("canonical", {"webhook_secret": "x"}, {"adapter_config"}),
    ("csv", {"delimiter": ";;", "columns": {"total": "Montant", "nonsense": "X"}},
     {"adapter_config.delimiter", "adapter_config.columns.nonsense"}),
    ("square", {"signature_key": "k"}, {"adapter_config.notification_url"}),
    ("shopify", [SECRET], {"adapter_config"}),
    ("shopify", {"webhook_secret": "a\u0000b"}, {"adapter_config.webhook_secret"}),
]


def test_a_refused_adapter_form_names_each_field_as_the_api_does_with_its_status_and_changes_nothing(app, hub, world,
                                                                                                      database):
    admin, token = admin_on_the_page(app)
    theirs = [hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": name, "adapter_config": config})
              for name, config, _ in REFUSED_ADAPTERS]
    before = unchanged(database)
    for (name, config, fields), api in zip(REFUSED_ADAPTERS, theirs):
        answer = admin.post(f"{PAGE}/adapter", data={"adapter": name, "adapter_config": json.dumps(config), "csrf_token": token})
        assert answer.status_code == api.status_code == 422, (name, config, api.json)
        assert set(errors_of(answer)) == api_fields(api) == fields, (name, config)
        page = answer.get_data(as_text=True)
        assert 'data-refused="adapter"' in page and "aria-invalid" in page
        assert json.loads(text_area(page, "adapter_config")) == config  # what was typed, to correct it
    unreadable = admin.post(f"{PAGE}/adapter", data={"adapter": "shopify", "adapter_config": "{webhook_secret: 1",
                                                     "csrf_token": token})
    assert unreadable.status_code == 400 and "is not JSON" in errors_of(unreadable)["adapter_config"]
    deep = admin.post(f"{PAGE}/adapter", data={"adapter": "shopify", "adapter_config": "[" * 100 + "]" * 100,
                                               "csrf_token": token})
    assert deep.status_code == 400 and "nested deeper than 64" in errors_of(deep)["adapter_config"]
    assert unchanged(database) == before


def test_an_admin_replaces_the_earning_rules_as_put_rules_does_and_reads_them_in_words(app, hub, world, database):
    admin, token = admin_on_the_page(app)
    rules = [{"rule": "base_rate", "rate": "1.5"}, {"rule": "sku_bonus", "sku": "BEANS", "points": 20},
             {"rule": "cap", "max_points": 300}]
    done = admin.post(f"{PAGE}/rules", data={"rules": json.dumps(rules), "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == f"{PAGE}?done=rules"
    assert hub.call("GET", "/v1/partners/brew-bar").json["rules"] == rules
    page = admin.get(done.headers["Location"]).get_data(as_text=True)
    assert [e["text"] for e in marked(page, "data-words")] == [
        "1.5 points per unit spent", "20 points per BEANS", "at most 300 points per sale"]
    event = last_event(database)
    assert (event.actor, event.action) == ("ops@example.net", "POST /desk/partners/<slug>/rules")
    assert (event.before["rules"], event.after["rules"]) == ([{"rule": "base_rate", "rate": "1"}], rules)
    assert hub.sale(world.coffee, world.card, "10.00").json["points"] == 15  # the new rules earn at once


def test_refused_rules_name_each_rule_and_field_as_the_api_does_and_change_nothing(app, hub, world, database):
    admin, token = admin_on_the_page(app)
    cases = [
        [{"rule": "nope"}],
        [{"rule": "base_rate", "rate": "1"}, {"rule": "base_rate", "rate": "x"}, {"rule": "cap"}],
        {"rule": "base_rate", "rate": "1"},
        [{"rule": "sku_bonus", "sku": "A\u0007", "points": 5}],
    ]
    theirs = [hub.call("PUT", "/v1/partners/brew-bar/rules", json=case) for case in cases]
    before = unchanged(database)
    for case, api in zip(cases, theirs):
        answer = admin.post(f"{PAGE}/rules", data={"rules": json.dumps(case), "csrf_token": token})
        assert answer.status_code == api.status_code == 422, (case, api.json)
        # The API's gate names a field by its path in the body (`0.sku`); the page's body is the `rules` field.
        named = {name if name.startswith("rules") else f"rules.{name}" for name in api_fields(api)}
        assert set(errors_of(answer)) == named, (case, errors_of(answer), api.json)
        assert json.loads(text_area(answer.get_data(as_text=True), "rules")) == case
    assert set(errors_of(admin.post(f"{PAGE}/rules", data={"rules": json.dumps(cases[1]), "csrf_token": token}))) == {
        "rules.1.rate", "rules.2.max_points"}
    api = hub.call("PUT", "/v1/partners/brew-bar/rules", data="[{]", content_type="application/json")
    answer = admin.post(f"{PAGE}/rules", data={"rules": "[{]", "csrf_token": token})
    assert answer.status_code == api.status_code == 400 and "is not JSON" in errors_of(answer)["rules"]
    assert unchanged(database) == before


def test_finance_reads_the_partner_and_adds_a_contract_version_and_nothing_else(app, hub, world, clock, database):
    finance = signed_in(app, "fin@example.net", "finance")
    assert 'href="/desk/partners/brew-bar"' in finance.get("/desk/partners").get_data(as_text=True)
    page = finance.get(PAGE).get_data(as_text=True)
    actions = set(re.findall(r'<form[^>]* action="([^"]+)"', page))
    assert actions == {f"{PAGE}/contract", "/sign-out"}
    assert 'name="adapter_config"' not in page and 'id="rules"' not in page
    token = csrf(page)
    done = finance.post(f"{PAGE}/contract", data={"issue_fee": "0.004", "redeem_rate": "0.008",
                                                  "effective_from": "2026-04-01T00:00", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == f"{PAGE}?done=contract"
    versions = hub.call("GET", "/v1/partners/brew-bar/contract").json["versions"]
    assert [(datetime.fromisoformat(v["effective_from"]), v["issue_fee"], v["redeem_rate"], v["currency"]) for v in versions] == [
        (datetime.fromisoformat("2026-04-01T00:00:00+00:00"), "0.004", "0.008", "EUR")]
    event = last_event(database)
    assert (event.actor, event.role, event.action) == ("fin@example.net", "finance", "POST /desk/partners/<slug>/contract")
    assert event.before == {"slug": "brew-bar", "versions": [], "funding": {"funding": None}}
    assert len(event.after["versions"]) == 1
    now = finance.post(f"{PAGE}/contract", data={"issue_fee": "0.005", "redeem_rate": "0.009", "effective_from": "",
                                                 "csrf_token": token})
    assert now.status_code == 302
    versions = hub.call("GET", "/v1/partners/brew-bar/contract").json["versions"]
    assert datetime.fromisoformat(versions[0]["effective_from"]) == clock.now and versions[0]["issue_fee"] == "0.005"

    before = unchanged(database)
    for path, form in (("adapter", {"adapter": "csv", "adapter_config": "{}"}), ("rules", {"rules": "[]"}),
                       ("points-rate", {"points_per_unit": "100"}), ("details", {"name": "Mine now"})):
        refused = finance.post(f"{PAGE}/{path}", data={**form, "csrf_token": token})
        assert refused.status_code == 403 and "may not open this page" in refused.get_data(as_text=True), path
    assert finance.get("/desk/tiers").status_code == 200
    assert unchanged(database) == before


def test_a_refused_contract_version_is_said_by_field_with_the_apis_status_and_changes_nothing(app, hub, world, database):
    finance = signed_in(app, "fin@example.net", "finance")
    token = csrf(finance.get(PAGE).get_data(as_text=True))
    start = "2026-04-01T00:00:00+00:00"
    assert hub.call("PUT", "/v1/partners/brew-bar/contract", json={
        "issue_fee": "0.004", "redeem_rate": "0.008", "effective_from": start}).status_code == 201
    cases = [({"issue_fee": "0.001", "redeem_rate": "0.002", "effective_from": start}, "2026-04-01T00:00", 409,
              {"effective_from"}),
             ({"issue_fee": "a lot", "redeem_rate": "-1", "effective_from": None}, "", 422, {"issue_fee", "redeem_rate"}),
             ({"issue_fee": "", "redeem_rate": "0.1", "effective_from": None}, "", 422, {"issue_fee"})]
    theirs = [hub.call("PUT", "/v1/partners/brew-bar/contract", json=body) for body, *_ in cases]
    before = unchanged(database)
    for (body, typed, status, fields), api in zip(cases, theirs):
        answer = finance.post(f"{PAGE}/contract", data={**body, "effective_from": typed, "csrf_token": token})
        assert answer.status_code == api.status_code == status, (body, api.json)
        assert set(errors_of(answer)) == api_fields(api) == fields, (body, errors_of(answer))
    assert "A contract version already starts at that instant" in errors_of(
        finance.post(f"{PAGE}/contract", data={**cases[0][0], "effective_from": cases[0][1], "csrf_token": token}))["effective_from"]
    when = finance.post(f"{PAGE}/contract", data={"issue_fee": "0.1", "redeem_rate": "0.1", "effective_from": "next week",
                                                  "csrf_token": token})
    assert when.status_code == 422 and "date and a time (UTC)" in errors_of(when)["effective_from"]
    assert unchanged(database) == before


@pytest.mark.parametrize(("typed", "status", "field"), [("100", 200, None), ("0.5", 200, None), ("0", 422, "points_per_unit"),
                                                        ("1.5.2", 422, "points_per_unit"), ("", 422, "points_per_unit")])
def test_the_points_rate_is_set_as_put_points_rate_sets_it(app, hub, world, database, typed, status, field):
    admin, token = admin_on_the_page(app)
    api = hub.call("PUT", "/v1/partners/green-grocer/points-rate", json={"points_per_unit": typed})
    assert api.status_code == status
    before = unchanged(database)
    answer = admin.post(f"{PAGE}/points-rate", data={"points_per_unit": typed, "csrf_token": token})
    if field is None:
        assert answer.status_code == 302
        assert hub.call("GET", "/v1/partners/brew-bar").json["points_per_unit"] == typed
        assert last_event(database).after["points_per_unit"] == typed
        assert figure(admin.get(PAGE).get_data(as_text=True), "points_per_unit") == typed
    else:
        assert answer.status_code == status and set(errors_of(answer)) == api_fields(api) == {field}
        assert unchanged(database) == before


def test_an_admin_changes_the_details_as_patch_does_and_a_refusal_changes_nothing(app, hub, world, database):
    admin, token = admin_on_the_page(app)
    done = admin.post(f"{PAGE}/details", data={"name": "Brew Bar & Co", "timezone": "Europe/Berlin", "pending_days": "14",
                                               "csrf_token": token})
    assert done.status_code == 302
    api = hub.call("GET", "/v1/partners/brew-bar").json
    assert (api["name"], api["timezone"], api["pending_days"]) == ("Brew Bar & Co", "Europe/Berlin", 14)
    event = last_event(database)
    assert event.action == "POST /desk/partners/<slug>/details"
    assert (event.before["name"], event.after["name"]) == ("Brew Bar", "Brew Bar & Co")
    cases = [({"name": "", "timezone": "Europe/Paris", "pending_days": 0}, {"name"}),
             ({"name": "X", "timezone": "Mars/Olympus", "pending_days": 400}, {"timezone", "pending_days"}),
             ({"name": "X", "timezone": "Europe/Paris", "pending_days": -1}, {"pending_days"})]
    theirs = [hub.call("PATCH", "/v1/partners/green-grocer", json=body) for body, _ in cases]
    before = unchanged(database)
    for (body, fields), api in zip(cases, theirs):
        answer = admin.post(f"{PAGE}/details", data={**{k: str(v) for k, v in body.items()}, "csrf_token": token})
        assert answer.status_code == api.status_code == 422 and set(errors_of(answer)) == api_fields(api) == fields, body
    sneaky = admin.post(f"{PAGE}/details", data={"name": "Brew\u0000Bar", "timezone": "Europe/Paris", "pending_days": "0",
                                                 "csrf_token": token})
    assert sneaky.status_code == 422 and errors_of(sneaky) == {"name": "contains a control character"}
    assert unchanged(database) == before


def test_support_partner_users_and_strangers_get_no_partner_page_and_an_unknown_partner_is_404(app, hub, world, database):
    support = signed_in(app, "sup@example.net", "support")
    partner = signed_in(app, "boss@coffee.example", "partner_admin", "brew-bar")
    admin, token = admin_on_the_page(app)
    before = unchanged(database)
    for client in (support, partner):
        for path in ("/desk/partners", PAGE):
            assert client.get(path).status_code == 403, path
        mine = csrf(client.get("/portal/brew-bar" if client is partner else "/desk").get_data(as_text=True))
        assert client.post(f"{PAGE}/contract", data={"issue_fee": "1", "redeem_rate": "1", "csrf_token": mine}).status_code == 403
    assert app.test_client().get(PAGE).headers["Location"] == f"/sign-in?next={PAGE}"
    assert admin.get("/desk/partners/nobody").status_code == 404
    assert admin.post("/desk/partners/nobody/rules", data={"rules": "[]", "csrf_token": token}).status_code == 404
    assert unchanged(database) == before


def test_every_member_of_staff_reads_the_ladder_the_api_answers_and_only_admins_get_its_form(app, hub, world, database):
    ladder = [{"name": "Member", "threshold": 0, "multiplier": "1"}, {"name": "Silver", "threshold": 1000, "multiplier": "1.25"}]
    assert hub.call("PUT", "/v1/network/tiers", json={"tiers": ladder}).status_code == 200
    api = hub.call("GET", "/v1/network/tiers").json
    for role in ("admin", "finance", "support"):
        client = signed_in(app, f"{role}@example.net", role)
        page = client.get("/desk/tiers").get_data(as_text=True)
        assert [e["attrs"]["data-tier"] for e in marked(page, "data-tier")] == [t["name"] for t in api["tiers"]], role
        figures = [(e["attrs"]["data-figure"], e["text"]) for e in marked(page, "data-figure")]
        assert figures == [pair for t in api["tiers"] for pair in (("threshold", str(t["threshold"])),
                                                                   ("multiplier", t["multiplier"]))], role
        assert "in the last 365 days" in page
        assert ('action="/desk/tiers"' in page) is (role == "admin"), role
        assert ("Tiers" in page) and 'href="/desk/tiers"' in page
        if role != "admin":
            before = unchanged(database)
            refused = client.post("/desk/tiers", data={"rows": "1", "name-0": "All", "threshold-0": "0",
                                                       "multiplier-0": "1", "csrf_token": csrf(page)})
            assert refused.status_code == 403 and unchanged(database) == before


def _rows(*rows) -> dict[str, str]:
    form = {"rows": str(len(rows))}
    for index, (name, threshold, multiplier) in enumerate(rows):
        form.update({f"name-{index}": name, f"threshold-{index}": threshold, f"multiplier-{index}": multiplier})
    return form


def test_an_admin_edits_the_ladder_adding_and_removing_rows_as_put_tiers_does(app, hub, world, database):
    ladder = [{"name": "Member", "threshold": 0, "multiplier": "1"}, {"name": "Silver", "threshold": 1000, "multiplier": "1.25"}]
    assert hub.call("PUT", "/v1/network/tiers", json={"tiers": ladder}).status_code == 200
    admin = signed_in(app, "ops@example.net", "admin")
    page = admin.get("/desk/tiers").get_data(as_text=True)
    assert re.search(r'name="rows" value="5"', page)  # two tiers and three empty rows
    assert [e["attrs"]["value"] for e in marked(page, "value") if e["attrs"].get("id", "").startswith("name-")] == [
        "Member", "Silver", "", "", ""]
    version = settings(database)["version"]
    done = admin.post("/desk/tiers", data={**_rows((" Blue ", "0", "1"), ("", "", ""), ("Gold", "500", "1.5"), ("", "", "")),
                                           "csrf_token": csrf(page)})
    assert done.status_code == 302 and done.headers["Location"] == "/desk/tiers?done=saved"
    assert hub.call("GET", "/v1/network/tiers").json["tiers"] == [{"name": "Blue", "threshold": 0, "multiplier": "1"},
                                                                  {"name": "Gold", "threshold": 500, "multiplier": "1.5"}]
    assert settings(database)["version"] > version
    event = last_event(database)
    assert (event.actor, event.action, event.target) == ("ops@example.net", "POST /desk/tiers", "/desk/tiers")
    assert [t["name"] for t in event.before["tiers"]] == ["Member", "Silver"]
    assert [t["name"] for t in event.after["tiers"]] == ["Blue", "Gold"]
    assert "The ladder is saved" in admin.get(done.headers["Location"]).get_data(as_text=True)


#: Ladders the API refuses, each as the form's rows; the page names the form's row and field of each API error.
REFUSED_LADDERS = [
    ([("Member", "5", "1")], {"threshold-0"}),
    ([("Member", "0", "1"), ("", "", ""), ("Gold", "ten", "0.5")], {"threshold-2", "multiplier-2"}),
    ([("Member", "0", "2"), ("", "", ""), ("Gold", "10", "1.5"), ("member", "20", "3")], {"multiplier-2", "name-3"}),
    ([("Member", "0", "1"), ("Silver", "", "")], {"threshold-1", "multiplier-1"}),
    ([("", "", ""), ("", "", "")], {"tiers"}),
    ([("Member\u0000", "0", "1")], {"name-0"}),
]


def _as_json(rows) -> list[dict]:
    return [{"name": name, "threshold": int(threshold) if threshold.isdigit() else threshold, "multiplier": multiplier}
            for name, threshold, multiplier in rows if name or threshold or multiplier]


def test_a_refused_ladder_is_said_on_its_rows_with_the_apis_status_and_changes_nothing(app, hub, world, database):
    admin = signed_in(app, "ops@example.net", "admin")
    token = csrf(admin.get("/desk/tiers").get_data(as_text=True))
    theirs = [hub.call("PUT", "/v1/network/tiers", json={"tiers": _as_json(rows)}) for rows, _ in REFUSED_LADDERS]
    before = unchanged(database)
    for (rows, fields), api in zip(REFUSED_LADDERS, theirs):
        answer = admin.post("/desk/tiers", data={**_rows(*rows), "csrf_token": token})
        assert answer.status_code == api.status_code == 422, (rows, api.json)
        assert set(errors_of(answer)) == fields, (rows, errors_of(answer), api.json)
        page = answer.get_data(as_text=True)
        assert 'data-refused="tiers"' in page
        assert [e["attrs"]["value"] for e in marked(page, "value") if e["attrs"].get("id", "").startswith("name-")] == [
            name for name, _, _ in rows]  # the rows as typed, to correct them
    assert "repeats the name of tier 0" in errors_of(admin.post("/desk/tiers", data={**_rows(*REFUSED_LADDERS[2][0]),
                                                                                      "csrf_token": token}))["name-3"]
    assert unchanged(database) == before
