"""Rewards by sku (stock, per-member limits), paying an amount at a partner's rate, and donations to charities."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.contracts import contract, figures_of
from tests.support.holds import void
from tests.support.hub import order_id
from tests.support.ledger import ids, snapshot
from tests.support.races import race


def add_reward(hub, slug, key=None, **body):
    return hub.call("POST", f"/v1/partners/{slug}/rewards", key, json=body)


def take(hub, key, card, sku, order=None, **extra):
    return hub.call("POST", "/v1/redemptions", key,
                    json={"card_number": card, "sku": sku, "order_id": order or order_id("W"), **extra})


def pay(hub, key, card, amount, order=None):
    return hub.call("POST", "/v1/redemptions", key,
                    json={"card_number": card, "amount": amount, "order_id": order or order_id("P")})


def stock(hub, slug, sku):
    return {r["sku"]: r for r in hub.call("GET", f"/v1/partners/{slug}/rewards", query_string={"retired": "true"})
            .json["rewards"]}[sku]["stock"]


@pytest.fixture
def cafe(world):
    """Brew Bar sells a flat white for 120 points: 2 left, one per member."""
    created = add_reward(world.hub, "brew-bar", world.coffee, sku="FLAT-WHITE", name="Flat white", points=120, stock=2,
                         per_member_limit=1)
    assert created.status_code == 201, created.json
    assert created.json == {"sku": "FLAT-WHITE", "name": "Flat white", "points": 120, "stock": 2, "per_member_limit": 1,
                            "active": True}
    world.hub.sale(world.grocer, world.card, "250.00")  # 500 points
    return world


def test_a_catalogue_is_kept_by_its_partner_and_read_by_every_till(cafe):
    hub = cafe.hub
    elsewhere = add_reward(hub, "brew-bar", cafe.grocer, sku="X", name="X", points=1)
    assert (elsewhere.status_code, elsewhere.json["error"]["code"]) == (403, "wrong_partner")
    assert add_reward(hub, "brew-bar", sku="MUFFIN", name="Muffin", points=80).status_code == 201  # the operator
    taken = add_reward(hub, "brew-bar", cafe.coffee, sku="MUFFIN", name="Muffin", points=90)
    assert (taken.status_code, taken.json["error"]["code"]) == (409, "reward_exists")
    bad = add_reward(hub, "brew-bar", cafe.coffee, sku="TEA", name="Tea", points=0, stock=-1)
    assert bad.status_code == 422 and {"points", "stock"} <= set(bad.json["error"]["details"])
    listed = hub.call("GET", "/v1/partners/brew-bar/rewards", cafe.grocer).json
    assert [(r["sku"], r["points"], r["stock"]) for r in listed["rewards"]] == [("FLAT-WHITE", 120, 2), ("MUFFIN", 80, None)]
    changed = hub.call("PATCH", "/v1/partners/brew-bar/rewards/MUFFIN", cafe.coffee, json={"points": 70, "active": False})
    assert changed.status_code == 200 and (changed.json["points"], changed.json["active"]) == (70, False)
    assert [r["sku"] for r in hub.call("GET", "/v1/partners/brew-bar/rewards", cafe.grocer).json["rewards"]] == ["FLAT-WHITE"]
    retired = take(hub, cafe.coffee, cafe.card, "MUFFIN")
    assert (retired.status_code, retired.json["error"]["code"]) == (422, "reward_retired")
    assert take(hub, cafe.grocer, cafe.card, "FLAT-WHITE").json["error"]["code"] == "unknown_reward"  # not the grocer's
    assert hub.call("PATCH", "/v1/partners/brew-bar/rewards/NOPE", cafe.coffee, json={}).status_code == 404


def test_a_reward_takes_its_points_and_a_unit_of_stock_within_the_members_limit(cafe, database):
    hub = cafe.hub
    first = take(hub, cafe.coffee, cafe.card, "FLAT-WHITE", order="W-1")
    assert first.status_code == 201, first.json
    assert first.json["points"] == 120
    assert first.json["reward"] == {"sku": "FLAT-WHITE", "name": "Flat white", "quantity": 1}
    assert first.json["balance"]["available"] == 380
    assert first.json["provenance"] == [{"issuer": "green-grocer", "points": 120}]
    assert stock(hub, "brew-bar", "FLAT-WHITE") == 1

    before = snapshot(database)
    again = take(hub, cafe.coffee, cafe.card, "FLAT-WHITE")
    assert (again.status_code, again.json["error"]["code"]) == (422, "reward_limit_reached")
    assert again.json["error"]["details"]["taken"] == 1
    assert snapshot(database) == before

    # Bob takes the last one; Cy finds none left and keeps his points.
    _, bob = hub.enrol(cafe.coffee)
    _, cy = hub.enrol(cafe.coffee)
    hub.sale(cafe.grocer, bob, "100.00")
    hub.sale(cafe.grocer, cy, "100.00")
    assert take(hub, cafe.coffee, bob, "FLAT-WHITE").status_code == 201
    before = snapshot(database)
    out = take(hub, cafe.coffee, cy, "FLAT-WHITE")
    assert (out.status_code, out.json["error"]["code"]) == (409, "out_of_stock")
    assert out.json["error"]["details"]["stock"] == 0
    assert snapshot(database) == before
    assert hub.balance(cy)["available"] == 200

    # Brew Bar reverses Ann's: the unit goes back to stock and Ann may take one again.
    assert hub.call("POST", f"/v1/redemptions/{first.json['redemption_id']}/reversal", cafe.coffee).status_code == 201
    assert stock(hub, "brew-bar", "FLAT-WHITE") == 1
    assert take(hub, cafe.coffee, cafe.card, "FLAT-WHITE").status_code == 201


def test_several_units_and_a_held_reward(cafe, database):
    hub = cafe.hub
    assert add_reward(hub, "brew-bar", cafe.coffee, sku="COOKIE", name="Cookie", points=25, stock=10).status_code == 201
    three = take(hub, cafe.coffee, cafe.card, "COOKIE", quantity=3)
    assert (three.json["points"], three.json["reward"]["quantity"]) == (75, 3)
    assert stock(hub, "brew-bar", "COOKIE") == 7
    held = take(hub, cafe.coffee, cafe.card, "COOKIE", quantity=7, capture=False)
    assert held.status_code == 201, held.json
    assert (held.json["status"], held.json["points"]) == ("authorized", 175)
    assert stock(hub, "brew-bar", "COOKIE") == 0  # reserved while held
    partial = hub.call("POST", f"/v1/redemptions/{held.json['redemption_id']}/capture", cafe.coffee, json={"points": 100})
    assert partial.json["error"]["code"] == "partial_reward_capture"
    assert void(hub, cafe.coffee, held.json["redemption_id"]).status_code == 200
    assert stock(hub, "brew-bar", "COOKIE") == 7
    assert hub.balance(cafe.card)["available"] == 500 - 75
    no_sku_quantity = hub.call("POST", "/v1/redemptions", cafe.coffee,
                               json={"card_number": cafe.card, "points": 5, "quantity": 2, "order_id": "Q-1"})
    assert "quantity" in no_sku_quantity.json["error"]["details"]


def test_a_held_reward_counts_to_the_limit_and_its_expiry_frees_it(cafe, clock):
    hub = cafe.hub
    held = take(hub, cafe.coffee, cafe.card, "FLAT-WHITE", capture=False, hold_seconds=60)
    assert held.status_code == 201
    assert take(hub, cafe.coffee, cafe.card, "FLAT-WHITE").json["error"]["code"] == "reward_limit_reached"
    clock.advance(seconds=60)
    again = take(hub, cafe.coffee, cafe.card, "FLAT-WHITE")
    assert again.status_code == 201, again.json
    assert stock(hub, "brew-bar", "FLAT-WHITE") == 1
    assert again.json["balance"] == {"available": 380, "pending": 0, "held": 0}


def test_the_last_unit_raced_for_by_eight_members_goes_to_one(hub, database, backend):
    if backend != "postgres":
        pytest.skip("row locks are only real on PostgreSQL")
    key = hub.create_partner("deli")
    assert add_reward(hub, "deli", key, sku="HAMPER", name="Hamper", points=300, stock=1).status_code == 201
    cards = [hub.enrol(key)[1] for _ in range(8)]
    for card in cards:
        hub.sale(key, card, "400.00")
    answers = race(8, lambda i: take(hub, key, cards[i], "HAMPER", order=f"H-{i}"))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    assert {a.json["error"]["code"] for a in answers if a.status_code == 409} == {"out_of_stock"}
    assert stock(hub, "deli", "HAMPER") == 0
    assert sorted(hub.balance(card)["available"] for card in cards) == [100] + [400] * 7


def test_paying_an_amount_at_the_partners_rate_rounds_up(hub, database):
    euro = hub.create_partner("bistro", points_per_unit="100")
    assert hub.call("GET", "/v1/partners/bistro", euro).json["points_per_unit"] == "100"
    _, card = hub.enrol(euro)
    hub.sale(euro, card, "20.00")  # 20 points
    paid = pay(hub, euro, card, "0.15")
    assert paid.status_code == 201, paid.json
    assert (paid.json["points"], paid.json["amount"], paid.json["currency"]) == (15, "0.15", "EUR")
    before = snapshot(database)
    sub_cent = pay(hub, euro, card, "4.505")
    assert sub_cent.status_code == 422 and "amount" in sub_cent.json["error"]["details"]  # EUR has 2 decimals
    assert pay(hub, euro, card, "4.50").json["error"]["details"] == {"requested": 450, "available": 5}
    assert pay(hub, euro, card, "0").json["error"]["details"] == {"amount": ["must be greater than zero"]}
    assert snapshot(database) == before


def test_pay_450_points_for_4_50_eur_and_ceil_fractions_of_a_point(hub):
    euro = hub.create_partner("bistro", earn_rate="10")
    _, card = hub.enrol(euro)
    hub.sale(euro, card, "100.00")  # 1000 points
    no_rate = pay(hub, euro, card, "4.50")
    assert (no_rate.status_code, no_rate.json["error"]["code"]) == (422, "no_points_rate")
    # The partner sets its own rate; another partner may not.
    other = hub.create_partner("other")
    assert hub.call("PUT", "/v1/partners/bistro/points-rate", other, json={"points_per_unit": "100"}).status_code == 403
    assert hub.call("PUT", "/v1/partners/bistro/points-rate", euro, json={"points_per_unit": "100"}).status_code == 200
    assert pay(hub, euro, card, "4.50").json["points"] == 450
    assert hub.call("PUT", "/v1/partners/bistro/points-rate", euro, json={"points_per_unit": "33.3"}).status_code == 200
    paid = pay(hub, euro, card, "4.55")  # 4.55 x 33.3 = 151.515 -> 152: never less than the price
    assert (paid.json["points"], paid.json["amount"]) == (152, "4.55")
    assert paid.json["balance"]["available"] == 1000 - 450 - 152
    bad_rate = hub.call("PUT", "/v1/partners/bistro/points-rate", euro, json={"points_per_unit": "0"})
    assert bad_rate.status_code == 422 and "points_per_unit" in bad_rate.json["error"]["details"]


def test_4_505_of_a_three_decimal_currency_costs_451_points(hub):
    dinar = hub.create_partner("souk", currency="KWD", points_per_unit="100", earn_rate="1000")
    _, card = hub.enrol(dinar)
    hub.sale(dinar, card, "1.000", currency="KWD")  # 1000 points
    paid = pay(hub, dinar, card, "4.505")  # 450.5 points -> 451
    assert (paid.json["points"], paid.json["amount"], paid.json["currency"]) == (451, "4.505", "KWD")


def test_exactly_one_of_points_sku_or_amount(world, database):
    hub = world.hub
    before = snapshot(database)
    for body in ({}, {"points": 5, "sku": "A"}, {"points": 5, "amount": "1.00"}, {"sku": "A", "amount": "1.00"}):
        answer = hub.call("POST", "/v1/redemptions", world.coffee, json={"card_number": world.card, "order_id": "E-1", **body})
        assert answer.status_code == 422, body
        assert answer.json["error"]["details"], body
    assert snapshot(database) == before


def test_donations_go_to_charities_only_and_settle_like_redemptions(hub, clock, database):
    shop = hub.create_partner("shop")
    made = hub.call("POST", "/v1/partners", json={"slug": "food-bank", "name": "Food Bank", "timezone": "Europe/Paris",
                                                   "currency": "EUR", "kind": "charity"})
    assert made.status_code == 201 and made.json["kind"] == "charity"
    assert hub.call("GET", "/v1/partners/shop", shop).json["kind"] == "retailer"
    odd = hub.call("POST", "/v1/partners", json={"slug": "odd", "name": "Odd", "timezone": "Europe/Paris",
                                                  "currency": "EUR", "kind": "church"})
    assert odd.status_code == 422 and "kind" in odd.json["error"]["details"]
    contract(hub, "shop", "0.002", "0.010", clock.now - timedelta(days=1))
    contract(hub, "food-bank", "0", "0.005", clock.now - timedelta(days=1))
    _, card = hub.enrol(shop)
    hub.sale(shop, card, "500.00")  # 500 points issued by the shop
    start = clock.advance(hours=1)

    by_till = hub.call("POST", "/v1/donations", shop, json={"card_number": card, "charity": "food-bank", "points": 120})
    assert by_till.status_code == 201, by_till.json
    assert (by_till.json["charity"], by_till.json["points"]) == ("food-bank", 120)
    assert by_till.json["balance"]["available"] == 380
    assert by_till.json["provenance"] == [{"issuer": "shop", "points": 120}]
    by_operator = hub.call("POST", "/v1/donations", json={"card_number": card, "charity": "food-bank", "points": 80})
    assert by_operator.json["balance"]["available"] == 300

    before = snapshot(database)
    refused = hub.call("POST", "/v1/donations", shop, json={"card_number": card, "charity": "shop", "points": 10})
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "not_a_charity")
    assert "charity" in refused.json["error"]["details"]
    too_much = hub.call("POST", "/v1/donations", shop, json={"card_number": card, "charity": "food-bank", "points": 301})
    assert too_much.json["error"]["code"] == "insufficient_points"
    unknown = hub.call("POST", "/v1/donations", shop, json={"card_number": card, "charity": "nobody", "points": 1})
    assert unknown.status_code == 404
    assert snapshot(database) == before

    p = ids(database)
    figures = figures_of(database, start, clock.advance(hours=1))
    assert dict(figures.matrix) == {(p["shop"], p["food-bank"]): 200}
    assert dict(figures.obligations) == {(p["shop"], p["food-bank"]): 100}  # 200 x 0.005 EUR: the shop pays the charity
