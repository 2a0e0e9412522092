"""Money, card numbers and points arithmetic: exact, never float."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners.cards import is_valid_card_number, luhn_check_digit, new_card_number
from partners.earning import awards_for_sale, clawback_for, compile_rules, earn_rate_rules
from partners.money import Money, MoneyError
from partners.transactions import Sale
from plugins.earning_rules import coalition_register_rules


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("12.50", "EUR", 1250), ("12.5", "EUR", 1250), ("12", "EUR", 1200), ("0.01", "EUR", 1),
     ("1500", "JPY", 1500), ("1.234", "KWD", 1234), ("0", "USD", 0)],
)
def test_parse_reads_major_units_into_integer_minor_units(amount, currency, minor):
    assert Money.parse(amount, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.505", "EUR"), ("1.5", "JPY"), ("1.2345", "KWD"), ("-1.00", "EUR"), ("1e3", "EUR"),
     ("", "EUR"), (" 1", "EUR"), ("01.00", "EUR"), ("1.", "EUR"), ("1.00", "XXX"), ("1.00", "eur")],
)
def test_parse_refuses_what_is_not_an_amount_of_that_currency(amount, currency):
    with pytest.raises(MoneyError):
        Money.parse(amount, currency)


def test_parse_refuses_floats():
    with pytest.raises(MoneyError):
        Money.parse(12.5, "EUR")


@pytest.mark.parametrize(("minor", "currency", "text"), [(1250, "EUR", "12.50"), (5, "EUR", "0.05"), (1500, "JPY", "1500"), (1, "KWD", "0.001")])
def test_money_prints_with_the_currency_decimals(minor, currency, text):
    assert str(Money(minor, currency)) == text


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["EUR", "JPY", "KWD", "CLF"]))
def test_printing_and_parsing_round_trip(minor, currency):
    money = Money(minor, currency)
    assert Money.parse(str(money), currency) == money


def test_luhn_known_numbers():
    assert luhn_check_digit("7992739871") == "3"
    assert is_valid_card_number("4539578763621486")
    assert not is_valid_card_number("4539578763621487")
    assert not is_valid_card_number("453957876362148")
    assert not is_valid_card_number(4539578763621486)


def test_new_card_numbers_are_valid_and_catch_any_single_digit_typo():
    for _ in range(200):
        number = new_card_number()
        assert is_valid_card_number(number)
        for position in range(16):
            for digit in "0123456789":
                if digit != number[position]:
                    typo = number[:position] + digit + number[position + 1:]
                    assert not is_valid_card_number(typo)


@pytest.mark.parametrize(
    ("total", "rate", "points"),
    [(Money(1250, "EUR"), Decimal("1"), 12), (Money(999, "EUR"), Decimal("1.5"), 14),
     (Money(1000, "EUR"), Decimal("0.1"), 1), (Money(1500, "JPY"), Decimal("0.01"), 15),
     (Money(99, "EUR"), Decimal("1"), 0), (Money(3, "KWD"), Decimal("1000"), 3)],
)
def test_points_are_floored_once_from_the_exact_product(total, rate, points):
    assert points_for(total, rate) == points


def test_three_tenths_is_not_a_float_problem():
    # 0.1 + 0.2 style traps: 3 x 0.10 EUR at 10 points/EUR is exactly 3 points.
    assert points_for(Money(30, "EUR"), Decimal("10")) == 3
    assert points_for(Money(70, "EUR"), Decimal("10")) == 7


def points_for(total: Money, rate: Decimal) -> int:
    """What a partner with `earn_rate` earns on a sale of `total`, through the real base_rate rule."""
    rules = compile_rules({rule.name: rule for rule in coalition_register_rules()}, earn_rate_rules(str(rate)))
    sale = Sale("S-1", "7000000000000008", datetime(2026, 11, 22, tzinfo=timezone.utc), total)
    return sum(award.points for award in awards_for_sale(rules, sale, "UTC"))


@given(
    points=st.integers(min_value=0, max_value=10**6),
    parts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=8),
)
def test_refunds_in_parts_never_take_more_and_a_full_refund_takes_all(points, parts):
    total = sum(parts)
    taken, before = 0, 0
    for part in parts:
        clawed = clawback_for(points, total, before, part)
        assert 0 <= clawed
        # each part is floored: never more than its exact share, rounded up
        assert clawed * total <= points * part + total
        before += part
        taken += clawed
    assert taken == points
