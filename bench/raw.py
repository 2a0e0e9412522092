"""The raw baseline: the rows an earn or a redemption writes, inserted with bare SQLAlchemy Core.

One transaction per operation, the same engine and the same BEGIN as the
service layer (BEGIN IMMEDIATE on SQLite), but no lock, no lookup (the card,
the order id, the partner's account, the open lots are all known in advance),
no business logic, and statements built once at import and executed with
parameters. What the service layer costs above this is the ledger's
overhead; what is left is the price of the rows themselves.

An earn: 1 order, 1 journal entry (INSERT ... RETURNING), 2 postings, the
member's running balance, 1 lot. A redemption: 1 order, 1 journal entry, 2
postings, the running balance, the lot's remaining, 1 lot movement. Entry
and order are linked whichever way the schema in use links them.
"""

from __future__ import annotations

import random

from sqlalchemy import Engine, bindparam, insert, select, update

from bench.load import Op
from bench.world import LIFETIME, OCCURRED, REDEEM_POINTS, SALE, SALE_POINTS, World
from network.clock import utc_now
from network.models import Account, Card, JournalEntry, Lot, LotMovement, Order, Posting

ENTRIES, POSTINGS, LOTS, MOVES, ORDERS, ACCOUNTS, CARDS = (
    JournalEntry.__table__, Posting.__table__, Lot.__table__, LotMovement.__table__, Order.__table__,
    Account.__table__, Card.__table__,
)
INSERT_ENTRY = insert(ENTRIES).returning(ENTRIES.c.id)
INSERT_POSTINGS = insert(POSTINGS)
INSERT_LOT = insert(LOTS)
INSERT_MOVE = insert(MOVES).values(  # a movement names its lot's issuer, as the hub's own INSERT copies it
    lot_id=bindparam("lot_id"), entry_id=bindparam("entry_id"), points=bindparam("points"),
    booked_at=bindparam("booked_at"),
    issuer_id=select(LOTS.c.issuer_id).where(LOTS.c.id == bindparam("lot_id")).scalar_subquery())
INSERT_ORDER = insert(ORDERS).returning(ORDERS.c.id)
# Which way an entry and its order point at each other follows the schema in use:
# entries name their order (journal_entries.order_id), or orders name their entry (orders.entry_id).
ENTRY_NAMES_ORDER = "order_id" in ENTRIES.c
MOVE_BALANCE = update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account")).values(
    balance=ACCOUNTS.c.balance + bindparam("change"))
TAKE_FROM_LOT = update(LOTS).where(LOTS.c.id == bindparam("lot")).values(remaining=LOTS.c.remaining - bindparam("taken"))
READ_BALANCES = select(ACCOUNTS.c.kind, ACCOUNTS.c.balance).join(CARDS, CARDS.c.member_id == ACCOUNTS.c.member_id).where(
    CARDS.c.number == bindparam("card"))


def _only(table, row: dict) -> dict:
    return {k: v for k, v in row.items() if k in table.c}


def _book(connection, entry: dict, order: dict) -> int:
    """Insert a journal entry and its order, linked the way the schema links them; returns the entry id."""
    if ENTRY_NAMES_ORDER:
        order_pk = connection.execute(INSERT_ORDER, _only(ORDERS, order)).scalar_one()
        return connection.execute(INSERT_ENTRY, _only(ENTRIES, {**entry, "order_id": order_pk})).scalar_one()
    entry_id = connection.execute(INSERT_ENTRY, _only(ENTRIES, entry)).scalar_one()
    connection.execute(INSERT_ORDER, _only(ORDERS, {**order, "entry_id": entry_id}))
    return entry_id


def _write(engine: Engine):
    connection = engine.connect()
    connection.execution_options(write=True)  # BEGIN IMMEDIATE on SQLite, as Database.transact
    return connection


def earn_ops(engine: Engine, world: World, clients: int, *, hot: bool, tag: str) -> list[Op]:
    def make(k: int) -> Op:
        rng = random.Random(k)

        def op(i: int) -> None:
            member = world.hot if hot else rng.choice(world.members)
            partner = world.partners[i % len(world.partners)]
            now = utc_now()
            with _write(engine) as connection, connection.begin():
                entry_id = _book(connection, {
                    "kind": "earn", "partner_id": partner.id, "member_id": member.member_id,
                    "reason": f"Sale {tag}-{i} at {partner.partner.name}", "occurred_at": OCCURRED, "booked_at": now,
                }, {
                    "partner_id": partner.id, "kind": "sale", "order_id": f"{tag}-{i}", "member_id": member.member_id,
                    "currency": SALE.currency, "total_minor": SALE.minor, "points": SALE_POINTS,
                    "occurred_at": OCCURRED, "booked_at": now,
                })
                connection.execute(INSERT_POSTINGS, [
                    {"entry_id": entry_id, "account_id": partner.issuance, "amount": -SALE_POINTS, "booked_at": now},
                    {"entry_id": entry_id, "account_id": member.available, "amount": SALE_POINTS, "booked_at": now},
                ])
                connection.execute(MOVE_BALANCE, {"account": member.available, "change": SALE_POINTS})
                connection.execute(INSERT_LOT, {
                    "member_id": member.member_id, "account_id": member.available, "issuer_id": partner.id,
                    "entry_id": entry_id, "points": SALE_POINTS, "remaining": SALE_POINTS, "earned_at": now,
                    "available_at": now, "expires_at": now + LIFETIME,
                })

        return op

    return [make(k) for k in range(clients)]


def redeem_ops(engine: Engine, world: World, clients: int, *, hot: bool, tag: str) -> list[Op]:
    def make(k: int) -> Op:
        rng = random.Random(1000 + k)

        def op(i: int) -> None:
            member = world.hot if hot else rng.choice(world.members)
            partner = world.partners[i % len(world.partners)]
            now = utc_now()
            with _write(engine) as connection, connection.begin():
                entry_id = _book(connection, {
                    "kind": "redemption", "partner_id": partner.id, "member_id": member.member_id,
                    "reason": f"Redemption {tag}-{i} at {partner.partner.name}", "booked_at": now,
                }, {
                    "partner_id": partner.id, "kind": "redemption", "order_id": f"{tag}-{i}",
                    "member_id": member.member_id, "points": -REDEEM_POINTS, "booked_at": now,
                })
                connection.execute(INSERT_POSTINGS, [
                    {"entry_id": entry_id, "account_id": member.available, "amount": -REDEEM_POINTS, "booked_at": now},
                    {"entry_id": entry_id, "account_id": partner.redemption, "amount": REDEEM_POINTS, "booked_at": now},
                ])
                connection.execute(MOVE_BALANCE, {"account": member.available, "change": -REDEEM_POINTS})
                connection.execute(TAKE_FROM_LOT, {"lot": member.fund_lot, "taken": REDEEM_POINTS})
                connection.execute(INSERT_MOVE, {"lot_id": member.fund_lot, "entry_id": entry_id,
                                                 "points": -REDEEM_POINTS, "booked_at": now})

        return op

    return [make(k) for k in range(clients)]


def read_ops(engine: Engine, card: str, clients: int) -> list[Op]:
    """The read baseline: one bare SELECT of the balances joined from the card."""

    def op(_i: int) -> None:
        with engine.connect() as connection:
            dict(connection.execute(READ_BALANCES, {"card": card}).all())

    return [op] * clients
