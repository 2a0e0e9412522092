"""The pages in a real browser (Debian's Chromium, driven by Playwright): what a member sees, checked by axe-core.

The hub runs on a free port with a real session cookie; every request the
page makes that is not to the hub is aborted and recorded (nothing from a
CDN). axe-core is a vendored copy (tests/support/vendor), injected into each
page: no serious or critical violation passes. Each page is saved as a
screenshot at a desktop and a phone width, into COALITION_SCREENSHOTS (a
folder of the test's own otherwise).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.server import in_a_thread

AXE = Path(__file__).parent / "support" / "vendor" / "axe.min.js"
WIDTHS = {"desktop": (1280, 900), "phone": (375, 740)}


@pytest.fixture
def served(make_app):
    app = make_app()
    with in_a_thread(app) as base:
        yield app, base


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("COALITION_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def look(page, base: str, name: str, shots: Path, elsewhere: list[str]) -> list[dict]:
    """Screenshots at both widths, and axe-core's serious and critical findings on the page as it stands."""
    for width, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} scrolls sideways at {w} px"
    page.evaluate(AXE.read_text() + "\n;true")  # evaluated by the driver: the page's own policy forbids inline scripts
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => ({id: v.id, help: v.help,"
                          " nodes: v.nodes.map(n => n.target.join(' '))}))")
    assert elsewhere == [], elsewhere
    return found


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

    elsewhere: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base + "/")
               else (elsewhere.append(route.request.url), route.abort()))
    page.goto(base + url)
    assert page.url == base + "/wallet"
    assert page.locator("[data-figure=available]").inner_text() == str(balance["available"])
    assert page.locator("[data-figure=tier]").inner_text() == balance["tier"] == "Member"
    assert [int(entry) for entry in page.locator("[data-entry]").evaluate_all("els => els.map(e => e.dataset.entry)")] == history
    assert page.get_by_text("points away from A fruit basket at Green Grocer").count() == 1
    assert page.locator(".code svg").count() == 1
    assert look(page, base, "wallet", shots, elsewhere) == []

    page.goto(base + url)  # the link again: spent
    assert re.search("used already", page.content())
    assert look(page, base, "wallet-link-used", shots, elsewhere) == []
    page.goto(base + "/wallet/sign-in")
    assert look(page, base, "wallet-sign-in", shots, elsewhere) == []
    context.close()
