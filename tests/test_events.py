"""The outbox: events written with the postings (or not at all), and the scans that emit expiry warnings and dormancy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from network.events import outbox
from network.lifecycle import expiry, scans
from tests.support.events import events
from tests.support.ledger import snapshot

HEADER = "order_id,type,card_number,occurred_at,currency,total,original_order_id\n"


# ---------------------------------------------------------------- atomicity


def test_an_accepted_sale_leaves_exactly_one_event_and_a_refused_one_none(world, database):
    hub = world.hub
    assert hub.sale(world.coffee, world.card, "12.50", order="A-1").status_code == 201
    assert events(database) == [("points_earned", "brew-bar", {
        "member_id": world.member_id, "partner": "brew-bar", "points": 12, "order_id": "A-1",
        "balance": {"available": 12, "pending": 0, "held": 0}})]

    before = snapshot(database)
    assert hub.sale(world.coffee, world.card, "12.50", order="A-1").status_code == 409  # resent: no second credit
    assert hub.sale(world.coffee, "7000000000000013", "5.00").status_code == 404  # nobody's card
    assert hub.sale(world.coffee, world.card, "5.00", currency="USD").status_code == 422
    assert snapshot(database) == before
    assert len(events(database)) == 1


def test_a_sale_booked_then_rolled_back_with_its_transaction_leaves_no_event(hub, database):
    """A CSV on the single endpoint is all or nothing: row 1 is booked, row 2 refused, and row 1's event goes too."""
    key = hub.create_partner("nyc-5", currency="USD", adapter="csv")
    card = hub.enrol(key)[1]
    body = HEADER + f"N-1,sale,{card},2026-03-14T10:00:00,USD,20.00,\nN-2,sale,7000000000000013,2026-03-14T10:05:00,USD,5.00,\n"
    before = snapshot(database)
    refused = hub.call("POST", "/v1/transactions", key, data=body, content_type="text/csv")
    assert refused.status_code == 404, refused.json
    assert snapshot(database) == before
    assert events(database) == []

    body = HEADER + f"N-1,sale,{card},2026-03-14T10:00:00,USD,20.00,\n"
    assert hub.call("POST", "/v1/transactions", key, data=body, content_type="text/csv").status_code == 201
    assert [(kind, data["order_id"], data["points"]) for kind, _, data in events(database)] == [("points_earned", "N-1", 20)]


def test_a_batch_emits_one_event_per_sale_that_earned_and_none_for_refunds_or_nothing_earned(hub, database):
    key = hub.create_partner("nyc-5", currency="USD", adapter="csv")
    ann_id, ann = hub.enrol(key)
    bob_id, bob = hub.enrol(key)
    body = HEADER + "".join([
        f"B-1,sale,{ann},2026-03-14T10:00:00,USD,12.50,\n",
        f"B-2,sale,{bob},2026-03-14T10:01:00,USD,0.40,\n",  # earns nothing
        f"B-3,sale,{ann},2026-03-14T10:02:00,USD,3.00,\n",
        "B-4,refund,,2026-03-14T10:03:00,USD,6.25,B-1\n",
        "B-5,sale,7000000000000013,2026-03-14T10:04:00,USD,9.00,\n",  # nobody's card
    ])
    result = hub.call("POST", "/v1/transactions/batch", key, data=body, content_type="text/csv").json
    assert result["accepted"] == 4 and result["rejected_total"] == 1
    # Each answer shows the balance after the whole chunk, and so does each event.
    assert [(d["member_id"], d["order_id"], d["points"], d["balance"]["available"]) for _, _, d in events(database)] == [
        (ann_id, "B-1", 12, 15), (ann_id, "B-3", 3, 15)]
    again = hub.call("POST", "/v1/transactions/batch", key, data=body, content_type="text/csv").json
    assert again["duplicates"] == 4
    assert len(events(database)) == 2


def test_a_redemption_emits_points_redeemed_to_the_partner_where_it_was_spent(world, database):
    hub = world.hub
    hub.sale(world.grocer, world.card, "40.00", order="G-1")  # 80 points
    assert hub.redeem(world.coffee, world.card, 500, order="X-1").status_code == 422  # not enough: no event
    redeemed = hub.redeem(world.coffee, world.card, 50, order="X-2")
    assert redeemed.status_code == 201
    assert events(database, "points_redeemed") == [("points_redeemed", "brew-bar", {
        "member_id": world.member_id, "partner": "brew-bar", "points": 50, "order_id": "X-2",
        "redemption_id": redeemed.json["redemption_id"], "balance": {"available": 30, "pending": 0, "held": 0}})]


def test_events_refuse_personal_data_and_unknown_kinds(world, database):
    with database.session() as session:
        with pytest.raises(ValueError, match="personal data"):
            outbox.emit(session, "tier_changed", member_id=world.member_id, partner_id=None,
                        data={"member_id": world.member_id, "email": "ann@example.com"}, now=world_now())
        with pytest.raises(ValueError, match="unknown event kind"):
            outbox.emit(session, "points_gifted", member_id=None, partner_id=None, data={}, now=world_now())
        session.rollback()
    for _, _, data in events(database):
        assert "email" not in data and "name" not in data


def world_now():
    from network.clock import utc_now

    return utc_now()


def test_emit_with_a_dedup_key_writes_once(world, database):
    def twice(session):
        first = outbox.emit(session, "tier_changed", member_id=world.member_id, partner_id=None,
                            data={"member_id": world.member_id, "from": "silver", "to": "gold"}, now=world_now(), dedup_key="k")
        second = outbox.emit(session, "tier_changed", member_id=world.member_id, partner_id=None,
                             data={"member_id": world.member_id, "from": "silver", "to": "gold"}, now=world_now(), dedup_key="k")
        return first, second

    first, second = database.transact(twice)
    assert len(first) == 36 and second is None
    assert [kind for kind, _, _ in events(database)] == ["tier_changed"]


# ---------------------------------------------------------------- scans


def scan(database, as_of, settings=None, now=None):
    settings = settings or scans.Settings(timedelta(days=30), timedelta(days=180), expiry.Policy(timedelta(days=730)))
    done = scans.Scan()
    for done in scans.scan(database.transact, as_of, settings, now=now or as_of):
        pass
    return done


def test_points_expiring_under_activity_extends_once_per_expiry_date(world, database, clock):
    hub = world.hub
    start = clock.now
    hub.sale(world.grocer, world.card, "25.00")  # 50 points; all of them expire 730 days after the last activity
    done = scan(database, start + timedelta(days=699))
    assert (done.members, done.expiring, done.dormant) == (1, 0, 1)  # 31 days to go; long dormant, though
    done = scan(database, start + timedelta(days=700))
    assert (done.members, done.expiring, done.dormant) == (1, 1, 0)
    assert events(database, "points_expiring") == [("points_expiring", "brew-bar", {  # the enrolling partner hears
        "member_id": world.member_id, "points": 50, "expires_at": (start + timedelta(days=730)).isoformat(),
        "days_left": 30, "balance": 50})]
    assert scan(database, start + timedelta(days=701)).expiring == 0  # the same expiry date: warned already

    clock.advance(days=710)  # the member comes back: everything lives 730 days from now
    hub.sale(world.coffee, world.card, "10.00")
    assert scan(database, clock.now + timedelta(days=699)).expiring == 0
    assert scan(database, clock.now + timedelta(days=700)).expiring == 1
    assert [d["expires_at"] for _, _, d in events(database, "points_expiring")] == [
        (start + timedelta(days=730)).isoformat(), (clock.now + timedelta(days=730)).isoformat()]


def test_points_expiring_under_fixed_lots_warns_of_each_lot_in_turn(world, database, clock):
    hub = world.hub
    fixed = scans.Settings(timedelta(days=30), timedelta(days=180), expiry.Policy(timedelta(days=730), expiry.FIXED))
    start = clock.now
    hub.sale(world.coffee, world.card, "10.00")  # 10 points, expire start + 730 d
    clock.advance(days=10)
    hub.sale(world.coffee, world.card, "20.00")  # 20 points, expire start + 740 d
    assert scan(database, start + timedelta(days=700), fixed).expiring == 1
    assert scan(database, start + timedelta(days=715), fixed).expiring == 0  # still the first lot: warned already
    database.transact(lambda session: expiry.expire_member(session, world.member_id, start + timedelta(days=730),
                                                             fixed.policy, now=start + timedelta(days=730)))
    assert scan(database, start + timedelta(days=731), fixed).expiring == 1
    assert [(d["points"], d["days_left"], d["balance"]) for _, _, d in events(database, "points_expiring")] == [
        (10, 30, 30), (20, 9, 20)]


def test_dormant_member_once_per_dormancy(world, database, clock):
    hub = world.hub
    start = clock.now
    hub.sale(world.coffee, world.card, "10.00")
    idle_id, _ = hub.enrol(world.grocer)  # no points: never dormant, whatever its silence
    assert scan(database, start + timedelta(days=179, hours=23)).dormant == 0
    assert scan(database, start + timedelta(days=180)).dormant == 1
    assert scan(database, start + timedelta(days=250)).dormant == 0  # the same dormancy
    assert events(database, "dormant_member") == [("dormant_member", "brew-bar", {
        "member_id": world.member_id, "points": 10, "last_activity_at": start.isoformat(), "inactive_days": 180})]

    clock.advance(days=300)
    assert hub.redeem(world.grocer, world.card, 4).status_code == 201  # back, then quiet again
    assert scan(database, clock.now + timedelta(days=180)).dormant == 1
    assert [d["last_activity_at"] for _, _, d in events(database, "dormant_member")] == [
        start.isoformat(), clock.now.isoformat()]
    assert idle_id not in {d["member_id"] for _, _, d in events(database)}


def test_a_member_enrolled_by_the_operator_has_no_audience_but_is_still_an_event(hub, database, clock):
    key = hub.create_partner("brew-bar")
    member_id, card = hub.enrol()  # the operator enrols
    hub.sale(key, card, "10.00")
    assert scan(database, clock.now + timedelta(days=180)).dormant == 1
    assert events(database, "dormant_member")[0][:2] == ("dormant_member", None)


def test_the_scan_pages_through_members(world, database, clock):
    hub = world.hub
    with_points = set()
    for _ in range(5):
        member_id, card = hub.enrol(world.coffee)
        hub.sale(world.coffee, card, "10.00")
        with_points.add(member_id)
    settings = scans.Settings(timedelta(days=30), timedelta(days=180), expiry.Policy(timedelta(days=730)))
    pages, after, seen = [], "", set()
    while True:
        page, _, dormant = database.transact(lambda session: scans.scan_page(
            session, clock.now + timedelta(days=200), settings, now=clock.now, after=after, limit=2))
        if not page:
            break
        pages.append((len(page), dormant))
        seen |= set(page)
        after = page[-1]
    assert pages == [(2, 2), (2, 2), (1, 1)]
    assert seen == with_points  # the world's member has no points: not scanned


def test_coalition_events_scan_command(world, runner, clock):
    world.hub.sale(world.coffee, world.card, "10.00")
    clock.advance(days=700)
    result = runner.invoke(["events", "scan"])
    assert result.exit_code == 0, result.output
    assert "scanned 1 members with points" in result.output and "1 points_expiring, 1 dormant_member" in result.output
    again = runner.invoke(["events", "scan"])
    assert "0 points_expiring, 0 dormant_member" in again.output


def test_coalition_events_scan_as_of_a_past_time_and_never_a_future_one(world, runner, database, clock):
    world.hub.sale(world.coffee, world.card, "10.00")
    start = clock.now
    clock.advance(days=400)
    future = runner.invoke(["events", "scan", "--as-of", "2030-01-01"])
    assert future.exit_code == 2 and "future" in future.output
    assert events(database, "dormant_member") == []
    as_of = (start + timedelta(days=181)).strftime("%Y-%m-%dT%H:%M:%S")
    past = runner.invoke(["events", "scan", "--as-of", as_of])
    assert past.exit_code == 0, past.output
    assert [d["inactive_days"] for _, _, d in events(database, "dormant_member")] == [181]


def test_a_captured_hold_and_a_donation_emit_points_redeemed_and_a_hold_alone_does_not(world, database):
    hub = world.hub
    hub.sale(world.coffee, world.card, "50.00")
    held = hub.call("POST", "/v1/redemptions", world.grocer,
                    json={"card_number": world.card, "points": 30, "order_id": "H-1", "capture": False})
    assert events(database, "points_redeemed") == []
    capture = hub.call("POST", f"/v1/redemptions/{held.json['redemption_id']}/capture", world.grocer, json={"points": 20})
    hub.create_partner("food-bank", kind="charity")
    hub.call("POST", "/v1/donations", world.coffee, json={"card_number": world.card, "charity": "food-bank", "points": 5})
    assert [(slug, data["points"], data["order_id"]) for _, slug, data in events(database, "points_redeemed")] == [
        ("green-grocer", 20, "H-1"), ("food-bank", 5, None)]
    assert events(database, "points_redeemed")[0][2]["redemption_id"] == capture.json["capture_id"]
