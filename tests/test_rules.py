"""The built-in earning rules on worked examples: every figure is exact and each award floors on its own."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.earning import InvalidRules, awards_for_sale, clawback_awards, compile_rules
from partners.money import Money
from partners.rules import Award
from partners.transactions import LineItem, Sale
from plugins.earning_rules import coalition_register_rules

REGISTRY = {rule.name: rule for rule in coalition_register_rules()}
CARD = "7000123456789010"
PARIS = "Europe/Paris"
SATURDAY = datetime(2024, 6, 8, 10, 30, tzinfo=timezone.utc)
TUESDAY = datetime(2024, 6, 11, 10, 30, tzinfo=timezone.utc)
WEEKEND = {"rule": "day_of_week", "days": ["sat", "sun"], "multiplier": "2"}
COFFEE = {"rule": "category_multiplier", "category": "coffee", "multiplier": "2"}
ONE_PER_EUR = {"rule": "base_rate", "rate": "1"}


def sale(total: str, *items: LineItem, at: datetime = TUESDAY, currency: str = "EUR") -> Sale:
    return Sale("R-1042", CARD, at, Money.parse(total, currency), items)


def item(sku: str, quantity: str, unit_price: str, category: str | None = None) -> LineItem:
    return LineItem(sku, Decimal(quantity), Money.parse(unit_price, "EUR"), category)


def awards(rules: list[dict], the_sale: Sale, zone: str = PARIS) -> list[Award]:
    return awards_for_sale(compile_rules(REGISTRY, rules), the_sale, zone)


def points(found: list[Award]) -> list[tuple[str, int]]:
    return [(award.rule, award.points) for award in found]


def invalid(rules) -> dict[str, list[str]]:
    with pytest.raises(InvalidRules) as caught:
        compile_rules(REGISTRY, rules)
    return caught.value.fields


# A Saturday flat white and croissant: 3.70 of coffee, 2.60 of pastry.
BREAKFAST = sale("6.30", item("FLAT-WHITE", "1", "3.70", "Coffee"), item("CROISSANT", "1", "2.60", "pastry"), at=SATURDAY)


def test_base_rate_floors_the_exact_product_never_a_float():
    assert awards([{"rule": "base_rate", "rate": "1.5"}], sale("9.99")) == [
        Award("base_rate", 14, "1.5 points per unit spent")
    ]


def test_a_yen_sale_is_read_in_whole_yen():
    assert points(awards([{"rule": "base_rate", "rate": "0.01"}], sale("1580", currency="JPY"))) == [("base_rate", 15)]


def test_extras_add_up_instead_of_compounding_and_each_floors_on_its_own():
    found = awards([ONE_PER_EUR, COFFEE, WEEKEND], BREAKFAST)
    assert found == [
        Award("base_rate", 6, "1 point per unit spent"),
        Award("category_multiplier", 3, "coffee x2"),
        Award("day_of_week", 6, "weekend x2 (sat, sun)"),
    ]
    # 3x the coffee and 2x the pastry is 16.3 points exactly; flooring each award gives 15.
    exact = 3 * Fraction("3.70") + 2 * Fraction("2.60")
    assert math.floor(exact) == 16
    assert sum(award.points for award in found) == 15


def test_the_order_a_partner_lists_rules_in_does_not_change_the_awards_amounts():
    assert sorted(points(awards([WEEKEND, {"rule": "cap", "max_points": 100}, COFFEE, ONE_PER_EUR], BREAKFAST))) == [
        ("base_rate", 6), ("category_multiplier", 3), ("day_of_week", 6)
    ]


def test_the_category_matches_whatever_its_case():
    shouted = {"rule": "category_multiplier", "category": "COFFEE", "multiplier": "1.5"}
    assert points(awards([ONE_PER_EUR, shouted], BREAKFAST)) == [("base_rate", 6), ("category_multiplier", 1)]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Asia/Tokyo", [("base_rate", 10), ("day_of_week", 10)]), ("Europe/London", [("base_rate", 10)])],
)
def test_a_friday_evening_in_utc_is_already_saturday_in_tokyo(zone, expected):
    friday_evening = sale("10.00", at=datetime(2024, 6, 7, 20, 0, tzinfo=timezone.utc))
    assert points(awards([ONE_PER_EUR, WEEKEND], friday_evening, zone)) == expected


@pytest.mark.parametrize(
    ("at", "weekend"),
    [
        # Clocks went forward on Sunday 10 March 2024: 04:30 UTC is Monday 00:30 EDT (Sunday at EST).
        (datetime(2024, 3, 11, 3, 59, tzinfo=timezone.utc), True),
        (datetime(2024, 3, 11, 4, 30, tzinfo=timezone.utc), False),
        # Clocks went back on Sunday 3 November 2024: 04:30 UTC is Sunday 23:30 EST (Monday at EDT).
        (datetime(2024, 11, 4, 4, 30, tzinfo=timezone.utc), True),
        (datetime(2024, 11, 4, 5, 0, tzinfo=timezone.utc), False),
    ],
)
def test_the_local_day_follows_daylight_saving_time(at, weekend):
    found = points(awards([ONE_PER_EUR, WEEKEND], sale("20.00", at=at), "America/New_York"))
    assert found == [("base_rate", 20)] + ([("day_of_week", 20)] if weekend else [])


def test_sku_bonus_counts_every_unit():
    beans = sale("36.00", item("BEANS-1KG", "3", "12.00", "retail"))
    found = awards([ONE_PER_EUR, {"rule": "sku_bonus", "sku": "BEANS-1KG", "points": 50}], beans)
    assert found == [Award("base_rate", 36, "1 point per unit spent"), Award("sku_bonus", 150, "50 points per BEANS-1KG")]


def test_sku_bonus_counts_a_weighed_quantity_exactly_then_floors():
    # 0.755 kg at 32.90/kg is 24.8395; the till charges 24.84.
    comte = sale("24.84", item("COMTE", "0.755", "32.90", "cheese"))
    found = awards([ONE_PER_EUR, {"rule": "sku_bonus", "sku": "COMTE", "points": 10}], comte)
    assert points(found) == [("base_rate", 24), ("sku_bonus", 7)]


def test_a_unit_given_away_earns_no_sku_bonus():
    # Buy the beans, the latte is on the house: only the sold unit counts.
    treat = sale("12.00", item("BEANS-1KG", "1", "12.00", "retail"), item("LATTE", "1", "0.00", "coffee"))
    bonuses = [{"rule": "sku_bonus", "sku": "LATTE", "points": 5}, {"rule": "sku_bonus", "sku": "BEANS-1KG", "points": 50}]
    assert points(awards(bonuses, treat)) == [("sku_bonus", 50)]
    assert awards(bonuses, sale("0.00", item("LATTE", "2", "4.00", "coffee"))) == []


@pytest.mark.parametrize(("total", "expected"), [("9.99", []), ("10.00", [("base_rate", 10)])])
def test_minimum_spend_gives_nothing_below_the_amount(total, expected):
    assert points(awards([{"rule": "minimum_spend", "amount": "10"}, ONE_PER_EUR], sale(total))) == expected


@pytest.mark.parametrize(
    ("max_points", "expected"),
    [
        (15, [("base_rate", 6), ("category_multiplier", 3), ("day_of_week", 6)]),
        (12, [("base_rate", 6), ("category_multiplier", 3), ("day_of_week", 3)]),
        (8, [("base_rate", 6), ("category_multiplier", 2)]),
        (4, [("base_rate", 4)]),
    ],
)
def test_cap_trims_the_last_bonus_first_and_the_base_last(max_points, expected):
    assert points(awards([{"rule": "cap", "max_points": max_points}, ONE_PER_EUR, COFFEE, WEEKEND], BREAKFAST)) == expected


def test_a_trimmed_award_tells_the_member_why():
    found = awards([ONE_PER_EUR, COFFEE, WEEKEND, {"rule": "cap", "max_points": 12}], BREAKFAST)
    assert found[-1] == Award("day_of_week", 3, "weekend x2 (sat, sun), capped at 12 points per sale")
    assert found[0] == Award("base_rate", 6, "1 point per unit spent")


def test_a_sale_without_items_earns_its_base_and_no_line_bonus():
    found = awards([{"rule": "base_rate", "rate": "1.5"}, COFFEE, {"rule": "sku_bonus", "sku": "LATTE", "points": 5}],
                   sale("9.99"))
    assert points(found) == [("base_rate", 14)]


def test_a_discount_lowers_every_line_alike():
    # 20% off the receipt: the 4.00 coffee counts as 3.20, so its extra is 3 points, not 4.
    discounted = sale("8.00", item("LATTE", "1", "4.00", "coffee"), item("CHEESECAKE", "1", "6.00", "cake"))
    assert points(awards([ONE_PER_EUR, COFFEE], discounted)) == [("base_rate", 8), ("category_multiplier", 3)]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"rule": "base_rate", "rate": "0"}, {"rule": "sku_bonus", "sku": "LATTE", "points": 5}], [("sku_bonus", 5)]),
        ([ONE_PER_EUR, {"rule": "category_multiplier", "category": "tea", "multiplier": "3"}, WEEKEND], [("base_rate", 4)]),
    ],
)
def test_awards_of_zero_points_are_left_out(rules, expected):
    assert points(awards(rules, sale("4.00", item("LATTE", "1", "4.00", "coffee")))) == expected


def test_a_sale_worth_less_than_a_point_earns_nothing_at_all():
    assert awards([ONE_PER_EUR, COFFEE, WEEKEND], sale("0.50", item("ESPRESSO", "1", "0.50", "coffee"))) == []


def test_refunding_half_then_the_rest_gives_back_each_award_exactly():
    earned = awards([ONE_PER_EUR, COFFEE, WEEKEND], BREAKFAST)
    first = clawback_awards(earned, 630, 0, 315)
    rest = clawback_awards(earned, 630, 315, 315)
    assert points(first) == [("base_rate", 3), ("category_multiplier", 1), ("day_of_week", 3)]
    assert points(rest) == [("base_rate", 3), ("category_multiplier", 2), ("day_of_week", 3)]
    assert [a.points + b.points for a, b in zip(first, rest)] == [award.points for award in earned]
    assert [award.detail for award in rest] == [award.detail for award in earned]


def test_event_rules_award_nothing_on_a_sale_and_keep_their_parameters_for_the_hub():
    ruleset = compile_rules(REGISTRY, [
        ONE_PER_EUR,
        {"rule": "welcome_bonus", "points": 100},
        {"rule": "referral", "referrer_points": 500, "referred_points": 250},
        {"rule": "action", "action": "app_install", "points": 50, "per_day": 1},
        {"rule": "action", "action": "review-posted", "points": 20, "per_day": 3},
    ])
    assert points(awards_for_sale(ruleset, sale("10.00"), PARIS)) == [("base_rate", 10)]
    assert ruleset.event("welcome_bonus") == {"points": 100}
    assert ruleset.event("referral") == {"referrer_points": 500, "referred_points": 250}
    assert [params["action"] for params in ruleset.events("action")] == ["app_install", "review-posted"]
    assert [REGISTRY["action"].describe(params) for params in ruleset.events("action")] == [
        "action app_install", "action review-posted"
    ]


@pytest.mark.parametrize(
    ("rule", "phrase"),
    [
        ({"rule": "base_rate", "rate": "1.50"}, "1.5 points per unit spent"),
        ({"rule": "base_rate", "rate": "10"}, "10 points per unit spent"),
        ({"rule": "base_rate", "rate": "1.00"}, "1 point per unit spent"),
        ({"rule": "sku_bonus", "sku": "LATTE", "points": 1}, "1 point per LATTE"),
        ({"rule": "day_of_week", "days": ["sun", "sat"], "multiplier": "1.5"}, "weekend x1.5 (sat, sun)"),
        ({"rule": "day_of_week", "days": ["fri", "mon"], "multiplier": "3"}, "mon, fri x3"),
        ({"rule": "minimum_spend", "amount": "10.00"}, "points from 10 spent"),
        ({"rule": "cap", "max_points": 500}, "at most 500 points per sale"),
        ({"rule": "welcome_bonus", "points": 100}, "welcome bonus"),
        ({"rule": "referral", "referrer_points": 500, "referred_points": 250}, "referral bonus"),
    ],
)
def test_each_rule_describes_itself_for_the_members_history(rule, phrase):
    (compiled, params), = compile_rules(REGISTRY, [rule]).rules
    assert compiled.describe(params) == phrase


def test_an_unknown_rule_is_named_by_its_place_in_the_list():
    fields = invalid([{"rule": "tripple_points"}])
    assert list(fields) == ["rules.0.rule"]
    assert "known rules: action, base_rate, cap" in fields["rules.0.rule"][0]


def test_a_bad_field_is_named_by_entry_and_field():
    assert list(invalid([ONE_PER_EUR, {"rule": "base_rate", "rate": "-1"}])) == ["rules.1.rate"]


def test_a_float_rate_is_refused():
    assert invalid([{"rule": "base_rate", "rate": 1.5}]) == {"rules.0.rate": ['must be a decimal string such as "1.5"']}


def test_a_missing_parameter_is_named():
    assert invalid([{"rule": "category_multiplier", "multiplier": "2"}]) == {
        "rules.0.category": ["Missing data for required field."]
    }


@pytest.mark.parametrize("raw", [{"rule": "base_rate", "rate": "1"}, "base_rate", None])
def test_rules_must_be_a_list(raw):
    assert invalid(raw) == {"rules": ["must be a list of rules"]}


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"rule": "base_rate", "rate": "1", "currency": "EUR"}, "rules.0.currency"),
        ({"rule": "base_rate", "rate": "1001"}, "rules.0.rate"),
        ({"rule": "category_multiplier", "category": "coffee", "multiplier": "0.5"}, "rules.0.multiplier"),
        ({"rule": "category_multiplier", "category": "", "multiplier": "2"}, "rules.0.category"),
        ({"rule": "day_of_week", "days": [], "multiplier": "2"}, "rules.0.days"),
        ({"rule": "day_of_week", "days": ["sat", "sat"], "multiplier": "2"}, "rules.0.days"),
        ({"rule": "day_of_week", "days": ["sat", "Sunday"], "multiplier": "2"}, "rules.0.days.1"),
        ({"rule": "day_of_week", "days": "sat", "multiplier": "2"}, "rules.0.days"),
        ({"rule": "sku_bonus", "sku": "LATTE", "points": 0}, "rules.0.points"),
        ({"rule": "sku_bonus", "sku": "LATTE", "points": 2.5}, "rules.0.points"),
        ({"rule": "minimum_spend", "amount": 10}, "rules.0.amount"),
        ({"rule": "cap", "max_points": True}, "rules.0.max_points"),
        ({"rule": "welcome_bonus", "points": "100"}, "rules.0.points"),
        ({"rule": "referral", "referrer_points": 500}, "rules.0.referred_points"),
        ({"rule": "action", "action": "App Install", "points": 50, "per_day": 1}, "rules.0.action"),
        ({"rule": "action", "action": "app_install\n", "points": 50, "per_day": 1}, "rules.0.action"),
        ({"rule": "action", "action": "a" * 65, "points": 50, "per_day": 1}, "rules.0.action"),
        ({"rule": "action", "action": "app_install", "points": 50, "per_day": 0}, "rules.0.per_day"),
        ({"rule": "action", "action": "app_install", "points": 50, "per_day": True}, "rules.0.per_day"),
    ],
)
def test_each_bad_parameter_is_refused_by_name(rule, path):
    assert list(invalid([rule])) == [path]


def test_every_error_of_every_entry_is_reported_at_once():
    fields = invalid([{"rule": "base_rate"}, "base_rate", {"rule": "cap", "max_points": -1}])
    assert sorted(fields) == ["rules.0.rate", "rules.1", "rules.2.max_points"]


CATEGORIES = st.sampled_from(["coffee", "Coffee", "tea", "pastry", None])
SKUS = st.sampled_from(["LATTE", "BEANS", "COMTE"])
QUANTITIES = st.one_of(st.integers(1, 20).map(Decimal), st.integers(1, 5000).map(lambda grams: Decimal(grams) / 1000))
LINES = st.lists(
    st.builds(LineItem, SKUS, QUANTITIES, st.integers(0, 10**6).map(lambda minor: Money(minor, "EUR")), CATEGORIES),
    max_size=6,
)
DECIMALS = st.integers(0, 5000).map(lambda hundredths: str(Decimal(hundredths) / 100))
MULTIPLIERS = st.integers(100, 1000).map(lambda hundredths: str(Decimal(hundredths) / 100))
DAYS = st.lists(st.sampled_from(["mon", "wed", "sat", "sun"]), min_size=1, unique=True)


def entry(rule: str, **params) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"rule": st.just(rule), **params})


RULES = st.lists(
    st.one_of(
        entry("base_rate", rate=DECIMALS),
        entry("category_multiplier", category=st.sampled_from(["coffee", "TEA"]), multiplier=MULTIPLIERS),
        entry("day_of_week", days=DAYS, multiplier=MULTIPLIERS),
        entry("sku_bonus", sku=SKUS, points=st.integers(1, 500)),
        entry("cap", max_points=st.integers(1, 10**5)),
    ),
    max_size=6,
)

def refund_parts(total: int, cuts: list[int]) -> list[tuple[int, int]]:
    """(refunded before, refunded now) for a full refund split at `cuts`."""
    marks = [0, *sorted(cut % (total + 1) for cut in cuts), total]
    return [(before, after - before) for before, after in zip(marks, marks[1:])]


@given(
    lines=LINES,
    discount=st.integers(0, 100),
    rules=RULES,
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(timezone.utc)),
    zone=st.sampled_from(["Europe/Paris", "Asia/Tokyo", "America/New_York", "Pacific/Chatham"]),
    cuts=st.lists(st.integers(0, 10**9), max_size=5),
)
def test_awards_are_whole_points_within_the_cap_and_a_full_refund_takes_each_back_exactly(lines, discount, rules, at, zone, cuts):
    listed = sum(line.quantity * line.unit_price.minor for line in lines)
    total = Money(int(listed * (100 - discount) // 100) if lines else 10**4 - discount, "EUR")
    found = awards_for_sale(compile_rules(REGISTRY, rules), Sale("R-1", CARD, at, total, tuple(lines)), zone)

    assert all(type(award.points) is int and award.points > 0 for award in found)
    caps = [rule["max_points"] for rule in rules if rule["rule"] == "cap"]
    assert sum(award.points for award in found) <= min(caps, default=math.inf)
    parts = refund_parts(total.minor, cuts)
    for award in found:
        assert sum(back.points for part in parts for back in clawback_awards([award], total.minor, *part)) == award.points
    taken = sum(back.points for part in parts for back in clawback_awards(found, total.minor, *part))
    assert taken == sum(award.points for award in found)
