"""The partner's adapter in the portal: chosen by its admins as PUT /v1/partners/<slug>/adapter chooses it.

The page's write is the API's (`adapter_change`) behind the desk's own form:
what the API's GET then shows is what was saved, a refusal is the API's
status with the field named, and a partner's staff, another partner or a
stranger change nothing. In a browser, the page passes axe-core on a desktop
and a phone, refused and saved.
"""

from __future__ import annotations

import html
import json
import re

from network.parties.registry import get_partner
from partners.errors import flatten_errors
from tests.support.browsing import confined, look, sign_in
from tests.support.desk import marked
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.ledger import snapshot
from tests.support.pages import PASSWORD, add_person, csrf, signed_in
from tests.support.settings import last_event, settings

PAGE = "/portal/brew-bar/adapter"
SECRET = "sq-signature-key-0123456789"
URL = "https://hub.example/v1/partners/brew-bar/inbound"


def errors_of(answer) -> dict[str, str]:
    return {e["attrs"]["data-error"]: e["text"] for e in marked(answer.get_data(as_text=True), "data-error")}


def text_area(page: str) -> str:
    return html.unescape(re.search(r'<textarea id="adapter_config"[^>]*>(.*?)</textarea>', page, re.S).group(1))


def unchanged(database):
    return snapshot(database), settings(database)


def test_a_partner_admin_chooses_the_adapter_the_api_then_shows_audited_as_themselves(app, world, database):
    boss = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    webhook = boss.get("/portal/brew-bar/webhook").get_data(as_text=True)
    assert f'href="{PAGE}"' in webhook  # linked from the webhook page, and in the menu
    page = boss.get(PAGE).get_data(as_text=True)
    assert re.findall(r'<option value="([^"]+)"', page) == ["canonical", "csv", "poslog", "shopify", "square", "woocommerce"]
    assert json.loads(text_area(page)) == {}
    version = settings(database)["version"]
    config = {"signature_key": SECRET, "notification_url": URL}
    done = boss.post(PAGE, data={"adapter": "square", "adapter_config": json.dumps(config), "csrf_token": csrf(page)})
    assert done.status_code == 302 and done.headers["Location"] == f"{PAGE}?saved=yes"
    api = world.hub.call("GET", "/v1/partners/brew-bar", world.coffee).json
    assert (api["adapter"], api["adapter_config"]) == ("square", {"signature_key": "********", "notification_url": URL})
    assert database.read(lambda session: get_partner(session, "brew-bar")).adapter_config == config
    assert settings(database)["version"] > version
    event = last_event(database)
    assert (event.actor, event.role, event.action, event.target) == (
        "boss@brew.example", "partner_admin", "POST /portal/<slug>/adapter", PAGE)
    assert event.partner_id == database.read(lambda session: get_partner(session, "brew-bar").id)
    assert (event.before["adapter"], event.after["adapter"]) == ("canonical", "square") and SECRET not in json.dumps(event.after)

    saved = boss.get(done.headers["Location"]).get_data(as_text=True)
    assert "The adapter is saved" in saved and SECRET not in saved
    assert {e["attrs"]["data-setting"]: e["text"] for e in marked(saved, "data-setting")} == api["adapter_config"]
    assert json.loads(text_area(saved)) == api["adapter_config"]
    kept = boss.post(PAGE, data={"adapter": "square", "adapter_config": text_area(saved), "csrf_token": csrf(saved)})
    assert kept.status_code == 302  # the masked key left as shown: the key stays
    assert database.read(lambda session: get_partner(session, "brew-bar")).adapter_config == config
    moved = boss.post(PAGE, data={"adapter": "shopify", "adapter_config": text_area(saved), "csrf_token": csrf(saved)})
    assert moved.status_code == 422  # another adapter: a masked value is no secret of its, and shopify takes none such
    assert database.read(lambda session: get_partner(session, "brew-bar")).adapter == "square"


def test_a_refused_adapter_is_the_apis_status_with_the_field_named_and_changes_nothing(app, world, database):
    boss = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    token = csrf(boss.get(PAGE).get_data(as_text=True))
    cases = [("square", {"signature_key": SECRET}), ("square", {"notification_url": "http://plain.example/x"}),
             ("shopify", {"webhook_secret": ""}), ("canonical", {"columns": {}}), ("teletype", {})]
    theirs = [world.hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": name, "adapter_config": config})
              for name, config in cases]
    before = unchanged(database)
    for (name, config), api in zip(cases, theirs):
        answer = boss.post(PAGE, data={"adapter": name, "adapter_config": json.dumps(config), "csrf_token": token})
        assert answer.status_code == api.status_code == 422, (name, config)
        assert set(errors_of(answer)) == set(flatten_errors(api.json["error"]["details"])), (name, config, api.json)
        assert 'data-refused="adapter"' in answer.get_data(as_text=True)
    broken = boss.post(PAGE, data={"adapter": "csv", "adapter_config": '{"delimiter": ";",}', "csrf_token": token})
    assert broken.status_code == 400 and "is not JSON" in errors_of(broken)["adapter_config"]
    assert unchanged(database) == before


def test_partner_staff_are_403_another_partners_page_is_404_and_the_operators_admins_open_any(app, world, database):
    staff = signed_in(app, "till@brew.example", "partner_staff", "brew-bar")
    grocer = signed_in(app, "boss@grocer.example", "partner_admin", "green-grocer")
    before = unchanged(database)
    form = {"adapter": "csv", "adapter_config": "{}"}
    assert staff.get(PAGE).status_code == 403
    assert "/adapter" not in staff.get("/portal/brew-bar").get_data(as_text=True)  # not in their menu
    assert staff.post(PAGE, data={**form, "csrf_token": csrf(staff.get("/portal/brew-bar").get_data(as_text=True))}).status_code == 403
    grocer_token = csrf(grocer.get("/portal/green-grocer").get_data(as_text=True))
    assert grocer.get(PAGE).status_code == 404
    assert grocer.post(PAGE, data={**form, "csrf_token": grocer_token}).status_code == 404
    assert app.test_client().get(PAGE).headers["Location"] == f"/sign-in?next={PAGE}"
    assert unchanged(database) == before
    operator = signed_in(app, "ops@hub.example", "admin")
    page = operator.get(PAGE).get_data(as_text=True)
    assert operator.post(PAGE, data={**form, "csrf_token": csrf(page)}).status_code == 302
    assert world.hub.call("GET", "/v1/partners/brew-bar").json["adapter"] == "csv"


def test_the_adapter_page_passes_axe_refused_and_saved(browser, served, shots):
    app, base = served
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    World.build(hub)
    add_person(app, "boss@brew.example", "partner_admin", "brew-bar")
    context = browser.new_context()
    page, elsewhere = confined(context, base)
    sign_in(page, base, "boss@brew.example", PASSWORD)
    page.get_by_role("link", name="Adapter", exact=True).click()
    assert page.url == base + PAGE
    assert look(page, "portal-adapter", shots, elsewhere) == []
    page.get_by_role("combobox", name="Adapter").select_option("shopify")
    page.get_by_label("Its settings, as JSON").fill('{"webhook_secret": ""}')
    page.get_by_role("button", name="Save the adapter").click()
    assert "webhook_secret" in page.locator("[data-error='adapter_config.webhook_secret']").inner_text()
    assert look(page, "portal-adapter-refused", shots, elsewhere) == []
    page.get_by_label("Its settings, as JSON").fill('{"webhook_secret": "shpss_0123456789abcdef"}')
    page.get_by_role("button", name="Save the adapter").click()
    assert page.locator("[data-done]").count() == 1 and page.locator("[data-figure=adapter]").inner_text() == "shopify"
    assert page.locator("[data-setting=webhook_secret]").inner_text() == "********"
    assert look(page, "portal-adapter-saved", shots, elsewhere) == []
    assert hub.call("GET", "/v1/partners/brew-bar").json["adapter"] == "shopify"
    context.close()
