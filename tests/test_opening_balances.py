"""Opening balances: a partner joining with its own programme books what its members held, once, as their issuer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from network.ledger.invariants import check
from network.models import AuditEvent, JournalEntry, Lot, Posting
from tests.support.hub import order_id
from tests.support.ledger import ids, snapshot
from tests.support.people import token_for

UNKNOWN_CARD = "7987654321098762"  # a card number with a good check digit that no member holds


def post(hub, key, body: str, content_type: str = "text/csv"):
    return hub.call("POST", "/v1/opening-balances/batch", key, data=body.encode(), content_type=content_type)


def utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_a_file_books_each_rows_points_on_its_member_issued_by_the_partner(hub, world, database):
    other_id, other = hub.enrol(world.coffee)
    body = ("Card,Points,Earned_At\n"
            f"{world.card},1250,2025-06-01\n"  # a date: its midnight in Paris, the partner's zone
            f"{other},300,2026-03-01T12:00:00Z\n"
            f"{other},40,\n")  # the same card again: one opening balance per card unless a key says otherwise
    answer = post(hub, world.coffee, body)
    assert answer.status_code == 200, answer.json
    assert answer.json == {"accepted": 2, "duplicates": 1, "rejected": [], "rejected_total": 0}
    assert hub.balance(world.card)["available"] == 1250 and hub.balance(other)["available"] == 300
    partner_id = ids(database)["brew-bar"]
    with database.session() as session:
        lots = session.execute(select(Lot.member_id, Lot.points, Lot.issuer_id, Lot.earned_at, Lot.expires_at,
                                      JournalEntry.kind, JournalEntry.id).join(JournalEntry, JournalEntry.id == Lot.entry_id)
                               .order_by(Lot.id)).all()
        sums = [session.scalar(select(func.sum(Posting.amount)).where(Posting.entry_id == lot.id)) for lot in lots]
        assert all(not problems for problems in check(session).values())
    assert [(lot.member_id, lot.points, lot.issuer_id, lot.kind) for lot in lots] == [
        (world.member_id, 1250, partner_id, "opening_balance"), (other_id, 300, partner_id, "opening_balance")]
    assert sums == [0, 0]
    assert [(utc(str(lot.earned_at)), utc(str(lot.expires_at))) for lot in lots] == [
        (utc("2025-05-31T22:00:00"), utc("2027-05-31T22:00:00")),  # 730 days, the network's points lifetime
        (utc("2026-03-01T12:00:00"), utc("2028-02-29T12:00:00"))]
    entry = hub.history(world.member_id)["items"][0]
    assert (entry["kind"], entry["points"], entry["reason"], entry["order_id"]) == (
        "opening_balance", 1250, "Opening balance from Brew Bar", world.card)
    assert entry["provenance"] == [{"issuer": "brew-bar", "points": 1250}]


def test_a_key_books_several_rows_of_one_card_and_an_earn_date_left_out_is_now(hub, world, database, clock):
    body = f"card,points,key\n{world.card},100,april\n{world.card},50,may\n{world.card},7,april\n"
    answer = post(hub, world.coffee, body)
    assert (answer.json["accepted"], answer.json["duplicates"]) == (2, 1)
    assert hub.balance(world.card)["available"] == 150
    with database.session() as session:
        expiries = session.scalars(select(Lot.expires_at).order_by(Lot.id)).all()
    assert [utc(str(when)) for when in expiries] == [clock.now + timedelta(days=730)] * 2


def test_an_alias_resolves_for_its_own_partner_only(hub, world, database):
    assert hub.call("PUT", "/v1/card-aliases/BREW-4471", world.coffee, json={"card_number": world.card}).status_code == 200
    before = snapshot(database)
    elsewhere = post(hub, world.grocer, "card,points\nBREW-4471,500\n")
    assert elsewhere.status_code == 200
    assert elsewhere.json["accepted"] == 0 and elsewhere.json["rejected_total"] == 1
    (row,) = elsewhere.json["rejected"]
    assert (row["row"], row["code"], row["errors"]) == (1, "unknown_alias", {"card": ["BREW-4471"]})
    assert "alias" in row["message"]
    assert snapshot(database) == before
    own = post(hub, world.coffee, f"card,points\nBREW-4471,500\n{world.card},20\n")
    assert own.json == {"accepted": 2, "duplicates": 0, "rejected": [], "rejected_total": 0}
    assert hub.balance(world.card)["available"] == 520  # the alias and the card are one member: both rows add up


def test_a_file_sent_again_books_nothing_twice(hub, world, database):
    _, other = hub.enrol(world.coffee)
    body = f"card,points\n{world.card},900\n{other},40\n"
    assert post(hub, world.coffee, body).json["accepted"] == 2
    before = snapshot(database)
    again = post(hub, world.coffee, body)
    assert again.json == {"accepted": 0, "duplicates": 2, "rejected": [], "rejected_total": 0}
    assert snapshot(database) == before
    assert (hub.balance(world.card)["available"], hub.balance(other)["available"]) == (900, 40)


def test_bad_rows_are_rejected_with_their_row_number_while_the_others_go_in(hub, world, database):
    _, other = hub.enrol(world.coffee)
    body = ("card,points,earned_at\n"
            f"{world.card},0,\n"            # 1
            f"{world.card},-5,\n"           # 2
            f"{world.card},ten,\n"          # 3
            f"{world.card},2.5,\n"          # 4
            f"{world.card},10,2026-03-20\n"  # 5 ahead of the hub's clock
            f"{world.card},10,2024-01-01\n"  # 6 its points would have expired
            f"{UNKNOWN_CARD},10,\n"          # 7
            f"{world.card},10,last spring\n"  # 8
            f"{world.card},10000000001,\n"  # 9 past the bound
            "\n"                            # 10, a blank line: passed over
            f"{other},75,2025-12-24\n")     # 11
    answer = post(hub, world.coffee, body)
    assert answer.status_code == 200, answer.json
    assert (answer.json["accepted"], answer.json["rejected_total"]) == (1, 9)
    assert [(row["row"], row["code"], sorted(row["errors"])) for row in answer.json["rejected"]] == [
        (1, "invalid_row", ["points"]), (2, "invalid_row", ["points"]), (3, "invalid_row", ["points"]),
        (4, "invalid_row", ["points"]), (5, "invalid_row", ["earned_at"]), (6, "invalid_row", ["earned_at"]),
        (7, "unknown_card", ["card"]), (8, "invalid_row", ["earned_at"]), (9, "invalid_row", ["points"])]
    reasons = {row["row"]: row["errors"] for row in answer.json["rejected"]}
    assert reasons[1] == reasons[2] == {"points": ["must be greater than zero"]}
    assert "would have expired" in reasons[6]["earned_at"][0]
    assert (hub.balance(world.card)["available"], hub.balance(other)["available"]) == (0, 75)


def test_a_file_without_its_header_columns_is_refused_naming_the_column_and_books_nothing(hub, world, database):
    before = snapshot(database)
    for body, lacking in ((f"card,balance\n{world.card},10\n", "points"), (f"{world.card},10\n", "card, points"),
                          ("", None)):
        refused = post(hub, world.coffee, body)
        assert (refused.status_code, refused.json["error"]["code"]) == (400, "bad_header"), body
        if lacking:
            assert refused.json["error"]["details"] == {"header": [f"lacks {lacking}"]}
    typed = post(hub, world.coffee, f"card,points\n{world.card},10\n", content_type="application/json")
    assert typed.status_code == 415
    assert snapshot(database) == before


def test_the_shell_prints_the_same_report_and_the_trail_names_it(hub, world, runner, tmp_path, database):
    file = tmp_path / "balances.csv"
    file.write_bytes(b"\xef\xbb\xbfcard,points\n" + f"{world.card},60\n{UNKNOWN_CARD},5\n".encode())  # with a BOM
    done = runner.invoke(["import-balances", "--partner", "brew-bar", file])
    assert done.exit_code == 1, done.output  # a row was rejected
    report = json.loads(done.output)
    assert (report["accepted"], report["duplicates"], report["rejected_total"]) == (1, 0, 1)
    assert [(row["row"], row["code"]) for row in report["rejected"]] == [(2, "unknown_card")]
    assert hub.balance(world.card)["available"] == 60
    over_http = post(hub, world.coffee, file.read_bytes().decode("utf-8-sig"))
    assert over_http.json == {**report, "accepted": 0, "duplicates": 1}
    actors = database.read(lambda session: session.execute(
        select(AuditEvent.action, AuditEvent.actor, AuditEvent.after).order_by(AuditEvent.id)).all())
    shell = [(actor, after) for action, actor, after in actors if action == "import-balances"]
    assert len(shell) == 1 and shell[0][0].startswith("cli (") and shell[0][1]["points"] == 60
    assert not [action for action, _, _ in actors if action == "POST /v1/opening-balances/batch"]  # it booked nothing
    missing = runner.invoke(["import-balances", "--partner", "no-such", file])
    assert missing.exit_code == 1 and "No partner" in missing.output


def test_the_api_writes_an_audit_event_for_what_it_booked(hub, world, database):
    assert post(hub, world.coffee, f"card,points\n{world.card},5\n").json["accepted"] == 1
    after = database.read(lambda session: session.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "POST /v1/opening-balances/batch")).all())
    assert after == [{"rows": 1, "booked": 1, "points": 5}]


def test_only_a_partners_key_or_admin_may_bring_balances(hub, world, app, database):
    body = f"card,points\n{world.card},10\n"
    staff, admin = (token_for(app, f"{role}@brew.example", role, "brew-bar") for role in ("partner_staff", "partner_admin"))
    before = snapshot(database)
    for key in (None, staff):  # the operator's bootstrap token, a partner's staff
        refused = post(hub, key, body)
        assert (refused.status_code, refused.json["error"]["code"]) == (403, "wrong_role")
    assert snapshot(database) == before
    admin = post(hub, admin, body)
    assert admin.status_code == 200 and admin.json["accepted"] == 1


def test_a_closed_statement_shows_the_opening_points_as_the_partners_issuance_and_liability(hub, world, clock):
    for slug, fee in (("brew-bar", "0.002"), ("green-grocer", "0.001")):
        assert hub.call("PUT", f"/v1/partners/{slug}/contract", json={
            "issue_fee": fee, "redeem_rate": "0.010", "effective_from": (clock.now - timedelta(days=1)).isoformat()}
        ).status_code == 201
    assert post(hub, world.coffee, f"card,points,earned_at\n{world.card},5000,2025-09-01\n").json["accepted"] == 1
    assert hub.redeem(world.grocer, world.card, 1000, order=order_id("X")).status_code == 201
    clock.advance(hours=1)
    closed = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    assert closed.status_code == 201, closed.json
    statement = closed.json["statement"]
    brew = next(section for section in statement["partners"] if section["partner"] == "brew-bar")
    assert (brew["issued"], brew["outstanding"], brew["fee"]) == (5000, 4000, "10.00")
    assert statement["matrix"] == [{"issuer": "brew-bar", "redeemer": "green-grocer", "points": 1000, "amount": "10.00"}]


def test_a_file_books_a_chunk_per_transaction_and_a_key_seen_in_an_earlier_chunk_is_a_duplicate(
        hub, world, database, monkeypatch):
    from network.earning import opening

    monkeypatch.setattr(opening, "CHUNK_ROWS", 2)
    _, other = hub.enrol(world.coffee)
    body = (f"card,points\n{world.card},10\n{other},20\n"  # chunk 1
            f"{UNKNOWN_CARD},5\n{world.card},99\n"  # chunk 2: nothing books, so no event
            f"{other},1\n")  # chunk 3: a duplicate only
    answer = post(hub, world.coffee, body)
    assert answer.json == {**answer.json, "accepted": 2, "duplicates": 2, "rejected_total": 1}
    assert answer.json["rejected"][0]["row"] == 3
    assert (hub.balance(world.card)["available"], hub.balance(other)["available"]) == (10, 20)
    events = database.read(lambda session: session.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "POST /v1/opening-balances/batch")).all())
    assert events == [{"rows": 2, "booked": 2, "points": 30}]


def test_bytes_that_are_not_text_a_control_character_or_a_key_too_long_cost_only_their_row(hub, world, database):
    body = (b"card,points,key\n"
            + f"{world.card},10,\xff\n".encode("latin-1")  # 1: not UTF-8
            + f"{world.card},10,a\x07b\n".encode()  # 2: a control character in the key
            + f"{world.card},10,{'k' * 300}\n".encode()  # 3: longer than an order id
            + f"{world.card},10,fine\n".encode())  # 4
    answer = hub.call("POST", "/v1/opening-balances/batch", world.coffee, data=body, content_type="text/csv")
    assert answer.status_code == 200, answer.json
    assert answer.json["accepted"] == 1
    assert [(row["row"], row["code"], sorted(row["errors"])) for row in answer.json["rejected"]] == [
        (1, "invalid_row", ["_row"]), (2, "invalid_row", ["key"]), (3, "invalid_row", ["key"])]
    assert hub.balance(world.card)["available"] == 10
