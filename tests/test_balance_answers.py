"""Every answer that shows a member's balance names the member: how a till that did not enrol it reaches its history."""

from __future__ import annotations

from tests.support.hub import order_id


def test_every_balance_answer_names_its_member(hub, world):
    """A till that did not enrol the member learns its id from any balance it is shown, and reaches its history."""
    grocer = world.grocer  # the coffee bar enrolled the member
    assert hub.balance(world.card, grocer)["member_id"] == world.member_id
    sale = hub.sale(grocer, world.card, "20.00", order="G-1")
    assert sale.status_code == 201 and sale.json["member_id"] == world.member_id
    refund = hub.refund(grocer, "G-1", "5.00")
    assert refund.status_code == 201 and refund.json["member_id"] == world.member_id
    redeemed = hub.redeem(grocer, world.card, 3)
    assert redeemed.status_code == 201 and redeemed.json["member_id"] == world.member_id
    reversal = hub.call("POST", f"/v1/redemptions/{redeemed.json['redemption_id']}/reversal", grocer)
    assert reversal.status_code == 201 and reversal.json["member_id"] == world.member_id
    held = hub.call("POST", "/v1/redemptions", grocer, json={"card_number": world.card, "points": 2,
                                                             "order_id": order_id("H"), "capture": False})
    assert held.status_code == 201 and held.json["member_id"] == world.member_id
    captured = hub.call("POST", f"/v1/redemptions/{held.json['redemption_id']}/capture", grocer, json={})
    assert captured.status_code == 201 and captured.json["member_id"] == world.member_id
    held = hub.call("POST", "/v1/redemptions", grocer, json={"card_number": world.card, "points": 2,
                                                             "order_id": order_id("H"), "capture": False})
    voided = hub.call("POST", f"/v1/redemptions/{held.json['redemption_id']}/void", grocer)
    assert voided.status_code == 200 and voided.json["member_id"] == world.member_id
    hub.create_partner("food-bank", kind="charity")
    donated = hub.call("POST", "/v1/donations", grocer, json={"card_number": world.card, "charity": "food-bank", "points": 1})
    assert donated.status_code == 201 and donated.json["member_id"] == world.member_id
    adjusted = hub.call("POST", f"/v1/members/{world.member_id}/adjustments", json={"points": 5, "reason": "goodwill"})
    assert adjusted.status_code == 201 and adjusted.json["member_id"] == world.member_id
    history = hub.history(world.member_id, grocer)  # the grocer's own entries, by the id it was shown
    assert {entry["order_id"] for entry in history["items"] if entry["kind"] == "earn"} == {"G-1"}


def test_a_card_merged_into_another_member_shows_the_survivor(hub, world):
    survivor, survivor_card = hub.enrol(world.coffee)
    assert hub.call("POST", f"/v1/members/{survivor}/merge", json={"member_id": world.member_id}).status_code == 200
    assert hub.balance(world.card, world.grocer)["member_id"] == survivor  # the absorbed member's card moved
    assert hub.balance(survivor_card, world.grocer)["member_id"] == survivor
    sale = hub.sale(world.grocer, world.card, "10.00")
    assert sale.status_code == 201 and sale.json["member_id"] == survivor
