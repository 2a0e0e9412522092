"""What members spent, as the hub saw it: sales less what refunds, cancellations and lowering edits took back.

Read from the orders, not the journal: a sale is one order however many
entries it wrote (an edit that raised it adds an entry and raises the
order's own total in place), and a refund that took back no point writes
no entry but is an order all the same. Each order is counted once, signed:
a sale's current total, less each order that took from it. A purchase is
dated when the member bought (the till's time, else when the hub booked
it).
"""

from __future__ import annotations

from sqlalchemy import case, func, select, union
from sqlalchemy.orm import aliased

from network.ledger.kinds import EntryKind, OrderKind
from network.ledger.orders import TAKING_BACK
from network.models import JournalEntry, Order

#: The orders that make up what members spent.
SPENDING = (OrderKind.SALE, *TAKING_BACK)

#: An order's part of what was spent, minor units: a sale's total, less what each refund, cancellation or edit took.
signed = case((Order.kind == OrderKind.SALE, Order.total_minor), else_=-Order.total_minor)
#: When the member bought: the till's time, else the hub's.
bought_at = func.coalesce(Order.occurred_at, Order.booked_at)


def spending(*where):
    """The conditions on `Order` for the orders of what members spent, with `where`'s."""
    return (Order.kind.in_(SPENDING), Order.currency.is_not(None), *where)


def of_member(member_id: str):
    """The condition on `Order` for one member's: their sales (through their earn entries, by the member's index) and
    what was taken from those sales (by the sale's). A sale too small to earn a point wrote no entry and is not in it.

    One list of order ids, the sales' and their refunds' (a UNION of two index look-ups): an OR of the two would
    have PostgreSQL read every order.
    """
    sales = select(JournalEntry.order_id).where(JournalEntry.member_id == member_id, JournalEntry.kind == EntryKind.EARN,
                                                JournalEntry.order_id.is_not(None))
    taken = aliased(Order)  # its own FROM: not correlated to the outer query's orders
    return Order.id.in_(union(sales, select(taken.id).where(taken.original_id.in_(sales))))
