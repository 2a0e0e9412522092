"""The finance desk in a real browser: a period closed through its preview, the statement as the API signed it,
and every desk page checked by axe-core, on a desktop and a phone."""

from __future__ import annotations

from datetime import timedelta

from tests.support.browsing import confined, follow, look, sign_in
from tests.support.desk import trade
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.pages import PASSWORD, add_person


def test_finance_closes_a_period_and_the_statement_shows_the_apis_transfers(browser, served, shots, clock):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    trade(hub, world, clock)
    add_person(app, "fin@example.net", "finance")
    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "fin@example.net", PASSWORD)
    assert page.url == base + "/desk"
    follow(page, page.get_by_role("link", name="Statements").first)
    assert look(page, "desk-statements-empty", shots, elsewhere) == []
    page.goto(base + "/desk/close")
    assert look(page, "desk-close", shots, elsewhere) == []
    page.get_by_label("End of the period (UTC)").fill((clock.now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"))
    follow(page, page.get_by_role("button", name="Preview the statement"))
    assert page.get_by_role("heading", name="Preview of statement 1").count() == 1
    assert look(page, "desk-preview", shots, elsewhere) == []
    assert hub.call("GET", "/v1/settlement/statements/1").status_code == 404  # a preview stores nothing
    follow(page, page.get_by_role("button", name="Close and sign statement 1"))
    assert page.url == base + "/desk/statements/1"

    api = hub.call("GET", "/v1/settlement/statements/1").json["statement"]
    shown = page.locator("[data-transfer]").evaluate_all(
        "els => els.map(e => [e.dataset.transfer, e.dataset.direction, e.dataset.amount])")
    assert sorted(map(tuple, shown)) == sorted((t["partner"], t["direction"], t["amount"]) for t in api["transfers"])
    assert shown
    assert page.locator("table[data-heat-map]").count() == 1
    assert page.locator("[data-verified=yes]").count() == 1
    cells = page.locator("table[data-heat-map] td").evaluate_all("els => els.map(e => [e.dataset.cell, e.className])")
    assert {cell for cell, shade in cells if shade != "heat-0"} == {f'{c["issuer"]}>{c["redeemer"]}' for c in api["matrix"]}
    assert look(page, "desk-statement", shots, elsewhere) == []
    for party in api["partners"]:  # each party's section, opened, as its PDF has it
        page.locator(f"details[data-party={party['partner']}] summary").click()
        shown = page.locator(f"table[data-party-section={party['partner']}] [data-figure=net]").inner_text()
        assert shown == party["net"]
    assert look(page, "desk-statement-sections", shots, elsewhere) == []
    with page.expect_download() as download:
        page.locator("[data-section-pdf=brew-bar]").click()
    assert download.value.suggested_filename == "statement-1-brew-bar.pdf"
    assert open(download.value.path(), "rb").read(5) == b"%PDF-"
    page.goto(base + "/desk/statements")
    assert look(page, "desk-statements", shots, elsewhere) == []
    page.goto(base + "/desk/charts")
    assert page.locator("svg.chart").count() == 2
    assert look(page, "desk-charts", shots, elsewhere) == []
    page.goto(base + "/desk/analytics?from=2026-03-01&to=2026-03-31")
    assert page.locator("table[data-cohorts]").count() == 1
    assert look(page, "desk-analytics", shots, elsewhere) == []
    context.close()


def test_support_and_admin_pages_pass_axe_and_support_sees_no_closing(browser, served, shots, clock):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    hub.sale(world.coffee, world.card, "12.00")
    add_person(app, "sup@example.net", "support")
    add_person(app, "ops@example.net", "admin")

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "sup@example.net", PASSWORD)
    assert page.url == base + "/desk"
    assert page.get_by_role("link", name="Close a period").count() == 0
    assert page.locator("a[href='/desk/close']").count() == 0
    assert look(page, "desk-home-support", shots, elsewhere) == []
    page.goto(base + "/desk/members")
    assert look(page, "desk-members", shots, elsewhere) == []
    page.get_by_label("Card number or e-mail address").fill("ann@example.com")
    follow(page, page.get_by_role("button", name="Find"))
    assert look(page, "desk-members-found", shots, elsewhere) == []
    follow(page, page.get_by_role("link", name="Ann"))
    assert page.url == base + f"/desk/members/{world.member_id}"
    assert page.locator("[data-figure=available]").inner_text() == str(hub.balance(world.card)["available"])
    assert page.locator("a[href='/desk/close']").count() == 0
    assert look(page, "desk-member", shots, elsewhere) == []
    page.get_by_label("Points (negative to take back)").fill("5000")
    page.get_by_label("Reason").fill("too generous")
    follow(page, page.get_by_role("button", name="Book the adjustment"))
    assert "at most 1000 points" in page.locator("[data-error=points]").inner_text()
    assert look(page, "desk-member-refused", shots, elsewhere) == []
    context.close()

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "ops@example.net", PASSWORD)
    for path, name in (("/desk", "desk-home-admin"), ("/desk/partners", "desk-partners"), ("/desk/staff", "desk-staff"),
                       ("/desk/tiers", "desk-tiers")):
        page.goto(base + path)
        assert look(page, name, shots, elsewhere) == [], path
    page.goto(base + "/desk/partners")
    page.get_by_label("Slug (lowercase letters, digits, dashes)").fill("book-nook")
    page.get_by_label("Name", exact=True).fill("Book Nook")
    page.get_by_label("Time zone (IANA, e.g. Europe/Paris)").fill("Europe/Paris")
    page.get_by_label("Currency (ISO 4217, e.g. EUR)").fill("EUR")
    follow(page, page.get_by_role("button", name="Add the partner"))
    assert page.locator("[data-figure=api-key]").inner_text().startswith("coal_pk_")
    assert look(page, "desk-partner-added", shots, elsewhere) == []
    context.close()


def test_a_partners_settings_and_the_tier_ladder_pass_axe_refused_and_saved(browser, served, shots, clock):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    World.build(hub)
    assert hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "shopify", "adapter_config": {
        "webhook_secret": "shpss_0123456789abcdef"}}).status_code == 200
    assert hub.call("PUT", "/v1/partners/brew-bar/contract", json={"issue_fee": "0.002", "redeem_rate": "0.010", "effective_from": (
        clock.now - timedelta(days=1)).isoformat()}).status_code == 201
    add_person(app, "ops@example.net", "admin")
    add_person(app, "fin@example.net", "finance")

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "ops@example.net", PASSWORD)
    page.goto(base + "/desk/partners")
    follow(page, page.get_by_role("link", name="brew-bar"))
    assert page.url == base + "/desk/partners/brew-bar"
    assert page.locator("[data-setting=webhook_secret]").inner_text() == "********"
    assert look(page, "desk-partner", shots, elsewhere) == []
    page.get_by_label("The rules, as a JSON list").fill('[{"rule": "base_rate", "rate": "lots"}]')
    follow(page, page.get_by_role("button", name="Save the rules"))
    assert page.locator("[data-error='rules.0.rate']").count() == 1
    assert look(page, "desk-partner-refused", shots, elsewhere) == []
    page.get_by_label("The rules, as a JSON list").fill('[{"rule": "base_rate", "rate": "2"}]')
    follow(page, page.get_by_role("button", name="Save the rules"))
    assert page.locator("[data-words]").all_inner_texts() == ["2 points per unit spent"]
    assert hub.call("GET", "/v1/partners/brew-bar").json["rules"] == [{"rule": "base_rate", "rate": "2"}]

    follow(page, page.get_by_role("link", name="Tiers"))
    assert look(page, "desk-tiers-form", shots, elsewhere) == []
    page.get_by_label("Name (1 to 40 characters)").first.fill("Member")
    page.locator("#threshold-0").fill("0")
    page.locator("#multiplier-0").fill("1")
    page.locator("#name-1").fill("Gold")
    page.locator("#threshold-1").fill("0")
    page.locator("#multiplier-1").fill("2")
    follow(page, page.get_by_role("button", name="Save the ladder"))
    assert "greater than the tier before" in page.locator("[data-error=threshold-1]").inner_text()
    assert look(page, "desk-tiers-refused", shots, elsewhere) == []
    page.locator("#threshold-1").fill("500")
    follow(page, page.get_by_role("button", name="Save the ladder"))
    assert page.locator("[data-tier]").evaluate_all("rows => rows.map(r => r.dataset.tier)") == ["Member", "Gold"]
    assert [t["name"] for t in hub.call("GET", "/v1/network/tiers").json["tiers"]] == ["Member", "Gold"]
    assert look(page, "desk-tiers-saved", shots, elsewhere) == []
    context.close()

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "fin@example.net", PASSWORD)
    follow(page, page.get_by_role("link", name="Partners").first)
    follow(page, page.get_by_role("link", name="brew-bar"))
    assert page.get_by_role("button", name="Add the version").count() == 1
    assert page.get_by_role("button", name="Save the rules").count() == 0
    assert look(page, "desk-partner-finance", shots, elsewhere) == []
    context.close()
