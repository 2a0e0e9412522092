"""Canonical transactions: what every adapter turns a retailer's payload into.

The hub books only these. An adapter for Shopify, Square, a CSV export or a
till's XML log has done its job once it has produced them; the ledger never
sees a retailer's own format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from partners.money import Money


@dataclass(frozen=True, slots=True)
class LineItem:
    sku: str
    quantity: Decimal
    unit_price: Money
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Sale:
    """A purchase by a member.

    `total` is what points are earned on (Shopify's subtotal, Square's total
    less tax). `paid`, when the platform's refunds are amounts of what the
    customer paid (tax included), is that amount: a refund's share of the sale
    is measured against it. It defaults to `total`.
    """

    order_id: str
    card_number: str
    occurred_at: datetime
    total: Money
    items: tuple[LineItem, ...] = field(default=())
    paid: Money | None = None
    charged: Money | None = None
    awaiting_payment: bool = False
    alias_only: bool = False

    @property
    def refundable(self) -> Money:
        return self.paid or self.total


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back against an earlier sale of the same partner.

    The card is optional: a till refunding a receipt knows the order, and the
    order knows the member.

    `charged_back`, with a zero `total`, is money handed back with no line
    named: its share of the sale is measured against the sale's `charged`.
    """

    order_id: str
    original_order_id: str
    occurred_at: datetime
    total: Money
    card_number: str | None = None
    items: tuple[LineItem, ...] = field(default=())
    charged_back: Money | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    """An order paid after it was placed (Shopify's `orders/paid`): the points its sale holds pending become the member's.

    `sale` is the order as paid: booked, already paid, when the hub never saw
    the order placed (platforms do not promise their webhooks' order).
    """

    order_id: str
    occurred_at: datetime
    sale: Sale | None = None


@dataclass(frozen=True, slots=True)
class Cancellation:
    """An order cancelled: whatever it still earns is taken back, pending or not, as a refund of all that is left."""

    order_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Amendment:
    """An order edited after it was placed (Shopify's `orders/updated`): what its goods come to now.

    `total` is in the sale's own measure (what points are earned on), with
    refunds not deducted: they arrive, and are booked, on their own. The hub
    takes back or tops up the difference from what it counted; the same
    total sent again changes nothing.
    """

    order_id: str
    occurred_at: datetime
    total: Money


@dataclass(frozen=True, slots=True)
class Ignored:
    """A platform's event that books nothing, with why: a shopper who is no member, a refund of an order never booked.

    Answered 200 with `"ignored": true` and the reason: Shopify and Square
    retry anything else for days, and a refusal of what was never the hub's
    to book helps no one.
    """

    order_id: str
    reason: str


Transaction = Sale | Refund | Payment | Cancellation | Amendment
