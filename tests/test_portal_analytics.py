"""A partner's analytics in the portal: the API's figures for its own members and points, and nobody else's."""

from __future__ import annotations

from datetime import timedelta

from tests.support.contracts import contract
from tests.support.desk import marked
from tests.support.pages import signed_in

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_a_partner_sees_its_own_report_cohorts_and_return(app, hub, world, clock, database):
    contract(hub, "brew-bar", "0.002", "0.010", clock.now - timedelta(days=30))
    bob = hub.enrol(world.grocer, email="bob@example.com")[1]
    assert hub.sale(world.coffee, world.card, "12.50").json["points"] == 12
    assert hub.sale(world.grocer, bob, "40.00").json["points"] == 80
    client = signed_in(app, "till@brew.example", "partner_staff", "brew-bar")
    page = client.get("/portal/brew-bar/analytics", query_string=MARCH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    api = hub.call("GET", "/v1/analytics/programme", world.coffee, query_string=MARCH).json
    shown = {entry["attrs"]["data-figure"]: entry["text"] for entry in marked(html, "data-figure")
             if entry["attrs"]["data-figure"] in ("enrolled", "active", "issued", "outstanding")}
    # Brew Bar enrolled Ann and issued her 12 points; the grocer's 80 are not its.
    assert shown == {"enrolled": "1", "active": "1", "issued": "12", "outstanding": "12"}
    assert (api["members"]["enrolled"], api["points"]["issued"]) == (1, 12)
    assert [entry["attrs"]["data-cell"] for entry in marked(html, "data-cell")] == ["2026-03>0"]
    # Its line of the return, and only its: 12.50 of revenue, 12 points at 0.002 = 0.024, to 0.02.
    rows = {entry["attrs"]["data-returns"]: entry["text"] for entry in marked(html, "data-returns")}
    assert list(rows) == ["brew-bar"] and "12.50 EUR" in rows["brew-bar"] and "0.02 EUR" in rows["brew-bar"]
    assert "green-grocer" not in html and "bob@example.com" not in html
    assert 'href="/portal/brew-bar/analytics"' in html  # in the portal's sections
    assert 'id="partner"' not in html  # a partner picks days, never another partner


def test_another_partners_analytics_are_404_and_a_bad_day_is_said(app, world):
    client = signed_in(app, "till@brew.example", "partner_staff", "brew-bar")
    assert client.get("/portal/green-grocer/analytics", query_string=MARCH).status_code == 404
    bad = client.get("/portal/brew-bar/analytics", query_string={"from": "2026-03-31", "to": "2026-03-01"})
    assert bad.status_code == 422
    assert [entry["attrs"]["data-error"] for entry in marked(bad.get_data(as_text=True), "data-error")] == ["to"]
