"""The desk's analytics page shows the API's figures, figure for figure, and says a bad day as the API does."""

from __future__ import annotations

from datetime import timedelta

from tests.support.desk import marked
from tests.support.pages import signed_in


def test_the_page_shows_the_programme_cohorts_liability_and_credit(app, hub, world, clock):
    hub.call("PUT", "/v1/partners/brew-bar/contract", json={"issue_fee": "0.002", "redeem_rate": "0.010",
                                                            "funding": "prepaid"})
    hub.call("POST", "/v1/partners/brew-bar/prepayments", json={"amount": "1.20", "reference": "BANK-1"})
    assert hub.sale(world.coffee, world.card, "50.00").status_code == 201
    assert hub.sale(world.grocer, world.card, "10.00").status_code == 201
    assert hub.redeem(world.grocer, world.card, 30).status_code == 201
    client = signed_in(app, "fin@example.net", "finance")
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    page = client.get("/desk/analytics", query_string=march)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    api = hub.call("GET", "/v1/analytics/programme", query_string=march).json
    shown = {entry["attrs"]["data-figure"]: entry["text"] for entry in marked(html, "data-figure")
             if entry["attrs"]["data-figure"] in ("enrolled", "dormant", "lapsed", "issued", "redeemed", "expired")}
    assert shown == {"enrolled": str(api["members"]["enrolled"]), "dormant": str(api["members"]["dormant"]),
                     "lapsed": str(api["members"]["lapsed"]), "issued": "70", "redeemed": "30", "expired": "0"}
    assert api["points"]["issued"] == 70
    # The cohort grid: March's one member, active in March.
    cells = {entry["attrs"]["data-cell"]: entry["attrs"]["class"] for entry in marked(html, "data-cell")}
    assert cells == {"2026-03>0": "heat-5"}
    # Brew Bar's credit: 50 points at 0.012 drew 0.60 of its 1.20.
    credit = {entry["attrs"]["data-credit"]: entry for entry in marked(html, "data-credit")}
    assert list(credit) == ["brew-bar"] and "0.6" in credit["brew-bar"]["text"] and "0.5000" in credit["brew-bar"]["text"]
    issuers = [entry["attrs"]["data-issuer"] for entry in marked(html, "data-issuer")]
    assert issuers[-1] == "all" and "brew-bar" in issuers
    # A partner's view, chosen from the list.
    assert '<select id="partner" name="partner">' in html and '<option value="green-grocer">' in html
    mine = client.get("/desk/analytics", query_string={**march, "partner": "green-grocer"}).get_data(as_text=True)
    assert "The programme: green-grocer" in mine


def test_a_bad_day_is_said_on_the_page_and_nothing_is_read(app, world):
    client = signed_in(app, "fin@example.net", "finance")
    page = client.get("/desk/analytics", query_string={"from": "2026-03-31", "to": "2026-03-01"})
    assert page.status_code == 422
    errors = [entry["attrs"]["data-error"] for entry in marked(page.get_data(as_text=True), "data-error")]
    assert errors == ["to"]
    assert "data-cohorts" not in page.get_data(as_text=True)


def test_unasked_it_shows_the_last_whole_month(app, world):
    page = signed_in(app, "fin@example.net", "finance").get("/desk/analytics").get_data(as_text=True)
    assert 'value="2026-02-01"' in page and 'value="2026-02-28"' in page  # the clock is on 14 March


def test_support_and_partners_get_no_analytics(app, world):
    assert signed_in(app, "sup@example.net", "support").get("/desk/analytics").status_code == 403
    assert signed_in(app, "boss@coffee.example", "partner_admin", "brew-bar").get("/desk/analytics").status_code == 403


def test_the_page_shows_the_return_the_members_value_and_the_model(app, hub, world, runner, clock):
    hub.call("PUT", "/v1/partners/brew-bar/contract", json={"issue_fee": "0.002", "redeem_rate": "0.010"})
    assert hub.sale(world.coffee, world.card, "50.00").status_code == 201
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    client = signed_in(app, "fin@example.net", "finance")
    html = client.get("/desk/analytics", query_string=march).get_data(as_text=True)
    assert "No model is fitted yet" in html
    api = hub.call("GET", "/v1/analytics/returns", query_string=march).json["partners"]
    rows = {entry["attrs"]["data-returns"]: entry["text"] for entry in marked(html, "data-returns")}
    # Brew Bar: 50.00 of revenue, 50 points at 0.002: 0.10 of fees, 0.0020 of its revenue.
    assert list(rows) == [line["partner"] for line in api] == ["brew-bar", "green-grocer"]
    assert "50.00 EUR" in rows["brew-bar"] and "0.10 EUR" in rows["brew-bar"] and "0.0020" in rows["brew-bar"]
    lifetime = {entry["attrs"]["data-lifetime"]: entry["text"] for entry in marked(html, "data-lifetime")}
    assert "50.00 EUR" in lifetime["brew-bar"]  # Ann, enrolled at Brew Bar, alone in it
    clock.now += timedelta(days=1)  # a fit reads the purchases booked before it
    done = runner.invoke(["analytics", "fit"])
    assert done.output == "EUR: not fitted: 1 members, 0 repeat buyers (it takes 20)\n"
    client = signed_in(app, "fin2@example.net", "finance")  # a day on, the first session has timed out
    assert "No model is fitted yet" in client.get("/desk/analytics", query_string=march).get_data(as_text=True)
    # Twenty members who bought twice, a week apart.
    cards = [hub.enrol(world.grocer, email=f"twice{i}@example.com")[1] for i in range(20)]
    for week in (0, 1):
        for i, card in enumerate(cards):
            assert hub.sale(world.grocer, card, f"{5 + i}.00", occurred_at=clock.now.isoformat()).status_code == 201
        clock.now += timedelta(days=7)
    assert runner.invoke(["analytics", "fit"]).output.startswith("EUR: 21 members, 20 repeat buyers; BG/NBD r=")
    client = signed_in(app, "fin3@example.net", "finance")
    fitted = client.get("/desk/analytics", query_string=march).get_data(as_text=True)
    models = {entry["attrs"]["data-model"]: entry for entry in marked(fitted, "data-model")}
    assert list(models) == ["EUR"] and "21" in models["EUR"]["text"] and "20" in models["EUR"]["text"]
