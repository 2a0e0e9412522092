"""Tiers: the ladder Blue 0 x1, Silver 1000 x1.25, Gold 5000 x1.5, worked through with exact numbers."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from network.models import Account, Lot, Partner, Posting, int_sum
from tests.support.ladders import LADDER, set_ladder
from tests.support.ledger import snapshot
from tests.support.races import race


def standing(hub, card):
    balance = hub.balance(card)
    return balance["tier"], balance["qualifying_points"], balance["next_tier"], balance["points_to_next_tier"]


def awards(response):
    assert response.status_code == 201, response.json
    return [(a["rule"], a["points"]) for a in response.json["awards"]]


def review(runner, *args):
    result = runner.invoke(["tiers", "review", *args])
    assert result.exit_code == 0, result.output
    return result.output


def issued_by(database, slug):
    """The partner's issuance account total (negative: points it issued) and its lots' points, oldest first."""
    with database.session() as session:
        partner = session.scalar(select(Partner.id).where(Partner.slug == slug))
        account = session.scalar(select(Account.id).where(Account.partner_id == partner, Account.kind == "issuance"))
        total = session.scalar(select(int_sum(Posting.amount)).where(Posting.account_id == account))
        lots = session.scalars(select(Lot.points).where(Lot.issuer_id == partner).order_by(Lot.id)).all()
    return total, lots


# ---------------------------------------------------------------- the ladder


def test_the_operator_sets_the_ladder_and_partners_read_it(hub, world):
    assert hub.call("GET", "/v1/network/tiers").json == {"tiers": [], "window": "rolling_365", "loyalty_year_start": "01-01"}
    shown = set_ladder(hub)
    assert shown == {"tiers": LADDER, "window": "rolling_365", "loyalty_year_start": "01-01"}
    assert hub.call("GET", "/v1/network/tiers", world.grocer).json == shown
    refused = hub.call("PUT", "/v1/network/tiers", world.grocer, json={"tiers": LADDER})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "wrong_role"


def test_an_invalid_ladder_is_refused_naming_the_field_and_changes_nothing(hub, database):
    set_ladder(hub)
    before = snapshot(database)
    cases = [
        ([{"name": "Blue", "threshold": 10, "multiplier": "1"}], {"tiers.0.threshold"}),
        ([{"name": "Blue", "threshold": 0, "multiplier": "1"}, {"name": "Silver", "threshold": 0, "multiplier": "1.2"}],
         {"tiers.1.threshold"}),
        ([{"name": "Blue", "threshold": 0, "multiplier": "1"}, {"name": "blue", "threshold": 5, "multiplier": "1"}],
         {"tiers.1.name"}),
        ([{"name": "Blue", "threshold": 0, "multiplier": "0.9"}], {"tiers.0.multiplier"}),
        ([{"name": "Blue", "threshold": 0, "multiplier": "1.5"}, {"name": "Silver", "threshold": 5, "multiplier": "1.25"}],
         {"tiers.1.multiplier"}),
        ([{"name": "Blue", "threshold": 0, "multiplier": 1.5}], {"tiers.0.multiplier"}),
        ([{"name": "Blue", "threshold": "0", "multiplier": "1"}], {"tiers.0.threshold"}),
        ([{"name": "Blue", "threshold": 0, "multiplier": "1", "colour": "blue"}], {"tiers.0.colour"}),
        ([{"name": " Blue", "threshold": 0, "multiplier": "1"}], {"tiers.0.name"}),
        ([], {"tiers"}),
    ]
    for ladder, fields in cases:
        refused = hub.call("PUT", "/v1/network/tiers", json={"tiers": ladder})
        assert refused.status_code == 422, ladder
        assert refused.json["error"]["code"] == "validation_error"
        assert set(refused.json["error"]["details"]) == fields, (ladder, refused.json)
    assert hub.call("GET", "/v1/network/tiers").json["tiers"] == LADDER
    assert snapshot(database) == before


def test_a_mistyped_tier_window_stops_the_hub_at_start_up(database):
    from network import create_app

    for setting in ({"COALITION_TIER_WINDOW": "weekly"}, {"COALITION_LOYALTY_YEAR_START": "02-29"},
                    {"COALITION_LOYALTY_YEAR_START": "1-1"}):
        with pytest.raises(ValueError, match=next(iter(setting))):
            create_app({"DATABASE": database, **setting})


# ---------------------------------------------------------------- earning


def test_a_member_moves_up_at_the_crossing_and_earns_the_multiplier_from_the_next_sale(hub, world, database, clock):
    set_ladder(hub)
    assert standing(hub, world.card) == ("Blue", 0, "Silver", 1000)

    assert awards(hub.sale(world.coffee, world.card, "999.00")) == [("base_rate", 999)]
    assert standing(hub, world.card) == ("Blue", 999, "Silver", 1)
    # 999 + 10 crosses 1000: this sale still earns at Blue, and the member is Silver as it books.
    crossing = hub.sale(world.coffee, world.card, "10.00")
    assert awards(crossing) == [("base_rate", 10)]
    assert standing(hub, world.card) == ("Silver", 1009, "Gold", 3991)
    assert hub.balance(world.card)["tier_since"] == clock.now.isoformat()

    # The next sale: 10 points, and floor(10 x 0.25) = 2 more as the tier's own award.
    clock.advance(minutes=5)
    silver = hub.sale(world.coffee, world.card, "10.99", order="S-silver")
    assert awards(silver) == [("base_rate", 10), ("tier", 2)]
    assert silver.json["points"] == 12
    assert silver.json["awards"][1]["detail"] == "Silver x1.25"
    # The tier award does not qualify: 1009 + 10.
    assert standing(hub, world.card) == ("Silver", 1019, "Gold", 3981)

    (entry, *_) = hub.history(world.member_id)["items"]
    assert (entry["kind"], entry["partner"], entry["order_id"], entry["points"]) == ("earn", "brew-bar", "S-silver", 12)
    assert entry["awards"] == [{"rule": "base_rate", "points": 10, "detail": "1 point per unit spent"},
                               {"rule": "tier", "points": 2, "detail": "Silver x1.25"}]
    # Funded by Brew Bar, like the rest of the sale: its issuance account and one lot of 12 it issued.
    assert entry["provenance"] == [{"issuer": "brew-bar", "points": 12}]
    assert issued_by(database, "brew-bar") == (-(999 + 10 + 12), [999, 10, 12])

    # 2,500 EUR at the grocer (2 per EUR): 5,000 points at Silver earn 1,250 more, and reach Gold (6,019).
    assert awards(hub.sale(world.grocer, world.card, "2500.00")) == [("base_rate", 5000), ("tier", 1250)]
    assert standing(hub, world.card) == ("Gold", 6019, None, None)
    # Gold: 7 points earn floor(7 x 0.5) = 3 more, never 3.5.
    assert awards(hub.sale(world.coffee, world.card, "7.00")) == [("base_rate", 7), ("tier", 3)]
    assert issued_by(database, "green-grocer") == (-6250, [6250])
    assert hub.balance(world.card)["available"] == 999 + 10 + 12 + 6250 + 10
    member = hub.call("GET", f"/v1/members/{world.member_id}", world.grocer).json
    assert (member["tier"], member["qualifying_points"], member["points_to_next_tier"]) == ("Gold", 6026, None)


def test_one_sale_can_climb_several_tiers_at_once(hub, world):
    set_ladder(hub)
    assert awards(hub.sale(world.coffee, world.card, "6000.00")) == [("base_rate", 6000)]
    assert standing(hub, world.card) == ("Gold", 6000, None, None)
    assert awards(hub.sale(world.coffee, world.card, "100.00")) == [("base_rate", 100), ("tier", 50)]


def test_concurrent_sales_cross_a_threshold_once_and_the_rest_earn_the_new_multiplier(hub, world):
    set_ladder(hub)
    hub.sale(world.coffee, world.card, "950.00")
    responses = race(10, lambda i: hub.sale(world.coffee, world.card, "100.00", order=f"RACE-{i}"))
    assert [r.status_code for r in responses] == [201] * 10
    # Each sale reads the tier under the member's lock: the one that crosses 1,000 earns at Blue, nine at Silver.
    earned = sorted(awards(r) for r in responses)
    assert earned == [[("base_rate", 100)]] + [[("base_rate", 100), ("tier", 25)]] * 9
    assert standing(hub, world.card) == ("Silver", 1950, "Gold", 3050)
    assert hub.balance(world.card)["available"] == 950 + 1000 + 9 * 25


def test_bonuses_and_adjustments_do_not_qualify(hub, database):
    key = hub.create_partner("brew-bar", rules=[{"rule": "base_rate", "rate": "1"}, {"rule": "welcome_bonus", "points": 5000}])
    set_ladder(hub)
    member_id, card = hub.enrol(key)
    credited = hub.call("POST", f"/v1/members/{member_id}/adjustments", json={"points": 2000, "reason": "goodwill"})
    assert credited.status_code == 201
    assert hub.balance(card)["available"] == 7000
    assert standing(hub, card) == ("Blue", 0, "Silver", 1000)
    assert awards(hub.sale(key, card, "999.00")) == [("base_rate", 999)]
    assert standing(hub, card) == ("Blue", 999, "Silver", 1)
    assert awards(hub.sale(key, card, "1.00")) == [("base_rate", 1)]
    assert standing(hub, card) == ("Silver", 1000, "Gold", 4000)


def test_a_partial_refund_claws_back_the_tier_award_in_proportion(hub, world, database):
    set_ladder(hub)
    hub.sale(world.coffee, world.card, "1000.00")
    assert awards(hub.sale(world.coffee, world.card, "100.00", order="R-1")) == [("base_rate", 100), ("tier", 25)]

    # A third of the sale back: floor(100 x 33/100) = 33 and floor(25 x 33/100) = 8.
    first = hub.refund(world.coffee, "R-1", "33.00")
    assert first.status_code == 201, first.json
    assert [(a["rule"], a["points"], a["detail"]) for a in first.json["awards"]] == [
        ("base_rate", -33, "1 point per unit spent"), ("tier", -8, "Silver x1.25")]
    assert first.json["points"] == -41
    # Only the base points qualify, so only they come off: 1,000 + 100 - 33.
    assert standing(hub, world.card) == ("Silver", 1067, "Gold", 3933)
    # The rest: exactly what is left of each award, 67 and 17.
    rest = hub.refund(world.coffee, "R-1", "67.00")
    assert awards(rest) == [("base_rate", -67), ("tier", -17)]
    assert hub.balance(world.card)["available"] == 1000
    # A refund never moves a member down: only the yearly review does.
    assert standing(hub, world.card) == ("Silver", 1000, "Gold", 4000)
    assert issued_by(database, "brew-bar") == (-1000, [1000, 125])


def test_a_csv_batch_earns_exactly_what_the_same_sales_earn_one_by_one(hub, runner, database, tmp_path):
    till = hub.create_partner("brew-bar")
    shop = hub.create_partner("eod-shop", adapter="csv")
    set_ladder(hub)
    _, ann = hub.enrol(till)
    bob_id, bob = hub.enrol(shop)
    cara_id, cara = hub.enrol(shop)
    totals = ["600.00", "500.00", "100.00", "3900.00", "7.00", "0.50", "1.00"]
    expected = [
        [("base_rate", 600)],
        [("base_rate", 500)],  # crosses Silver (1,100)
        [("base_rate", 100), ("tier", 25)],
        [("base_rate", 3900), ("tier", 975)],  # crosses Gold (5,100)
        [("base_rate", 7), ("tier", 3)],
        [],  # earns nothing, so no tier award either
        [("base_rate", 1)],  # floor(1 x 0.5) = 0: no tier award
    ]
    assert [awards(hub.sale(till, ann, total)) for total in totals] == expected

    header = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n"
    rows = "".join(f"B-{i},sale,{bob},2026-03-14T09:00:00Z,EUR,{total},\n" for i, total in enumerate(totals))
    batch = hub.call("POST", "/v1/transactions/batch", shop, data=(header + rows).encode(), content_type="text/csv")
    assert batch.status_code == 200 and batch.json["accepted"] == len(totals), batch.json
    path = tmp_path / "eod.csv"
    path.write_text(header + rows.replace("B-", "C-").replace(bob, cara))
    result = runner.invoke(["import", "--partner", "eod-shop", path])
    assert json.loads(result.output[result.output.index("{"):])["accepted"] == len(totals)

    for member_id in (bob_id, cara_id):
        entries = list(reversed(hub.history(member_id)["items"]))
        assert [[(a["rule"], a["points"]) for a in e["awards"]] for e in entries] == [e for e in expected if e]
    for card in (ann, bob, cara):
        assert standing(hub, card) == ("Gold", 5108, None, None)
        assert hub.balance(card)["available"] == 600 + 500 + 125 + 4875 + 10 + 1
    assert issued_by(database, "eod-shop")[0] == -2 * 6111


def test_members_keep_their_place_in_the_ladder_when_the_operator_changes_it(hub, world):
    set_ladder(hub)
    hub.sale(world.coffee, world.card, "1200.00")
    assert standing(hub, world.card)[0] == "Silver"
    # Renamed and re-priced: the member is still on the second rung.
    set_ladder(hub, [{"name": "Blue", "threshold": 0, "multiplier": "1"},
                     {"name": "Argent", "threshold": 1500, "multiplier": "2"},
                     {"name": "Or", "threshold": 9000, "multiplier": "3"}])
    assert standing(hub, world.card) == ("Argent", 1200, "Or", 7800)
    assert awards(hub.sale(world.coffee, world.card, "10.00")) == [("base_rate", 10), ("tier", 10)]
    # A one-rung ladder: everybody is in it, nobody earns more, nobody moves.
    set_ladder(hub, [{"name": "Member", "threshold": 0, "multiplier": "1"}])
    assert standing(hub, world.card) == ("Member", 1210, None, None)
    assert awards(hub.sale(world.coffee, world.card, "10.00")) == [("base_rate", 10)]


# ---------------------------------------------------------------- windows


def test_the_rolling_window_forgets_sales_after_365_days_but_the_tier_stays_until_the_review(hub, world, clock):
    set_ladder(hub)
    hub.sale(world.coffee, world.card, "1200.00")
    assert standing(hub, world.card) == ("Silver", 1200, "Gold", 3800)
    clock.advance(days=364)
    assert standing(hub, world.card) == ("Silver", 1200, "Gold", 3800)
    clock.advance(days=2)
    assert standing(hub, world.card) == ("Silver", 0, "Gold", 5000)
    assert awards(hub.sale(world.coffee, world.card, "10.00")) == [("base_rate", 10), ("tier", 2)]
    assert standing(hub, world.card) == ("Silver", 10, "Gold", 4990)


def test_the_loyalty_year_counts_from_its_first_day(hub, world, app, clock):
    app.config.update(COALITION_TIER_WINDOW="loyalty_year", COALITION_LOYALTY_YEAR_START="04-01")
    assert set_ladder(hub)["window"] == "loyalty_year"
    hub.sale(world.coffee, world.card, "600.00")  # 2026-03-14, in the year from 2025-04-01
    clock.advance(days=17)  # 2026-03-31
    hub.sale(world.coffee, world.card, "500.00")
    assert standing(hub, world.card) == ("Silver", 1100, "Gold", 3900)
    clock.advance(days=1)  # 2026-04-01 09:30: a new loyalty year, nothing qualifies yet
    assert standing(hub, world.card) == ("Silver", 0, "Gold", 5000)
    assert awards(hub.sale(world.coffee, world.card, "600.00")) == [("base_rate", 600), ("tier", 150)]
    assert standing(hub, world.card) == ("Silver", 600, "Gold", 4400)


# ---------------------------------------------------------------- the yearly review


def test_the_review_moves_a_member_down_one_tier_only_and_once_a_year(hub, world, runner, clock):
    set_ladder(hub)
    _, keeper = hub.enrol(world.grocer)
    hub.sale(world.coffee, world.card, "6000.00")  # 2026-03-14: Gold
    clock.advance(days=300)
    hub.sale(world.coffee, keeper, "1000.00")  # 2027-01-08: Silver
    clock.advance(days=100)  # 2027-04-18

    assert standing(hub, world.card) == ("Gold", 0, None, None)
    first = review(runner)
    # Gold -> Silver, not Blue, though 0 points qualify for nothing; the keeper's 1,000 keep Silver.
    assert "reviewed 2 members" in first and ": 1 moved down one tier" in first, first
    assert standing(hub, world.card) == ("Silver", 0, "Gold", 5000)
    assert hub.balance(world.card)["tier_since"] == clock.now.isoformat()
    assert standing(hub, keeper) == ("Silver", 1000, "Gold", 4000)

    clock.advance(days=30)  # the same loyalty year (from 2027-01-01): nobody is judged twice
    again = review(runner)
    assert "reviewed 0 members" in again and ": 0 moved down" in again, again
    assert standing(hub, world.card) == ("Silver", 0, "Gold", 5000)

    clock.advance(days=300)  # 2028-02-12: the next year's review, one more step down each
    third = review(runner)
    assert "reviewed 2 members" in third and ": 2 moved down one tier" in third, third
    assert standing(hub, world.card) == ("Blue", 0, "Silver", 1000)
    assert standing(hub, keeper) == ("Blue", 0, "Silver", 1000)
    assert "reviewed 0 members" in review(runner)  # Blue is the floor: nobody left to judge


def test_a_review_as_of_the_loyalty_years_start_judges_the_year_that_ended(hub, world, app, runner, clock):
    app.config.update(COALITION_TIER_WINDOW="loyalty_year")
    set_ladder(hub)
    _, late = hub.enrol(world.grocer)
    hub.sale(world.coffee, world.card, "1500.00")  # 2026-03-14: Silver on 2026's points
    clock.advance(days=300)  # 2027-01-08
    hub.sale(world.coffee, late, "1000.00")  # Silver on 2027's points, after the year judged
    output = review(runner, "--as-of", "2027-01-01")
    assert "from 2026-01-01T00:00:00+00:00 to 2027-01-01T00:00:00+00:00" in output
    assert ": 0 moved down" in output, output
    assert standing(hub, world.card)[0] == "Silver" and standing(hub, late)[0] == "Silver"
    refused = runner.invoke(["tiers", "review", "--as-of", "2030-01-01"])
    assert refused.exit_code == 2 and "future" in refused.output


def test_a_merged_members_sales_qualify_for_the_survivor(world, database):
    hub = world.hub
    set_ladder(hub)
    bob, bob_card = hub.enrol(world.grocer)
    hub.sale(world.coffee, bob_card, "600.00")  # 600 qualifying points, Bob's
    hub.sale(world.coffee, world.card, "300.00")  # 300, Ann's
    assert hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": bob}).status_code == 200
    assert standing(hub, world.card)[1] == 900
    hub.sale(world.coffee, world.card, "100.00")  # 1000: Silver, counting Bob's sales
    assert standing(hub, world.card)[:2] == ("Silver", 1000)
