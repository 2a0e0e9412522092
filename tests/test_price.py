"""A redemption's price is exactly one thing: a till cannot ask for points and a reward at once."""

import pytest

from network.spending.redemptions import Price


@pytest.mark.parametrize("fields", [{}, {"points": 5, "sku": "FREE-COFFEE"}, {"points": 5, "amount": "4.50"},
                                    {"sku": "FREE-COFFEE", "amount": "4.50"}, {"points": 5, "quantity": 2}])
def test_a_price_is_exactly_one_of_points_a_reward_or_an_amount(fields):
    with pytest.raises(ValueError):
        Price(**fields)


def test_a_reward_price_keeps_its_quantity():
    assert Price(sku="COOKIE", quantity=7).quantity == 7
    assert Price(sku="COOKIE").quantity == 1
