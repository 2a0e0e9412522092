"""Earns, redemptions and holds racing a merge: whatever reaches the absorbed member's card meanwhile waits
for the merge and lands on the survivor, or lands before it and is moved (or, a hold, refuses the merge).

Found by a hostile tester on PostgreSQL: points left on the closed member, the till answered with its
balance, redemptions refused for points the survivor had. Each round enrols a fresh absorbed member with
a dozen lots (so the merge has work to do while the others queue on its locks) and fires everything at
once; the round's figures must add up exactly on the survivor, and the ledger must keep nothing on the
merged member.
"""

import pytest
from sqlalchemy import select

from network.ledger.invariants import CHECKS
from network.models import Hold, JournalEntry, Order
from tests.support.holds import capture, hold, void
from tests.support.races import race

pytestmark = pytest.mark.postgres_only

ROUNDS = 6
EARNS, REDEMPTIONS, HOLDS, BATCH_ROWS = 5, 3, 3, 5
SURVIVOR_POINTS, ABSORBED_POINTS = 1000, 12 * 25


def merge(hub, survivor, absorbed):
    return hub.call("POST", f"/v1/members/{survivor}/merge", json={"member_id": absorbed})


def booked_on(database, order_id: str) -> str:
    """The member an order's journal entry (a sale, a redemption, a hold) was booked on."""
    with database.session() as session:
        return session.scalar(select(JournalEntry.member_id).join(Order, Order.id == JournalEntry.order_id)
                              .where(Order.order_id == order_id))


def nothing_left_on_merged_members(database) -> list[str]:
    with database.session() as session:
        return list(CHECKS["merged members hold nothing"](session))


def scene(world, round_):
    """A survivor with 1000 points and an absorbed member with 300 in twelve lots."""
    hub = world.hub
    survivor, survivor_card = hub.enrol(world.coffee)
    hub.sale(world.coffee, survivor_card, f"{SURVIVOR_POINTS}.00", order=f"A-{round_}")
    absorbed, absorbed_card = hub.enrol(world.coffee)
    for lot in range(12):
        hub.sale(world.coffee, absorbed_card, "25.00", order=f"B-{round_}-{lot}")
    return survivor, survivor_card, absorbed, absorbed_card


def test_earns_and_redemptions_racing_a_merge_land_on_the_survivor(world, database):
    hub = world.hub
    nightly = hub.create_partner("nightly", adapter="csv")
    for round_ in range(ROUNDS):
        survivor, survivor_card, absorbed, card = scene(world, round_)
        rows = ["order_id,type,card_number,occurred_at,currency,total,original_order_id"]
        rows += [f"N-{round_}-{n},sale,{card},2026-03-14T10:00:00+01:00,EUR,10.00," for n in range(BATCH_ROWS)]
        export = "\n".join(rows).encode()
        earns = [f"E-{round_}-{n}" for n in range(EARNS)]
        redemptions = [f"X-{round_}-{n}" for n in range(REDEMPTIONS)]

        def one(i, card=card, survivor=survivor, absorbed=absorbed, export=export, earns=earns, redemptions=redemptions):
            if i == 0:
                return merge(hub, survivor, absorbed)
            if i == 1:
                return hub.call("POST", "/v1/transactions/batch", nightly, data=export, content_type="text/csv")
            if i < 2 + EARNS:
                return hub.sale(world.coffee, card, "10.00", order=earns[i - 2])
            return hub.redeem(world.grocer, card, 20, order=redemptions[i - 2 - EARNS])

        responses = race(2 + EARNS + REDEMPTIONS, one)
        merged, batch, sold, spent = responses[0], responses[1], responses[2:2 + EARNS], responses[2 + EARNS:]
        assert merged.status_code == 200, merged.json
        assert batch.status_code == 200 and batch.json["accepted"] == BATCH_ROWS, batch.json
        assert [r.status_code for r in sold] == [201] * EARNS, [r.json for r in sold]
        # Every redemption was within the points the survivor (or, before the merge, the absorbed member) had.
        assert [r.status_code for r in spent] == [201] * REDEMPTIONS, [r.json for r in spent]
        # A till answered with the balance of the member its booking landed on: the survivor's once merged.
        for order, response in zip(earns + redemptions, sold + spent):
            on = booked_on(database, order)
            assert on in (survivor, absorbed)
            assert (on == survivor) == (response.json["balance"]["available"] >= SURVIVOR_POINTS), (order, response.json)
        # Every point of the round is the survivor's, the absorbed member's card shows the survivor's balance.
        expected = SURVIVOR_POINTS + ABSORBED_POINTS + 10 * (EARNS + BATCH_ROWS) - 20 * REDEMPTIONS
        assert hub.points(survivor_card)["available"] == expected
        assert hub.points(card) == {**hub.points(survivor_card), "card_number": card}
        assert nothing_left_on_merged_members(database) == []


def test_holds_racing_a_merge_land_on_the_survivor_or_refuse_the_merge(world, database):
    """A hold the absorbed member placed first refuses the merge (409 member_has_holds); one that came
    later waited for the merge and holds the survivor's points. No open hold is ever left on a merged member."""
    hub = world.hub
    outcomes = set()
    for round_ in range(ROUNDS):
        survivor, survivor_card, absorbed, card = scene(world, round_)
        orders = [f"H-{round_}-{n}" for n in range(HOLDS)]

        def one(i, card=card, survivor=survivor, absorbed=absorbed, orders=orders):
            if i == 0:
                return merge(hub, survivor, absorbed)
            if i <= HOLDS:
                return hold(hub, world.grocer, card, 20, orders[i - 1])
            return hub.sale(world.coffee, card, "10.00", order=f"HE-{round_}-{i}")

        responses = race(1 + HOLDS + 2, one)
        merged, held = responses[0], responses[1:1 + HOLDS]
        assert [r.status_code for r in held] == [201] * HOLDS, [r.json for r in held]
        assert [r.status_code for r in responses[1 + HOLDS:]] == [201, 201]
        with database.session() as session:
            holders = {session.scalar(select(Hold.member_id).join(Order, Order.id == Hold.order_id)
                                      .where(Order.order_id == order)) for order in orders}
        if merged.status_code == 200:
            outcomes.add("merged")
            assert holders == {survivor}, "a hold placed before the merge must have refused it"
            assert hub.points(survivor_card)["held"] == 20 * HOLDS
            total = SURVIVOR_POINTS + ABSORBED_POINTS + 20
        else:
            outcomes.add("refused")
            assert merged.status_code == 409 and merged.json["error"]["code"] == "member_has_holds", merged.json
            assert absorbed in holders
            total = None
        if total is not None:
            assert hub.points(survivor_card)["available"] == total - 20 * HOLDS
        assert nothing_left_on_merged_members(database) == []
    assert outcomes  # which of the two happened is the race's; both are right


def test_a_capture_or_void_racing_a_merge_ends_the_hold_before_the_merge_or_the_merge_refuses(world, database):
    """A hold's capture or void books on the hold's member: either it goes first and the merge then moves what
    is left, or the merge goes first and refuses (the hold is still open). Never a hold left on a merged member."""
    hub = world.hub
    for round_ in range(ROUNDS):
        survivor, survivor_card, absorbed, card = scene(world, round_)
        placed = hold(hub, world.grocer, card, 40, f"HC-{round_}")
        assert placed.status_code == 201, placed.json
        end = capture if round_ % 2 else void
        merged, ended = race(2, lambda i, absorbed=absorbed, survivor=survivor, hold_id=placed.json["redemption_id"]:
                             merge(hub, survivor, absorbed) if i == 0 else end(hub, world.grocer, hold_id))
        assert ended.status_code == (201 if end is capture else 200), ended.json
        if merged.status_code != 200:
            assert merged.json["error"]["code"] == "member_has_holds", merged.json
            assert merge(hub, survivor, absorbed).status_code == 200  # the hold is over now: the merge goes through
        spent = 40 if end is capture else 0
        assert hub.points(survivor_card) == {"card_number": survivor_card, "available": SURVIVOR_POINTS + ABSORBED_POINTS
                                             - spent, "pending": 0, "held": 0}
        assert nothing_left_on_merged_members(database) == []
