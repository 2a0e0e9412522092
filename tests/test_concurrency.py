"""Races with real threads and connections.

The row lock (SELECT ... FOR UPDATE) only means something on PostgreSQL, so
these are the tests that prove it there; on SQLite the same tests show that
writers queue behind BEGIN IMMEDIATE instead of failing "database is locked".
"""

from sqlalchemy import func, select

from network.models import JournalEntry, Posting
from tests.support.races import race


def test_twenty_concurrent_redemptions_of_100_against_1000_exactly_ten_win(world, database):
    hub = world.hub
    assert hub.sale(world.coffee, world.card, "1000.00").json["balance"]["available"] == 1000
    responses = race(20, lambda i: hub.redeem(world.grocer, world.card, 100, order=f"RACE-{i}"))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 10 + [422] * 10
    assert {r.json["error"]["code"] for r in responses if r.status_code == 422} == {"insufficient_points"}
    # Each winner saw a distinct balance on its way down: no two read the same one.
    assert sorted(r.json["balance"]["available"] for r in responses if r.status_code == 201) == list(range(0, 1000, 100))
    assert hub.balance(world.card)["available"] == 0


def test_concurrent_earns_from_several_partners_lose_no_update(hub, database):
    keys = [hub.create_partner(f"shop-{n}") for n in range(4)]
    member_id, card = hub.enrol(keys[0])
    responses = race(24, lambda i: hub.sale(keys[i % 4], card, f"{i + 1}.00", order=f"EARN-{i}"))
    assert [r.status_code for r in responses] == [201] * 24
    assert hub.balance(card)["available"] == sum(range(1, 25))
    assert len(hub.history(member_id, limit=50)["items"]) == 24


def test_one_request_sent_concurrently_with_one_key_posts_once(world, database):
    hub = world.hub
    hub.sale(world.coffee, world.card, "500.00")
    with database.session() as session:
        entries_before = session.scalar(select(func.count()).select_from(JournalEntry))
    headers = {"Idempotency-Key": "double-tap"}
    responses = race(10, lambda i: hub.redeem(world.grocer, world.card, 70, order="TAP-1", headers=headers))
    assert {r.status_code for r in responses} == {201}
    assert len({r.get_data() for r in responses}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert hub.balance(world.card)["available"] == 430
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == entries_before + 1
        assert session.scalar(select(func.sum(Posting.amount))) == 0


def test_one_sale_sent_concurrently_without_a_key_is_credited_once(world):
    hub = world.hub
    responses = race(8, lambda i: hub.sale(world.coffee, world.card, "30.00", order="DUP-1"))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert hub.balance(world.card)["available"] == 30


def test_imports_racing_each_other_and_the_tills_book_every_row_once(hub, database, monkeypatch):
    """Two uploads of one file and the tills' own sales and redemptions, all at once, on the same members.

    Chunks of a few rows, so each import holds many transactions (two in
    flight on PostgreSQL) that lock overlapping members.
    """
    from network.earning import intake

    monkeypatch.setattr(intake, "CHUNK_ROWS", 7)
    csv_key = hub.create_partner("nightly", adapter="csv")
    till = hub.create_partner("till")
    cards = [hub.enrol(till)[1] for _ in range(6)]
    for card in cards:
        hub.sale(till, card, "100.00")
    rows = ["order_id,type,card_number,occurred_at,currency,total,original_order_id"]
    rows += [f"N-{i},sale,{cards[i % 6]},2026-03-14T10:00:00+01:00,EUR,{i % 9 + 1}.00," for i in range(90)]
    export = "\n".join(rows).encode()

    def one(i):
        if i < 2:
            return hub.call("POST", "/v1/transactions/batch", csv_key, data=export, content_type="text/csv").json
        if i % 2:
            return hub.sale(till, cards[i % 6], "3.00", order=f"T-{i}").status_code
        return hub.redeem(till, cards[i % 6], 10, order=f"X-{i}").status_code

    results = race(12, one)
    uploads = results[:2]
    assert sum(u["accepted"] for u in uploads) == 90
    assert sum(u["duplicates"] for u in uploads) == 90
    assert all(u["rejected"] == [] for u in uploads)
    assert set(results[2:]) == {201}
    imported = sum(i % 9 + 1 for i in range(90))
    tills = 6 * 100 + 5 * 3 - 5 * 10
    assert sum(hub.balance(card)["available"] for card in cards) == imported + tills


def test_an_import_of_refunds_and_sales_to_the_same_members_never_deadlocks(hub, database, monkeypatch):
    """Refunds in reverse member order, sales in member order, chunk after chunk, two chunks at once.

    Each transaction gets one attempt only, so a deadlock (which a retry
    would otherwise hide) fails the import.
    """
    from network.earning import intake

    monkeypatch.setattr(intake, "CHUNK_ROWS", 20)
    transact = database.transact
    monkeypatch.setattr(database, "transact", lambda work, attempts=1: transact(work, attempts=1))
    key = hub.create_partner("shop", adapter="csv")
    cards = [hub.enrol(key)[1] for _ in range(20)]
    header = "order_id,type,card_number,occurred_at,currency,total,original_order_id"
    first = [header] + [f"S0-{i},sale,{card},2026-03-14T09:00:00+00:00,EUR,100.00," for i, card in enumerate(cards)]
    assert hub.call("POST", "/v1/transactions/batch", key, data="\n".join(first), content_type="text/csv").json["accepted"] == 20
    rows = [header]
    for round_ in range(8):
        rows += [f"R{round_}-{i},refund,,2026-03-14T10:00:00+00:00,EUR,1.00,S0-{i}" for i in reversed(range(20))]
        rows += [f"S{round_ + 1}-{i},sale,{card},2026-03-14T10:00:00+00:00,EUR,1.00," for i, card in enumerate(cards)]
    result = hub.call("POST", "/v1/transactions/batch", key, data="\n".join(rows), content_type="text/csv")
    assert result.status_code == 200, result.json
    assert result.json["accepted"] == 320 and result.json["rejected"] == []
    # each member: 100 earned, 8 x 1 earned, 8 refunds of 1.00 of 100.00 (1 point each)
    assert {hub.balance(card)["available"] for card in cards} == {100}
