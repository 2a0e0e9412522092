"""What a transaction must be before the database is read: the partner's currency, ids the ledger keeps, sane amounts and dates.

Shared by sales, refunds and an order's later changes, whichever adapter
read them, so no column overflows and no till clock set wrong books points.
"""

from __future__ import annotations

from datetime import datetime, timezone

from network.earning.terms import Terms
from network.errors import Invalid
from network.parties.registry import PartnerRef
from partners.fields import MAX_ORDER_ID, MAX_QUANTITY
from partners.money import MAX_MINOR, Money
from partners.transactions import Refund, Sale


def long_order_id(field: str, value: str) -> Invalid:
    return Invalid(f"An order id has at most {MAX_ORDER_ID} characters", {field: [f"has {len(value)} characters"]},
                   code="invalid_transaction")


def currency_error(partner: PartnerRef, money: Money) -> Invalid:
    return Invalid(
        f"{partner.name} books in {partner.currency}, not {money.currency}",
        {"currency": [f"must be {partner.currency}"]},
        code="currency_mismatch",
    )


def out_of_bounds(transaction: Sale | Refund) -> Invalid | None:
    """Amounts and quantities past the hub's bounds, whichever adapter read them: no column overflows, no sum drifts."""
    errors: dict[str, list[str]] = {}
    for field in ("total", "paid", "charged", "charged_back"):
        money = getattr(transaction, field, None)
        if money is not None and abs(money.minor) > MAX_MINOR:
            errors[field] = [f"must be at most {Money(MAX_MINOR, money.currency)}"]
    for index, item in enumerate(transaction.items):
        if not 0 < item.quantity <= MAX_QUANTITY:
            errors[f"items.{index}.quantity"] = [f"must be greater than 0 and at most {MAX_QUANTITY}"]
        if abs(item.unit_price.minor) > MAX_MINOR:
            errors[f"items.{index}.unit_price"] = [f"must be at most {Money(MAX_MINOR, item.unit_price.currency)}"]
    if not errors:
        return None
    return Invalid("An amount or a quantity is past the hub's bounds", errors, code="invalid_transaction")


def utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; the hub stores UTC, so naive means UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def misdated(occurred_at: datetime, *, now: datetime, terms: Terms) -> Invalid | None:
    """A date the hub does not book: more than a day ahead of its clock, or so old its points would have expired."""
    earliest, latest = terms.dating(now)
    when = utc(occurred_at)
    if when > latest:
        return Invalid("The transaction is dated more than a day ahead of the hub's clock",
                       {"occurred_at": [f"must be at most {latest.isoformat()}"]}, code="invalid_transaction")
    if when < earliest:
        return Invalid("The transaction is dated further back than the hub books (its points would have expired)",
                       {"occurred_at": [f"must be at least {earliest.isoformat()}"]}, code="invalid_transaction")
    return None
