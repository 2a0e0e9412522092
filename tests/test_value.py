"""What members are worth and whether the programme pays: the value models, the averages and the return, by hand.

The models' formulas are held to the papers' own figures; the fit to a
sample drawn from known parameters; the hub's answers to what those
formulas give for a member's history counted by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from analytics.btyd import Frequency, Spend, fit, frequency_loglik, log_hyp2f1, spend_loglik
from tests.support.contracts import contract

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_the_papers_figures():
    # Fader, Hardie & Lee (2005), CDNOW: r=0.243, alpha=4.414, a=0.793, b=2.426; a customer with 2 repeat purchases,
    # the last at week 30.43, seen for 38.86 weeks, is expected to buy 1.226 times in the next 39 weeks.
    cdnow = Frequency(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert round(cdnow.expected_purchases(39, 2, 30.43, 38.86), 3) == 1.226
    # Someone who never came back after the first purchase is certainly "alive" in the model's sense.
    assert cdnow.alive(0, 0, 38.86) == 1.0
    # Gamma-Gamma (Fader & Hardie 2013), CDNOW: p=6.25, q=3.74, gamma=15.44. Two purchases averaging 30:
    # (15.44 + 2 x 30) x 6.25 / (6.25 x 2 + 3.74 - 1) = 75.44 x 6.25 / 15.24 = 30.938...
    assert round(Spend(p=6.25, q=3.74, gamma=15.44).expected_mean(2, 30.0), 3) == 30.938
    # 2F1(1, 1; 2; z) = -ln(1 - z) / z.
    assert np.exp(log_hyp2f1(1, 1, 2, 0.5)) == pytest.approx(2 * np.log(2), rel=1e-12)


def test_a_fit_finds_the_parameters_a_sample_was_drawn_from():
    rng = np.random.default_rng(20261206)
    members, weeks = 6000, 52.0
    r, alpha, a, b = 0.5, 4.0, 0.8, 2.5
    rates, drop = rng.gamma(r, 1 / alpha, members), rng.beta(a, b, members)
    x, t_x = np.zeros(members), np.zeros(members)
    for i in range(members):
        t = 0.0
        while True:
            t += rng.exponential(1 / rates[i])
            if t > weeks:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < drop[i]:
                break
    found, _ = fit(frequency_loglik, (1.0, 1.0, 1.0, 1.0), x, t_x, np.full(members, weeks), np.ones(members))
    for got, truth in zip(found, (r, alpha, a, b)):
        assert got == pytest.approx(truth, rel=0.25)
    # Gamma-Gamma: each member's purchases are Gamma(p, nu), nu ~ Gamma(q, gamma) across members.
    p, q, gamma = 6.0, 4.0, 15.0
    n = rng.integers(1, 8, members)
    nu = rng.gamma(q, 1 / gamma, members)
    means = np.array([rng.gamma(p, 1 / nu[i], n[i]).mean() for i in range(members)])
    found, _ = fit(spend_loglik, (1.0, 2.0, float(np.median(means))), n.astype(float), means, np.ones(members))
    for got, truth in zip(found, (p, q, gamma)):
        assert got == pytest.approx(truth, rel=0.25)


START = datetime(2026, 2, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def buyers(hub, world, clock):
    """28 members of Brew Bar: member i first buys i % 7 days after 2 February, and again (i % 4) times, 10 days
    apart, each time 10.00 + i euros. 21 of them bought more than once."""
    clock.now = START - timedelta(days=1)
    cards = [hub.enrol(world.coffee, email=f"buyer{i}@example.com") for i in range(28)]
    plan = sorted((i % 7 + 10 * k, i) for i in range(28) for k in range(1 + i % 4))
    for day, i in plan:
        clock.now = START + timedelta(days=day)
        answer = hub.sale(world.coffee, cards[i][1], f"{10 + i}.00", occurred_at=clock.now.isoformat())
        assert answer.status_code == 201, answer.json
    clock.now = START + timedelta(days=60)
    return [member_id for member_id, _ in cards]


def test_a_members_predicted_value_reads_the_latest_fit(hub, runner, buyers):
    five = hub.call("GET", f"/v1/analytics/members/{buyers[5]}")
    assert five.status_code == 200 and five.json["predicted"] == []  # nothing fitted yet

    done = runner.invoke(["analytics", "fit"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("EUR: 28 members, 21 repeat buyers; BG/NBD r=")
    models = hub.call("GET", "/v1/analytics/value-models").json
    (model,) = models["models"]
    assert (model["currency"], model["members"], model["repeaters"]) == ("EUR", 28, 21)
    assert set(model["frequency"]) == {"r", "alpha", "a", "b"} and set(model["spend"]) == {"p", "q", "gamma"}
    assert "BG/NBD" in models["method"] and "Gamma-Gamma" in models["method"]

    # Member 5 bought 15.00 on days 5 and 15; seen on day 60: x = 1 repeat, t_x = 10/7 weeks, T = 55/7 weeks.
    frequency = Frequency(**{k: float(v) for k, v in model["frequency"].items()})
    spend = Spend(**{k: float(v) for k, v in model["spend"].items()})
    purchases = frequency.expected_purchases(365 / 7, 1, 10 / 7, 55 / 7)
    mean = spend.expected_mean(2, 1500.0)
    (predicted,) = hub.call("GET", f"/v1/analytics/members/{buyers[5]}").json["predicted"]
    assert predicted == {
        "currency": "EUR", "horizon_days": 365, "purchases": f"{purchases:.2f}",
        "alive": f"{frequency.alive(1, 10 / 7, 55 / 7):.4f}", "mean_purchase": f"{round(mean) / 100:.2f}",
        "value": f"{round(mean * purchases) / 100:.2f}",
        "model": {"id": model["id"], "as_of": model["as_of"], "method": models["method"]}}
    assert 0 < purchases and 1000 < mean < 3000  # minor units: between 10 and 30 euros
    # Over 30 days fewer purchases are expected than over a year.
    (month,) = hub.call("GET", f"/v1/analytics/members/{buyers[5]}", query_string={"horizon_days": 30}).json["predicted"]
    assert float(month["purchases"]) < float(predicted["purchases"])


def test_a_member_who_never_bought_has_no_prediction(hub, world, runner, buyers):
    assert runner.invoke(["analytics", "fit"]).exit_code == 0
    assert hub.call("GET", f"/v1/analytics/members/{world.member_id}").json["predicted"] == []


def test_fitting_nothing_keeps_nothing(hub, runner):
    done = runner.invoke(["analytics", "fit"])
    assert done.exit_code == 0 and done.output == ""
    assert hub.call("GET", "/v1/analytics/value-models").json["models"] == []


@pytest.fixture
def march(hub, world, clock):
    """Brew Bar earns 1 a euro (fee 0.002, pays 0.010 a point honoured), the grocer 2 (fee 0.001, pays 0.008).

    On 14 March Ann buys 12.50 at Brew Bar (12 points); Bob enrols at the grocer and the till sends his purchase of
    10 March, 20.00 (40 points), then today's 40.25 (80); Cy (Brew Bar) buys 10.00 and returns 5.00 (10, then -5).
    On the 20th Ann spends 10 of Brew Bar's points at the grocer. Dee (the grocer) never buys.
    """
    contract(hub, "brew-bar", "0.002", "0.010", clock.now - timedelta(days=30))
    contract(hub, "green-grocer", "0.001", "0.008", clock.now - timedelta(days=30))
    bob_id, bob = hub.enrol(world.grocer, email="bob@example.com")
    cy_id, cy = hub.enrol(world.coffee, email="cy@example.com")
    hub.enrol(world.grocer, email="dee@example.com")
    today = clock.now.isoformat()
    assert hub.sale(world.coffee, world.card, "12.50", occurred_at=today).json["points"] == 12
    assert hub.sale(world.grocer, bob, "20.00", occurred_at="2026-03-10T12:00:00+00:00").json["points"] == 40
    assert hub.sale(world.grocer, bob, "40.25", occurred_at=today).json["points"] == 80
    assert hub.sale(world.coffee, cy, "10.00", order="CY-1", occurred_at=today).json["points"] == 10
    assert hub.refund(world.coffee, "CY-1", "5.00", occurred_at=today).json["points"] == -5
    clock.now += timedelta(days=6)
    assert hub.redeem(world.grocer, world.card, 10).status_code == 201
    clock.now = datetime(2026, 4, 20, tzinfo=timezone.utc)  # Bob's 31 days after enrolling have passed
    return {"bob": bob_id, "cy": cy_id}


def test_lifetime_averages_by_enrolling_partner_and_cohort(hub, march):
    by_partner = hub.call("GET", "/v1/analytics/lifetime", query_string={"as_of": "2026-03-31", "by": "partner"}).json
    # Brew Bar enrolled Ann and Cy: 12.50 + (10.00 - 5.00) = 17.50, 8.75 each; 12 + 10 - 5 = 17 points, 8.50 each.
    # The grocer enrolled Bob and Dee: 60.25, 30.125 each, to even 30.12; 120 points, 60 each.
    assert by_partner["groups"] == [
        {"group": "brew-bar", "members": 2, "spend": [{"currency": "EUR", "total": "17.50", "per_member": "8.75"}],
         "points": {"net_earned": 17, "per_member": "8.50"}},
        {"group": "green-grocer", "members": 2, "spend": [{"currency": "EUR", "total": "60.25", "per_member": "30.12"}],
         "points": {"net_earned": 120, "per_member": "60.00"}}]
    # All four enrolled in March: 77.75 / 4 = 19.4375, to 19.44; 137 points / 4 = 34.25.
    by_cohort = hub.call("GET", "/v1/analytics/lifetime", query_string={"as_of": "2026-03-31", "by": "cohort"}).json
    assert by_cohort["groups"] == [
        {"group": "2026-03", "members": 4, "spend": [{"currency": "EUR", "total": "77.75", "per_member": "19.44"}],
         "points": {"net_earned": 137, "per_member": "34.25"}}]
    # A network without a tier ladder has its members in no tier.
    by_tier = hub.call("GET", "/v1/analytics/lifetime", query_string={"as_of": "2026-03-31", "by": "tier"}).json
    assert [(g["group"], g["members"]) for g in by_tier["groups"]] == [(None, 4)]
    # Before anyone enrolled, there is nobody to average.
    early = hub.call("GET", "/v1/analytics/lifetime", query_string={"as_of": "2026-03-13", "by": "cohort"}).json
    assert early["groups"] == []


def test_the_return_on_the_programme_per_partner(hub, world, march):
    answer = hub.call("GET", "/v1/analytics/returns", query_string=MARCH)
    assert answer.status_code == 200, answer.json
    brew, grocer = answer.json["partners"]
    # Brew Bar: revenue 12.50 + 10.00 - 5.00 = 17.50; 17 points issued, fees 17 x 0.002 = 0.034, to 0.03; it owes
    # the grocer 10 x 0.008 = 0.08 for its points spent there: 0.11, 0.11 / 17.50 = 0.0063 of its revenue.
    assert brew == {
        "partner": "brew-bar", "revenue": [{"currency": "EUR", "amount": "17.50"}], "points_issued": 17,
        "cost": {"currency": "EUR", "issue_fees": "0.03", "owed_for_points_spent_elsewhere": "0.08",
                 "received_for_points_spent_here": "0.00", "net": "0.11"},
        "cost_share_of_revenue": "0.0063",
        "incremental": {"members": 0, "before": [], "after": [], "incremental": [], "method": answer.json["method"]}}
    # The grocer: revenue 20.00 + 40.25 = 60.25; 120 points, fees 0.12, less the 0.08 it is owed: 0.04 (0.0007).
    # Bob, enrolled there on the 14th, bought 20.00 there four days before: 40.25 after against 20.00 before.
    assert grocer == {
        "partner": "green-grocer", "revenue": [{"currency": "EUR", "amount": "60.25"}], "points_issued": 120,
        "cost": {"currency": "EUR", "issue_fees": "0.12", "owed_for_points_spent_elsewhere": "0.00",
                 "received_for_points_spent_here": "0.08", "net": "0.04"},
        "cost_share_of_revenue": "0.0007",
        "incremental": {"members": 1, "before": [{"currency": "EUR", "amount": "20.00"}],
                        "after": [{"currency": "EUR", "amount": "40.25"}],
                        "incremental": [{"currency": "EUR", "amount": "20.25"}], "method": answer.json["method"]}}
    # A partner reads its own line, and only its own.
    mine = hub.call("GET", "/v1/analytics/returns", world.grocer, query_string=MARCH).json["partners"]
    assert mine == [grocer]
    other = hub.call("GET", "/v1/analytics/returns", world.grocer, query_string={**MARCH, "partner": "brew-bar"})
    assert other.status_code == 403 and other.json["error"]["code"] == "wrong_partner"


def test_a_refund_that_took_back_no_point_still_comes_off_the_spend(hub, world, clock):
    # 10.00 earns 10 points at Brew Bar; a refund of 0.40 takes back 10 x 0.40 / 10.00 = 0.4 of a point: none.
    assert hub.sale(world.coffee, world.card, "10.00", order="SMALL-1").json["points"] == 10
    assert hub.refund(world.coffee, "SMALL-1", "0.40").json["points"] == 0
    ann = hub.call("GET", f"/v1/analytics/members/{world.member_id}").json
    assert ann["spend"] == [{"currency": "EUR", "amount": "9.60"}] and ann["purchases"] == 1
    (brew,) = [g for g in hub.call("GET", "/v1/analytics/lifetime", query_string={"as_of": "2026-03-31", "by": "partner"}
                                    ).json["groups"] if g["group"] == "brew-bar"]
    assert brew["spend"] == [{"currency": "EUR", "total": "9.60", "per_member": "9.60"}]
    (line,) = hub.call("GET", "/v1/analytics/returns", world.coffee, query_string=MARCH).json["partners"]
    assert line["revenue"] == [{"currency": "EUR", "amount": "9.60"}]


def test_a_prediction_too_large_for_a_float_is_no_500():
    # A member of 280 purchase days over 40 weeks, ten years ahead: the paper's factors overflow a float; in logs not.
    cdnow = Frequency(r=0.243, alpha=4.414, a=0.793, b=2.426)
    assert 500 < cdnow.expected_purchases(3660 / 7, 280, 40, 40) < 2000
    # A history of no length under a vanishing alpha: the series cannot be summed, and it says so.
    assert Frequency(r=0.5, alpha=1e-9, a=0.8, b=2.5).expected_purchases(52, 0, 0, 0) is None


@pytest.mark.parametrize("path, query, field", [
    ("/v1/analytics/lifetime", {"as_of": "2026-03-31", "by": "shoe-size"}, "by"),
    ("/v1/analytics/lifetime", {"by": "tier"}, "as_of"),
    ("/v1/analytics/members/{member}", {"horizon_days": "0"}, "horizon_days"),
    ("/v1/analytics/returns", {"from": "2026-03-31", "to": "2026-03-01"}, "to"),
])
def test_a_bad_query_is_a_422_naming_its_field(hub, world, path, query, field):
    answer = hub.call("GET", path.format(member=world.member_id), query_string=query)
    assert answer.status_code == 422 and field in answer.json["error"]["details"], answer.json


def test_who_may_read_what(hub, world):
    for path in ("/v1/analytics/value-models", f"/v1/analytics/members/{world.member_id}",
                 "/v1/analytics/lifetime?as_of=2026-03-31&by=tier"):
        assert hub.call("GET", path, world.coffee).status_code == 403
