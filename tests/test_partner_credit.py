"""Partners' credit, worked by hand: what each point draws, the warning at 80%, the refusal at the limit, funds.

Brew Bar is prepaid: its issue fee is 0.002 a point and its redeem rate 0.010; nothing was spent anywhere yet,
so a point's expected redemption value is its own rate, and each point it issues draws 0.012. It sends 1.20:
enough for 100 points.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.events import events
from tests.support.ledger import ids, snapshot
from tests.support.races import race


def contract(hub, slug="brew-bar", **funding):
    answer = hub.call("PUT", f"/v1/partners/{slug}/contract", json={"issue_fee": "0.002", "redeem_rate": "0.010",
                                                                    **funding})
    assert answer.status_code == 201, answer.json
    return answer.json


def fund(hub, amount, reference, slug="brew-bar"):
    return hub.call("POST", f"/v1/partners/{slug}/prepayments", json={"amount": amount, "reference": reference})


def credit(hub, slug="brew-bar", key=None):
    answer = hub.call("GET", f"/v1/partners/{slug}/credit", key)
    assert answer.status_code == 200, answer.json
    return answer.json


@pytest.fixture
def prepaid(hub, world):
    assert contract(hub, funding="prepaid")["funding"]["funding"] == "prepaid"
    assert fund(hub, "1.20", "BANK-1").status_code == 201


def test_each_point_draws_its_cost_until_the_funds_are_spent(hub, world, prepaid, database):
    assert credit(hub) == {"slug": "brew-bar", "funding": "prepaid", "over_limit": "refuse", "credit_limit": "0", "funded": "1.2",
                           "drawn": "0", "available": "1.2", "point_cost": "0.012", "used_share": "0.0000",
                           "points_left": 100}
    assert hub.sale(world.coffee, world.card, "50.00").status_code == 201  # 50 points: 0.60
    assert (credit(hub)["drawn"], credit(hub)["points_left"], credit(hub)["used_share"]) == ("0.6", 50, "0.5000")
    assert events(database, "credit_warning") == []
    assert hub.sale(world.coffee, world.card, "30.00").status_code == 201  # 80 points: 0.96, 80%
    (warning,) = events(database, "credit_warning")
    assert warning == ("credit_warning", "brew-bar", {"partner": "brew-bar", "funding": "prepaid", "level": "80",
                                                      "drawn": "0.96", "may_draw": "1.2"})
    # 25 more would draw 1.26: refused whole, and nothing of it kept, not even its order id.
    before = snapshot(database)["balances"]
    refused = hub.sale(world.coffee, world.card, "25.00", order="LATE-1")
    assert (refused.status_code, refused.json["error"]["code"]) == (402, "credit_limit_reached")
    assert snapshot(database)["balances"] == before and credit(hub)["drawn"] == "0.96"
    assert hub.sale(world.coffee, world.card, "20.00").status_code == 201  # exactly the last 20: 1.20
    assert credit(hub)["points_left"] == 0
    assert hub.sale(world.coffee, world.card, "1.00").status_code == 402
    assert [data["may_draw"] for _, _, data in events(database, "credit_limit_reached")] == ["1.2"]  # once
    # Funds arrive: the refused sale, sent again, is booked; the warning may fire again on the next climb.
    assert fund(hub, "0.60", "BANK-1").json["error"]["code"] == "prepayment_exists"
    assert fund(hub, "0.60", "BANK-2").json["available"] == "0.6"
    assert hub.sale(world.coffee, world.card, "25.00", order="LATE-1").status_code == 201
    assert credit(hub)["drawn"] == "1.5"
    assert len(events(database, "credit_warning")) == 2  # 1.50 of 1.80 is past 80% again
    assert hub.balance(world.card)["available"] == 125
    # Other partners' sales draw nothing of it.
    assert hub.sale(world.grocer, world.card, "10.00").status_code == 201


def test_on_credit_a_partner_draws_past_its_funds_up_to_its_limit(hub, world, clock):
    contract(hub, slug="green-grocer", funding="credit", credit_limit="0.24")  # 20 points at 0.012
    assert hub.sale(world.grocer, world.card, "10.00").status_code == 201  # 2 a euro: 20 points, 0.24
    assert hub.sale(world.grocer, world.card, "0.50").status_code == 402
    assert credit(hub, "green-grocer", world.grocer)["available"] == "0"  # a partner reads its own
    assert hub.call("GET", "/v1/partners/green-grocer/credit", world.coffee).status_code == 403
    # Lifted, the partner issues freely again.
    clock.advance(minutes=1)
    contract(hub, slug="green-grocer", funding="none")
    assert hub.sale(world.grocer, world.card, "0.50").status_code == 201
    assert credit(hub, "green-grocer")["funding"] is None


def test_a_file_past_the_limit_is_refused_row_by_row_and_books_nothing(hub, world, database):
    contract(hub, funding="prepaid")
    body = "order_id,card_number,total,currency,occurred_at\n" + "".join(
        f"F-{n},{world.card},10.00,EUR,2026-03-14T09:00:00+00:00\n" for n in range(3))
    hub.call("PUT", "/v1/partners/brew-bar/adapter", json={"adapter": "csv", "adapter_config": {}})
    before = snapshot(database)
    answer = hub.call("POST", "/v1/transactions/batch", world.coffee, data=body, content_type="text/csv")
    assert answer.status_code == 200, answer.json
    assert answer.json["accepted"] == 0
    assert [r["code"] for r in answer.json["rejected"]] == ["credit_limit_reached"] * 3
    assert snapshot(database)["balances"] == before["balances"]
    assert fund(hub, "1.00", "BANK-3").status_code == 201
    again = hub.call("POST", "/v1/transactions/batch", world.coffee, data=body, content_type="text/csv").json
    assert again["accepted"] == 3  # the order ids were never taken


def test_the_bank_statement_records_funds_quoting_the_partners_reference(hub, world, database):
    contract(hub, funding="prepaid")
    partner = ids(database)["brew-bar"]
    camt = ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>'
            f'<Ntry><Amt Ccy="EUR">2.40</Amt><CdtDbtInd>CRDT</CdtDbtInd><BookgDt><Dt>2026-03-13</Dt></BookgDt>'
            f'<AcctSvcrRef>BANK-9</AcctSvcrRef><NtryDtls><TxDtls><RmtInf><Ustrd>FUND-P{partner} top-up</Ustrd>'
            '</RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>').encode()
    answer = hub.call("POST", "/v1/settlement/bank-statements", data=camt, content_type="application/xml").json
    assert [(m["partner"], m.get("prepayment")) for m in answer["matched"]] == [("brew-bar", True)]
    assert credit(hub)["funded"] == "2.4"
    again = hub.call("POST", "/v1/settlement/bank-statements", data=camt, content_type="application/xml").json
    assert again["matched"] == [] and "recorded already" in again["unmatched"][0]["reason"]
    assert credit(hub)["funded"] == "2.4"


@pytest.mark.parametrize("body, field", [
    ({"funding": "credit"}, "credit_limit"),
    ({"funding": "prepaid", "credit_limit": "10"}, "credit_limit"),
    ({"funding": "credit", "credit_limit": "-1"}, "credit_limit"),
    ({"funding": "overdraft"}, "funding"),
])
def test_a_bad_funding_is_refused_naming_its_field(hub, world, body, field, database):
    before = snapshot(database)
    answer = hub.call("PUT", "/v1/partners/brew-bar/contract", json={"issue_fee": "0.002", "redeem_rate": "0.01", **body})
    assert answer.status_code == 422 and field in answer.json["error"]["details"], answer.json
    assert snapshot(database) == before


def test_funds_need_a_controlled_partner_and_a_positive_amount(hub, world):
    assert fund(hub, "1.00", "BANK-4").json["error"]["code"] == "not_funded"
    contract(hub, funding="prepaid")
    assert fund(hub, "0", "BANK-5").status_code == 422
    assert hub.call("POST", "/v1/partners/brew-bar/prepayments", world.coffee,
                    json={"amount": "1.00", "reference": "MINE"}).status_code == 403


@pytest.mark.postgres_only
def test_concurrent_sales_cannot_together_pass_the_limit(hub, world, prepaid, database):
    """Funds for 100 points; 20 tills at once each ask for 10: exactly 10 are booked."""
    cards = [hub.enrol(world.coffee)[1] for _ in range(20)]
    answers = race(20, lambda i: hub.sale(world.coffee, cards[i], "10.00", order=f"RUSH-{i}"))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * 10 + [402] * 10
    assert credit(hub)["drawn"] == "1.2" and credit(hub)["points_left"] == 0
    booked = sum(hub.balance(card)["available"] for card in cards)
    assert booked == 100
    assert Decimal(credit(hub)["drawn"]) == Decimal(booked) * Decimal("0.012")
