"""Events that follow from bookings: a tier changed, a reward came within reach."""

from __future__ import annotations

from tests.support.events import events
from tests.support.ladders import set_ladder


def test_crossing_a_threshold_tells_the_enrolling_partner_and_the_review_tells_it_again(runner, world, database, clock):
    set_ladder(world.hub)
    world.hub.sale(world.coffee, world.card, "999.00")
    assert events(database, "tier_changed") == []
    world.hub.sale(world.grocer, world.card, "1.00")  # 2 more qualifying points: 1001
    # To Brew Bar, which enrolled Ann, though the sale was the grocer's.
    assert events(database, "tier_changed") == [("tier_changed", "brew-bar", {
        "member_id": world.member_id, "from": "Blue", "to": "Silver", "reason": "threshold reached"})]

    clock.advance(days=400)
    result = runner.invoke(["tiers", "review"])
    assert result.exit_code == 0, result.output
    assert events(database, "tier_changed")[-1][2] == {
        "member_id": world.member_id, "from": "Silver", "to": "Blue", "reason": "yearly review"}


def test_a_sale_that_brings_a_reward_within_reach_nudges_once(hub, world, database):
    coffee = hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee,
                      json={"sku": "FLAT-WHITE", "name": "a free flat white", "points": 120})
    assert coffee.status_code == 201, coffee.json
    hub.call("POST", "/v1/partners/green-grocer/rewards", world.grocer,
             json={"sku": "BASKET", "name": "a fruit basket", "points": 400})
    hub.sale(world.coffee, world.card, "60.00")  # 60 points: 60 short of the coffee, more than the gap of 50
    assert events(database, "reward_within_reach") == []
    hub.sale(world.coffee, world.card, "50.00")  # 110: 10 short
    (nudge,) = events(database, "reward_within_reach")
    assert nudge == ("reward_within_reach", "brew-bar", {
        "member_id": world.member_id, "points_to_go": 10, "balance": 110,
        "reward": {"partner": "brew-bar", "sku": "FLAT-WHITE", "name": "a free flat white", "points": 120},
        "message": "You're just 10 points away from a free flat white at Brew Bar"})
    hub.sale(world.coffee, world.card, "5.00")  # 115: still within reach, no second nudge
    assert len(events(database, "reward_within_reach")) == 1

    # Past the coffee, on towards the basket: 355 is 45 short of 400, the grocer's nudge.
    hub.sale(world.grocer, world.card, "120.00")
    assert [(slug, data["points_to_go"]) for _, slug, data in events(database, "reward_within_reach")] == [
        ("brew-bar", 10), ("green-grocer", 45)]


def test_a_retired_or_sold_out_reward_nudges_nobody(hub, world, database):
    hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee,
             json={"sku": "GONE", "name": "sold out", "points": 100, "stock": 0})
    hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee, json={"sku": "OLD", "name": "retired", "points": 100})
    hub.call("PATCH", "/v1/partners/brew-bar/rewards/OLD", world.coffee, json={"active": False})
    hub.sale(world.coffee, world.card, "90.00")
    assert events(database, "reward_within_reach") == []


def test_the_gap_is_a_setting_and_zero_turns_nudges_off(app, hub, world, database):
    hub.call("POST", "/v1/partners/brew-bar/rewards", world.coffee, json={"sku": "C", "name": "a coffee", "points": 100})
    app.config["COALITION_NUDGE_GAP_POINTS"] = 0
    hub.sale(world.coffee, world.card, "95.00")
    assert events(database, "reward_within_reach") == []
    app.config["COALITION_NUDGE_GAP_POINTS"] = 2
    hub.redeem(world.coffee, world.card, 95)
    hub.sale(world.coffee, world.card, "97.00")  # 3 short: outside a gap of 2
    hub.sale(world.coffee, world.card, "1.00")  # 2 short
    assert [data["points_to_go"] for _, _, data in events(database, "reward_within_reach")] == [2]


def test_pending_points_count_towards_reach(hub, database):
    key = hub.create_partner("threads", pending_days=14)
    hub.call("POST", "/v1/partners/threads/rewards", key, json={"sku": "TOTE", "name": "a tote bag", "points": 100})
    _, card = hub.enrol(key)
    hub.sale(key, card, "80.00")
    # The 80 points are pending for 14 days; the nudge says how close the member already is.
    assert [data["points_to_go"] for _, _, data in events(database, "reward_within_reach")] == [20]
