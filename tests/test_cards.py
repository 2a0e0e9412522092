"""Cards: a lost card is blocked and refused at tills; a replacement earns into the same balance."""

from tests.support.ledger import snapshot


def mask(number: str) -> str:
    return "*" * 12 + number[-4:]


def test_a_blocked_card_is_refused_at_tills_and_the_balance_is_kept(world, database, clock):
    hub = world.hub
    assert hub.sale(world.coffee, world.card, "12.50").json["points"] == 12

    blocked = hub.call("POST", f"/v1/cards/{world.card}/block", world.grocer, json={"reason": "lost"})
    assert blocked.status_code == 200
    assert blocked.json["status"] == "blocked"
    assert blocked.json["block_reason"] == "lost"
    assert blocked.json["blocked_at"] == clock.now.isoformat()

    before = snapshot(database)
    sale = hub.sale(world.coffee, world.card, "20.00")
    assert sale.status_code == 422
    assert sale.json["error"]["code"] == "card_blocked"
    assert hub.redeem(world.coffee, world.card, 5).json["error"]["code"] == "card_blocked"
    assert hub.call("GET", f"/v1/cards/{world.card}/balance").json["error"]["code"] == "card_blocked"
    assert snapshot(database) == before

    member = hub.call("GET", f"/v1/members/{world.member_id}").json
    assert member["balance"] == {"available": 12, "pending": 0, "held": 0}
    assert [(c["number"], c["status"], c["block_reason"]) for c in member["cards"]] == [(world.card, "blocked", "lost")]

    # Blocking it again changes nothing: the first reason and time stay.
    clock.advance(hours=1)
    again = hub.call("POST", f"/v1/cards/{world.card}/block", json={"reason": "stolen"})
    assert again.status_code == 200
    assert (again.json["block_reason"], again.json["blocked_at"]) == ("lost", blocked.json["blocked_at"])


def test_a_replacement_card_blocks_the_old_one_and_earns_into_the_same_balance(world, database):
    hub = world.hub
    assert hub.sale(world.coffee, world.card, "12.50").json["points"] == 12

    issued = hub.call("POST", f"/v1/members/{world.member_id}/cards", world.coffee, json={"replaces": world.card})
    assert issued.status_code == 201
    new = issued.json["card_number"]
    assert new != world.card and issued.json["replaces"] == world.card
    # The partner that enrolled the member sees its cards masked, as in the member view.
    statuses = {c["number"]: (c["status"], c["block_reason"]) for c in issued.json["cards"]}
    assert statuses == {mask(world.card): ("blocked", f"replaced by {mask(new)}"), mask(new): ("active", None)}
    statuses = {c["number"]: (c["status"], c["block_reason"]) for c in hub.call("GET", f"/v1/members/{world.member_id}").json["cards"]}
    assert statuses == {world.card: ("blocked", f"replaced by {new}"), new: ("active", None)}  # the operator: in full

    assert hub.points(new) == {"card_number": new, "available": 12, "pending": 0, "held": 0}
    sale = hub.sale(world.grocer, new, "20.00")  # 2 points per EUR
    assert sale.status_code == 201
    assert sale.json["balance"]["available"] == 52
    assert hub.sale(world.grocer, world.card, "20.00").json["error"]["code"] == "card_blocked"
    assert hub.redeem(world.coffee, new, 52).json["balance"]["available"] == 0


def test_a_second_card_without_replacing_shares_the_balance(world):
    hub = world.hub
    second = hub.call("POST", f"/v1/members/{world.member_id}/cards", json={}).json["card_number"]
    hub.sale(world.coffee, world.card, "10.00")
    hub.sale(world.coffee, second, "5.00")
    assert hub.balance(world.card)["available"] == 15
    assert hub.balance(second)["available"] == 15
    statuses = [c["status"] for c in hub.call("GET", f"/v1/members/{world.member_id}").json["cards"]]
    assert statuses == ["active", "active"]


def test_refused_card_requests_change_nothing(world, database):
    hub = world.hub
    _, other_card = hub.enrol(world.coffee)
    before = snapshot(database)

    mismatch = hub.call("POST", f"/v1/members/{world.member_id}/cards", json={"replaces": other_card})
    assert mismatch.status_code == 422
    assert mismatch.json["error"]["code"] == "card_mismatch"
    assert mismatch.json["error"]["details"] == {"replaces": [other_card]}

    unknown = hub.call("POST", "/v1/cards/0000000000000000/block", json={})
    assert unknown.status_code in (404, 422)
    assert unknown.json["error"]["code"] in ("unknown_card", "invalid_card")
    bad = hub.call("POST", f"/v1/cards/{world.card}/block", json={"reason": "x" * 201})
    assert bad.status_code == 422 and "reason" in bad.json["error"]["details"]
    extra = hub.call("POST", f"/v1/cards/{world.card}/block", json={"why": "lost"})
    assert extra.status_code == 422 and "why" in extra.json["error"]["details"]
    nobody = hub.call("POST", "/v1/members/" + "f" * 32 + "/cards", json={})
    assert nobody.status_code == 404 and nobody.json["error"]["code"] == "unknown_member"

    assert snapshot(database) == before
    assert hub.balance(other_card)["available"] == 0  # still active
    assert hub.balance(world.card)["available"] == 0
