"""Reconciliation: a partner's own records for a closed period against the hub's orders; finance CSV exports."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from network.errors import BadRequest
from settlement.reconcile import read_records, reconcile_file


def close(hub, clock):
    """Close the period up to five minutes ago (the grace period is 60 s)."""
    response = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    assert response.status_code == 201, response.json
    return response.json["statement"]


def reconcile(hub, sequence, body, key=None, content_type="text/csv", **query):
    return hub.call("POST", f"/v1/settlement/statements/{sequence}/reconciliation", key, data=body,
                    headers={"Content-Type": content_type}, query_string=query)


def booked(response, status=201):
    assert response.status_code == status, response.json
    return response.json


@pytest.fixture
def books(hub, clock):
    """Period 1: coffee sells twice, refunds part of one, a member redeems at coffee and at grocer.

    Period 2: coffee refunds part of its second sale (booked after period 1 closed).
    """
    coffee, grocer = hub.create_partner("coffee"), hub.create_partner("grocer", earn_rate="2")
    for slug, fee, rate in (("coffee", "0.002", "0.010"), ("grocer", "0.001", "0.008")):
        booked(hub.call("PUT", f"/v1/partners/{slug}/contract",
                        json={"issue_fee": fee, "redeem_rate": rate,
                              "effective_from": (clock.now - timedelta(days=1)).isoformat()}))
    _, card = hub.enrol(coffee)
    assert booked(hub.sale(coffee, card, "200.00", order="C-1"))["points"] == 200
    assert booked(hub.sale(coffee, card, "50.00", order="C-2"))["points"] == 50
    assert booked(hub.refund(coffee, "C-1", "20.00", order="C-R1"))["points"] == -20
    booked(hub.redeem(coffee, card, 30, order="C-X1"))
    # The same order id at another partner: never part of coffee's books.
    assert booked(hub.sale(grocer, card, "10.00", order="C-2"))["points"] == 20
    booked(hub.redeem(grocer, card, 150, order="G-X1"))
    clock.advance(hours=1)
    first = close(hub, clock)
    assert booked(hub.refund(coffee, "C-2", "10.00", order="C-R2"))["points"] == -10
    clock.advance(hours=1)
    second = close(hub, clock)
    return {"coffee": coffee, "grocer": grocer, "card": card, "first": first, "second": second}


EXACT = "order_id,type,points\r\nC-1,sale,200\r\nC-2,sale,50\r\nC-R1,refund,20\r\nC-X1,redemption,-30\r\n"


def test_a_file_that_matches_the_hub_exactly(hub, books):
    response = reconcile(hub, 1, EXACT, books["coffee"])
    assert response.status_code == 200, response.json
    assert response.json == {
        "sequence": 1,
        "partner": "coffee",
        "period": {"start": None, "end": "2026-03-14T10:25:00Z"},
        "records": 4,
        "matched": {"count": 4, "points": 200},  # 200 + 50 - 20 - 30
        "missing_at_hub": {"count": 0, "points": 0, "items": []},
        "missing_at_partner": {"count": 0, "points": 0, "items": []},
        "mismatched": {"count": 0, "hub_points": 0, "partner_points": 0, "items": []},
        "rejected": [],
        "rejected_total": 0,
    }
    # Refunds and redemptions as the hub writes them (negative) or as quantities (positive) mean the same;
    # columns may come in any order, with others besides, and the header in any case.
    other = "Points,Type,Note,Order_ID\n200,sale,x,C-1\n50,Sale,,C-2\n-20,refund,,C-R1\n30,redemption,,C-X1\n\n"
    again = reconcile(hub, 1, other, books["coffee"]).json
    assert again["matched"] == {"count": 4, "points": 200} and again["records"] == 4 and again["rejected_total"] == 0


def test_missing_extra_mismatched_and_bad_rows(hub, books):
    body = (
        "order_id,type,points\n"
        "C-1,sale,200\n"          # 1 matched
        "C-2,sale,55\n"           # 2 mismatched: the hub says 50
        "C-X1,redemption,30\n"    # 3 matched (-30)
        "C-9,sale,10\n"           # 4 missing at the hub: never booked
        "C-R2,refund,-10\n"       # 5 missing at the hub: booked, but in the next period
        "C-10,sale,abc\n"         # 6 bad points
        "C-11,gift,5\n"           # 7 unknown type
        ",sale,5\n"               # 8 no order id
        "C-12,sale,-5\n"          # 9 a negative sale
        "C-1,sale,200\n"          # 10 the same record twice
        "C-13\n"                  # 11 too few fields
    )                             # C-R1 (refund -20) is missing at the partner
    response = reconcile(hub, 1, body, books["coffee"])
    assert response.status_code == 200, response.json
    result = response.json
    assert result["records"] == 5
    assert result["matched"] == {"count": 2, "points": 170}
    assert result["mismatched"] == {"count": 1, "hub_points": 50, "partner_points": 55, "items": [
        {"row": 2, "order_id": "C-2", "type": "sale", "hub_points": 50, "partner_points": 55}]}
    assert result["missing_at_hub"] == {"count": 2, "points": 0, "items": [
        {"row": 4, "order_id": "C-9", "type": "sale", "points": 10, "hub_booked_at": None},
        {"row": 5, "order_id": "C-R2", "type": "refund", "points": -10, "hub_booked_at": "2026-03-14T10:30:00Z"}]}
    assert result["missing_at_partner"] == {"count": 1, "points": -20, "items": [
        {"order_id": "C-R1", "type": "refund", "points": -20, "booked_at": "2026-03-14T09:30:00Z"}]}
    assert result["rejected_total"] == 6
    assert [r["row"] for r in result["rejected"]] == [6, 7, 8, 9, 10, 11]
    errors = {r["row"]: r["errors"] for r in result["rejected"]}
    assert set(errors[6]) == {"points"} and set(errors[7]) == {"type"} and set(errors[8]) == {"order_id"}
    assert errors[9] == {"points": ["a sale earns points: it cannot be negative"]}
    assert errors[10] == {"order_id": ["'C-1' was already given as a sale at row 1"]}
    assert set(errors[11]) == {"_row"}


def test_a_refund_booked_after_the_period_belongs_to_the_next(hub, books):
    first = reconcile(hub, 1, EXACT, books["coffee"]).json
    assert "C-R2" not in str(first)
    second = reconcile(hub, 2, "order_id,type,points\n", books["coffee"]).json
    assert second["period"] == {"start": "2026-03-14T10:25:00Z", "end": "2026-03-14T11:25:00Z"}
    assert second["matched"] == {"count": 0, "points": 0} and second["missing_at_hub"]["count"] == 0
    assert second["missing_at_partner"] == {"count": 1, "points": -10, "items": [
        {"order_id": "C-R2", "type": "refund", "points": -10, "booked_at": "2026-03-14T10:30:00Z"}]}
    # The sale it refunds, given in period 2, is missing there: the hub booked it in period 1.
    late = reconcile(hub, 2, "order_id,type,points\nC-2,sale,50\nC-R2,refund,10\n", books["coffee"]).json
    assert late["matched"] == {"count": 1, "points": -10}
    assert late["missing_at_hub"]["items"] == [
        {"row": 1, "order_id": "C-2", "type": "sale", "points": 50, "hub_booked_at": "2026-03-14T09:30:00Z"}]


def test_another_partners_orders_never_appear(hub, books):
    grocer = reconcile(hub, 1, "order_id,type,points\nC-1,sale,200\nC-2,sale,20\n", books["grocer"]).json
    assert grocer["partner"] == "grocer"
    # grocer's own C-2 (20 points) matches; coffee's C-1 is not grocer's.
    assert grocer["matched"] == {"count": 1, "points": 20}
    assert grocer["missing_at_hub"]["items"] == [
        {"row": 1, "order_id": "C-1", "type": "sale", "points": 200, "hub_booked_at": None}]
    assert grocer["missing_at_partner"] == {"count": 1, "points": -150, "items": [
        {"order_id": "G-X1", "type": "redemption", "points": -150, "booked_at": "2026-03-14T09:30:00Z"}]}
    coffee = reconcile(hub, 1, "order_id,type,points\n", books["coffee"]).json
    assert coffee["missing_at_partner"]["count"] == 4 and coffee["missing_at_partner"]["points"] == 200
    assert {item["order_id"] for item in coffee["missing_at_partner"]["items"]} == {"C-1", "C-2", "C-R1", "C-X1"}
    # A partner cannot ask for another's books.
    refused = reconcile(hub, 1, EXACT, books["grocer"], partner="coffee")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "wrong_partner"


def test_the_operator_reconciles_for_a_named_partner(hub, books):
    response = reconcile(hub, 1, EXACT, partner="coffee")
    assert response.status_code == 200, response.json
    assert response.json["partner"] == "coffee" and response.json["matched"] == {"count": 4, "points": 200}
    unnamed = reconcile(hub, 1, EXACT)
    assert unnamed.status_code == 422 and set(unnamed.json["error"]["details"]) == {"partner"}
    unknown = reconcile(hub, 1, EXACT, partner="nobody")
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_partner"


def test_refusals(hub, books):
    wrong_type = reconcile(hub, 1, '{"order_id": "C-1"}', books["coffee"], content_type="application/json")
    assert wrong_type.status_code == 415 and wrong_type.json["error"] == {
        "code": "unsupported_media_type", "message": "A reconciliation reads text/csv, not application/json",
        "details": {"content_type": ["application/json"]}}
    unknown = reconcile(hub, 3, EXACT, books["coffee"])
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "unknown_statement"
    for body in ("C-1,sale,200\nC-2,sale,50\n", "", "\n\n", "order_id,points\nC-1,200\n"):
        headless = reconcile(hub, 1, body, books["coffee"])
        assert headless.status_code == 400, body
        assert headless.json["error"]["code"] == "bad_header" and "header" in headless.json["error"]["details"]
    assert reconcile(hub, 1, EXACT).status_code == 422  # the operator without ?partner
    assert hub.call("POST", "/v1/settlement/statements/1/reconciliation", "not-a-key", data=EXACT,
                    headers={"Content-Type": "text/csv"}).status_code == 401


def test_the_command_line_reconciles_a_file(app, books, database):
    result = reconcile_file(database, 1, "coffee", io.BytesIO(EXACT.encode()))
    assert result["matched"] == {"count": 4, "points": 200} and result["partner"] == "coffee"
    with pytest.raises(BadRequest):
        reconcile_file(database, 1, "coffee", io.BytesIO(b"nothing,here\n"))


def test_reading_records_normalises_signs_and_numbers_rows():
    records = list(read_records(io.BytesIO(
        b"\xef\xbb\xbforder_id,type,points\nA,sale,+7\n\nB,refund,7\nC,redemption,-7\nD,sale,1.5\nE,sale,\xff\n"
    )))
    assert [(r.row, r.order_id, r.type, r.points) for r in records[:3]] == [
        (1, "A", "sale", 7), (3, "B", "refund", -7), (4, "C", "redemption", -7)]
    assert records[3].row == 5 and set(records[3].errors) == {"points"}
    assert records[4].row == 6 and records[4].errors == {"_row": ["is not UTF-8 text"]}


def test_finance_exports_of_obligations_and_transfers(hub, books):
    statement = books["first"]
    obligations = hub.call("GET", "/v1/settlement/statements/1/obligations.csv")
    assert obligations.status_code == 200
    assert obligations.mimetype == "text/csv"
    assert obligations.headers["Content-Disposition"] == 'attachment; filename="statement-1-obligations.csv"'
    # 150 of coffee's points spent at grocer, at grocer's 0.008 EUR a point.
    assert obligations.get_data(as_text=True) == "from,to,amount,currency\r\ncoffee,grocer,1.20,EUR\r\n"
    transfers = hub.call("GET", "/v1/settlement/statements/1/transfers.csv")
    assert transfers.status_code == 200 and transfers.mimetype == "text/csv"
    assert transfers.headers["Content-Disposition"] == 'attachment; filename="statement-1-transfers.csv"'
    lines = [f"{t['partner']},{t['direction']},{t['amount']},EUR" for t in statement["transfers"]]
    assert transfers.get_data(as_text=True) == "\r\n".join(["partner,direction,amount,currency", *lines]) + "\r\n"
    # coffee issued 250 - 20 = 230 points (fee 0.46) and owes grocer 1.20; grocer issued 20 (fee 0.02).
    assert transfers.get_data(as_text=True) == (
        "partner,direction,amount,currency\r\ncoffee,pays,1.66,EUR\r\ngrocer,receives,1.18,EUR\r\n"
    )
    empty = hub.call("GET", "/v1/settlement/statements/2/obligations.csv")
    assert empty.get_data(as_text=True) == "from,to,amount,currency\r\n"
    assert hub.call("GET", "/v1/settlement/statements/9/transfers.csv").json["error"]["code"] == "unknown_statement"
    assert hub.call("GET", "/v1/settlement/statements/9/obligations.csv").status_code == 404
    assert hub.call("GET", "/v1/settlement/statements/1/transfers.csv", books["coffee"]).status_code == 403
