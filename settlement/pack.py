"""A statement's finance pack: one workbook a finance team files, reviews and pays from.

Sheets: the summary (what was signed, and by which key), the matrix of
points by issuer and redeemer, the obligations, the transfers with each
one's reference, account and payment, a sheet per partner's section, the
disputes the statement settles (when it settles any), and the points
liability's roll-forward over the statement's period. Numbers
are written as numbers (points as integers, money as exact decimals with
the currency's places), so the workbook adds up in a spreadsheet as it
does here.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from network.models import Partner, Statement
from partners.money import decimals
from settlement.acknowledgements import listed
from settlement.liability import liability
from settlement.payments import payments, reference
from settlement.runs import signed_statement

#: Where a first statement's roll-forward starts: before any ledger this hub keeps.
BEGINNING = datetime(2000, 1, 1, tzinfo=timezone.utc)
BOLD = Font(bold=True)


def workbook(session: Session, sequence: int, *, breakage_override: Decimal | None) -> bytes:
    """The .xlsx bytes of statement `sequence`'s pack."""
    signed = signed_statement(session, sequence)
    statement = signed["statement"]
    currency = statement["currency"]
    stored = session.get(Statement, sequence)
    partners = {row.slug: row for row in session.execute(select(Partner.id, Partner.slug, Partner.name, Partner.iban))}
    paid = payments(session, sequence)
    owed = liability(session, stored.period_start or BEGINNING, stored.period_end, currency, breakage_override)
    money = _money(currency)

    book = Workbook()
    summary = book.active
    summary.title = "Summary"
    _rows(summary, ["", ""], [
        ["Network", statement["network"]], ["Statement", sequence],
        ["Period start", statement["period"]["start"] or "the ledger's beginning"], ["Period end", statement["period"]["end"]],
        ["Currency", currency], ["Statement hash (SHA-256)", stored.hash], ["Merkle root", statement["merkle_root"]],
        ["Previous statement's hash", statement["previous_hash"] or ""],
        ["Signed by key", signed["signature"]["key_id"]],
        ["Acknowledged by", ", ".join(a["partner"] for a in listed(session, sequence)) or "no partner yet"],
        ["Gross bilateral obligations", money(statement["gross_bilateral"]["total"])],
        ["Transfers", len(statement["transfers"])],
        ["Points outstanding at the end", owed["outstanding"]],
        ["Deferred revenue at the end", money(owed["deferred_revenue"])],
    ])
    _rows(book.create_sheet("Matrix"), ["issuer", "redeemer", "points", f"amount ({currency})"],
          [[c["issuer"], c["redeemer"], c["points"], money(c["amount"])] for c in statement["matrix"]])
    _rows(book.create_sheet("Obligations"), ["from", "to", f"amount ({currency})"],
          [[o["from"], o["to"], money(o["amount"])] for o in statement["obligations"]])
    transfers = []
    for t in statement["transfers"]:
        partner = partners.get(t["partner"])
        payment = paid.get(partner.id) if partner else None
        transfers.append([t["partner"], t["direction"], money(t["amount"]), reference(sequence, partner.id) if partner else "",
                          (partner.iban or "") if partner else "", payment["booked_on"] if payment else "not yet",
                          payment["bank_reference"] if payment else ""])
    _rows(book.create_sheet("Transfers"), ["partner", "direction", f"amount ({currency})", "reference", "IBAN",
                                           "paid on", "bank reference"], transfers)
    for section in statement["partners"]:
        contract = section.get("contract") or {}
        _rows(book.create_sheet(_sheet_name(section["partner"])), ["", ""], [
            ["Partner", section["partner"]], ["Issued (points)", section["issued"]],
            ["Redeemed at its tills (points)", section.get("redeemed", "")], ["Expired (points)", section["expired"]],
            ["Outstanding at the end (points)", section["outstanding"]],
            ["Fee" if "fee" in section else "Fees", money(section.get("fee", section.get("fees")))],
            ["Net (+ receives, - pays)", money(section["net"])],
            ["Contract from", contract.get("effective_from", "")], ["Issue fee per point", contract.get("issue_fee", "")],
            ["Redeem rate per point", contract.get("redeem_rate", "")],
        ])
    if statement.get("disputes"):
        _rows(book.create_sheet("Disputes"), ["dispute", "statement", "partner", "orders", "outcome",
                                              f"adjustment ({currency})", "note"],
              [[d["id"], d["statement"], d["partner"], " ".join(d["order_ids"]), d["outcome"], money(d["adjustment"]),
                d["note"]] for d in statement["disputes"]])
    points = ("opening", "issued", "redeemed", "expired", "closing", "unexplained")
    lines = ("opening", "issued", "redeemed", "expired", "change_of_estimate", "closing")
    rolled = [[i["issuer"], *[i["roll_forward"]["points"][line] for line in points],
               *[money(i["roll_forward"]["money"][line]) for line in lines], i["value_per_point"] or "", i["breakage"]]
              for i in owed["issuers"]]
    rolled.append(["all issuers", *[owed["roll_forward"]["points"][line] for line in points],
                   *[money(owed["roll_forward"]["money"][line]) for line in lines], "", ""])
    _rows(book.create_sheet("Liability"), ["issuer", *[f"{line} (points)" for line in points],
                                          *[f"{line} ({currency})" for line in lines], "value per point", "breakage"],
          rolled)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _money(currency: str):
    places = decimals(currency)
    number_format = "0" if places == 0 else "0." + "0" * places

    def cell(text: str | None):
        return ("", None) if text in (None, "") else (Decimal(text), number_format)

    return cell


def _rows(sheet, header: list[str], rows: list[list]) -> None:
    """Write a header (bold) and rows; a (Decimal, format) pair is a number with its format."""
    if any(header):
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = BOLD
    for row in rows:
        sheet.append([value[0] if isinstance(value, tuple) else value for value in row])
        for column, value in enumerate(row, start=1):
            if isinstance(value, tuple) and value[1]:
                sheet.cell(row=sheet.max_row, column=column).number_format = value[1]
    for column in range(1, sheet.max_column + 1):
        width = max((len(str(cell.value or "")) for cell in sheet[get_column_letter(column)]), default=8)
        sheet.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 8), 60)


def _sheet_name(slug: str) -> str:
    """A sheet's name: at most 31 characters, none of []:*?/\\ (a slug has none)."""
    return f"Partner {slug}"[:31]
