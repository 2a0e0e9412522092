"""Earn at one partner, redeem at another, refund at the first: every figure exact."""

from sqlalchemy import select

from network.models import Account, Lot, LotMovement, Posting


def test_earn_at_a_redeem_at_b_refund_at_a(world, database):
    hub = world.hub
    # Brew Bar earns 1 point per EUR: 12.50 EUR -> 12 points.
    sale = hub.sale(world.coffee, world.card, "12.50", order="A-1")
    assert sale.status_code == 201
    assert sale.json["points"] == 12
    assert sale.json["balance"] == {"available": 12, "pending": 0, "held": 0}

    # Green Grocer earns 2 points per EUR: 40.25 EUR -> 80 points.
    assert hub.sale(world.grocer, world.card, "40.25", order="G-1").json["points"] == 80

    # Redeem 50 at Brew Bar: the lots expire in earning order, so Brew Bar's 12 go first.
    redemption = hub.redeem(world.coffee, world.card, 50, order="A-R1")
    assert redemption.status_code == 201
    assert redemption.json["points"] == 50
    assert redemption.json["balance"]["available"] == 42
    assert redemption.json["provenance"] == [{"issuer": "brew-bar", "points": 12}, {"issuer": "green-grocer", "points": 38}]

    # Refund half of the grocer sale: 80 x 20.125/40.25 = 40 points back to the grocer.
    refund = hub.refund(world.grocer, "G-1", "20.12", order="G-1-R")
    assert refund.status_code == 201
    assert refund.json["points"] == -39  # 80 x 20.12 / 40.25 = 39.99 -> 39: the member keeps the fraction
    assert refund.json["balance"]["available"] == 3

    # All points expire together two years after the last earn or redemption (activity_extends).
    # No tiers are set: no tier, and no qualifying points read from the history.
    assert hub.balance(world.card, world.grocer) == {"card_number": world.card, "member_id": world.member_id,
                                                     "available": 3, "pending": 0, "held": 0,
                                                     "expiring": {"points": 3, "at": "2028-03-13T09:30:00+00:00"},
                                                     "tier": None, "tier_since": None, "qualifying_points": None,
                                                     "next_tier": None, "points_to_next_tier": None}

    history = hub.history(world.member_id)["items"]
    assert [(e["kind"], e["partner"], e["points"], e["order_id"]) for e in history] == [
        ("refund", "green-grocer", -39, "G-1-R"),
        ("redemption", "brew-bar", -50, "A-R1"),
        ("earn", "green-grocer", 80, "G-1"),
        ("earn", "brew-bar", 12, "A-1"),
    ]
    assert history[0]["provenance"] == [{"issuer": "green-grocer", "points": -39}]
    assert history[0]["reverses"] == history[2]["id"]
    assert history[3]["provenance"] == [{"issuer": "brew-bar", "points": 12}]
    assert "12.50 EUR" in history[3]["reason"]

    # Provenance in the ledger itself: which lot paid for what.
    with database.session() as session:
        lots = session.execute(select(Lot.points, Lot.remaining).order_by(Lot.id)).all()
        assert [tuple(lot) for lot in lots] == [(12, 0), (80, 3)]
        moved = session.execute(select(LotMovement.points).order_by(LotMovement.id)).scalars().all()
        assert moved == [-12, -38, -39]
        assert sum(session.execute(select(Posting.amount)).scalars()) == 0


def test_a_sale_refunded_in_parts_gives_back_exactly_what_it_earned(world):
    hub = world.hub
    assert hub.sale(world.coffee, world.card, "10.00", order="P-1").json["points"] == 10
    taken = [hub.refund(world.coffee, "P-1", amount).json["points"] for amount in ("3.33", "3.33", "3.34")]
    assert taken == [-3, -3, -4]
    assert hub.balance(world.card)["available"] == 0
    over = hub.refund(world.coffee, "P-1", "0.01")
    assert over.status_code == 422
    assert over.json["error"]["code"] == "refund_exceeds_sale"


def test_a_sale_too_small_to_earn_is_still_recorded_and_refundable(world):
    hub = world.hub
    small = hub.sale(world.coffee, world.card, "0.99", order="T-1")
    assert small.status_code == 201
    assert small.json == {"journal_id": None, "points": 0, "awards": [], "member_id": world.member_id,
                          "balance": {"available": 0, "pending": 0, "held": 0}}
    assert hub.sale(world.coffee, world.card, "0.99", order="T-1").status_code == 409
    refund = hub.refund(world.coffee, "T-1", "0.99")
    assert refund.status_code == 201
    assert refund.json["points"] == 0
    assert hub.history(world.member_id)["items"] == []


def test_a_refund_after_the_points_were_spent_takes_only_what_is_left(world):
    hub = world.hub
    hub.sale(world.coffee, world.card, "100.00", order="B-1")
    hub.redeem(world.grocer, world.card, 90)
    refund = hub.refund(world.coffee, "B-1", "100.00")
    assert refund.status_code == 201
    assert refund.json["points"] == -10
    assert refund.json["uncollected_points"] == 90
    assert hub.balance(world.card)["available"] == 0


def test_a_refund_of_another_members_card_is_refused(world):
    hub = world.hub
    _, other_card = hub.enrol(world.coffee)
    hub.sale(world.coffee, world.card, "10.00", order="C-1")
    refused = hub.refund(world.coffee, "C-1", "5.00", card_number=other_card)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "card_mismatch"
    assert hub.refund(world.coffee, "C-1", "5.00", card_number=world.card).json["points"] == -5


def test_redemptions_consume_the_soonest_expiring_points_first(world, clock):
    hub = world.hub
    hub.sale(world.grocer, world.card, "10.00")  # 20 points, expire first
    clock.advance(days=30)
    hub.sale(world.coffee, world.card, "50.00")  # 50 points, expire 30 days later
    first = hub.redeem(world.coffee, world.card, 25)
    assert first.json["provenance"] == [{"issuer": "brew-bar", "points": 5}, {"issuer": "green-grocer", "points": 20}]
    second = hub.redeem(world.coffee, world.card, 45)
    assert second.json["provenance"] == [{"issuer": "brew-bar", "points": 45}]
    assert second.json["balance"]["available"] == 0


def test_a_reversed_redemption_puts_points_back_in_the_lots_they_came_from(world, database):
    hub = world.hub
    hub.sale(world.coffee, world.card, "30.00")
    hub.sale(world.grocer, world.card, "10.00")
    redemption = hub.redeem(world.grocer, world.card, 40).json
    reversal = hub.call("POST", f"/v1/redemptions/{redemption['redemption_id']}/reversal", world.grocer)
    assert reversal.status_code == 201
    assert reversal.json["points"] == 40
    assert reversal.json["balance"]["available"] == 50
    assert reversal.json["provenance"] == redemption["provenance"]
    again = hub.call("POST", f"/v1/redemptions/{redemption['redemption_id']}/reversal", world.grocer)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "already_reversed"
    elsewhere = hub.call("POST", f"/v1/redemptions/{redemption['redemption_id']}/reversal", world.coffee)
    assert elsewhere.status_code == 404
    with database.session() as session:
        assert sorted(session.execute(select(Lot.remaining)).scalars()) == [20, 30]


def test_history_pages_newest_first_and_a_partner_sees_only_its_own_entries(world):
    hub = world.hub
    for _ in range(5):
        hub.sale(world.coffee, world.card, "1.00")
        hub.sale(world.grocer, world.card, "1.00")
    page = hub.history(world.member_id, limit=4)
    assert len(page["items"]) == 4
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)
    second = hub.call("GET", page["next"]).json  # the link as given: same filters, the cursor, limit 4
    rest = hub.history(world.member_id, limit=10, cursor=second["next"].split("cursor=")[1].split("&")[0])
    assert rest["next"] is None
    assert [e["id"] for e in second["items"]] == sorted({e["id"] for e in second["items"]}, reverse=True)
    assert len(second["items"]) == 4 and len(rest["items"]) == 2
    assert not {e["id"] for e in second["items"] + rest["items"]} & set(ids) and max(e["id"] for e in second["items"]) < min(ids)
    assert hub.call("GET", f"/v1/members/{world.member_id}/history", query_string={"before": 5}).status_code == 422

    own = hub.history(world.member_id, world.grocer)["items"]
    assert len(own) == 5
    assert {e["partner"] for e in own} == {"green-grocer"}


def test_partners_never_see_a_members_email_or_name(world):
    hub = world.hub
    as_operator = hub.call("GET", f"/v1/members/{world.member_id}").json
    assert as_operator["email"] == "ann@example.com"
    assert as_operator["name"] == "Ann"
    as_partner = hub.call("GET", f"/v1/members/{world.member_id}", world.grocer)
    assert as_partner.status_code == 200
    assert "email" not in as_partner.json and "name" not in as_partner.json
    # Only the last four digits: a full card number spends points at any till.
    assert [(c["number"], c["status"]) for c in as_partner.json["cards"]] == [("************" + world.card[-4:], "active")]
    assert world.card not in as_partner.get_data(as_text=True)
    for response in (hub.call("GET", f"/v1/members/{world.member_id}/history", world.grocer),
                     hub.call("GET", f"/v1/cards/{world.card}/balance", world.grocer)):
        assert "ann@example.com" not in response.get_data(as_text=True)


def test_partner_key_is_shown_once_and_stored_only_as_a_hash(hub, database):
    key = hub.create_partner("fuel-stop")
    shown = hub.call("GET", "/v1/partners/fuel-stop")
    assert shown.status_code == 200
    assert "api_key" not in shown.json
    with database.engine.connect() as connection:
        dump = "".join(str(row) for row in connection.exec_driver_sql("SELECT * FROM partners"))
    assert key not in dump
    assert hub.call("GET", "/v1/partners/fuel-stop", key).json["slug"] == "fuel-stop"


def test_a_refund_whose_points_were_spent_takes_other_points_within_the_balance(world, database):
    """The sale's own points were spent at the grocer: the refund takes the member's grocer points instead.

    They count as spent at Brew Bar (its redemption account), not as points
    Brew Bar takes back from what it issued: settlement bills the grocer for them.
    """
    hub = world.hub
    hub.sale(world.coffee, world.card, "100.00", order="S1")  # 100 points issued by Brew Bar
    hub.sale(world.grocer, world.card, "50.00", order="G1")  # 100 points issued by the grocer, expiring later
    assert hub.redeem(world.grocer, world.card, 100).json["provenance"] == [{"issuer": "brew-bar", "points": 100}]
    refund = hub.refund(world.coffee, "S1", "60.00")
    assert refund.status_code == 201
    assert refund.json["points"] == -60
    assert "uncollected_points" not in refund.json
    assert hub.balance(world.card)["available"] == 40
    with database.session() as session:
        lots = session.execute(select(Lot.issuer_id, Lot.remaining).order_by(Lot.id)).all()
        assert [lot.remaining for lot in lots] == [0, 40]
        postings = session.execute(
            select(Account.kind, Account.partner_id, Posting.amount).join(Account, Account.id == Posting.account_id)
            .where(Posting.entry_id == refund.json["journal_id"]).order_by(Posting.amount)
        ).all()
        assert [(p.kind, p.amount) for p in postings] == [("available", -60), ("redemption", 60)]


def test_a_refund_takes_back_no_more_than_the_balance(world):
    hub = world.hub
    hub.sale(world.coffee, world.card, "100.00", order="S1")
    hub.redeem(world.grocer, world.card, 90)
    refund = hub.refund(world.coffee, "S1", "100.00")
    assert (refund.json["points"], refund.json["uncollected_points"]) == (-10, 90)
    assert hub.balance(world.card)["available"] == 0