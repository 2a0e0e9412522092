"""The pages in a real browser (Debian's Chromium, driven by Playwright): what a member sees, checked by axe-core.

The hub runs on a free port with a real session cookie; every request the
page makes that is not to the hub is aborted and recorded (nothing from a
CDN). axe-core is a vendored copy (tests/support/vendor), injected into each
page: no serious or critical violation passes. Each page is saved as a
screenshot at a desktop and a phone width, into COALITION_SCREENSHOTS (a
folder of the test's own otherwise).
"""

from __future__ import annotations

import re

from tests.support.browsing import confined, follow, look, sign_in
from tests.support.hub import ADMIN_TOKEN, HubClient, World


def test_a_member_opens_the_wallet_link_and_sees_the_balance_the_api_shows(browser, served, shots):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    hub.call("PUT", "/v1/network/tiers", json={"tiers": [{"name": "Member", "threshold": 0, "multiplier": "1"},
                                                          {"name": "Gold", "threshold": 100, "multiplier": "1.5"}]})
    hub.call("POST", "/v1/partners/green-grocer/rewards", world.grocer, json={"sku": "BASKET", "name": "A fruit basket",
                                                                            "points": 80})
    for total in ("12.00", "7.50"):
        assert hub.sale(world.coffee, world.card, total).status_code == 201
    assert hub.sale(world.grocer, world.card, "9.00").status_code == 201
    url = hub.call("POST", f"/v1/members/{world.member_id}/wallet-links", world.coffee).json["url"]
    balance = hub.call("GET", f"/v1/cards/{world.card}/balance", world.coffee).json
    history = [entry["id"] for entry in hub.history(world.member_id)["items"]]

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    page.goto(base + url)
    assert page.url == base + "/wallet"
    assert page.locator("[data-figure=available]").inner_text() == str(balance["available"])
    assert page.locator("[data-figure=tier]").inner_text() == balance["tier"] == "Member"
    assert [int(entry) for entry in page.locator("[data-entry]").evaluate_all("els => els.map(e => e.dataset.entry)")] == history
    assert page.get_by_text("points away from A fruit basket at Green Grocer").count() == 1
    assert page.locator(".code svg").count() == 1
    assert look(page, "wallet", shots, elsewhere) == []

    page.goto(base + url)  # the link again: spent
    assert re.search("used already", page.content())
    assert look(page, "wallet-link-used", shots, elsewhere) == []
    page.goto(base + "/wallet/sign-in")
    assert look(page, "wallet-sign-in", shots, elsewhere) == []
    context.close()


def test_a_person_signs_in_with_the_password_they_were_given_and_chooses_their_own(browser, served, shots):
    from tests.support.pages import PASSWORD, add_person

    app, base = served
    given = add_person(app, "fin@example.net", "finance", password=None)
    context = browser.new_context()
    page, elsewhere = confined(context, base)
    page.goto(base + "/desk")
    assert page.url == base + "/sign-in?next=/desk"
    assert look(page, "sign-in", shots, elsewhere) == []
    sign_in(page, base, "fin@example.net", given)
    assert page.get_by_role("heading", name="Choose a password").count() == 1
    page.get_by_label("Current or one-time password").fill(given)
    page.get_by_label("New password (12 characters or more)").fill(PASSWORD)
    page.get_by_label("The new password again").fill(PASSWORD)
    assert look(page, "sign-in-password", shots, elsewhere) == []
    follow(page, page.get_by_role("button", name="Save and sign in"))
    assert page.url == base + "/desk"
    follow(page, page.get_by_role("button", name="Sign out"))
    assert page.url == base + "/sign-in"
    context.close()
