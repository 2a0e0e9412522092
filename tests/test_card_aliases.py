"""Card aliases: a partner's own loyalty number stands for a hub card, for that partner alone, in every adapter."""

from __future__ import annotations

from sqlalchemy import select

from network.models import AuditEvent
from tests.support.hub import order_id
from tests.support.ledger import snapshot
from tests.support.portal import HEADER, as_csv

#: The shape of an NCR till's membership number (acs:LoyaltyID): 25 digits, no check digit of the hub's.
TILL_NUMBER = "0000000000000040000066677"


def put(hub, key, alias, card, **headers):
    return hub.call("PUT", f"/v1/card-aliases/{alias}", key, json={"card_number": card}, headers=headers)


def test_an_alias_earns_on_its_card_at_its_partner_and_nowhere_else(hub, world, database):
    made = put(hub, world.coffee, TILL_NUMBER, world.card)
    assert made.status_code == 200 and (made.json["alias"], made.json["card_number"], made.json["created"]) == (
        TILL_NUMBER, world.card, True)
    assert hub.call("GET", f"/v1/card-aliases/{TILL_NUMBER}", world.coffee).json["card_number"] == world.card
    sold = hub.sale(world.coffee, TILL_NUMBER, "12.00")
    assert sold.status_code == 201, sold.json
    assert sold.json["member_id"] == world.member_id and hub.balance(world.card)["available"] == 12

    before = snapshot(database)
    elsewhere = hub.sale(world.grocer, TILL_NUMBER, "5.00")  # Green Grocer never said what the number is
    assert (elsewhere.status_code, elsewhere.json["error"]["code"]) == (422, "invalid_card")
    assert hub.call("GET", f"/v1/card-aliases/{TILL_NUMBER}", world.grocer).json["error"]["code"] == "unknown_alias"
    assert snapshot(database) == before


def test_a_refund_names_the_alias_as_its_sale_did(hub, world):
    put(hub, world.coffee, "BREW-4471", world.card)
    sale = order_id("S")
    assert hub.sale(world.coffee, "BREW-4471", "20.00", order=sale).status_code == 201
    refund = hub.refund(world.coffee, sale, "5.00", card_number="BREW-4471")
    assert refund.status_code == 201, refund.json
    assert hub.balance(world.card)["available"] == 15
    _, other = hub.enrol(world.coffee)
    put(hub, world.coffee, "BREW-9", other)
    wrong = hub.refund(world.coffee, sale, "1.00", card_number="BREW-9")
    assert (wrong.status_code, wrong.json["error"]["code"]) == (422, "card_mismatch")


def test_a_blocked_card_is_refused_under_its_alias_and_a_removed_alias_stops_resolving(hub, world, database):
    put(hub, world.coffee, "BREW-1", world.card)
    assert hub.call("POST", f"/v1/cards/{world.card}/block", json={"reason": "lost"}).status_code == 200
    before = snapshot(database)
    blocked = hub.sale(world.coffee, "BREW-1", "3.00")
    assert (blocked.status_code, blocked.json["error"]["code"]) == (422, "card_blocked")
    gone = hub.call("DELETE", "/v1/card-aliases/BREW-1", world.coffee)
    assert gone.status_code == 200 and gone.json["card_number"] == world.card
    assert hub.call("GET", "/v1/card-aliases/BREW-1", world.coffee).status_code == 404
    assert hub.call("DELETE", "/v1/card-aliases/BREW-1", world.coffee).json["error"]["code"] == "unknown_alias"
    after = snapshot(database)
    assert after["balances"] == before["balances"] and after["counts"]["postings"] == before["counts"]["postings"]


def test_an_alias_moves_to_another_card_and_the_trail_says_from_what(hub, world, database):
    _, other = hub.enrol(world.coffee)
    put(hub, world.coffee, "BREW-2", world.card)
    moved = put(hub, world.coffee, "BREW-2", other)
    assert moved.status_code == 200 and moved.json["created"] is False
    hub.sale(world.coffee, "BREW-2", "7.00")
    assert (hub.balance(world.card)["available"], hub.balance(other)["available"]) == (0, 7)
    changes = database.read(lambda session: session.execute(
        select(AuditEvent.action, AuditEvent.before, AuditEvent.after)
        .where(AuditEvent.action.like("PUT /v1/card-aliases/%")).order_by(AuditEvent.id)).all())
    assert [(before, after) for _, before, after in changes] == [
        (None, {"alias": "BREW-2", "card_number": world.card}),
        ({"alias": "BREW-2", "card_number": world.card}, {"alias": "BREW-2", "card_number": other})]


def test_a_bad_alias_or_an_unknown_card_is_refused_and_stores_nothing(hub, world, database):
    before = snapshot(database)
    unknown = put(hub, world.coffee, "BREW-3", "7987654321098762")
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "unknown_card")
    long = put(hub, world.coffee, "x" * 129, world.card)
    assert (long.status_code, long.json["error"]["code"]) == (422, "invalid_alias")
    assert hub.call("PUT", "/v1/card-aliases/BREW-3", json={"card_number": world.card}).status_code == 403  # the operator
    assert snapshot(database) == before


def test_a_file_naming_a_member_by_alias_and_by_card_adds_up_on_one_balance(hub, world):
    as_csv(hub, "brew-bar")
    put(hub, world.coffee, "BREW-7", world.card)
    rows = (HEADER + "F-1,sale,BREW-7,2026-03-14T09:00:00Z,EUR,10.00,\n"
            + f"F-2,sale,{world.card},2026-03-14T09:05:00Z,EUR,4.00,\n"
            + "F-3,sale,NO-SUCH,2026-03-14T09:06:00Z,EUR,4.00,\n")
    answer = hub.call("POST", "/v1/transactions/batch", world.coffee, data=rows.encode(), content_type="text/csv")
    assert answer.status_code == 200, answer.json
    assert (answer.json["accepted"], answer.json["rejected_total"]) == (2, 1)
    assert answer.json["rejected"][0]["code"] == "invalid_card"
    assert hub.balance(world.card)["available"] == 14


def test_a_programmes_numbers_come_in_by_file_good_rows_made_bad_ones_named(hub, world, database):
    _, other = hub.enrol(world.coffee)
    body = ("Card_Number,Alias\n" + f"{world.card},OLD-1\n" + f"{other},OLD-2\n" + "7000000000000009,OLD-3\n"
            + "7987654321098762,OLD-4\n" + f"{world.card},\n" + "\n" + f"{other},OLD-1\n")
    answer = hub.call("POST", "/v1/card-aliases/batch", world.coffee, data=body.encode(), content_type="text/csv")
    assert answer.status_code == 200, answer.json
    assert (answer.json["accepted"], answer.json["rejected_total"]) == (2, 3)
    assert [(row["row"], sorted(row["errors"])) for row in answer.json["rejected"]] == [
        (3, ["card_number"]), (4, ["card_number"]), (5, ["alias"])]
    # OLD-1 named twice: the last row holds, as a later PUT would
    assert hub.call("GET", "/v1/card-aliases/OLD-1", world.coffee).json["card_number"] == other
    before = snapshot(database)
    again = hub.call("POST", "/v1/card-aliases/batch", world.coffee, data=body.encode(), content_type="text/csv")
    assert again.json["accepted"] == 2
    assert snapshot(database)["counts"]["card_aliases"] == before["counts"]["card_aliases"]
    headless = hub.call("POST", "/v1/card-aliases/batch", world.coffee, data=b"a,b\n1,2\n", content_type="text/csv")
    assert (headless.status_code, headless.json["error"]["code"]) == (400, "bad_header")


def test_the_shell_imports_a_partners_numbers_as_the_api_does(hub, world, runner, tmp_path, database):
    file = tmp_path / "numbers.csv"
    file.write_text(f"alias,card_number\nOLD-9,{world.card}\nOLD-10,7000000000000009\n")
    done = runner.invoke(["aliases", "import", "--partner", "brew-bar", file])
    assert done.exit_code == 1  # a row was rejected
    assert '"accepted": 1' in done.output and '"rejected_total": 1' in done.output
    assert hub.call("GET", "/v1/card-aliases/OLD-9", world.coffee).json["card_number"] == world.card
    actor = database.read(lambda session: session.scalar(
        select(AuditEvent.actor).where(AuditEvent.action == "aliases import")))
    assert actor.startswith("cli (")
    missing = runner.invoke(["aliases", "import", "--partner", "no-such", file])
    assert missing.exit_code == 1 and "No partner" in missing.output


def test_the_wallet_and_the_support_desk_show_the_members_numbers_at_each_partner(hub, world, app, client):
    from tests.support.pages import signed_in

    put(hub, world.coffee, TILL_NUMBER, world.card)
    url = hub.call("POST", f"/v1/members/{world.member_id}/wallet-links", world.coffee).json["url"]
    client.get(url)
    wallet = client.get("/wallet").get_data(as_text=True)
    assert f'data-alias="{TILL_NUMBER}">Brew Bar: ' in wallet
    desk = signed_in(app, "sup@example.net", "support").get(f"/desk/members/{world.member_id}").get_data(as_text=True)
    assert f'data-alias="{TILL_NUMBER}">Brew Bar: ' in desk and world.card in desk
