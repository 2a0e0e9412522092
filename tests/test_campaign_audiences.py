"""A campaign's audience: a rule that counts only for the members it names, and the count before launch.

The network's ladder is Blue (from 0) and Gold (from 100 qualifying points,
x1: no tier bonus to muddle the sums). On 14 March Ann (Brew Bar's) buys
60.00 at the grocer (2 a euro: 120 points) and is Gold; Bob enrols at the
grocer and never buys. On 20 March Dee enrols at Brew Bar.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.ledger import snapshot

BASE = {"rule": "base_rate", "rate": "1"}
DOUBLE = {"rule": "day_of_week", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "multiplier": "2"}


@pytest.fixture
def people(hub, world, clock):
    ladder = [{"name": "Blue", "threshold": 0, "multiplier": "1"}, {"name": "Gold", "threshold": 100, "multiplier": "1"}]
    assert hub.call("PUT", "/v1/network/tiers", json={"tiers": ladder}).status_code == 200
    assert hub.sale(world.grocer, world.card, "60.00", occurred_at=clock.now.isoformat()).json["points"] == 120
    bob = hub.enrol(world.grocer, email="bob@example.com")[1]
    clock.now = datetime(2026, 3, 20, 10, 0, tzinfo=timezone.utc)
    dee = hub.enrol(world.coffee, email="dee@example.com")[1]
    return {"ann": world.card, "bob": bob, "dee": dee}


def earned(hub, world, clock, card, total="10.00"):
    answer = hub.sale(world.coffee, card, total, occurred_at=clock.now.isoformat())
    assert answer.status_code == 201, answer.json
    return answer.json["points"], [award["rule"] for award in answer.json["awards"]]


def test_a_rule_for_gold_members_counts_for_them_only(hub, world, clock, people):
    hub.put_rules("brew-bar", [BASE, {**DOUBLE, "audience": {"tiers": ["Gold"]}}])
    # Ann is Gold: 10 base and 10 more; Bob and Dee are Blue: the base alone.
    assert earned(hub, world, clock, people["ann"]) == (20, ["base_rate", "day_of_week"])
    assert earned(hub, world, clock, people["bob"]) == (10, ["base_rate"])
    assert earned(hub, world, clock, people["dee"]) == (10, ["base_rate"])


def test_members_enrolled_since_a_day_on_the_partners_clock(hub, world, clock, people):
    hub.put_rules("brew-bar", [BASE, {**DOUBLE, "audience": {"enrolled_since": "2026-03-15"}}])
    assert earned(hub, world, clock, people["dee"])[0] == 20  # enrolled on the 20th
    assert earned(hub, world, clock, people["ann"])[0] == 10  # on the 14th


def test_dormant_members_and_a_cap_that_sees_the_audiences_award(hub, world, clock, people):
    hub.put_rules("brew-bar", [BASE, {**DOUBLE, "audience": {"dormant_days": 5}}, {"rule": "cap", "max_points": 15}])
    # Bob never bought: dormant. Ann bought on the 14th, six days ago: dormant too. Dee, never: dormant.
    assert earned(hub, world, clock, people["bob"])[0] == 15  # 10 + 10, capped at 15
    clock.now += timedelta(days=1)
    assert earned(hub, world, clock, people["bob"])[0] == 10  # a day after his purchase he is not dormant


def test_a_batch_prices_each_row_for_its_own_member(hub, world, clock, people, database):
    key = hub.create_partner("corner", adapter="csv", earn_rate="1")
    hub.put_rules("corner", [BASE, {**DOUBLE, "audience": {"tiers": ["Gold"]}}])
    when = clock.now.isoformat()
    export = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n" + "".join(
        f"B-{i},sale,{card},{when},EUR,10.00,\n" for i, card in enumerate((people["ann"], people["bob"])))
    answer = hub.call("POST", "/v1/transactions/batch", key, data=export, content_type="text/csv")
    assert answer.status_code == 200 and answer.json["accepted"] == 2, answer.json
    # Ann (Gold) 10 + 10, Bob (Blue) 10: each row priced for its own member.
    assert hub.balance(people["ann"])["available"] == 120 + 20 and hub.balance(people["bob"])["available"] == 10


def test_the_preview_counts_the_members_an_audience_holds_now(hub, world, people):
    def count(audience, key=None, slug="brew-bar"):
        answer = hub.call("POST", f"/v1/partners/{slug}/audience-preview", key, json={"audience": audience})
        assert answer.status_code == 200, answer.json
        return answer.json["members"]

    assert count({"tiers": ["Gold"]}) == 1  # Ann
    assert count({"tiers": ["Blue"]}, world.coffee) == 2  # Bob and Dee, asked by Brew Bar itself
    assert count({"enrolled_since": "2026-03-15"}) == 1  # Dee
    assert count({"enrolled_before": "2026-03-15"}) == 2  # Ann and Bob
    assert count({"dormant_days": 3}) == 3  # Ann bought six days ago; Bob and Dee never
    assert count({"tiers": ["Platinum"]}) == 0  # no such tier: nobody
    other = hub.call("POST", "/v1/partners/green-grocer/audience-preview", world.coffee,
                     json={"audience": {"tiers": ["Gold"]}})
    assert other.status_code == 403 and other.json["error"]["code"] == "wrong_partner"


@pytest.mark.parametrize("audience, field", [
    ({"tiers": []}, "rules.1.audience.tiers"),
    ({"dormant_days": 0}, "rules.1.audience.dormant_days"),
    ({"colour": "red"}, "rules.1.audience.colour"),
    ({}, "rules.1.audience._schema"),
    ({"enrolled_since": "2026-03-15", "enrolled_before": "2026-03-01"}, "rules.1.audience.enrolled_before"),
    ("gold", "rules.1.audience._schema"),
])
def test_a_bad_audience_is_a_422_naming_it_and_changes_nothing(hub, world, database, audience, field):
    before = snapshot(database)
    answer = hub.call("PUT", "/v1/partners/brew-bar/rules", json=[BASE, {**DOUBLE, "audience": audience}])
    assert answer.status_code == 422 and field in answer.json["error"]["details"], answer.json
    assert snapshot(database) == before


def test_an_event_rule_has_no_audience(hub, world):
    answer = hub.call("PUT", "/v1/partners/brew-bar/rules",
                      json=[BASE, {"rule": "welcome_bonus", "points": 5, "audience": {"tiers": ["Gold"]}}])
    assert answer.status_code == 422 and "rules.1.audience" in answer.json["error"]["details"]
