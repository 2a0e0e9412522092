"""The partner's portal in a real browser (Debian's Chromium, driven by Playwright), checked by axe-core.

A partner's admin signs in, uploads the day's file with the file chooser
(the page's script sends it with a progress bar, then shows the report the
hub answers) and opens every section; each page is looked at by axe-core
and saved as a screenshot at a desktop and a phone width.
"""

from __future__ import annotations

from datetime import timedelta

from tests.support.browsing import confined, follow, look, sign_in
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.pages import PASSWORD, add_person
from tests.support.portal import as_csv, end_of_day

#: Records what the upload's script does to its <progress> while the file goes (the window outlives the document).
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const box = document.querySelector('.sending'), bar = document.querySelector('progress');
  new MutationObserver(() => window.progressSeen.push([box.hidden, bar.value]))
    .observe(box, {attributes: true, subtree: true, attributeFilter: ['hidden', 'value']});
}"""


def test_a_partner_admin_uploads_the_days_file_and_every_portal_page_passes_axe(browser, served, shots, tmp_path):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    bob = hub.enrol(world.coffee)[1]
    hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee, json={"sku": "MUG", "name": "A mug", "points": 5})
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201
    assert hub.call("POST", "/v1/redemptions", world.coffee, json={"card_number": world.card, "sku": "MUG",
                                                                   "order_id": "X-1"}).status_code == 201
    as_csv(hub, "brew-bar")  # after the till's sale: the day's file comes in as CSV
    clock = app.config["CLOCK"]
    clock.advance(hours=2)
    end = (clock() - timedelta(hours=1)).isoformat()
    assert hub.call("POST", "/v1/settlement/runs", json={"end": end}).status_code == 201
    add_person(app, "boss@brew.example", "partner_admin", "brew-bar")

    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "boss@brew.example", PASSWORD)
    assert page.url == base + "/portal/brew-bar"
    assert page.locator("[data-figure=today-redeemed-count]").inner_text() == "1"
    assert look(page, "portal-today", shots, elsewhere) == []

    follow(page, page.get_by_role("link", name="Upload"))
    assert look(page, "portal-upload", shots, elsewhere) == []
    file = tmp_path / "eod.csv"
    file.write_bytes(end_of_day(world.card, bob))
    page.get_by_label("The file", exact=True).set_input_files(str(file))
    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Upload and book").click()  # sent by the page's script, which shows its progress
    page.get_by_role("heading", name="eod.csv: booked").wait_for()
    seen = page.evaluate("window.progressSeen")
    assert [False, 0] in seen and seen[-1][1] == 100, seen  # the bar was shown, and filled before the report came
    assert page.url == base + "/portal/brew-bar/upload"
    assert [page.locator(f"[data-figure={name}]").inner_text() for name in ("accepted", "duplicates", "rejected")] == [
        "3", "0", "2"]
    assert page.locator("[data-row]").evaluate_all("rows => rows.map(r => r.dataset.row)") == ["4", "5"]
    assert look(page, "portal-upload-report", shots, elsewhere) == []

    for section, name in (("Webhook", "portal-webhook"), ("Rewards", "portal-rewards"), ("Settlement", "portal-settlement"),
                          ("Analytics", "portal-analytics"), ("API keys", "portal-keys")):
        follow(page, page.get_by_role("link", name=section, exact=True))
        assert look(page, name, shots, elsewhere) == [], name
    page.get_by_label("What it is for (a name)").fill("tills, store 4")
    follow(page, page.get_by_role("button", name="Add the key"))
    key = page.locator("[data-figure=key]").inner_text()
    assert key.startswith("coal_pk_") and hub.balance(world.card, key)["available"] >= 0
    assert look(page, "portal-key-made", shots, elsewhere) == []
    follow(page, page.get_by_role("link", name="Back to the keys"))
    assert key not in page.content()
    context.close()
