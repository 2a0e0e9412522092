"""Settlement figures from the ledger: a worked example by hand, and conservation on random workloads."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from settlement.figures import NETWORK, Period, amount, settle
from settlement.statement import build
from tests.support.contracts import contract, figures_of
from tests.support.ledger import ids


def _numbers(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _numbers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _numbers(value)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield node


def test_amounts_round_half_to_even_once():
    assert amount(125, Decimal("0.01"), "EUR") == 125
    assert amount(1, Decimal("0.005"), "EUR") == 0  # 0.5 cent: to the even 0
    assert amount(3, Decimal("0.005"), "EUR") == 2  # 1.5 cents: to the even 2
    assert amount(7, Decimal("0.3"), "JPY") == 2  # 2.1 yen
    assert amount(-100, Decimal("0.001"), "EUR") == -10


def test_three_partners_different_rates_a_contract_change_and_a_refund_across_the_boundary(hub, clock, database):
    t0 = clock.now
    coffee, grocer, fuel = (hub.create_partner(slug) for slug in ("coffee", "grocer", "fuel"))
    contract(hub, "coffee", "0.002", "0.010", t0 - timedelta(days=1))
    contract(hub, "grocer", "0.001", "0.008", t0 - timedelta(days=1))
    # fuel has no contract: it settles at zero rates
    _, ann = hub.enrol(coffee)
    _, bob = hub.enrol(grocer)
    assert hub.sale(coffee, ann, "1000.00").status_code == 201  # coffee issues 1000
    assert hub.sale(grocer, bob, "500.00", order="G-1").status_code == 201  # grocer issues 500
    clock.advance(hours=1)
    hub.redeem(grocer, ann, 300)  # coffee's points spent at the grocer, at 0.008
    clock.advance(hours=1)
    contract(hub, "grocer", "0.001", "0.009", clock.now)  # the grocer's new rate, inside the period
    clock.advance(hours=1)
    hub.redeem(fuel, ann, 200)  # at fuel: no contract, no money
    hub.redeem(coffee, bob, 100)  # grocer's points at coffee, at 0.010
    clock.advance(hours=1)
    hub.redeem(grocer, ann, 100)  # at the grocer's new rate 0.009
    hub.redeem(coffee, ann, 50)  # coffee's own points at coffee: no money moves
    end = clock.advance(hours=1)

    p = ids(database)
    f = figures_of(database, None, end)
    assert dict(f.issued) == {p["coffee"]: 1000, p["grocer"]: 500}
    assert f.redeemed[p["grocer"]] == 400 and f.redeemed[p["fuel"]] == 200 and f.redeemed[p["coffee"]] == 150
    assert dict(f.matrix) == {(p["coffee"], p["grocer"]): 400, (p["coffee"], p["fuel"]): 200,
                              (p["grocer"], p["coffee"]): 100, (p["coffee"], p["coffee"]): 50}
    # 300 x 0.008 = 2.40 and 100 x 0.009 = 0.90, each rounded on its own version
    assert f.obligations[p["coffee"], p["grocer"]] == 240 + 90
    assert f.obligations[p["grocer"], p["coffee"]] == 100
    assert f.obligations.get((p["coffee"], p["fuel"]), 0) == 0
    assert dict(f.fees) == {p["coffee"]: 200, p["grocer"]: 50}
    assert f.net(p["coffee"]) == 100 - 330 - 200
    assert f.net(p["grocer"]) == 330 - 100 - 50
    assert f.net(p["fuel"]) == 0
    assert f.net(NETWORK) == 250
    assert sum(f.net(party) for party in (*p.values(), NETWORK)) == 0
    assert f.outstanding[p["coffee"]] == 1000 - 300 - 200 - 100 - 50
    assert f.outstanding[p["grocer"]] == 500 - 100
    assert f.contracts[p["fuel"]] is None and f.contracts[p["grocer"]].redeem_rate == Decimal("0.009")

    statement = build(f, sequence=1, network="coalition", slugs={v: k for k, v in p.items()}, previous_hash=None)
    sections = {section["partner"]: section for section in statement["partners"]}
    assert list(sections) == ["coffee", "fuel", "grocer", "network"]
    assert sections["coffee"] | {"contract": None} == {
        "partner": "coffee", "issued": 1000, "redeemed": 150, "expired": 0, "outstanding": 350,
        "fee": "2.00", "net": "-4.30", "contract": None}
    assert sections["fuel"]["contract"] is None and sections["fuel"]["net"] == "0.00"
    assert sections["grocer"]["contract"] == {"effective_from": "2026-03-14T11:30:00Z", "issue_fee": "0.001",
                                              "redeem_rate": "0.009"}
    assert sections["network"] == {"partner": "network", "issued": 0, "expired": 0, "outstanding": 0,
                                   "fees": "2.50", "net": "2.50"}
    assert statement["transfers"] == [{"partner": "coffee", "direction": "pays", "amount": "4.30"},
                                      {"partner": "grocer", "direction": "receives", "amount": "1.80"}]
    assert statement["obligations"] == [{"from": "coffee", "to": "grocer", "amount": "3.30"},
                                        {"from": "grocer", "to": "coffee", "amount": "1.00"}]
    assert statement["gross_bilateral"] == {"count": 2, "total": "4.30"}
    assert {"issuer": "coffee", "redeemer": "fuel", "points": 200, "amount": "0.00"} in statement["matrix"]
    assert statement["period"] == {"start": None, "end": "2026-03-14T14:30:00Z"}
    assert "." not in json.dumps([n for n in _numbers(statement)])  # points are integers; money is strings

    # A refund of the grocer's sale, booked after the period closed, belongs to the next one.
    clock.advance(hours=1)
    assert hub.refund(grocer, "G-1", "100.00").json["points"] == -100
    later = clock.advance(hours=1)
    again = figures_of(database, None, end)
    assert (dict(again.issued), dict(again.fees), dict(again.obligations)) == (
        dict(f.issued), dict(f.fees), dict(f.obligations))
    g = figures_of(database, end, later)
    assert dict(g.issued) == {p["grocer"]: -100}
    assert dict(g.fees) == {p["grocer"]: -10}
    assert g.net(p["grocer"]) == 10 and g.net(NETWORK) == -10
    assert g.outstanding[p["grocer"]] == 300


def test_a_reversed_redemption_is_valued_at_its_redemptions_contract_version(hub, clock, database):
    t0 = clock.now
    coffee, grocer = hub.create_partner("coffee"), hub.create_partner("grocer")
    contract(hub, "grocer", "0", "0.010", t0 - timedelta(days=1))
    _, ann = hub.enrol(coffee)
    hub.sale(coffee, ann, "100.00")
    redemption = hub.redeem(grocer, ann, 60).json["redemption_id"]
    end1 = clock.advance(hours=1)
    contract(hub, "grocer", "0", "0.020", clock.now)
    assert hub.call("POST", f"/v1/redemptions/{redemption}/reversal", grocer).status_code == 201
    end2 = clock.advance(hours=1)
    p = ids(database)
    assert figures_of(database, None, end1).obligations[p["coffee"], p["grocer"]] == 60
    second = figures_of(database, end1, end2)
    assert second.matrix[p["coffee"], p["grocer"]] == -60
    assert second.obligations[p["coffee"], p["grocer"]] == -60  # at 0.010, the rate the redemption was paid at


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    workload=st.lists(
        st.tuples(st.sampled_from(["sale", "redeem", "refund", "reverse", "adjust", "age"]), st.integers(0, 2),
                  st.integers(0, 2), st.integers(1, 40_000)),
        min_size=1, max_size=25,
    ),
    clawback=st.sampled_from(["only_pending", "within_balance", "unlimited"]),
)
def test_net_positions_sum_to_zero_and_rows_account_for_every_point(app, hub, clock, database, backend, workload, clawback):
    """Sales (one partner with a return window), redemptions, refunds under each claw-back policy, reversals,
    operator adjustments both ways, and time passing with expiry: no point and no cent unaccounted for."""
    if backend != "sqlite":
        return  # the arithmetic is the same on both; one backend keeps this quick
    from network.lifecycle import expiry

    app.config.update(COALITION_CLAWBACK=clawback, COALITION_EXPIRY="fixed", COALITION_POINTS_LIFETIME_DAYS=60)
    state = hub.__dict__.setdefault("state", {})
    if not state:
        state["keys"] = [hub.create_partner(f"p{i}", pending_days=3 if i == 2 else 0) for i in range(3)]
        state["members"] = []
        for i, (fee, rate) in enumerate((("0.003", "0.011"), ("0.0015", "0.007"), ("0.01", "0.0125"))):
            contract(hub, f"p{i}", fee, rate, clock.now - timedelta(days=1))
        enrolled = [hub.enrol(state["keys"][0]) for _ in range(3)]
        state["members"], state["cards"] = [m for m, _ in enrolled], [c for _, c in enrolled]
        state["sales"], state["redemptions"], state["n"] = [], [], 0
    keys, cards = state["keys"], state["cards"]
    start = clock.now
    for op, partner, member, size in workload:
        state["n"] += 1
        clock.advance(minutes=1)
        if op == "sale":
            order = f"S{state['n']}"
            if hub.sale(keys[partner], cards[member], f"{size // 100}.{size % 100:02d}", order=order).status_code == 201:
                state["sales"].append((partner, order, size))
        elif op == "redeem":
            answer = hub.redeem(keys[partner], cards[member], max(1, size % 300))
            if answer.status_code == 201:
                state["redemptions"].append((partner, answer.json["redemption_id"]))
        elif op == "refund" and state["sales"]:
            partner, order, total = state["sales"][size % len(state["sales"])]
            share = max(1, total // 3)
            hub.refund(keys[partner], order, f"{share // 100}.{share % 100:02d}")
        elif op == "reverse" and state["redemptions"]:
            partner, redemption = state["redemptions"].pop(size % len(state["redemptions"]))
            hub.call("POST", f"/v1/redemptions/{redemption}/reversal", keys[partner])
        elif op == "adjust":
            points = (size % 400 + 1) * (1 if partner else -1)
            hub.call("POST", f"/v1/members/{state['members'][member]}/adjustments", json={"points": points, "reason": "r"})
        elif op == "age":
            now = clock.advance(days=size % 40)
            db = app.extensions["coalition"].db
            for _ in expiry.expire(db.transact, db.read, now, expiry.Policy.from_config(app.config), clock=clock):
                pass
    end = clock.advance(minutes=1)
    parties = (*ids(database).values(), NETWORK)
    for period in (Period(None, end), Period(start, end)):
        with database.session() as session:
            f = settle(session, period, "EUR")
        assert sum(f.net(party) for party in parties) == 0
        if period.start is None:
            for issuer in parties:
                spent = sum(points for (i, _), points in f.matrix.items() if i == issuer)
                assert f.outstanding[issuer] == f.issued[issuer] - spent - f.expired[issuer]
