"""A member's cards belong to the member: only the operator or the enrolling partner issues one, and no partner
sees a full card number it was not given."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from network.models import Card
from tests.support.ledger import snapshot


def cards(database) -> list[tuple]:
    """Every card as stored: number, holder, status, reason."""
    with database.session() as session:
        return [tuple(row) for row in session.execute(
            select(Card.number, Card.member_id, Card.status, Card.block_reason).order_by(Card.number))]


def reasons(answer: dict) -> list:
    """The cards' block reasons, unblocked first (cards made at one instant come in no fixed order)."""
    return sorted((c["block_reason"] for c in answer["cards"]), key=lambda reason: (reason is not None, reason or ""))


@pytest.mark.parametrize("body", [{}, {"replaces": "card"}])
def test_another_partner_cannot_issue_or_replace_a_members_card(world, database, body):
    """The grocer did not enrol Ann: to it she does not exist, and no card it asks for is made or blocked."""
    hub = world.hub
    hub.sale(world.coffee, world.card, "40.00")
    body = {"replaces": world.card} if body else body
    before, stored = snapshot(database), cards(database)

    taken = hub.call("POST", f"/v1/members/{world.member_id}/cards", world.grocer, json=body)
    nobody = "f" * 32
    unknown = hub.call("POST", f"/v1/members/{nobody}/cards", world.grocer, json=body)
    assert (taken.status_code, taken.json["error"]["code"]) == (404, "unknown_member")
    assert taken.json == {**unknown.json, "error": {**unknown.json["error"], "details": {"member_id": [world.member_id]}}}
    assert snapshot(database) == before and cards(database) == stored
    assert hub.redeem(world.coffee, world.card, 10).status_code == 201  # the card still spends

    # The partner that enrolled her, and the operator, may.
    assert hub.call("POST", f"/v1/members/{world.member_id}/cards", world.coffee, json={}).status_code == 201
    assert hub.call("POST", f"/v1/members/{world.member_id}/cards", json=body).status_code == 201


def test_a_foreign_partner_learns_nothing_of_merged_or_deleted_members(world, database):
    """Not even a 410: to a partner that did not enrol them, merged and deleted members are unknown too."""
    hub = world.hub
    merged_id, _ = hub.enrol(world.coffee)
    deleted_id, _ = hub.enrol(world.coffee)
    assert hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": merged_id}).status_code == 200
    assert hub.call("DELETE", f"/v1/members/{deleted_id}").status_code == 200
    before = snapshot(database)
    for member_id in (merged_id, deleted_id):
        answer = hub.call("POST", f"/v1/members/{member_id}/cards", world.grocer, json={})
        assert (answer.status_code, answer.json["error"]["code"]) == (404, "unknown_member"), answer.json
        assert answer.json["error"]["details"] == {"member_id": [member_id]}
        assert hub.call("POST", f"/v1/members/{member_id}/cards", world.coffee, json={}).status_code == 410
    assert snapshot(database) == before


def test_an_operator_enrolled_member_gets_cards_from_the_operator_only(world, database):
    hub = world.hub
    member_id, _ = hub.enrol()
    before = snapshot(database)
    for key in (world.coffee, world.grocer):
        assert hub.call("POST", f"/v1/members/{member_id}/cards", key, json={}).status_code == 404
    assert snapshot(database) == before
    assert hub.call("POST", f"/v1/members/{member_id}/cards", json={}).status_code == 201


def test_no_partner_answer_shows_a_replacement_card_in_full(world):
    """"replaced by <number>" named the new card in full to anyone who could read the old one."""
    hub = world.hub
    hub.sale(world.coffee, world.card, "12.00")
    issued = hub.call("POST", f"/v1/members/{world.member_id}/cards", world.coffee, json={"replaces": world.card})
    new = issued.json["card_number"]
    masked = "*" * 12 + new[-4:]
    # The issuing partner is given its new card once, at the top; everywhere else it is masked.
    assert issued.get_data(as_text=True).count(new) == 1
    assert reasons(issued.json) == [None, f"replaced by {masked}"]

    for key in (world.coffee, world.grocer):
        answers = [
            hub.call("GET", f"/v1/members/{world.member_id}", key),
            hub.call("GET", f"/v1/members/{world.member_id}/history", key),
            hub.call("POST", f"/v1/cards/{world.card}/block", key, json={"reason": "lost"}),  # blocked already
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.json
            assert new not in answer.get_data(as_text=True), answer.json
        view, _, block = answers
        assert reasons(view.json) == [None, f"replaced by {masked}"]
        assert (block.json["number"], block.json["block_reason"]) == (world.card, f"replaced by {masked}")

    # The operator sees it all.
    assert reasons(hub.call("GET", f"/v1/members/{world.member_id}").json) == [None, f"replaced by {new}"]
    assert hub.call("POST", f"/v1/cards/{world.card}/block", json={}).json["block_reason"] == f"replaced by {new}"


def test_a_partners_block_reason_masks_any_card_number_in_it(world):
    hub = world.hub
    _, other = hub.enrol(world.grocer)
    blocked = hub.call("POST", f"/v1/cards/{other}/block", json={"reason": f"fraud, see {world.card}"})
    assert blocked.json["block_reason"] == f"fraud, see {world.card}"
    seen = hub.call("POST", f"/v1/cards/{other}/block", world.grocer, json={})
    assert seen.json["block_reason"] == "fraud, see " + "*" * 12 + world.card[-4:]
