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
    order_id: str
    card_number: str
    occurred_at: datetime
    total: Money
    items: tuple[LineItem, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Refund:
    """Money given back against an earlier sale of the same partner.

    The card is optional: a till refunding a receipt knows the order, and the
    order knows the member.
    """

    order_id: str
    original_order_id: str
    occurred_at: datetime
    total: Money
    card_number: str | None = None
    items: tuple[LineItem, ...] = field(default=())


Transaction = Sale | Refund
