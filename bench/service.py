"""Earn and redeem through the service layer: `Database.transact` around the domain functions."""

from __future__ import annotations

import random

from bench.load import Op
from bench.world import OCCURRED, REDEEM_POINTS, RULES, SALE, World, hub_terms
from network.clock import utc_now
from network.db import Database
from network.earning import sales
from network.members import cards
from network.spending import redemptions
from partners.transactions import Sale


def earn_ops(db: Database, world: World, clients: int, *, hot: bool, tag: str) -> list[Op]:
    terms = hub_terms(db)

    def make(k: int) -> Op:
        rng = random.Random(k)

        def op(i: int) -> None:
            member = world.hot if hot else rng.choice(world.members)
            partner = world.partners[i % len(world.partners)].partner
            sale = Sale(f"{tag}-{i}", member.card, OCCURRED, SALE)
            db.transact(lambda s: sales.record_sale(s, partner, RULES, sale, now=utc_now(), terms=terms))

        return op

    return [make(k) for k in range(clients)]


def redeem_ops(db: Database, world: World, clients: int, *, hot: bool, tag: str) -> list[Op]:
    price = redemptions.Price(points=REDEEM_POINTS)

    def make(k: int) -> Op:
        rng = random.Random(1000 + k)

        def op(i: int) -> None:
            member = world.hot if hot else rng.choice(world.members)
            partner = world.partners[i % len(world.partners)].partner
            db.transact(lambda s: redemptions.redeem(
                s, partner, card_number=member.card, order_id=f"{tag}-{i}", price=price, now=utc_now()))

        return op

    return [make(k) for k in range(clients)]


def balance_ops(db: Database, card: str, clients: int) -> list[Op]:
    """What GET /v1/cards/<card>/balance does below HTTP: the card's balances, in one statement."""

    def op(_i: int) -> None:
        db.read(lambda session: cards.card_balances(session, card, utc_now()))

    return [op] * clients
