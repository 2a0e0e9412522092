"""Where a random walk over the API once left the ledger disagreeing with its model (issue 11, item 11).

Each scene is the shortest walk that showed one divergence, replayed through
the API as partners and the operator would, with the figures the model says.
`coalition ledger check` passed on all three before its new invariants.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import select

from network.models import Hold
from tests.support.contracts import contract, figures_of
from tests.support.holds import hold
from tests.support.ledger import ids


def export(hub, member_id: str) -> dict:
    answer = hub.call("GET", f"/v1/members/{member_id}/export")
    assert answer.status_code == 200, answer.json
    return answer.json


def open_lots(hub, member_id: str) -> dict[str, int]:
    """The member's points by issuer, from the open lots of its export."""
    by_issuer: dict[str, int] = defaultdict(int)
    for lot in export(hub, member_id)["lots"]:
        if lot["remaining"]:
            by_issuer[lot["issuer"]] += lot["remaining"]
    return dict(by_issuer)


def merge(hub, survivor: str, absorbed: str) -> None:
    answer = hub.call("POST", f"/v1/members/{survivor}/merge", json={"member_id": absorbed})
    assert answer.status_code == 200, answer.json


def reverse(hub, key: str, redemption_id: int):
    answer = hub.call("POST", f"/v1/redemptions/{redemption_id}/reversal", key, json={})
    assert answer.status_code == 201, answer.json
    return answer.json


def nonzero(figures: dict) -> dict:
    return {k: v for k, v in figures.items() if v}


def test_a_refund_after_a_merge_and_a_reversal_takes_all_of_the_sales_own_lots(hub, database, clock):
    """The reversal re-credits the absorbed member's lot and it moves on again: two lots both from the sale's."""
    start = clock.now - timedelta(days=1)
    alpha, beta = hub.create_partner("alpha"), hub.create_partner("beta")
    for slug in ("alpha", "beta"):
        contract(hub, slug, "0.001", "0.008", start)
    x_id, x_card = hub.enrol(alpha)
    y_id, y_card = hub.enrol(beta)
    assert hub.sale(beta, y_card, "10.00").json["points"] == 10
    assert hub.sale(alpha, x_card, "20.00", order="A-1").json["points"] == 20
    spent = hub.redeem(beta, x_card, 5).json["redemption_id"]
    merge(hub, y_id, x_id)
    reverse(hub, beta, spent)
    assert open_lots(hub, y_id) == {"alpha": 20, "beta": 10}

    refund = hub.refund(alpha, "A-1", "20.00")
    assert refund.status_code == 201, refund.json
    assert refund.json["points"] == -20
    assert refund.json["balance"] == {"available": 10, "pending": 0, "held": 0}
    assert open_lots(hub, y_id) == {"beta": 10}
    assert open_lots(hub, x_id) == {}
    figures = figures_of(database, start, clock.advance(hours=1))
    p = ids(database)
    assert nonzero(figures.issued) == {p["beta"]: 10}
    assert nonzero(figures.matrix) == {}
    assert nonzero(figures.obligations) == {}  # no bill from beta to alpha for points never spent


@pytest.mark.parametrize("merges", [1, 2])
def test_a_reversal_after_the_surviving_member_was_deleted_forfeits_the_points(hub, database, clock, merges):
    """The points follow the merges to the member at the end of the chain; it was deleted, so they are forfeited."""
    start = clock.now - timedelta(days=1)
    alpha, beta = hub.create_partner("alpha"), hub.create_partner("beta")
    x_id, x_card = hub.enrol(alpha)
    assert hub.sale(alpha, x_card, "20.00").json["points"] == 20
    spent = hub.redeem(beta, x_card, 5).json["redemption_id"]
    chain = [x_id] + [hub.enrol(alpha)[0] for _ in range(merges)]
    for absorbed, survivor in zip(chain, chain[1:]):
        merge(hub, survivor, absorbed)
    last = chain[-1]
    deleted = hub.call("DELETE", f"/v1/members/{last}")
    assert deleted.json["forfeited"] == 15

    reversal = reverse(hub, beta, spent)
    assert reversal["points"] == 5
    assert reversal["balance"] == {"available": 0, "pending": 0, "held": 0}
    for member_id in chain:
        assert open_lots(hub, member_id) == {}
        assert export(hub, member_id)["balance"] == {"available": 0, "pending": 0, "held": 0}
    figures = figures_of(database, start, clock.advance(hours=1))
    p = ids(database)
    assert nonzero(figures.expired) == {p["alpha"]: 20}
    assert nonzero(figures.outstanding) == {}


@pytest.fixture
def expired_hold(world, clock):
    """Ann has 20 Brew Bar points, 5 of them held by Green Grocer until a minute ago."""
    world.hub.sale(world.coffee, world.card, "20.00")
    placed = hold(world.hub, world.grocer, world.card, 5, "G-1", hold_seconds=600)
    assert placed.status_code == 201, placed.json
    clock.advance(seconds=660)
    assert world.hub.points(world.card)["held"] == 0
    return world


RELEASED = {"available": 20, "pending": 0, "held": 0}


def test_the_export_shows_an_expired_hold_released_as_reads_do(expired_hold):
    world = expired_hold
    document = export(world.hub, world.member_id)
    assert document["balance"] == RELEASED
    assert [(lot["issuer"], lot["remaining"]) for lot in document["lots"]] == [("brew-bar", 20)]


def test_the_next_sale_books_an_expired_hold_and_answers_it_released(expired_hold):
    world = expired_hold
    sold = world.hub.sale(world.coffee, world.card, "10.00")
    assert sold.status_code == 201, sold.json
    assert sold.json["balance"] == {"available": 30, "pending": 0, "held": 0}
    assert export(world.hub, world.member_id)["balance"] == {"available": 30, "pending": 0, "held": 0}
    assert open_lots(world.hub, world.member_id) == {"brew-bar": 30}


def test_a_batch_of_sales_books_an_expired_hold(expired_hold, database):
    world = expired_hold
    key = world.hub.create_partner("corner-shop", adapter="csv")
    rows = "".join(f"{order},sale,{world.card},2026-03-14T10:30:00,EUR,5.00,\n" for order in ("B-1", "B-2"))
    batch = world.hub.call("POST", "/v1/transactions/batch", key, content_type="text/csv",
                           data=f"order_id,type,card_number,occurred_at,currency,total,original_order_id\n{rows}")
    assert batch.status_code == 200, batch.json
    assert batch.json["accepted"] == 2, batch.json
    with database.session() as session:
        assert session.scalar(select(Hold.status)) == "expired"
    assert export(world.hub, world.member_id)["balance"] == {"available": 30, "pending": 0, "held": 0}


def test_an_action_books_an_expired_hold_and_answers_it_released(expired_hold):
    world = expired_hold
    world.hub.put_rules("brew-bar", [{"rule": "base_rate", "rate": "1"},
                                     {"rule": "action", "action": "review", "points": 7, "per_day": 1}])
    acted = world.hub.call("POST", "/v1/actions", world.coffee,
                           json={"card_number": world.card, "action": "review", "reference": "R-1"})
    assert acted.status_code == 201, acted.json
    assert acted.json["balance"] == {"available": 27, "pending": 0, "held": 0}
