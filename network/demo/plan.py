"""The four weeks planned before a request is sent: who the members are, what they buy where, what they return.

Everything is drawn from one `random.Random(seed)`, so a seed gives the same
plan on every run. The four weeks are whole weeks, Monday to Sunday, so a
sale falls on the same weekday (and earns the same weekend bonus) whatever
day the demo runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

from network.demo.catalogue import (
    DAYS,
    FIRST_NAMES,
    HOME_SHARE,
    LAST_NAMES,
    PARTNERS,
    REDEMPTIONS_PER_SALE,
    REFUND_RATE,
    Trade,
    money,
    round_div,
)


@dataclass
class Member:
    index: int
    name: str
    email: str
    home: int  # index into PARTNERS
    activity: float
    member_id: str = ""
    card: str = ""
    available: int = 0  # as last told by the hub, plus what the demo knows the hub credited without saying
    bought: bool = False  # a first sale pays a pending referral
    referral: tuple[int, int, int] | None = None  # (referrer's index, referrer's points, own points), once promised


@dataclass
class SaleEvent:
    minute: int
    seq: int
    member: int
    partner: int
    total: int
    lines: list[dict]
    order_id: str = ""  # the till's receipt number, given when the sale is rung up


@dataclass
class RefundEvent:
    minute: int
    seq: int
    sale: SaleEvent
    total: int
    full: bool


@dataclass
class RedemptionSlot:
    minute: int
    seq: int



def plan(rng: Random, member_count: int, sale_count: int) -> tuple[list[Member], list]:
    weights = [t.weight for t in PARTNERS]
    members = []
    for i in range(member_count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        home = rng.choices(range(len(PARTNERS)), weights=weights)[0]
        members.append(
            Member(i, f"{first} {last}", f"{first}.{last}.{i + 1}@example.com".lower(), home, rng.uniform(0.3, 3.0))
        )
    period = DAYS * 24 * 60
    events: list = []
    sequence = iter(range(10**9))
    activity = [m.activity for m in members]
    for _ in range(sale_count):
        member = rng.choices(range(member_count), weights=activity)[0]
        if rng.random() < HOME_SHARE:
            partner = members[member].home
        else:
            partner = rng.choices(range(len(PARTNERS)), weights=weights)[0]
        trade = PARTNERS[partner]
        opening, closing = trade.hours
        minute = rng.randrange(DAYS) * 1440 + rng.randrange(opening * 60, closing * 60)
        lines, amounts = basket(rng, trade)
        sale = SaleEvent(minute, next(sequence), member, partner, sum(amounts), lines)
        events.append(sale)
        if rng.random() < REFUND_RATE:
            # A whole basket taken back, or one line of it (the spoilt yogurt).
            amount = sale.total if len(lines) == 1 or rng.random() < 0.4 else rng.choice(amounts)
            full = amount == sale.total
            later = min(minute + rng.randint(30, 3 * 1440), period - 1)
            events.append(RefundEvent(later, next(sequence), sale, amount, full))
    for _ in range(round(sale_count * REDEMPTIONS_PER_SALE)):
        events.append(RedemptionSlot(rng.randrange(period // 4, period), next(sequence)))
    events.sort(key=lambda e: (e.minute, e.seq))
    return members, events


def first_purchase(members: list[Member], member: Member) -> None:
    """A member's first sale that earns points, anywhere, pays their pending referral to both members.

    The sale's answer already shows the buyer's share in its balance; the
    referrer's share the demo adds itself, and reading the balances back
    checks that the hub paid exactly that.
    """
    if member.bought:
        return
    member.bought = True
    if member.referral:
        referrer, to_referrer, _ = member.referral
        members[referrer].available += to_referrer


@dataclass(frozen=True)
class Weeks:
    """The four whole weeks, Monday to Sunday, ending last Sunday night: a seed's sales fall on the same weekdays."""

    start: datetime

    @classmethod
    def before(cls, now: datetime) -> Weeks:
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(today - timedelta(days=today.weekday() + DAYS))

    def at(self, minute: int) -> str:
        """A moment of the period, local time; never past its end (a refund late on the last evening)."""
        return (self.start + timedelta(minutes=min(minute, DAYS * 1440 - 1))).isoformat(timespec="seconds")


def basket(rng: Random, trade: Trade) -> tuple[list[dict], list[int]]:
    """A plausible basket for this trade: canonical line items, and what each line costs in cents."""
    low, high = trade.basket
    while True:
        lines, amounts = [], []
        for _ in range(rng.randint(*trade.items)):
            product = rng.choice(trade.products)
            if product.unit == "l":
                # Fill up for a total between the trade's bounds: litres to the centilitre.
                centilitres = rng.randint(-(-low * 100 // product.cents), high * 100 // product.cents)
                quantity, cents = f"{centilitres // 100}.{centilitres % 100:02d}", round_div(centilitres * product.cents, 100)
            elif product.unit == "kg":
                grams = rng.randint(1, 30) * 50 if product.category == "produce" else rng.randint(2, 8) * 50
                quantity, cents = f"{grams // 1000}.{grams % 1000:03d}", round_div(grams * product.cents, 1000)
            else:
                count = rng.choices((1, 2, 3), weights=(8, 3, 1))[0]
                quantity, cents = count, count * product.cents
            lines.append({"sku": product.sku, "category": product.category, "quantity": quantity, "unit_price": money(product.cents)})
            amounts.append(cents)
        if low <= sum(amounts) <= high:
            return lines, amounts
