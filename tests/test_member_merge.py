"""Merging two members: points and lots move with their issuer and expiry; settlement does not see new points."""

from datetime import timedelta

from sqlalchemy import func, select

from network.models import JournalEntry, Lot, LotMovement
from settlement.figures import Period, settle
from tests.support.contracts import contract
from tests.support.ledger import ids, snapshot
from tests.support.races import race


def figures(database, start, end):
    with database.session() as session:
        return settle(session, Period(start, end), "EUR")


def per_issuer(f):
    return {"issued": dict(f.issued), "redeemed": dict(f.redeemed), "matrix": dict(f.matrix),
            "outstanding": {k: v for k, v in f.outstanding.items() if v}, "expired": dict(f.expired),
            "fees": dict(f.fees), "obligations": dict(f.obligations)}


def test_merge_keeps_provenance_and_a_later_redemption_bills_the_original_issuers(hub, clock, database):
    t0 = clock.now
    coffee, grocer, fuel = (hub.create_partner(slug, earn_rate=rate) for slug, rate in
                            (("coffee", "1"), ("grocer", "2"), ("fuel", "1")))
    for slug, fee, rate in (("coffee", "0.002", "0.010"), ("grocer", "0.001", "0.008"), ("fuel", "0.001", "0.009")):
        contract(hub, slug, fee, rate, t0 - timedelta(days=1))
    ann_id, ann_card = hub.enrol(coffee, email="ann@example.com", name="Ann")
    bob_id, bob_card = hub.enrol(grocer, email="ann.b@example.com", name="Ann B.")
    assert hub.sale(coffee, ann_card, "100.00").json["points"] == 100  # coffee lot, earned t0
    clock.advance(hours=1)
    assert hub.sale(grocer, bob_card, "50.00").json["points"] == 100  # grocer lot, t0+1h
    clock.advance(hours=1)
    assert hub.sale(coffee, bob_card, "30.00").json["points"] == 30  # coffee lot, t0+2h
    with database.session() as session:
        bob_lots = session.execute(select(Lot.issuer_id, Lot.earned_at, Lot.available_at, Lot.expires_at)
                                   .where(Lot.member_id == bob_id).order_by(Lot.id)).all()
    t1 = clock.advance(hours=1)
    before = per_issuer(figures(database, None, t1))

    clock.advance(hours=1)
    merged = hub.call("POST", f"/v1/members/{ann_id}/merge", json={"member_id": bob_id})
    assert merged.status_code == 200, merged.json
    assert merged.json["moved"] == {"available": 130, "pending": 0}
    assert merged.json["lots"] == 2
    assert merged.json["cards"] == [bob_card]
    assert merged.json["balance"] == {"available": 230, "pending": 0, "held": 0}
    t2 = clock.advance(hours=1)

    # Settlement is blind to the merge: same figures per issuer, nothing issued or redeemed in its period.
    assert per_issuer(figures(database, None, t2)) == before
    during = figures(database, t1, t2)
    assert (dict(during.issued), dict(during.redeemed), dict(during.matrix), dict(during.fees)) == ({}, {}, {}, {})

    # The moved lots: same issuer, earned_at, available_at and expires_at, on Ann, pointing back at Bob's.
    with database.session() as session:
        moved = session.execute(select(Lot.issuer_id, Lot.earned_at, Lot.available_at, Lot.expires_at, Lot.merged_from_id)
                                .where(Lot.member_id == ann_id, Lot.merged_from_id.is_not(None)).order_by(Lot.id)).all()
        assert [tuple(m[:4]) for m in moved] == [tuple(b) for b in bob_lots]
        assert session.scalars(select(Lot.remaining).where(Lot.member_id == bob_id)).all() == [0, 0]
        kinds = session.scalars(select(JournalEntry.kind).where(JournalEntry.kind == "merge")).all()
        assert kinds == ["merge"]  # one per account kind moved: only available had points
        assert sorted(session.scalars(select(LotMovement.points).join(JournalEntry).where(JournalEntry.kind == "merge"))) == [-100, -30]

    # Bob is closed; his card is Ann's now.
    gone = hub.call("GET", f"/v1/members/{bob_id}")
    assert gone.status_code == 410
    assert gone.json["error"]["code"] == "member_merged"
    assert gone.json["error"]["details"]["merged_into"] == ann_id
    assert hub.balance(bob_card)["available"] == 230
    assert sorted(c["number"] for c in hub.call("GET", f"/v1/members/{ann_id}").json["cards"]) == sorted([ann_card, bob_card])

    # Redeem 180 at fuel with Bob's old card: Ann's coffee 100 (expires first), then the grocer's 80.
    redemption = hub.redeem(fuel, bob_card, 180)
    assert redemption.status_code == 201
    assert redemption.json["provenance"] == [{"issuer": "coffee", "points": 100}, {"issuer": "grocer", "points": 80}]
    t3 = clock.advance(hours=1)
    p = ids(database)
    after = figures(database, t2, t3)
    assert dict(after.matrix) == {(p["coffee"], p["fuel"]): 100, (p["grocer"], p["fuel"]): 80}
    assert dict(after.issued) == {}
    # coffee owes fuel 100 x 0.009 = 0.90 EUR, grocer owes fuel 80 x 0.009 = 0.72 EUR.
    assert dict(after.obligations) == {(p["coffee"], p["fuel"]): 90, (p["grocer"], p["fuel"]): 72}
    whole = figures(database, None, t3)
    assert dict(whole.issued) == {p["coffee"]: 130, p["grocer"]: 100}
    assert {k: v for k, v in whole.outstanding.items() if v} == {p["coffee"]: 30, p["grocer"]: 20}


def test_merged_members_are_refused_afterwards(world, database):
    hub = world.hub
    other_id, other_card = hub.enrol(world.grocer)
    hub.sale(world.grocer, other_card, "10.00")
    assert hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": other_id}).status_code == 200
    # Merging it again into the same member moves what arrived since: here nothing.
    again = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": other_id})
    assert again.status_code == 200
    assert (again.json["moved"], again.json["lots"], again.json["cards"]) == ({"available": 0, "pending": 0}, 0, [])
    third_id, _ = hub.enrol(world.grocer)
    before = snapshot(database)
    for method, path, body in (
        ("POST", f"/v1/members/{third_id}/merge", {"member_id": other_id}),
        ("POST", f"/v1/members/{other_id}/merge", {"member_id": world.member_id}),
        ("POST", f"/v1/members/{other_id}/cards", {}),
        ("POST", f"/v1/members/{other_id}/adjustments", {"points": 5, "reason": "goodwill"}),
    ):
        answer = hub.call(method, path, json=body)
        assert answer.status_code == 410, (path, answer.json)
        assert answer.json["error"]["code"] == "member_merged"
    assert snapshot(database) == before


def test_refused_merges_change_nothing(world, database):
    hub = world.hub
    other_id, other_card = hub.enrol(world.grocer)
    hub.sale(world.grocer, other_card, "10.00")  # 20 points
    # Hold 5 of the other member's points: a till authorised a redemption and has not captured it.
    hold = hub.call("POST", "/v1/redemptions", world.grocer,
                    json={"card_number": other_card, "points": 5, "order_id": "H-1", "capture": False})
    assert hold.status_code == 201, hold.json
    before = snapshot(database)

    held = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": other_id})
    assert held.status_code == 409
    assert held.json["error"]["code"] == "member_has_holds"
    assert held.json["error"]["details"]["held"] == 5
    itself = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": world.member_id})
    assert (itself.status_code, itself.json["error"]["code"]) == (422, "same_member")
    unknown = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": "0" * 32})
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "unknown_member")
    missing = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={})
    assert missing.status_code == 422 and "member_id" in missing.json["error"]["details"]
    partner = hub.call("POST", f"/v1/members/{world.member_id}/merge", world.coffee, json={"member_id": other_id})
    assert (partner.status_code, partner.json["error"]["code"]) == (403, "wrong_role")

    assert snapshot(database) == before
    assert hub.points(other_card) == {"card_number": other_card, "available": 15, "pending": 0, "held": 5}


def hub_now(world):
    return world.hub.client.application.config["CLOCK"]()


def test_a_refund_after_the_merge_takes_the_points_back_from_the_moved_lot(world, database, clock):
    hub = world.hub
    bob_id, bob_card = hub.enrol(world.grocer)
    assert hub.sale(world.grocer, bob_card, "50.00", order="G-1").json["points"] == 100
    assert hub.sale(world.coffee, world.card, "10.00").json["points"] == 10
    assert hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": bob_id}).status_code == 200

    refund = hub.refund(world.grocer, "G-1", "25.00", card_number=bob_card)
    assert refund.status_code == 201, refund.json
    assert refund.json["points"] == -50
    assert "uncollected_points" not in refund.json
    assert refund.json["balance"]["available"] == 60
    with database.session() as session:
        moved = session.execute(select(Lot.points, Lot.remaining).where(Lot.merged_from_id.is_not(None))).one()
        assert tuple(moved) == (100, 50)
        whole = settle(session, Period(None, clock.advance(hours=1)), "EUR")
    p = ids(database)
    assert dict(whole.issued) == {p["brew-bar"]: 10, p["green-grocer"]: 50}


def test_a_redemption_reversed_after_the_merge_or_deletion_follows_the_members_points(world, database, clock):
    hub = world.hub
    bob_id, bob_card = hub.enrol(world.grocer)
    hub.sale(world.grocer, bob_card, "50.00")  # 100 grocer points
    redemption = hub.redeem(world.coffee, bob_card, 30).json["redemption_id"]
    assert hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": bob_id}).json["balance"]["available"] == 70

    reversal = hub.call("POST", f"/v1/redemptions/{redemption}/reversal", world.coffee, json={})
    assert reversal.status_code == 201, reversal.json
    assert reversal.json["balance"]["available"] == 100  # the survivor's: the 30 points went on to it
    assert hub.balance(bob_card)["available"] == 100
    with database.session() as session:
        assert session.scalar(select(func.sum(Lot.remaining)).where(Lot.member_id == bob_id)) == 0
        assert sorted(session.scalars(select(Lot.remaining).where(Lot.member_id == world.member_id))) == [30, 70]

    # Deleted, then a redemption of its points reversed: they are forfeited like the rest.
    carl_id, carl_card = hub.enrol(world.grocer)
    hub.sale(world.grocer, carl_card, "10.00")  # 20 points
    spent = hub.redeem(world.coffee, carl_card, 5).json["redemption_id"]
    start = clock.advance(hours=1)
    assert hub.call("DELETE", f"/v1/members/{carl_id}").json["forfeited"] == 15
    back = hub.call("POST", f"/v1/redemptions/{spent}/reversal", world.coffee, json={})
    assert back.status_code == 201
    assert back.json["balance"]["available"] == 0
    with database.session() as session:
        figures = settle(session, Period(start, clock.advance(hours=1)), "EUR")
    assert dict(figures.expired) == {ids(database)["green-grocer"]: 20}


def test_opposite_merges_at_once_one_wins_and_no_point_is_lost(world, database):
    """Both requests lock both members in account id order: no deadlock, and the loser finds its member merged."""
    hub = world.hub
    bob_id, bob_card = hub.enrol(world.grocer)
    hub.sale(world.coffee, world.card, "10.00")  # 10
    hub.sale(world.grocer, bob_card, "10.00")  # 20
    pairs = [(world.member_id, bob_id), (bob_id, world.member_id)] * 3
    responses = race(6, lambda i: hub.call("POST", f"/v1/members/{pairs[i][0]}/merge", json={"member_id": pairs[i][1]}))
    won = [pairs[i] for i, r in enumerate(responses) if r.status_code == 200]
    # The first merge wins; the same merge again moves nothing more; the opposite one finds its survivor merged.
    assert len(set(won)) == 1 and len(won) == 3, [r.json for r in responses]
    assert sum(r.json["moved"]["available"] for r in responses if r.status_code == 200) in (10, 20)
    assert {r.json["error"]["code"] for r in responses if r.status_code != 200} == {"member_merged"}
    assert hub.balance(world.card)["available"] == hub.balance(bob_card)["available"] == 30


def test_what_the_absorbed_member_owes_the_survivor_repays(world, database, clock):
    """Under `unlimited` claw-back a refund left the absorbed member 30 points short; the survivor's points repay it."""
    hub = world.hub
    hub.client.application.config["COALITION_CLAWBACK"] = "unlimited"
    other_id, other_card = hub.enrol(world.grocer)
    hub.sale(world.coffee, other_card, "50.00", order="S-9")  # 50 from Brew Bar
    hub.redeem(world.grocer, other_card, 30)
    assert hub.refund(world.coffee, "S-9", "50.00").json["balance"]["available"] == -30
    hub.sale(world.grocer, world.card, "50.00")  # the survivor has 100 of the grocer's
    merged = hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": other_id})
    assert merged.status_code == 200, merged.json
    assert merged.json["balance"]["available"] == 70
    assert hub.balance(world.card)["available"] == 70
    with database.session() as session:
        from network.models import Debt

        assert session.execute(select(Debt.member_id, Debt.remaining)).one() == (world.member_id, 0)


def test_a_refund_racing_the_merge_takes_back_from_whoever_holds_the_points(world, database):
    """Ten times: merge Bob into Ann while Bob's sale is refunded. Whichever commits first, the refund
    takes the points from the member holding them then, and the ledger stays whole (checked after the test)."""
    hub = world.hub
    for round_ in range(10):
        bob, bob_card = hub.enrol(world.grocer)
        hub.sale(world.grocer, bob_card, "50.00", order=f"G-{round_}")  # 100 points
        responses = race(2, lambda i: hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": bob})
                         if i == 0 else hub.refund(world.grocer, f"G-{round_}", "50.00", order=f"G-{round_}-R"))
        assert [r.status_code for r in responses] == [200, 201], [r.json for r in responses]
        assert responses[1].json["points"] == -100
    assert hub.balance(world.card)["available"] == 0
