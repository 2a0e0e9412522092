"""The programme's analytics, worked by hand on a small ledger: every figure is what a person counting would get.

March 2026 (the clock starts on the 14th, 09:30 UTC):
- Ann (enrolled at Brew Bar) buys 12.50 at Brew Bar: 12 points; on the 20th spends 10 at Green Grocer (Brew Bar's
  points), and on the 25th buys 5.00 there: 10 points (2 a euro). She came back 5 days after her reward.
- Bob (enrolled at the grocer) buys 40.25 at the grocer: 80 points; buys again on 10 April, 27 days later: 40.
- Cy (Brew Bar) buys 10.00 at Brew Bar (10 points) and returns half of it the next day: 5 clawed back.
- Dee (the grocer) never buys.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def at(clock, day: int, month: int = 3) -> str:
    clock.now = datetime(2026, month, day, 9, 30, tzinfo=timezone.utc)
    return clock.now.isoformat()


@pytest.fixture
def programme(hub, world, clock):
    ann, coffee, grocer = world.card, world.coffee, world.grocer
    bob_id, bob = hub.enrol(grocer, email="bob@example.com")
    cy_id, cy = hub.enrol(coffee, email="cy@example.com")
    hub.enrol(grocer, email="dee@example.com")
    occurred = at(clock, 14)
    assert hub.sale(coffee, ann, "12.50", occurred_at=occurred).json["points"] == 12
    assert hub.sale(grocer, bob, "40.25", occurred_at=occurred).json["points"] == 80
    assert hub.sale(coffee, cy, "10.00", order="CY-1", occurred_at=occurred).json["points"] == 10
    occurred = at(clock, 15)
    assert hub.refund(coffee, "CY-1", "5.00", occurred_at=occurred).json["points"] == -5
    at(clock, 20)
    assert hub.redeem(grocer, ann, 10).json["provenance"] == [{"issuer": "brew-bar", "points": 10}]
    occurred = at(clock, 25)
    assert hub.sale(grocer, ann, "5.00", occurred_at=occurred).json["points"] == 10
    occurred = at(clock, 10, month=4)
    assert hub.sale(grocer, bob, "20.00", occurred_at=occurred).json["points"] == 40
    at(clock, 2, month=5)
    return {"bob": bob_id, "cy": cy_id}


def report(hub, key=None, path="/v1/analytics/programme", **query):
    answer = hub.call("GET", path, key, query_string=query)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_march_for_the_network(hub, programme):
    march = report(hub, **MARCH, dormant_days=10)
    assert march["period"] == {"from": "2026-03-01", "to": "2026-03-31"}
    # Seen on 31 March: Ann bought on the 25th; Bob and Cy last on the 14th, holding points (dormant); Dee never
    # bought and holds none (lapsed). Bob's April points are not his at the end of March.
    assert march["members"] == {"enrolled": 4, "active": 3, "dormant": 2, "lapsed": 1, "dormant_days": 10}
    # Issued 12 + 80 + 10 - 5 (the claw-back) + 10 = 107; 10 spent; 97 held at the end of March.
    # Ann's 10 points were earned on the 14th and spent on the 20th, both at 09:30: 6.0 days.
    assert march["points"] == {"issued": 107, "redeemed": 10, "expired": 0, "outstanding": 97,
                               "spent_elsewhere_share": "1.0000", "average_days_to_spend": "6.0"}
    assert march["redemption_rate"] == "0.0935"  # 10 / 107
    # Ann redeemed and bought again 5 days later; of Bob and Cy (bought, did not redeem), Bob bought again
    # 27 days after his first March purchase, Cy never.
    assert march["return_after_reward"] == {
        "days": 30, "redeemers": {"members": 1, "returned": 1, "share": "1.0000"},
        "others": {"members": 2, "returned": 1, "share": "0.5000"}}
    # With 20 days, Bob's return on day 27 no longer counts.
    assert report(hub, **MARCH, return_days=20)["return_after_reward"]["others"]["returned"] == 0
    # With the default 90 days everyone bought recently enough; Dee, who never did, has lapsed.
    assert report(hub, **MARCH)["members"] | {"dormant_days": None} == {
        "enrolled": 4, "active": 3, "dormant": 0, "lapsed": 1, "dormant_days": None}


def test_a_partner_sees_its_members_and_the_points_it_issued(hub, world, programme):
    mine = report(hub, world.coffee, **MARCH, dormant_days=10)
    assert mine["partner"] == "brew-bar"
    # Ann and Cy: enrolled at Brew Bar, both active there in March, neither since the 22nd (Ann's 25th was at the
    # grocer), both holding points.
    assert mine["members"] == {"enrolled": 2, "active": 2, "dormant": 2, "lapsed": 0, "dormant_days": 10}
    # Brew Bar issued 12 + 10 - 5; Ann spent 10 of them at the grocer; nothing was spent at Brew Bar.
    assert mine["points"] == {"issued": 17, "redeemed": 10, "expired": 0, "outstanding": 7, "spent_here": 0,
                              "spent_elsewhere_share": "1.0000", "average_days_to_spend": "6.0"}
    assert mine["redemption_rate"] == "0.5882"
    # No one redeemed at Brew Bar; Ann and Cy bought there: Ann bought again (at the grocer) within 30 days.
    assert mine["return_after_reward"]["redeemers"] == {"members": 0, "returned": 0, "share": None}
    assert mine["return_after_reward"]["others"] == {"members": 2, "returned": 1, "share": "0.5000"}
    grocer = report(hub, partner="green-grocer", **MARCH)
    assert grocer["points"] | {"spent_elsewhere_share": None} == {
        "issued": 90, "redeemed": 0, "expired": 0, "outstanding": 90, "spent_here": 10, "spent_elsewhere_share": None,
        "average_days_to_spend": None}  # none of its points was spent
    # The operator may name the partner; the partner's own name changes nothing.
    assert report(hub, world.coffee, partner="brew-bar", **MARCH) == report(hub, partner="brew-bar", **MARCH)


def test_a_closed_month_shows_its_statements_figures_and_the_next_starts_from_it(hub, programme, database):
    closed = hub.call("POST", "/v1/settlement/runs", json={"end": "2026-04-01T00:00:00+00:00"})
    assert closed.status_code == 201, closed.json
    sections = {s["partner"]: s for s in closed.json["statement"]["partners"]}
    march = report(hub, **MARCH)["points"]
    assert march["issued"] == sum(s["issued"] for s in sections.values()) == 107
    assert march["outstanding"] == sum(s["outstanding"] for s in sections.values()) == 97
    # April starts from the statement's outstanding: 97 and Bob's 40.
    april = report(hub, **{"from": "2026-04-01", "to": "2026-04-30"})
    assert april["points"] | {"spent_elsewhere_share": None} == {
        "issued": 40, "redeemed": 0, "expired": 0, "outstanding": 137, "spent_elsewhere_share": None,
        "average_days_to_spend": None}
    assert april["members"]["active"] == 1 and april["members"]["enrolled"] == 0


def test_cohorts_by_month_of_enrolment(hub, world, programme):
    answer = report(hub, path="/v1/analytics/cohorts", **{"from": "2026-03-01", "to": "2026-04-30"})
    # Four joined in March; three of them bought or spent in March, one (Bob) in April.
    assert answer["cohorts"] == [{"month": "2026-03", "members": 4, "retention": [
        {"months_since": 0, "active": 3, "share": "0.7500"}, {"months_since": 1, "active": 1, "share": "0.2500"}]}]
    mine = report(hub, world.coffee, path="/v1/analytics/cohorts", **{"from": "2026-03-01", "to": "2026-04-30"})
    assert mine["cohorts"] == [{"month": "2026-03", "members": 2, "retention": [
        {"months_since": 0, "active": 2, "share": "1.0000"}, {"months_since": 1, "active": 0, "share": "0.0000"}]}]
    # Nobody joined in April.
    assert report(hub, path="/v1/analytics/cohorts", **{"from": "2026-04-01", "to": "2026-04-30"})["cohorts"] == []


def test_a_members_value_so_far(hub, world, programme):
    ann = hub.call("GET", f"/v1/analytics/members/{world.member_id}").json
    assert ann == {"member_id": world.member_id, "enrolled_at": "2026-03-14T09:30:00+00:00", "purchases": 2,
                   "first_purchase": "2026-03-14T09:30:00+00:00", "last_purchase": "2026-03-25T09:30:00+00:00",
                   "spend": [{"currency": "EUR", "amount": "17.50"}],
                   "points": {"earned": 22, "bonus": 0, "redeemed": 10, "expired": 0, "other": 0, "balance": 12},
                   "predicted": []}  # no value model fitted (tests/test_value.py)
    cy = hub.call("GET", f"/v1/analytics/members/{programme['cy']}").json
    # 10.00 bought, 5.00 returned; 10 points earned, 5 clawed back.
    assert cy["spend"] == [{"currency": "EUR", "amount": "5.00"}] and cy["purchases"] == 1
    assert cy["points"]["earned"] == 5 and cy["points"]["balance"] == 5


def test_the_reports_as_csv(hub, programme):
    answer = hub.call("GET", "/v1/analytics/programme.csv", query_string=MARCH)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    lines = answer.get_data(as_text=True).splitlines()
    assert lines[0] == "section,figure,value"
    assert "points,issued,107" in lines and "points,redemption_rate,0.0935" in lines
    assert "return_after_reward,others_share,0.5000" in lines
    cohorts = hub.call("GET", "/v1/analytics/cohorts.csv", query_string={"from": "2026-03-01", "to": "2026-04-30"})
    assert cohorts.get_data(as_text=True).splitlines() == [
        "cohort,members,months_since,active,share", "2026-03,4,0,3,0.7500", "2026-03,4,1,1,0.2500"]


@pytest.mark.parametrize("query, field", [
    ({"to": "2026-03-31"}, "from"),
    ({"from": "2026-03-01"}, "to"),
    ({"from": "2026-03-31", "to": "2026-03-01"}, "to"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "2000-01-01", "to": "2026-03-01"}, "to"),
    ({**MARCH, "dormant_days": "0"}, "dormant_days"),
    ({**MARCH, "return_days": "many"}, "return_days"),
    ({**MARCH, "colour": "red"}, "colour"),
])
def test_a_bad_query_is_a_422_naming_its_field(hub, query, field):
    answer = hub.call("GET", "/v1/analytics/programme", query_string=query)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["error"]["details"], answer.json


def test_who_may_read_what(hub, world):
    other = hub.call("GET", "/v1/analytics/programme", world.coffee, query_string={**MARCH, "partner": "green-grocer"})
    assert (other.status_code, other.json["error"]["code"]) == (403, "wrong_partner")
    unknown = hub.call("GET", "/v1/analytics/cohorts", query_string={**MARCH, "partner": "no-such-shop"})
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "unknown_partner")
    assert hub.call("GET", f"/v1/analytics/members/{world.member_id}", world.coffee).status_code == 403
    missing = hub.call("GET", "/v1/analytics/members/nobody")
    assert (missing.status_code, missing.json["error"]["code"]) == (404, "unknown_member")
    assert hub.call("GET", "/v1/analytics/programme", "no-such-key", query_string=MARCH).status_code == 401
