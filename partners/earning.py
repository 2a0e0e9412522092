"""How many points a sale earns, exactly.

A partner's `earn_rate` is points per major currency unit. The product of a
decimal price and a decimal rate is computed as a fraction and floored once,
so 9.99 EUR at 1.5 points/EUR is 14 points, never 14.985 rounded by a float.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from partners.money import Money, decimals


def points_for(total: Money, earn_rate: Decimal) -> int:
    exact = Fraction(total.minor, 10 ** decimals(total.currency)) * Fraction(earn_rate)
    return math.floor(exact)


def clawback_for(sale_points: int, sale_total: int, refunded_before: int, refunded_now: int) -> int:
    """Points to take back for a refund of `refunded_now` minor units.

    Computed on the cumulative refunded share and differenced, so each refund
    is floored (the member keeps a fraction of a point) yet a sale refunded in
    full in any number of parts gives back exactly the points it earned.
    """
    if sale_total == 0:
        return 0
    before = sale_points * refunded_before // sale_total
    after = sale_points * (refunded_before + refunded_now) // sale_total
    return after - before
