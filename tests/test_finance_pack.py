"""Paying a statement: bank accounts checked, the pain.001 the bank takes, its camt.053 back, and the workbook.

The period (tests/support/desk.trade): Brew Bar issues 200 points and the grocer 100; 150 are spent at the
grocer (Brew Bar's 200 first) and 40 at Brew Bar. Brew Bar owes the grocer for 150 of its points at the grocer's
0.008: 1.20, and pays its fee (200 x 0.002 = 0.40): it pays 1.60; the grocer receives 1.20 less its own fee
(100 x 0.001 = 0.10): 1.10.
"""

from __future__ import annotations

import io
import os
from datetime import timedelta
from decimal import Decimal

import pytest
import sepaxml
import xmlschema
from openpyxl import load_workbook

from tests.support.desk import trade
from tests.support.hub import ADMIN_TOKEN, HubClient
from tests.support.ledger import ids as partner_ids
from tests.support.ledger import snapshot

NETWORK = {"COALITION_NETWORK_ACCOUNT_HOLDER": "Coalition Network BV", "COALITION_NETWORK_IBAN": "NL91 ABNA 0417 1643 00",
           "COALITION_NETWORK_BIC": "ABNANL2A"}
GROCER = {"account_holder": "Green Grocer SARL", "iban": "FR14 2004 1010 0505 0001 3M02 606", "bic": "PSSTFRPPPAR"}
COFFEE = {"account_holder": "Brew Bar GmbH", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}
PAIN_XSD = os.path.join(os.path.dirname(sepaxml.__file__), "schemas", "pain.001.001.03.xsd")


@pytest.fixture
def app_config():
    return NETWORK


@pytest.fixture
def statement(hub, world, clock, database):
    trade(hub, world, clock)
    closed = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    assert closed.status_code == 201, closed.json
    ids = partner_ids(database)
    return {"sequence": closed.json["statement"]["sequence"], "transfers": closed.json["statement"]["transfers"],
            "ids": ids}


def test_the_statements_transfers_are_as_worked_by_hand(statement):
    assert statement["transfers"] == [{"partner": "brew-bar", "direction": "pays", "amount": "1.60"},
                                      {"partner": "green-grocer", "direction": "receives", "amount": "1.10"}]


def test_a_bank_account_is_checked_before_it_is_kept(hub, world, database):
    before = snapshot(database)
    for wrong, field in (({**GROCER, "iban": "FR14 2004 1010 0505 0001 3M02 607"}, "iban"),
                         ({**GROCER, "bic": "PSST-FRPP"}, "bic"), ({**GROCER, "account_holder": " "}, "account_holder")):
        refused = hub.call("PUT", "/v1/partners/green-grocer/bank-account", json=wrong)
        assert refused.status_code == 422, refused.json
        assert field in refused.json["error"]["details"], refused.json
    assert snapshot(database) == before
    assert hub.call("GET", "/v1/partners/green-grocer/bank-account").json == {
        "slug": "green-grocer", "account_holder": None, "iban": None, "bic": None}
    kept = hub.call("PUT", "/v1/partners/green-grocer/bank-account", json=GROCER)
    assert kept.status_code == 200, kept.json
    assert kept.json == {"slug": "green-grocer", "account_holder": "Green Grocer SARL",
                         "iban": "FR1420041010050500013M02606", "bic": "PSSTFRPPPAR"}
    # A partner's key may not move where its money goes; the operator's audit trail has before and after.
    assert hub.call("PUT", "/v1/partners/green-grocer/bank-account", world.grocer, json=COFFEE).status_code == 403
    audit = hub.call("GET", "/v1/audit-events", query_string={"target": "/v1/partners/green-grocer/bank-account"}).json
    assert audit["items"][0]["before"]["iban"] is None and audit["items"][0]["after"]["iban"] == GROCER["iban"].replace(" ", "")


def test_the_transfer_file_validates_against_the_pain_001_schema(hub, statement):
    sequence, grocer = statement["sequence"], statement["ids"]["green-grocer"]
    missing = hub.call("GET", f"/v1/settlement/statements/{sequence}/transfers.xml")
    assert (missing.status_code, missing.json["error"]["code"]) == (422, "no_bank_account")
    assert list(missing.json["error"]["details"]) == ["green-grocer"]
    hub.call("PUT", "/v1/partners/green-grocer/bank-account", json=GROCER)
    answer = hub.call("GET", f"/v1/settlement/statements/{sequence}/transfers.xml",
                      query_string={"execution_date": "2026-03-16"})
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    document = answer.get_data()
    xmlschema.XMLSchema(PAIN_XSD).validate(document.decode())
    parsed = xmlschema.XMLSchema(PAIN_XSD).to_dict(document.decode())
    payment = parsed["CstmrCdtTrfInitn"]["PmtInf"][0]
    assert payment["DbtrAcct"]["Id"]["IBAN"] == "NL91ABNA0417164300" and payment["ReqdExctnDt"] == "2026-03-16"
    (transfer,) = payment["CdtTrfTxInf"]
    assert transfer["PmtId"]["EndToEndId"] == f"S{sequence}P{grocer}"
    assert Decimal(str(transfer["Amt"]["InstdAmt"]["$"])) == Decimal("1.10")
    assert transfer["Amt"]["InstdAmt"]["@Ccy"] == "EUR"
    assert transfer["CdtrAcct"]["Id"]["IBAN"] == "FR1420041010050500013M02606"
    assert transfer["Cdtr"]["Nm"] == "Green Grocer SARL"


def test_without_the_networks_account_no_file_is_made(make_app, statement):
    bare = HubClient(make_app(COALITION_NETWORK_IBAN=None, COALITION_NETWORK_BIC=None,
                              COALITION_NETWORK_ACCOUNT_HOLDER=None).test_client(), ADMIN_TOKEN)
    bare.call("PUT", "/v1/partners/green-grocer/bank-account", json=GROCER)
    refused = bare.call("GET", f"/v1/settlement/statements/{statement['sequence']}/transfers.xml")
    assert refused.status_code == 422 and list(refused.json["error"]["details"]) == ["network"]


@pytest.mark.parametrize("setting", [{"COALITION_NETWORK_IBAN": "NL91ABNA0417164301"},
                                     {"COALITION_NETWORK_BIC": None}])
def test_a_bad_network_account_stops_the_hub_at_start(make_app, setting):
    with pytest.raises(ValueError, match="bank account"):
        make_app(**{**NETWORK, **setting})


def camt(*entries: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
            '<GrpHdr><MsgId>STMT-1</MsgId><CreDtTm>2026-03-17T06:00:00</CreDtTm></GrpHdr>'
            '<Stmt><Id>1</Id><Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>'
            + "".join(entries) + '</Stmt></BkToCstmrStmt></Document>').encode()


def entry(amount: str, direction: str, booked: str, ref: str, *, end_to_end: str | None = None,
          text: str | None = None) -> str:
    details = (f"<Refs><EndToEndId>{end_to_end}</EndToEndId></Refs>" if end_to_end else "") + (
        f"<RmtInf><Ustrd>{text}</Ustrd></RmtInf>" if text else "")
    return (f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd><Sts>BOOK</Sts>'
            f"<BookgDt><Dt>{booked}</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>"
            f"<NtryDtls><TxDtls>{details}</TxDtls></NtryDtls></Ntry>")


def test_the_bank_statement_marks_what_it_shows_paid_and_lists_the_rest(hub, statement, database):
    sequence, ids = statement["sequence"], statement["ids"]
    coffee, grocer = f"S{sequence}P{ids['brew-bar']}", f"S{sequence}P{ids['green-grocer']}"
    body = camt(
        entry("1.10", "DBIT", "2026-03-16", "BANK-1", end_to_end=grocer),  # the network paid the grocer
        entry("1.60", "CRDT", "2026-03-16", "BANK-2", text=f"Invoice {coffee} Brew Bar"),  # Brew Bar paid, quoting it
        entry("9.99", "CRDT", "2026-03-16", "BANK-3", text="Rent March"),
        entry("1.50", "CRDT", "2026-03-16", "BANK-4", text=f"S{sequence}P{ids['brew-bar']} short"),
        entry("1.10", "DBIT", "2026-03-16", "BANK-5", end_to_end=f"S{sequence + 7}P{ids['green-grocer']}"),
    )
    wrong_type = hub.call("POST", "/v1/settlement/bank-statements", data=body, content_type="text/csv")
    assert wrong_type.status_code == 415
    answer = hub.call("POST", "/v1/settlement/bank-statements", data=body, content_type="application/xml")
    assert answer.status_code == 200, answer.json
    assert [(m["partner"], m["bank_reference"], m["booked_on"]) for m in answer.json["matched"]] == [
        ("green-grocer", "BANK-1", "2026-03-16"), ("brew-bar", "BANK-2", "2026-03-16")]
    reasons = {u["bank_reference"]: u["reason"] for u in answer.json["unmatched"]}
    assert reasons == {
        "BANK-3": "names no statement's transfer (no S<sequence>P<partner> reference)",
        "BANK-4": "brew-bar pays 1.60 EUR: the entry says otherwise",
        "BANK-5": f"statement {sequence + 7} has no transfer with partner {ids['green-grocer']}",
    }
    paid = hub.call("GET", f"/v1/settlement/statements/{sequence}/payments").json["transfers"]
    assert [(t["partner"], t["reference"], t["paid"]) for t in paid] == [
        ("brew-bar", coffee, {"booked_on": "2026-03-16", "bank_reference": "BANK-2"}),
        ("green-grocer", grocer, {"booked_on": "2026-03-16", "bank_reference": "BANK-1"})]
    # Sent again, it marks nothing twice (only its audit event is new).
    before = snapshot(database)["counts"]
    again = hub.call("POST", "/v1/settlement/bank-statements", data=body, content_type="application/xml").json
    assert again["matched"] == [] and sum("paid already" in u["reason"] for u in again["unmatched"]) == 2
    assert snapshot(database)["counts"] == {**before, "audit_events": before["audit_events"] + 1}


@pytest.mark.parametrize("body", [b"not xml at all", b"<Document><Other/></Document>",
                                  b'<!DOCTYPE x [<!ENTITY a "aaaa">]><Document>&a;</Document>'])
def test_a_file_that_is_not_a_bank_statement_is_refused(hub, body):
    refused = hub.call("POST", "/v1/settlement/bank-statements", data=body, content_type="application/xml")
    assert (refused.status_code, refused.json["error"]["code"]) == (422, "unreadable_bank_statement")


def test_the_workbook_holds_the_statement_and_its_liability(hub, statement):
    sequence = statement["sequence"]
    hub.call("PUT", "/v1/partners/green-grocer/bank-account", json=GROCER)
    answer = hub.call("GET", f"/v1/settlement/statements/{sequence}/pack.xlsx")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == f'attachment; filename="statement-{sequence}-pack.xlsx"'
    book = load_workbook(io.BytesIO(answer.get_data()))
    assert book.sheetnames == ["Summary", "Matrix", "Obligations", "Transfers", "Partner brew-bar",
                               "Partner green-grocer", "Partner network", "Liability"]
    signed = hub.call("GET", f"/v1/settlement/statements/{sequence}").json
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
    assert summary["Statement"] == sequence and summary["Currency"] == "EUR"
    assert summary["Signed by key"] == signed["signature"]["key_id"]
    transfers = list(book["Transfers"].iter_rows(values_only=True))
    assert transfers[1:] == [
        ("brew-bar", "pays", 1.6, f"S{sequence}P{statement['ids']['brew-bar']}", None, "not yet", None),
        ("green-grocer", "receives", 1.1, f"S{sequence}P{statement['ids']['green-grocer']}",
         "FR1420041010050500013M02606", "not yet", None)]
    obligations = list(book["Obligations"].iter_rows(values_only=True))
    assert obligations == [("from", "to", "amount (EUR)"), ("brew-bar", "green-grocer", 1.2)]
    liability = {row[0]: row for row in book["Liability"].iter_rows(values_only=True)}
    header = list(book["Liability"].iter_rows(values_only=True))[0]
    closing = header.index("closing (points)")
    outstanding = sum(s["outstanding"] for s in signed["statement"]["partners"])
    assert liability["all issuers"][closing] == outstanding == 110
    assert liability["all issuers"][header.index("unexplained (points)")] == 0
