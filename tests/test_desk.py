"""The finance desk through the test client: statements, closing a period, charts, support and admin, as each role.

Every figure a page shows is read off its data- attributes and compared
with the API's answer for the same thing; every refused write is followed
by the ledger's snapshot, unchanged.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import select, update

from network.models import AuditEvent, Statement
from network.pages.desk import charts
from tests.support.desk import close, marked, sections, trade
from tests.support.ledger import snapshot
from tests.support.pages import csrf, signed_in


def end_of(clock) -> str:
    return (clock.now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")


def closed(app, hub, world, clock):
    """A finance person's client after closing statement 1 over the partners' trade, and the API's statement."""
    trade(hub, world, clock)
    client = signed_in(app, "fin@example.net", "finance")
    _, done = close(client, end_of(clock))
    assert done.status_code == 302 and done.headers["Location"] == "/desk/statements/1"
    return client, hub.call("GET", "/v1/settlement/statements/1").json


def test_finance_closes_a_period_through_a_preview_and_the_statement_page_shows_the_apis_figures(app, hub, world, clock,
                                                                                                 database):
    trade(hub, world, clock)
    client = signed_in(app, "fin@example.net", "finance")
    before = snapshot(database)
    preview, done = close(client, end_of(clock))
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Preview of statement 1" in page and "Nothing is closed yet" in page
    previewed = {(e["attrs"]["data-transfer"], e["attrs"]["data-direction"], e["attrs"]["data-amount"])
                 for e in marked(page, "data-transfer")}
    previewed_sections = sections(page)
    assert done.headers["Location"] == "/desk/statements/1"
    after = snapshot(database)
    assert after["counts"]["statements"] == before["counts"]["statements"] + 1
    assert after["counts"]["audit_events"] == before["counts"]["audit_events"] + 1
    actor, action = database.read(lambda session: session.execute(
        select(AuditEvent.actor, AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)).one())
    assert (actor, action) == ("fin@example.net", "POST /desk/close")

    api = hub.call("GET", "/v1/settlement/statements/1").json
    statement = api["statement"]
    assert statement["period"]["end"] == (clock.now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    html = client.get("/desk/statements/1").get_data(as_text=True)
    cells = {e["attrs"]["data-cell"]: e["attrs"] for e in marked(html, "data-cell")}
    expected = {f'{c["issuer"]}>{c["redeemer"]}': (str(c["points"]), c["amount"]) for c in statement["matrix"]}
    assert expected and {key: (cell["data-points"], cell.get("data-amount")) for key, cell in cells.items()
                         if cell["data-points"] != "0"} == expected
    assert all(re.fullmatch(r"heat-[0-5]", cell["class"]) for cell in cells.values())
    transfers = {(e["attrs"]["data-transfer"], e["attrs"]["data-direction"], e["attrs"]["data-amount"])
                 for e in marked(html, "data-transfer")}
    assert transfers == {(t["partner"], t["direction"], t["amount"]) for t in statement["transfers"]} == previewed
    shown = sections(html)
    assert shown == previewed_sections
    for section in statement["partners"]:
        row = shown[section["partner"]]
        figures = [name for name in ("issued", "redeemed", "expired", "outstanding", "fee", "fees", "net") if name in section]
        assert {name: row[name] for name in figures} == {name: str(section[name]) for name in figures}, section["partner"]
    contracts = {e["attrs"]["data-contract"]: e["text"] for e in marked(html, "data-contract")}
    for section in statement["partners"][:-1]:
        assert section["contract"]["issue_fee"] in contracts[section["partner"]]
    total = sum(Fraction(t["amount"]) for t in statement["transfers"] if t["direction"] == "pays")
    assert Fraction(_figure(html, "transfers-total")) == total

    listed = client.get("/desk/statements").get_data(as_text=True)
    row = marked(listed, "data-statement")
    assert [r["attrs"]["data-statement"] for r in row] == ["1"]
    assert _figure(listed, "transfers-total").startswith(str(_figure(html, "transfers-total")))
    assert _figure(listed, "acknowledgements") == "0"


def _figure(html: str, name: str) -> str:
    return next(e["text"] for e in marked(html, "data-figure") if e["attrs"]["data-figure"] == name)


def test_the_verified_mark_is_the_signatures_check_and_a_tampered_statement_reads_not_verified(app, hub, world, clock,
                                                                                               database):
    client, api = closed(app, hub, world, clock)
    hub.redeem(world.coffee, world.card, 5)
    clock.advance(minutes=3)  # within the session's idle time
    assert hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=2)).isoformat()}).status_code == 201
    for sequence in (1, 2):
        page = client.get(f"/desk/statements/{sequence}").get_data(as_text=True)
        assert 'data-verified="yes"' in page and "signature by key" in page
    assert "chained to statement 1 by its hash" in client.get("/desk/statements/2").get_data(as_text=True)

    forged = api["statement"] | {"transfers": []}
    database.transact(lambda session: session.execute(update(Statement).where(Statement.sequence == 1).values(
        canonical=json.dumps(forged, separators=(",", ":"), sort_keys=True))))
    first = client.get("/desk/statements/1").get_data(as_text=True)
    assert 'data-verified="no"' in first and "statement 1: the signature does not hold" in first
    second = client.get("/desk/statements/2").get_data(as_text=True)
    assert 'data-verified="no"' in second  # its predecessor no longer holds


def test_support_sees_no_closing_and_its_post_to_close_is_403_changing_nothing(app, hub, world, clock, database):
    trade(hub, world, clock)
    support = signed_in(app, "sup@example.net", "support")
    for path in ("/desk", "/desk/members", f"/desk/members/{world.member_id}"):
        page = support.get(path).get_data(as_text=True)
        assert "/desk/close" not in page and "Close a period" not in page and "Statements" not in page
    assert support.get("/desk/close").status_code == 403
    assert support.get("/desk/statements").status_code == 403
    token = csrf(support.get("/desk").get_data(as_text=True))
    before = snapshot(database)
    for form in ({"end": end_of(clock)}, {"end": end_of(clock), "confirm": "yes"}):
        refused = support.post("/desk/close", data={**form, "csrf_token": token})
        assert refused.status_code == 403 and "may not open this page" in refused.get_data(as_text=True)
    assert snapshot(database) == before
    assert hub.call("GET", "/v1/settlement/statements/1").status_code == 404


def test_a_closing_without_its_csrf_token_is_refused_and_changes_nothing(app, hub, world, clock, database):
    trade(hub, world, clock)
    client = signed_in(app, "fin@example.net", "finance")
    before = snapshot(database)
    refused = client.post("/desk/close", data={"end": end_of(clock), "confirm": "yes"})
    assert refused.status_code == 400 and "This form could not be sent" in refused.get_data(as_text=True)
    assert snapshot(database) == before


def test_refused_closings_are_said_on_the_form_with_the_apis_status_and_store_nothing(app, hub, world, clock, database):
    trade(hub, world, clock)
    client = signed_in(app, "fin@example.net", "finance")
    token = csrf(client.get("/desk/close").get_data(as_text=True))
    before = snapshot(database)
    soon = (clock.now - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
    for form, status, words in (
        ({"end": "next tuesday"}, 422, "Give the period's end as a date and a time (UTC)"),
        ({"end": soon}, 422, "A period can end at the latest 60 s before now: must be at or before"),
        ({"end": soon, "confirm": "yes"}, 422, "A period can end at the latest 60 s before now"),
    ):
        answer = client.post("/desk/close", data={**form, "csrf_token": token})
        error = [e["text"] for e in marked(answer.get_data(as_text=True), "data-error")]
        assert answer.status_code == status and error and error[0].startswith(words), (form, error)
    assert snapshot(database) == before
    _, done = close(client, end_of(clock))
    assert done.status_code == 302
    before = snapshot(database)
    again = client.post("/desk/close", data={"end": end_of(clock), "confirm": "yes", "csrf_token": token})
    assert again.status_code == 422
    assert "The period would be empty" in [e["text"] for e in marked(again.get_data(as_text=True), "data-error")][0]
    assert snapshot(database) == before


def test_the_statements_files_are_the_apis_bytes(app, hub, world, clock):
    client, _ = closed(app, hub, world, clock)
    for desk, api in (("/desk/statements/1/transfers.csv", "/v1/settlement/statements/1/transfers.csv"),
                      ("/desk/statements/1/obligations.csv", "/v1/settlement/statements/1/obligations.csv"),
                      ("/desk/statements/1/statement.json", "/v1/settlement/statements/1"),
                      ("/desk/keys.json", "/v1/settlement/keys")):
        mine, theirs = client.get(desk), hub.call("GET", api)
        assert mine.status_code == theirs.status_code == 200, desk
        assert mine.get_data() == theirs.get_data() and mine.mimetype == theirs.mimetype, desk
        assert mine.headers["Content-Disposition"].startswith("attachment"), desk
    assert client.get("/desk/statements/9/transfers.csv").status_code == 404
    assert client.get("/desk/statements/9").status_code == 404


def test_support_finds_a_member_by_card_and_by_email_as_the_api_does(app, hub, world):
    support = signed_in(app, "sup@example.net", "support")
    api = hub.call("GET", "/v1/members", query_string={"card": world.card}).json["items"]
    for q in (world.card, "ANN@example.com"):
        page = support.get("/desk/members", query_string={"q": q}).get_data(as_text=True)
        assert [e["attrs"]["data-member"] for e in marked(page, "data-member")] == [api[0]["member_id"]] == [world.member_id]
        assert "Ann" in page and world.card in page
    nobody = support.get("/desk/members", query_string={"q": "nobody@example.com"})
    assert nobody.status_code == 200 and "No member has that card or address" in nobody.get_data(as_text=True)
    bad = support.get("/desk/members", query_string={"q": "1234"})
    assert bad.status_code == 422 and "Not a card number" in bad.get_data(as_text=True)


def test_the_member_page_shows_what_the_api_shows(app, hub, world):
    hub.sale(world.coffee, world.card, "12.00")
    support = signed_in(app, "sup@example.net", "support")
    page = support.get(f"/desk/members/{world.member_id}").get_data(as_text=True)
    member = hub.call("GET", f"/v1/members/{world.member_id}").json
    for name in ("available", "pending", "held"):
        assert _figure(page, name) == str(member["balance"][name])
    assert [e["attrs"]["data-entry"] for e in marked(page, "data-entry")] == [
        str(entry["id"]) for entry in hub.history(world.member_id)["items"]]
    assert {e["attrs"]["data-card"]: e["attrs"]["data-status"] for e in marked(page, "data-card")} == {
        card["number"]: card["status"] for card in member["cards"]}
    assert support.get("/desk/members/nobody").status_code == 404


def test_support_blocks_a_card_and_tills_are_then_refused(app, hub, world, database):
    support = signed_in(app, "sup@example.net", "support")
    page = support.get(f"/desk/members/{world.member_id}").get_data(as_text=True)
    path, token = f"/desk/members/{world.member_id}/block", csrf(page)
    before = snapshot(database)
    for form, words in (({"card_number": world.card, "reason": "x" * 201}, "Longer than maximum length 200"),
                        ({"card_number": "1234", "reason": "lost"}, "is not a valid card number")):
        refused = support.post(path, data={**form, "csrf_token": token})
        errors = {e["attrs"]["data-error"]: e["text"] for e in marked(refused.get_data(as_text=True), "data-error")}
        assert refused.status_code == 422 and words in errors["block"], errors
    assert snapshot(database) == before
    done = support.post(path, data={"card_number": world.card, "reason": "lost on the bus", "csrf_token": token})
    assert done.status_code == 302
    shown = support.get(done.headers["Location"]).get_data(as_text=True)
    assert "The card is blocked" in shown and f'data-card="{world.card}" data-status="blocked"' in shown
    assert hub.sale(world.coffee, world.card, "5.00").json["error"]["code"] == "card_blocked"
    actor, action = database.read(lambda session: session.execute(
        select(AuditEvent.actor, AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)).one())
    assert (actor, action) == ("sup@example.net", "POST /desk/members/<member_id>/block")


def test_support_adjusts_with_a_reason_and_over_its_limit_is_403_and_books_nothing(app, hub, world, database):
    support = signed_in(app, "sup@example.net", "support")
    page = support.get(f"/desk/members/{world.member_id}").get_data(as_text=True)
    token, path = csrf(page), f"/desk/members/{world.member_id}/adjust"
    done = support.post(path, data={"points": "250", "reason": "Goodwill: machine broken", "csrf_token": token})
    assert done.status_code == 302
    assert hub.balance(world.card)["available"] == 250
    event = database.read(lambda session: session.execute(
        select(AuditEvent.actor, AuditEvent.role, AuditEvent.action, AuditEvent.target).order_by(AuditEvent.id.desc()).limit(1)).one())
    assert tuple(event) == ("sup@example.net", "support", "POST /desk/members/<member_id>/adjust", path)
    assert hub.history(world.member_id)["items"][0]["reason"] == "Goodwill: machine broken"

    before = snapshot(database)
    for form, status, field, words in (
        ({"points": "1001", "reason": "too generous"}, 403, "points", "Support adjusts at most 1000 points at once"),
        ({"points": "-300", "reason": "take back"}, 422, "points", "300 cannot be taken back"),
        ({"points": "ten", "reason": "x"}, 422, "points", "Give a whole number of points"),
        ({"points": "0", "reason": "x"}, 422, "points", "must not be zero"),
        ({"points": "5", "reason": ""}, 422, "reason", None),
    ):
        answer = support.post(path, data={**form, "csrf_token": token})
        errors = {e["attrs"]["data-error"]: e["text"] for e in marked(answer.get_data(as_text=True), "data-error")}
        assert answer.status_code == status and field in errors, (form, answer.status_code, errors)
        assert words is None or words in errors[field], errors
    assert snapshot(database) == before
    assert hub.balance(world.card)["available"] == 250


def test_partner_users_and_strangers_get_no_desk(app, world):
    partner = signed_in(app, "boss@coffee.example", "partner_admin", "brew-bar")
    for path in ("/desk", "/desk/statements", "/desk/close", "/desk/charts", "/desk/members", "/desk/partners"):
        assert partner.get(path).status_code == 403, path
    assert app.test_client().get("/desk/statements").headers["Location"] == "/sign-in?next=/desk/statements"
    finance = signed_in(app, "fin@example.net", "finance")
    for path in ("/desk/members", "/desk/staff"):
        assert finance.get(path).status_code == 403, path


def test_the_charts_figures_are_the_ledgers(app, hub, world, clock, database):
    client, api = closed(app, hub, world, clock)
    page = client.get("/desk/charts").get_data(as_text=True)
    assert page.count("<svg") == 2 and "<title" in page
    weeks = [e["attrs"]["data-week"] for e in marked(page, "data-week")]
    assert len(weeks) == 8 and weeks[-1] == (clock.now - timedelta(days=clock.now.weekday())).date().isoformat()
    this_week = {e["attrs"]["data-series"]: int(e["text"]) for e in marked(page, "data-series")[-4:]}
    assert this_week == {"brew-bar issued": 200, "brew-bar redeemed": 40, "green-grocer issued": 100,
                         "green-grocer redeemed": 150}
    assert {int(e["text"]) for e in marked(page, "data-series")[:-4]} == {0}
    outstanding = sum(section["outstanding"] for section in api["statement"]["partners"])
    assert [e["attrs"]["data-liability"] for e in marked(page, "data-liability")] == ["1"]
    assert _figure(page, "outstanding") == str(outstanding) == "110"
    cells = {e["attrs"]["data-cell"]: int(e["attrs"]["data-points"]) for e in marked(page, "data-cell")}
    assert {k: v for k, v in cells.items() if v} == {f'{c["issuer"]}>{c["redeemer"]}': c["points"]
                                                     for c in api["statement"]["matrix"]}


def test_an_admin_adds_a_partner_shown_its_key_once_and_a_person_shown_a_password_once(app, hub, world, database):
    admin = signed_in(app, "ops@example.net", "admin")
    token = csrf(admin.get("/desk/partners").get_data(as_text=True))
    form = {"slug": "book-nook", "name": "Book Nook", "timezone": "Europe/Paris", "currency": "EUR", "earn_rate": "3",
            "pending_days": "0", "kind": "retailer", "csrf_token": token}
    made = admin.post("/desk/partners", data=form)
    assert made.status_code == 200
    key = _figure(made.get_data(as_text=True), "api-key")
    assert hub.call("GET", "/v1/partners/book-nook", key).json["name"] == "Book Nook"
    assert 'data-partner="book-nook"' in admin.get("/desk/partners").get_data(as_text=True)
    assert key not in admin.get("/desk/partners").get_data(as_text=True)
    before = snapshot(database)
    for bad, field, status in (({"slug": "book-nook"}, "slug", 409), ({"slug": "X!"}, "slug", 422),
                               ({"slug": "tea-time", "timezone": "Mars/Olympus"}, "timezone", 422)):
        answer = admin.post("/desk/partners", data={**form, **bad})
        errors = {e["attrs"]["data-error"]: e["text"] for e in marked(answer.get_data(as_text=True), "data-error")}
        assert answer.status_code == status and field in errors, (bad, answer.status_code, errors)
    assert snapshot(database) == before

    added = admin.post("/desk/staff", data={"email": "new@example.net", "role": "support", "csrf_token": token})
    password = _figure(added.get_data(as_text=True), "password")
    assert password and 'data-person="new@example.net"' in admin.get("/desk/staff").get_data(as_text=True)
    again = admin.post("/desk/staff", data={"email": "new@example.net", "role": "support", "csrf_token": token})
    assert again.status_code == 409 and "has an account already" in again.get_data(as_text=True)
    assert admin.get("/desk/tiers").status_code == 200


@pytest.mark.parametrize(("value", "most", "shade"), [(0, 10, 0), (1, 10, 1), (2, 10, 1), (3, 10, 2), (10, 10, 5),
                                                      (9, 10, 5), (1, 1, 5), (5, 0, 0)])
def test_a_heat_maps_shade_is_the_ceiling_of_its_fifth_of_the_largest(value, most, shade):
    assert charts.shade(value, most) == shade


def test_the_legend_covers_every_value_once():
    for most in (1, 3, 5, 7, 100, 12345):
        steps = charts.legend(most)
        covered = [v for step in steps for v in range(step.low, step.high + 1)]
        assert covered == list(range(1, most + 1))
        assert all(charts.shade(v, most) == step.shade for step in steps for v in (step.low, step.high))


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_shade_of_the_heat_map_keeps_its_text_at_wcag_aa():
    css = (Path(__file__).parents[1] / "network/pages/assets/desk.css").read_text()
    ink = {"var(--ink)": "#1b1f24"}
    for level in range(6):
        rule = re.search(rf"\.heat-{level} \{{ background: (#[0-9a-f]{{3,6}}|#fff); color: ([^;]+); \}}", css)
        back, text = (("#ffffff" if c == "#fff" else ink.get(c, c)) for c in rule.groups())
        light, dark = sorted((_luminance(back), _luminance(text)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, level
