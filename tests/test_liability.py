"""The points liability, worked by hand: each issuer's value per point, the breakage estimate and April's roll-forward.

Points live 30 days, each lot its own (`fixed`). Brew Bar redeems at 0.010 a point, the grocer at 0.008.
- 14 March: Ann earns 100 at Brew Bar, Cy 20 (both lots end on 13 April).
- 20 March: Ann spends 30 at the grocer and 10 at Brew Bar: Brew Bar's points cost (30 x 0.008 + 10 x 0.010) / 40
  = 0.0085 each.
- 20 April: the expiry run: Ann's last 60 and Cy's 20 expire; Bob earns 50 at the grocer.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.contracts import contract


@pytest.fixture
def app_config():
    return {"COALITION_POINTS_LIFETIME_DAYS": 30, "COALITION_EXPIRY": "fixed"}


def at(clock, month: int, day: int) -> str:
    clock.now = datetime(2026, month, day, 9, 30, tzinfo=timezone.utc)
    return clock.now.isoformat()


@pytest.fixture
def ledger(hub, world, clock, runner):
    coffee, grocer = world.coffee, world.grocer
    contract(hub, "brew-bar", "0.002", "0.010", clock.now - timedelta(days=30))
    contract(hub, "green-grocer", "0.001", "0.008", clock.now - timedelta(days=30))
    _, cy = hub.enrol(coffee, email="cy@example.com")
    _, bob = hub.enrol(grocer, email="bob@example.com")
    occurred = at(clock, 3, 14)
    assert hub.sale(coffee, world.card, "100.00", occurred_at=occurred).json["points"] == 100
    assert hub.sale(coffee, cy, "20.00", occurred_at=occurred).json["points"] == 20
    at(clock, 3, 20)
    assert hub.redeem(grocer, world.card, 30).status_code == 201
    assert hub.redeem(coffee, world.card, 10).status_code == 201
    occurred = at(clock, 4, 20)
    expired = runner.invoke(["expire", "--as-of", occurred])
    assert expired.exit_code == 0, expired.output
    assert hub.sale(grocer, bob, "25.00", occurred_at=occurred).json["points"] == 50
    at(clock, 5, 2)


def liability(hub, **query):
    answer = hub.call("GET", "/v1/analytics/liability", query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_aprils_liability_and_roll_forward(hub, ledger):
    april = liability(hub, as_of="2026-04-30")
    assert april["period"] == {"from": "2026-04-01", "to": "2026-04-30"}
    issuers = {i["issuer"]: i for i in april["issuers"]}
    coffee, grocer = issuers["brew-bar"], issuers["green-grocer"]
    # Brew Bar: 120 points issued on lots now ended, 80 of them expired.
    assert coffee | {"roll_forward": None} == {
        "issuer": "brew-bar", "outstanding": 0, "value_per_point": "0.008500",
        "value_basis": "where its points were spent in the last 365 days", "breakage": "0.6667",
        "breakage_basis": "expired share of the 120 points whose life ended", "deferred_revenue": "0.00",
        "roll_forward": None}
    assert coffee["roll_forward"]["points"] == {"opening": 80, "issued": 0, "redeemed": 0, "expired": 80, "closing": 0,
                                                "unexplained": 0}
    # On 1 April no lot had ended: no breakage, 80 x 0.0085 = 0.68. Expired at the closing estimate,
    # 80 x 0.0085 x (1 - 80/120) = 0.2267 -> 0.23; revaluing the opening takes the other 0.45.
    assert coffee["roll_forward"]["money"] == {"opening": "0.68", "issued": "0.00", "redeemed": "0.00",
                                               "expired": "0.23", "change_of_estimate": "-0.45", "closing": "0.00"}
    # The grocer's points were never spent: valued at where the network's were (the same 0.0085), none ended yet.
    assert grocer["value_basis"] == "where the network's points were spent in the last 365 days"
    assert (grocer["value_per_point"], grocer["breakage"]) == ("0.008500", "0.0000")
    assert grocer["breakage_basis"] == "none assumed: no points have reached the end of their life"
    # 50 x 0.0085 = 0.425, half to even: 0.42.
    assert (grocer["outstanding"], grocer["deferred_revenue"]) == (50, "0.42")
    assert grocer["roll_forward"]["money"] == {"opening": "0.00", "issued": "0.42", "redeemed": "0.00",
                                               "expired": "0.00", "change_of_estimate": "0.00", "closing": "0.42"}
    assert (april["outstanding"], april["deferred_revenue"], april["currency"]) == (50, "0.42", "EUR")
    assert april["roll_forward"]["points"] == {"opening": 80, "issued": 50, "redeemed": 0, "expired": 80,
                                               "closing": 50, "unexplained": 0}


def test_march_spends_and_values(hub, ledger):
    march = liability(hub, as_of="2026-03-31")
    coffee = {i["issuer"]: i for i in march["issuers"]}["brew-bar"]
    # 120 issued, 40 spent (30 at the grocer, 10 at home), 80 left: 80 x 0.0085 = 0.68.
    assert coffee["roll_forward"]["points"] == {"opening": 0, "issued": 120, "redeemed": 40, "expired": 0,
                                                "closing": 80, "unexplained": 0}
    assert coffee["deferred_revenue"] == "0.68"
    assert coffee["roll_forward"]["money"] == {"opening": "0.00", "issued": "1.02", "redeemed": "0.34",
                                               "expired": "0.00", "change_of_estimate": "0.00", "closing": "0.68"}


def test_the_expected_breakage_may_be_set(make_app, ledger, hub):
    from tests.support.hub import ADMIN_TOKEN, HubClient

    set_hub = HubClient(make_app(COALITION_POINTS_LIFETIME_DAYS=30, COALITION_EXPIRY="fixed",
                                 COALITION_EXPECTED_BREAKAGE="0.25").test_client(), ADMIN_TOKEN)
    grocer = {i["issuer"]: i for i in liability(set_hub, as_of="2026-04-30")["issuers"]}["green-grocer"]
    # 50 x 0.0085 x 0.75 = 0.31875 -> 0.32
    assert (grocer["breakage"], grocer["breakage_basis"], grocer["deferred_revenue"]) == (
        "0.2500", "COALITION_EXPECTED_BREAKAGE", "0.32")


@pytest.mark.parametrize("setting", ["1", "-0.1", "lots", "NaN"])
def test_a_bad_breakage_setting_stops_the_hub_at_start(make_app, setting):
    with pytest.raises(ValueError, match="COALITION_EXPECTED_BREAKAGE"):
        make_app(COALITION_EXPECTED_BREAKAGE=setting)


@pytest.mark.parametrize("query, field", [
    ({}, "as_of"), ({"as_of": "2026-04-31"}, "as_of"), ({"as_of": "2026-04-30", "from": "2026-05-01"}, "from"),
])
def test_a_bad_query_names_its_field(hub, query, field):
    answer = hub.call("GET", "/v1/analytics/liability", query_string=query)
    assert answer.status_code == 422 and field in answer.json["error"]["details"], answer.json


def test_partners_may_not_read_it(hub, world):
    assert hub.call("GET", "/v1/analytics/liability", world.coffee, query_string={"as_of": "2026-03-31"}).status_code == 403
