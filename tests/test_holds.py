"""Two-phase redemptions: a hold, then a capture (all or part), a void, or expiry by server time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from network.models import Hold, JournalEntry, Lot
from tests.support.contracts import contract, figures_of
from tests.support.holds import capture, hold, void
from tests.support.ledger import ids, snapshot
from tests.support.races import race


def lots(database):
    with database.session() as session:
        return [tuple(row) for row in session.execute(select(Lot.points, Lot.remaining).order_by(Lot.id))]


def kinds(database):
    with database.session() as session:
        return list(session.scalars(select(JournalEntry.kind).order_by(JournalEntry.id)))


@pytest.fixture
def fifty(world, clock):
    """Ann has 30 Brew Bar points (expiring first) and 20 Green Grocer points."""
    world.hub.sale(world.coffee, world.card, "30.00")
    clock.advance(days=1)
    world.hub.sale(world.grocer, world.card, "10.00")
    return world


def test_a_hold_counts_at_once_and_a_partial_capture_gives_the_rest_back(fifty, database, clock):
    hub, card = fifty.hub, fifty.card
    placed = hold(hub, fifty.grocer, card, 40, "G-7")
    assert placed.status_code == 201, placed.json
    assert placed.json["status"] == "authorized"
    assert placed.json["expires_at"] == (clock.now + timedelta(hours=1)).isoformat()
    assert placed.json["balance"] == {"available": 10, "pending": 0, "held": 40}
    assert placed.json["provenance"] == [{"issuer": "brew-bar", "points": 30}, {"issuer": "green-grocer", "points": 10}]
    assert hub.points(card) == {"card_number": card, "available": 10, "pending": 0, "held": 40}
    assert lots(database) == [(30, 0), (20, 10)]

    # The held points cannot be spent again, here or anywhere.
    assert hub.redeem(fifty.coffee, card, 11).json["error"]["code"] == "insufficient_points"

    clock.advance(minutes=5)
    captured = capture(hub, fifty.grocer, placed.json["redemption_id"], 25)
    assert captured.status_code == 201, captured.json
    assert captured.json["status"] == "captured"
    assert (captured.json["points"], captured.json["held"], captured.json["released"]) == (25, 40, 15)
    assert captured.json["balance"] == {"available": 25, "pending": 0, "held": 0}
    # Taken from the hold's lots in the hold's order: the Brew Bar points first.
    assert captured.json["provenance"] == [{"issuer": "brew-bar", "points": 25}]
    assert lots(database) == [(30, 5), (20, 20)]
    assert kinds(database)[-3:] == ["hold", "hold_release", "redemption"]
    with database.session() as session:
        entry = session.get(JournalEntry, captured.json["capture_id"])
        assert (entry.kind, entry.booked_at) == ("redemption", clock.now)

    shown = hub.call("GET", f"/v1/redemptions/{placed.json['redemption_id']}", fifty.grocer).json
    assert (shown["status"], shown["points"], shown["captured"], shown["order_id"]) == ("captured", 40, 25, "G-7")
    history = hub.history(fifty.member_id)["items"]
    assert [(e["kind"], e["points"]) for e in history[:3]] == [("redemption", -25), ("hold_release", 0), ("hold", 0)]

    # Capturing again is refused and changes nothing.
    before = snapshot(database)
    again = capture(hub, fifty.grocer, placed.json["redemption_id"])
    assert (again.status_code, again.json["error"]["code"]) == (409, "hold_captured")
    assert snapshot(database) == before


def test_a_full_capture_is_billed_and_reversible_like_a_plain_redemption(fifty, database):
    hub = fifty.hub
    placed = hold(hub, fifty.grocer, fifty.card, 50, "G-8").json
    captured = hub.call("POST", f"/v1/redemptions/{placed['redemption_id']}/capture", fifty.grocer)  # no body: all of it
    assert captured.status_code == 201, captured.json
    assert (captured.json["points"], captured.json["released"]) == (50, 0)
    assert captured.json["balance"] == {"available": 0, "pending": 0, "held": 0}
    # The till reverses by the id it knows, the hold's.
    reversal = hub.call("POST", f"/v1/redemptions/{placed['redemption_id']}/reversal", fifty.grocer)
    assert reversal.status_code == 201, reversal.json
    assert (reversal.json["redemption_id"], reversal.json["points"]) == (captured.json["capture_id"], 50)
    assert hub.balance(fifty.card)["available"] == 50
    assert lots(database) == [(30, 30), (20, 20)]


def test_a_void_gives_every_point_back_to_its_lot(fifty, database):
    hub = fifty.hub
    placed = hold(hub, fifty.grocer, fifty.card, 35, "G-9").json
    voided = void(hub, fifty.grocer, placed["redemption_id"])
    assert voided.status_code == 200, voided.json
    assert (voided.json["status"], voided.json["released"]) == ("voided", 35)
    assert voided.json["balance"] == {"available": 50, "pending": 0, "held": 0}
    assert voided.json["provenance"] == [{"issuer": "brew-bar", "points": 30}, {"issuer": "green-grocer", "points": 5}]
    assert lots(database) == [(30, 30), (20, 20)]
    before = snapshot(database)
    for refused in (capture(hub, fifty.grocer, placed["redemption_id"]), void(hub, fifty.grocer, placed["redemption_id"])):
        assert (refused.status_code, refused.json["error"]["code"]) == (409, "hold_voided")
    assert snapshot(database) == before
    # The order id stays taken: a voided basket is not booked again under it.
    assert hold(hub, fifty.grocer, fifty.card, 5, "G-9").json["error"]["code"] == "duplicate_order"


def test_an_expired_hold_is_released_by_server_time(fifty, database, clock):
    hub, card = fifty.hub, fifty.card
    placed = hold(hub, fifty.grocer, card, 40, "G-10", hold_seconds=600).json
    assert placed["expires_at"] == (clock.now + timedelta(seconds=600)).isoformat()
    clock.advance(seconds=599)
    assert hub.balance(card)["held"] == 40
    clock.advance(seconds=1)
    # Reads show it released before any write has happened ...
    assert hub.points(card) == {"card_number": card, "available": 50, "pending": 0, "held": 0}
    assert hub.call("GET", f"/v1/members/{fifty.member_id}").json["balance"] == {"available": 50, "pending": 0, "held": 0}
    assert hub.call("GET", f"/v1/redemptions/{placed['redemption_id']}", fifty.grocer).json["status"] == "expired"
    # ... capture and void are refused, changing nothing ...
    before = snapshot(database)
    for refused in (capture(hub, fifty.grocer, placed["redemption_id"], 10), void(hub, fifty.grocer, placed["redemption_id"])):
        assert (refused.status_code, refused.json["error"]["code"]) == (409, "hold_expired")
    assert snapshot(database) == before
    # ... and the next write on the member releases it first, so all 50 points can be spent.
    spent = hub.redeem(fifty.coffee, card, 50)
    assert spent.status_code == 201, spent.json
    assert spent.json["balance"] == {"available": 0, "pending": 0, "held": 0}
    with database.session() as session:
        released = session.scalar(select(Hold))
        assert (released.status, released.released_at) == ("expired", clock.now)
    assert kinds(database)[-2:] == ["hold_release", "redemption"]


def test_hold_lifetime_is_bounded_and_holds_need_capture_false(fifty, database):
    hub = fifty.hub
    before = snapshot(database)
    too_long = hold(hub, fifty.grocer, fifty.card, 5, "G-11", hold_seconds=7 * 24 * 3600 + 1)
    assert too_long.status_code == 422
    assert "hold_seconds" in too_long.json["error"]["details"]
    captured_with_seconds = hub.call("POST", "/v1/redemptions", fifty.grocer,
                                     json={"card_number": fifty.card, "points": 5, "order_id": "G-12", "hold_seconds": 60})
    assert captured_with_seconds.status_code == 422
    assert "hold_seconds" in captured_with_seconds.json["error"]["details"]
    not_a_bool = hub.call("POST", "/v1/redemptions", fifty.grocer,
                          json={"card_number": fifty.card, "points": 5, "order_id": "G-13", "capture": "no"})
    assert "capture" in not_a_bool.json["error"]["details"]
    too_much = hold(hub, fifty.grocer, fifty.card, 51, "G-14")
    assert too_much.json["error"]["code"] == "insufficient_points"
    assert snapshot(database) == before


def test_a_capture_above_the_hold_or_by_another_partner_is_refused(fifty, database):
    hub = fifty.hub
    placed = hold(hub, fifty.grocer, fifty.card, 20, "G-15").json
    before = snapshot(database)
    above = capture(hub, fifty.grocer, placed["redemption_id"], 21)
    assert (above.status_code, above.json["error"]["code"]) == (422, "capture_exceeds_hold")
    assert "points" in above.json["error"]["details"]
    elsewhere = capture(hub, fifty.coffee, placed["redemption_id"])
    assert (elsewhere.status_code, elsewhere.json["error"]["code"]) == (404, "unknown_redemption")
    assert void(hub, fifty.coffee, placed["redemption_id"]).status_code == 404
    assert capture(hub, fifty.grocer, 10**6).status_code == 404
    assert snapshot(database) == before


def test_a_hold_and_a_plain_redemption_share_order_ids(fifty):
    hub = fifty.hub
    assert hold(hub, fifty.grocer, fifty.card, 5, "G-16").status_code == 201
    assert hub.redeem(fifty.grocer, fifty.card, 5, order="G-16").json["error"]["code"] == "duplicate_order"
    assert hub.redeem(fifty.grocer, fifty.card, 5, order="G-17").status_code == 201
    assert hold(hub, fifty.grocer, fifty.card, 5, "G-17").json["error"]["code"] == "duplicate_order"


def test_capture_and_void_replay_under_their_idempotency_keys(fifty, database):
    hub = fifty.hub
    first = hold(hub, fifty.grocer, fifty.card, 20, "G-18").json["redemption_id"]
    second = hold(hub, fifty.grocer, fifty.card, 10, "G-19").json["redemption_id"]
    once = capture(hub, fifty.grocer, first, 15, headers={"Idempotency-Key": "cap-1"})
    entries = len(kinds(database))
    replayed = capture(hub, fifty.grocer, first, 15, headers={"Idempotency-Key": "cap-1"})
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_data() == once.get_data()
    voided = void(hub, fifty.grocer, second, headers={"Idempotency-Key": "void-1"})
    assert void(hub, fifty.grocer, second, headers={"Idempotency-Key": "void-1"}).get_data() == voided.get_data()
    assert len(kinds(database)) == entries + 1
    assert hub.points(fifty.card) == {"card_number": fifty.card, "available": 35, "pending": 0, "held": 0}


def test_concurrent_capture_and_void_of_one_hold_exactly_one_wins(fifty, database, backend):
    if backend != "postgres":
        pytest.skip("row locks are only real on PostgreSQL")
    hub = fifty.hub
    ids = [hold(hub, fifty.grocer, fifty.card, 10, f"R-{n}").json["redemption_id"] for n in range(5)]
    assert hub.balance(fifty.card)["held"] == 50
    for hold_id in ids:
        answers = race(2, lambda i: capture(hub, fifty.grocer, hold_id, 7) if i == 0 else void(hub, fifty.grocer, hold_id))
        won = [a for a in answers if a.status_code in (200, 201)]
        lost = [a for a in answers if a.status_code == 409]
        assert len(won) == 1 and len(lost) == 1, [a.json for a in answers]
        assert lost[0].json["error"]["code"] in {"hold_captured", "hold_voided"}
    with database.session() as session:
        statuses = list(session.scalars(select(Hold.status)))
    captures = statuses.count("captured")
    assert captures + statuses.count("voided") == 5
    assert hub.points(fifty.card) == {"card_number": fifty.card, "available": 50 - 7 * captures, "pending": 0, "held": 0}
    assert kinds(database).count("hold_release") == 5


def test_settlement_bills_a_captured_hold_like_a_plain_redemption_and_a_voided_one_not_at_all(hub, clock, database):
    coffee, grocer, fuel = (hub.create_partner(slug) for slug in ("coffee", "grocer", "fuel"))
    for slug, rate in (("coffee", "0.010"), ("grocer", "0.008"), ("fuel", "0.009")):
        contract(hub, slug, "0.002", rate, clock.now - timedelta(days=1))
    _, ann = hub.enrol(coffee)
    _, bob = hub.enrol(coffee)
    hub.sale(coffee, ann, "100.00")
    hub.sale(coffee, bob, "100.00")
    start = clock.advance(hours=1)
    assert hub.redeem(grocer, ann, 40).status_code == 201  # plain: 40 Coffee points at the grocer
    middle = clock.advance(hours=1)
    held = hold(hub, grocer, bob, 60, "H-1").json["redemption_id"]
    voided = hold(hub, fuel, bob, 20, "H-2").json["redemption_id"]
    clock.advance(minutes=10)
    assert capture(hub, grocer, held, 40).status_code == 201
    assert void(hub, fuel, voided).status_code == 200
    still_held = hold(hub, fuel, ann, 10, "H-3", hold_seconds=7200).json["redemption_id"]
    end = clock.advance(hours=1)

    p = ids(database)
    plain, captured = figures_of(database, start, middle), figures_of(database, middle, end)
    assert dict(plain.matrix) == dict(captured.matrix) == {(p["coffee"], p["grocer"]): 40}
    assert dict(plain.obligations) == dict(captured.obligations) == {(p["coffee"], p["grocer"]): 32}  # 40 x 0.008 EUR
    assert captured.redeemed.get(p["fuel"], 0) == 0
    # Held points are still outstanding: 200 issued, 80 spent; Ann's 10 on hold at the fuel station count.
    assert captured.outstanding[p["coffee"]] == 120
    assert void(hub, fuel, still_held).status_code == 200
    assert figures_of(database, middle, clock.advance(hours=1)).outstanding[p["coffee"]] == 120


def test_the_ledger_check_finds_held_points_without_their_hold(fifty, database):
    from sqlalchemy import update

    from network.ledger.invariants import check

    placed = hold(fifty.hub, fifty.grocer, fifty.card, 40, "G-20").json
    with database.session() as session:
        assert not any(check(session).values())
        session.execute(update(Hold).values(status="voided"))
        session.commit()
        broken = {name for name, problems in check(session).items() if problems}
        assert broken == {"held balances equal their authorised holds"}
        session.execute(update(Hold).values(status="authorized"))
        session.commit()
    assert void(fifty.hub, fifty.grocer, placed["redemption_id"]).status_code == 200


def test_coalition_holds_release_sweeps_expired_holds_once(fifty, database, clock, runner):
    hub = fifty.hub
    _, bob = hub.enrol(fifty.coffee)
    hub.sale(fifty.coffee, bob, "10.00")
    hold(hub, fifty.grocer, fifty.card, 30, "G-21", hold_seconds=60)
    hold(hub, fifty.grocer, fifty.card, 5, "G-22", hold_seconds=3600)
    hold(hub, fifty.coffee, bob, 10, "C-1", hold_seconds=120)
    clock.advance(seconds=120)

    def sweep():
        return runner.invoke(["holds", "release"])

    first = sweep()
    assert first.exit_code == 0, first.output
    assert "released 2 expired holds" in first.output
    assert "released 0 expired holds" in sweep().output
    with database.session() as session:
        assert sorted(session.scalars(select(Hold.status))) == ["authorized", "expired", "expired"]
    assert hub.balance(fifty.card)["held"] == 5 and hub.balance(bob)["held"] == 0
