"""Points over time: pending points, claw-back policies, expiry and operator adjustments, each with exact figures.

Time is moved by the test's clock; nothing sleeps.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from network.models import Account, Debt, JournalEntry, Lot, Posting
from settlement.figures import NETWORK
from tests.support.contracts import figures_of
from tests.support.ledger import ids, snapshot


def kinds(database, member_id=None) -> list[str]:
    with database.session() as session:
        query = select(JournalEntry.kind).order_by(JournalEntry.id)
        if member_id:
            query = query.where(JournalEntry.member_id == member_id)
        return list(session.scalars(query))


# ------------------------------------------------------------------ pending


@pytest.fixture
def shop(hub):
    """A clothes shop with a 14-day return window, and a member enrolled there."""
    key = hub.create_partner("threads", pending_days=14)
    member_id, card = hub.enrol(key)
    return key, member_id, card


def test_points_stay_pending_for_the_return_window_then_are_available_without_any_job(hub, clock, database, shop):
    key, member_id, card = shop
    sale = hub.sale(key, card, "80.00", order="T-1")
    assert sale.json["balance"] == {"available": 0, "pending": 80, "held": 0}
    refused = hub.redeem(key, card, 10)
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "insufficient_points")

    clock.advance(days=14)
    # Read only: nothing was written, yet the balance is as it stands now.
    assert hub.balance(card)["available"] == 80 and hub.balance(card)["pending"] == 0
    assert kinds(database) == ["earn"]

    # The first movement that spends releases them (one entry), then spends.
    assert hub.redeem(key, card, 30).json["balance"] == {"available": 50, "pending": 0, "held": 0}
    assert kinds(database) == ["earn", "release", "redemption"]
    with database.session() as session:
        lot = session.execute(select(Lot.remaining, Account.kind).join(Account, Account.id == Lot.account_id)).one()
    assert tuple(lot) == (50, "available")


def test_a_window_of_a_day_short_keeps_points_pending(hub, clock, shop):
    key, _, card = shop
    hub.sale(key, card, "80.00")
    clock.advance(days=13, hours=23)
    assert (hub.balance(card)["available"], hub.balance(card)["pending"]) == (0, 80)


def test_pending_days_is_set_at_creation_or_by_patch_and_applies_to_later_sales(hub, clock, world):
    answer = hub.call("PATCH", "/v1/partners/brew-bar", json={"pending_days": 7})
    assert (answer.status_code, answer.json["pending_days"]) == (200, 7)
    hub.sale(world.coffee, world.card, "10.00")
    assert (hub.balance(world.card)["available"], hub.balance(world.card)["pending"]) == (0, 10)
    bad = hub.call("PATCH", "/v1/partners/brew-bar", json={"pending_days": 400})
    assert (bad.status_code, list(bad.json["error"]["details"])) == (422, ["pending_days"])
    partner = hub.call("PATCH", "/v1/partners/brew-bar", world.coffee, json={"pending_days": 0})
    assert partner.status_code == 403
    assert hub.call("GET", "/v1/partners/brew-bar").json["pending_days"] == 7


# ------------------------------------------------------------------ claw-back policies


def test_only_pending_claws_back_inside_the_window_and_nothing_after(app, hub, clock, database, shop):
    app.config["COALITION_CLAWBACK"] = "only_pending"
    key, _, card = shop
    hub.sale(key, card, "100.00", order="T-1")
    hub.sale(key, card, "100.00", order="T-2")
    inside = hub.refund(key, "T-1", "25.00")
    assert (inside.json["points"], inside.json["balance"]) == (-25, {"available": 0, "pending": 175, "held": 0})
    clock.advance(days=15)
    after = hub.refund(key, "T-2", "100.00")
    assert (after.json["points"], after.json["uncollected_points"]) == (0, 100)
    assert after.json["balance"]["available"] == 175


def test_within_balance_takes_the_sales_own_pending_points_first(hub, database, shop, world):
    key, _, card = shop
    hub.sale(world.coffee, card, "30.00")  # 30 available from Brew Bar
    hub.sale(key, card, "50.00", order="T-1")  # 50 pending from the shop
    refund = hub.refund(key, "T-1", "50.00")
    assert refund.json["points"] == -50
    assert refund.json["balance"] == {"available": 30, "pending": 0, "held": 0}


def test_unlimited_leaves_a_debt_that_the_next_points_repay(app, hub, clock, database, world):
    """The member spent the sale's points; a full refund makes the balance negative, never a redemption."""
    app.config["COALITION_CLAWBACK"] = "unlimited"
    hub.sale(world.coffee, world.card, "100.00", order="S-1")  # 100 from Brew Bar
    hub.redeem(world.grocer, world.card, 70)  # spent at the grocer
    refund = hub.refund(world.coffee, "S-1", "100.00")
    assert refund.json["points"] == -100
    assert "uncollected_points" not in refund.json
    assert refund.json["balance"]["available"] == -70
    assert hub.redeem(world.coffee, world.card, 1).json["error"]["code"] == "insufficient_points"

    clock.advance(days=1)
    hub.sale(world.grocer, world.card, "50.00")  # 100 points from the grocer
    assert hub.balance(world.card)["available"] == 30
    assert hub.redeem(world.coffee, world.card, 30).status_code == 201  # repays 70 first, then spends 30
    assert hub.balance(world.card)["available"] == 0
    assert kinds(database, world.member_id)[-2:] == ["repayment", "redemption"]
    with database.session() as session:
        assert session.scalar(select(Debt.remaining)) == 0

    # Settlement: the grocer's 70 points that repaid the debt were spent at Brew Bar.
    p = ids(database)
    f = figures_of(database, None, clock.advance(hours=1))
    assert f.matrix[p["green-grocer"], p["brew-bar"]] == 70 + 30
    assert f.issued[p["brew-bar"]] == 100 - 30  # only the 30 left of its own lot came back to it
    assert f.outstanding[p["green-grocer"]] == 0 and f.outstanding[p["brew-bar"]] == 0


def test_a_refund_taking_another_issuers_points_bills_that_issuer(hub, clock, database, world):
    hub.sale(world.coffee, world.card, "100.00", order="S-1")
    hub.sale(world.grocer, world.card, "50.00")
    hub.redeem(world.grocer, world.card, 100)  # Brew Bar's 100, spent at the grocer
    hub.refund(world.coffee, "S-1", "100.00")  # takes the grocer's 100 instead
    p = ids(database)
    f = figures_of(database, None, clock.advance(hours=1))
    assert f.matrix == {(p["brew-bar"], p["green-grocer"]): 100, (p["green-grocer"], p["brew-bar"]): 100}
    assert f.issued == {p["brew-bar"]: 100, p["green-grocer"]: 100}
    assert f.outstanding[p["brew-bar"]] == 0 and f.outstanding[p["green-grocer"]] == 0


# ------------------------------------------------------------------ expiry


def test_fixed_expiry_expires_lot_by_lot_once(app, runner, hub, clock, database, world):
    app.config["COALITION_EXPIRY"] = "fixed"
    t0 = clock.now
    hub.sale(world.coffee, world.card, "100.00")  # 100, expire t0 + 730 days
    clock.advance(days=100)
    hub.sale(world.grocer, world.card, "25.00")  # 50, expire t0 + 830 days
    assert hub.balance(world.card)["expiring"] == {"points": 100, "at": (t0 + timedelta(days=730)).isoformat()}

    clock.now = t0 + timedelta(days=731)
    result = runner.invoke(["expire"])
    assert result.exit_code == 0, result.output
    assert "expired 100 points of 1 members" in result.output
    assert hub.balance(world.card)["available"] == 50
    assert hub.balance(world.card)["expiring"]["points"] == 50
    again = runner.invoke(["expire"])
    assert "expired 0 points of 0 members" in again.output
    assert kinds(database, world.member_id).count("expiry") == 1

    # Breakage of Brew Bar, which no longer owes those points; booked now, in the open period.
    p = ids(database)
    f = figures_of(database, t0 + timedelta(days=730, hours=12), clock.advance(hours=1))
    assert dict(f.expired) == {p["brew-bar"]: 100}
    assert f.outstanding[p["brew-bar"]] == 0 and f.outstanding[p["green-grocer"]] == 50


def test_activity_extends_the_life_of_every_point(runner, hub, clock, database, world):
    t0 = clock.now
    hub.sale(world.coffee, world.card, "100.00")
    clock.advance(days=700)
    hub.redeem(world.grocer, world.card, 10)  # activity: every lot now lives until t0 + 1430 days
    clock.now = t0 + timedelta(days=800)
    assert "expired 0 points" in runner.invoke(["expire"]).output
    assert hub.balance(world.card)["expiring"] == {"points": 90, "at": (t0 + timedelta(days=1430)).isoformat()}
    clock.now = t0 + timedelta(days=1430)
    assert "expired 90 points of 1 members" in runner.invoke(["expire"]).output
    assert hub.balance(world.card)["available"] == 0 and hub.balance(world.card)["expiring"] is None


def test_expire_as_of_a_past_time_books_now_and_refuses_the_future(app, runner, hub, clock, database, world):
    app.config["COALITION_EXPIRY"] = "fixed"
    t0 = clock.now
    hub.sale(world.coffee, world.card, "10.00")
    clock.now = t0 + timedelta(days=800)
    assert runner.invoke(["expire", "--as-of", (t0 + timedelta(days=729)).strftime("%Y-%m-%dT%H:%M:%S")]).output.startswith(
        "expired 0 points")
    assert "expired 10 points" in runner.invoke(["expire", "--as-of", (t0 + timedelta(days=731)).strftime("%Y-%m-%d")]).output
    with database.session() as session:
        assert session.scalar(select(JournalEntry.booked_at).where(JournalEntry.kind == "expiry")) == clock.now
    future = runner.invoke(["expire", "--as-of", (clock.now + timedelta(days=1)).strftime("%Y-%m-%d")])
    assert future.exit_code == 2 and "future" in future.output


def test_points_past_their_window_and_their_lifetime_expire(app, runner, hub, clock, database, shop):
    app.config["COALITION_EXPIRY"] = "fixed"
    key, _, card = shop
    hub.sale(key, card, "40.00")
    clock.advance(days=731)
    assert "expired 40 points" in runner.invoke(["expire"]).output
    assert hub.points(card) == {"card_number": card, "available": 0, "pending": 0, "held": 0}
    assert hub.balance(card)["expiring"] is None
    assert kinds(database)[-2:] == ["release", "expiry"]


# ------------------------------------------------------------------ adjustments


def test_an_adjustment_credit_is_funded_by_the_network_and_billed_to_it_when_spent(hub, clock, database, world):
    hub.call("PUT", "/v1/partners/green-grocer/contract", json={"issue_fee": "0", "redeem_rate": "0.01",
                                                                 "effective_from": clock.now.isoformat()})
    clock.advance(minutes=1)
    credit = hub.call("POST", f"/v1/members/{world.member_id}/adjustments",
                      json={"points": 500, "reason": "Goodwill: the coffee machine was broken"})
    assert credit.status_code == 201, credit.json
    assert (credit.json["points"], credit.json["balance"]["available"]) == (500, 500)
    with database.session() as session:
        lot = session.execute(select(Lot.issuer_id, Lot.points)).one()
        promotion = session.execute(
            select(Account.kind, Account.partner_id, Posting.amount).join(Posting, Posting.account_id == Account.id)
            .where(Posting.entry_id == credit.json["adjustment_id"], Account.member_id.is_(None))
        ).one()
    assert tuple(lot) == (None, 500)
    assert tuple(promotion) == ("promotion", None, -500)

    hub.redeem(world.grocer, world.card, 300)
    p = ids(database)
    f = figures_of(database, None, clock.advance(hours=1))
    assert f.issued[NETWORK] == 500 and f.matrix[NETWORK, p["green-grocer"]] == 300
    assert f.obligations[NETWORK, p["green-grocer"]] == 300  # 300 points x 0.01 EUR = 3.00 EUR
    assert f.net(NETWORK) == -300 and f.net(p["green-grocer"]) == 300
    assert f.outstanding[NETWORK] == 200


def test_an_adjustment_debit_takes_points_back_as_breakage_and_never_below_zero(hub, clock, database, world):
    hub.sale(world.coffee, world.card, "100.00")
    debit = hub.call("POST", f"/v1/members/{world.member_id}/adjustments",
                     json={"points": -40, "reason": "Duplicate credit of order 1234"})
    assert (debit.status_code, debit.json["balance"]["available"]) == (201, 60)
    before = snapshot(database)
    too_much = hub.call("POST", f"/v1/members/{world.member_id}/adjustments", json={"points": -61, "reason": "x"})
    assert (too_much.status_code, too_much.json["error"]["code"]) == (422, "insufficient_points")
    assert snapshot(database) == before
    p = ids(database)
    f = figures_of(database, None, clock.advance(hours=1))
    assert dict(f.expired) == {p["brew-bar"]: 40} and f.outstanding[p["brew-bar"]] == 60


@pytest.mark.parametrize("body, field", [
    ({"points": 10}, "reason"),
    ({"points": 10, "reason": ""}, "reason"),
    ({"points": 0, "reason": "nothing"}, "points"),
    ({"points": 1.5, "reason": "half"}, "points"),
    ({"reason": "no points"}, "points"),
])
def test_an_adjustment_needs_whole_points_and_a_reason(hub, database, world, body, field):
    before = snapshot(database)
    answer = hub.call("POST", f"/v1/members/{world.member_id}/adjustments", json=body)
    assert answer.status_code == 422 and field in answer.json["error"]["details"]
    assert snapshot(database) == before


def test_only_the_operator_adjusts(hub, database, world):
    answer = hub.call("POST", f"/v1/members/{world.member_id}/adjustments", world.coffee, json={"points": 5, "reason": "r"})
    assert answer.status_code == 403
    unknown = hub.call("POST", "/v1/members/nobody/adjustments", json={"points": 5, "reason": "r"})
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "unknown_member")


def test_a_credit_to_a_dormant_member_lives_its_own_lifetime(runner, hub, clock, database, world):
    """activity_extends: the member fell dormant long ago; a goodwill credit still lives two years."""
    t0 = clock.now
    hub.sale(world.coffee, world.card, "10.00")
    clock.now = t0 + timedelta(days=800)  # dormant since t0 + 730
    hub.call("POST", f"/v1/members/{world.member_id}/adjustments", json={"points": 500, "reason": "We miss you"})
    assert hub.balance(world.card)["expiring"] == {"points": 10, "at": (t0 + timedelta(days=730)).isoformat()}
    assert "expired 10 points of 1 members" in runner.invoke(["expire"]).output
    assert hub.balance(world.card)["available"] == 500
    assert hub.balance(world.card)["expiring"] == {"points": 500, "at": (t0 + timedelta(days=1530)).isoformat()}
    clock.now = t0 + timedelta(days=1530)
    assert "expired 500 points of 1 members" in runner.invoke(["expire"]).output


def test_activity_counts_by_the_day(hub, clock, database, world):
    """The first earn or redemption of a (UTC) day is recorded; later ones that day write nothing."""
    from network.models import Member

    def last_activity():
        with database.session() as session:
            return session.scalar(select(Member.last_activity_at).where(Member.id == world.member_id))

    morning = clock.now  # 09:30 UTC
    hub.sale(world.coffee, world.card, "10.00")
    clock.advance(hours=8)
    hub.redeem(world.grocer, world.card, 5)
    assert last_activity() == morning
    tomorrow = clock.advance(hours=8)  # 01:30 the next day
    hub.sale(world.coffee, world.card, "1.00")
    assert last_activity() == tomorrow


def test_a_second_activity_of_the_day_costs_no_statement(hub, clock, database, world):
    """The sale and the redemption read the member's last activity with its lock: that day's is on record, so no
    UPDATE of the members row is sent at all; the next day's first one is."""
    from sqlalchemy import event

    sent: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    def member_updates(book) -> int:
        sent.clear()
        event.listen(database.engine, "before_cursor_execute", watch)
        try:
            assert book().status_code == 201
        finally:
            event.remove(database.engine, "before_cursor_execute", watch)
        return sum(statement.startswith("UPDATE members") for statement in sent)

    assert member_updates(lambda: hub.sale(world.coffee, world.card, "10.00")) == 1  # the day's first
    clock.advance(hours=1)
    assert member_updates(lambda: hub.sale(world.grocer, world.card, "4.00")) == 0
    assert member_updates(lambda: hub.redeem(world.grocer, world.card, 5)) == 0
    clock.advance(days=1)
    assert member_updates(lambda: hub.redeem(world.coffee, world.card, 5)) == 1
