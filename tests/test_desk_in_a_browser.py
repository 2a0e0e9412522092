"""The finance desk in a real browser: a period closed through its preview, the statement as the API signed it,
and every desk page checked by axe-core, on a desktop and a phone."""

from __future__ import annotations

from datetime import timedelta

from tests.support.browsing import confined, look, sign_in
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
    page.get_by_role("link", name="Statements").first.click()
    assert look(page, "desk-statements-empty", shots, elsewhere) == []
    page.goto(base + "/desk/close")
    assert look(page, "desk-close", shots, elsewhere) == []
    page.get_by_label("End of the period (UTC)").fill((clock.now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Preview the statement").click()
    assert page.get_by_role("heading", name="Preview of statement 1").count() == 1
    assert look(page, "desk-preview", shots, elsewhere) == []
    assert hub.call("GET", "/v1/settlement/statements/1").status_code == 404  # a preview stores nothing
    page.get_by_role("button", name="Close and sign statement 1").click()
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
    page.goto(base + "/desk/statements")
    assert look(page, "desk-statements", shots, elsewhere) == []
    page.goto(base + "/desk/charts")
    assert page.locator("svg.chart").count() == 2
    assert look(page, "desk-charts", shots, elsewhere) == []
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
    page.get_by_role("button", name="Find").click()
    assert look(page, "desk-members-found", shots, elsewhere) == []
    page.get_by_role("link", name="Ann").click()
    assert page.url == base + f"/desk/members/{world.member_id}"
    assert page.locator("[data-figure=available]").inner_text() == str(hub.balance(world.card)["available"])
    assert page.locator("a[href='/desk/close']").count() == 0
    assert look(page, "desk-member", shots, elsewhere) == []
    page.get_by_label("Points (negative to take back)").fill("5000")
    page.get_by_label("Reason").fill("too generous")
    page.get_by_role("button", name="Book the adjustment").click()
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
    page.get_by_role("button", name="Add the partner").click()
    assert page.locator("[data-figure=api-key]").inner_text().startswith("coal_pk_")
    assert look(page, "desk-partner-added", shots, elsewhere) == []
    context.close()
