"""Where a random walk over the API once left the ledger disagreeing with its model (issue 11, item 11).

Each scene is the shortest walk that showed one divergence, replayed through
the API as partners and the operator would, with the figures the model says.
`coalition ledger check` passed on all three before its new invariants.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest

from tests.support.contracts import contract, figures_of
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
