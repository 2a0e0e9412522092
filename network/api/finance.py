"""Paying a statement: partners' bank accounts, the finance pack, the transfer file, and the bank's statement back.

Admins and finance only: a bank account is where money goes, so changing
one is theirs alone, and audited with the account before and after. A
partner reads its own account, credit and section's PDF, never another's.
"""

from __future__ import annotations

import io
from datetime import date, datetime

from flask import Response, current_app, render_template, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import update

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import download, hub, idempotent_write, lagging_read, media_type, now, only_itself, read, requires
from network.api.gate import reads_raw_body
from network.api.paging import QUERY
from network.api.schemas import DecimalString, Strict
from network.earning import unfunded
from network.errors import Invalid
from network.models import Partner
from network.parties import audit, funding
from network.parties.registry import get_partner, slugs
from network.parties.roles import ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_ROLES
from settlement import pack, section_pdf
from settlement.banking import BankAccount, checked
from settlement.figures import money
from settlement.liability import parse_breakage
from settlement.payments import credit_transfers, credited, import_statement, payments, reference, transfers

blp = Blueprint("finance", __name__, description="Paying statements: bank accounts, the finance pack, transfer files")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XML_TYPES = ("application/xml", "text/xml")
PDF = "application/pdf"


class BankAccountSet(Strict):
    account_holder = fields.String(required=True, validate=validate.Length(min=1, max=70),
                                   metadata={"example": "Brew Bar SARL"})
    iban = fields.String(required=True, validate=validate.Length(min=5, max=42), metadata={
        "description": "checked: its checksum and its country's length; spaces allowed", "example": "FR1420041010050500013M02606"})
    bic = fields.String(required=True, validate=validate.Length(min=8, max=11), metadata={"example": "PSSTFRPPPAR"})


class BankAccountOut(Schema):
    slug = fields.String()
    account_holder = fields.String(allow_none=True)
    iban = fields.String(allow_none=True)
    bic = fields.String(allow_none=True)


class TransferFileQuery(Strict):
    execution_date = fields.Date(validate=validate.Range(min=date(2000, 1, 1), max=date(9999, 12, 31)), metadata={
        "description": "the day the bank should pay (default today)", "example": "2026-12-07"})


class PaymentsOut(Schema):
    sequence = fields.Integer()
    transfers = fields.List(fields.Dict(), metadata={"description": '{"partner", "direction", "amount", "reference", '
                                                                    '"paid": {"booked_on", "bank_reference"} or null}'})


class ReleasedOut(Schema):
    partner = fields.String()
    sales = fields.Integer(metadata={"description": "sales whose points waited for funds and now drew on them"})
    points = fields.Integer()


class BankStatementImport(Schema):
    matched = fields.List(fields.Dict(), metadata={"description": '{"partner", "sequence", "reference", "amount", '
                                                                  '"currency", "direction", "booked_on", "bank_reference"}'})
    unmatched = fields.List(fields.Dict(), metadata={"description": "each entry not matched to a transfer, with its "
                                                                    "`reason`"})
    released = fields.List(fields.Nested(ReleasedOut), metadata={
        "description": "for each partner the entries funded: its sales that waited for funds and were released"})


def network_account() -> BankAccount | None:
    """The network's own account (COALITION_NETWORK_ACCOUNT_HOLDER, _IBAN, _BIC), checked at start; None when unset."""
    config = current_app.config
    if not config.get("COALITION_NETWORK_IBAN"):
        return None
    return checked(config["COALITION_NETWORK_ACCOUNT_HOLDER"], config["COALITION_NETWORK_IBAN"],
                   config["COALITION_NETWORK_BIC"])


def _account_view(partner: Partner) -> dict:
    return {"slug": partner.slug, "account_holder": partner.account_holder, "iban": partner.iban, "bic": partner.bic}


@blp.route("/partners/<slug>/bank-account", methods=["PUT"])
@requires(ADMIN, FINANCE)
@writes
@blp.arguments(BankAccountSet)
@blp.response(200, BankAccountOut)
@answers("unknown_partner", "invalid_bank_account")
def put_bank_account(args, slug):
    """Set where the network pays the partner: its account holder, IBAN and BIC, each checked (IBAN checksum, BIC form).

    Admins and finance; the account before and after is in the audit trail.
    """
    account = checked(args["account_holder"], args["iban"], args["bic"])

    def work(session):
        partner = get_partner(session, slug)
        stored = session.get(Partner, partner.id)
        before = _account_view(stored)
        session.execute(update(Partner).where(Partner.id == partner.id).values(
            account_holder=account.holder, iban=account.iban, bic=account.bic))
        after = {"slug": slug, **account.view()}
        audit_trail.change(before, after, partner_id=partner.id)
        return after

    return idempotent_write(work, status=200)


@blp.route("/partners/<slug>/bank-account", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ADMIN)
@blp.response(200, BankAccountOut)
@answers("unknown_partner", "wrong_partner")
def get_bank_account(slug):
    """Where the network pays the partner (a partner's admin sees its own, to check it)."""
    only_itself(slug)
    return read(lambda session: _account_view(session.get(Partner, get_partner(session, slug).id)))


class PrepaymentCreate(Strict):
    amount = DecimalString(required=True, metadata={"example": "500.00", "description": "in the settlement currency"})
    reference = fields.String(required=True, validate=validate.Length(min=1, max=140), metadata={
        "example": "BANK-2026-11-30-0042", "description": "the bank's or finance's own reference: recorded once"})


class CreditOut(Schema):
    slug = fields.String()
    funding = fields.String(allow_none=True, metadata={"description": "prepaid, credit, or null: not controlled"})
    over_limit = fields.String(metadata={"description": "refuse: sales past what it may draw are refused; pending: "
                                                        "their points are booked pending until funds arrive"})
    credit_limit = fields.String()
    funded = fields.String()
    drawn = fields.String(metadata={"description": "what its points issued drew: issue fee plus expected redemption value"})
    available = fields.String()
    point_cost = fields.String()
    used_share = fields.String(allow_none=True)
    points_left = fields.Integer(allow_none=True)
    released = fields.Nested(ReleasedOut, metadata={"description": "a prepayment only: the sales that waited for "
                                                                   "funds, released oldest first as far as it covers"})


@blp.route("/partners/<slug>/credit", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.response(200, CreditOut)
@answers("unknown_partner", "wrong_partner")
def get_credit(slug):
    """The partner's exposure: its funding, its limit and funds, what its points drew and what it may still issue.

    Admins and finance read any partner's; a partner its own.
    """
    only_itself(slug)
    return read(lambda session: {"slug": slug, **funding.exposure(session, get_partner(session, slug).id)})


@blp.route("/partners/<slug>/prepayments", methods=["POST"])
@requires(ADMIN, FINANCE)
@writes
@blp.arguments(PrepaymentCreate)
@blp.response(201, CreditOut)
@answers("unknown_partner", "prepayment_exists", "not_funded")
def post_prepayment(args, slug):
    """Record funds the partner sent: what it may draw rises by the amount (once per reference).

    Admins and finance. The bank statement import records them too, for entries quoting `FUND-P<partner id>`.
    The partner's sales that waited for funds (`over_limit` pending) are released oldest first, each drawing on
    them, as far as they cover; `released` counts them.
    """

    def work(session):
        partner = get_partner(session, slug)
        if partner.funding is None:
            raise Invalid("The partner's issuing draws on no funds (PUT its contract with funding first)",
                          {"slug": [slug]}, code="not_funded")
        released = unfunded.release(session, partner, now(), funds=lambda: funding.fund(
            session, partner.id, args["amount"], args["reference"], now()),
            room=unfunded.more(session, partner.id, funding.micros(args["amount"])))
        audit_trail.change(None, {"amount": str(args["amount"]), "reference": args["reference"]}, partner_id=partner.id)
        return {"slug": slug, **funding.exposure(session, partner.id), "released": released.view()}

    return idempotent_write(work)


@blp.route("/settlement/statements/<int:sequence>/payments", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.response(200, PaymentsOut)
@answers("unknown_statement")
def get_payments(sequence):
    """The statement's transfers, each with its reference and whether the bank statement showed it paid."""

    def work(session):
        paid = payments(session, sequence)
        return {"sequence": sequence, "transfers": [
            {"partner": t.slug, "direction": t.direction, "amount": money(t.minor, t.currency),
             "currency": t.currency, "reference": reference(sequence, t.partner_id), "paid": paid.get(t.partner_id)}
            for t in transfers(session, sequence)]}

    return lagging_read(work)


@blp.route("/settlement/statements/<int:sequence>/pack.xlsx", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.response(200, content_type=XLSX, description="sheets Summary, Matrix, Obligations, Transfers, Partner <slug>, "
                                                  "Liability")
@answers("unknown_statement")
def get_pack(sequence):
    """The statement's finance pack as a workbook: summary, matrix, obligations, transfers, each partner's section
    and the points liability's roll-forward over its period."""
    override = parse_breakage(current_app.config["COALITION_EXPECTED_BREAKAGE"])
    data = lagging_read(lambda session: pack.workbook(session, sequence, breakage_override=override))
    return download(data, XLSX, f"statement-{sequence}-pack.xlsx")


@blp.route("/settlement/statements/<int:sequence>/partners/<slug>/section.pdf", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.response(200, content_type=PDF, description="the party's section as the desk's statement page shows it, A4, "
                                                 "the statement's number, hash and page numbers on every page")
@answers("unknown_statement", "unknown_partner", "wrong_partner")
def get_section_pdf(sequence, slug):
    """One party's section of the statement as a PDF to file: its lines, its transfer, the statement's hash and key.

    Admins and finance any party's (`network` is the network's own); a partner's keys and people only their own.
    """
    only_itself(slug, "A partner sees only its own section")
    return section_file(sequence, slug)


def section_file(sequence: int, slug: str) -> Response:
    """The PDF of a party's section, as this API, the desk and the portal hand it out.

    The HTML is the desk's own partial (rendered by its template's name, as a wallet link's address is url_for's:
    the API imports no page), over the same `Section` the desk's statement page shows.
    """
    part = read(lambda session: section_pdf.section(session, sequence, slug))
    statement = part.statement
    data = section_pdf.pdf(render_template("desk/section.pdf.html", part=part),
                           title=f"Statement {sequence}: {part.name}'s section",
                           footer=f"{statement['network']} · statement {sequence} · {slug} · "
                                  f"hash {part.statement_hash[:16]}",
                           created=datetime.fromisoformat(statement["period"]["end"]))
    return download(data, PDF, f"statement-{sequence}-{slug}.pdf")


@blp.route("/settlement/statements/<int:sequence>/transfers.xml", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.arguments(TransferFileQuery, **QUERY)
@blp.response(200, content_type="application/xml", description="ISO 20022 pain.001.001.03")
@answers("unknown_statement", "no_bank_account")
def get_transfer_file(args, sequence):
    """The credit transfers paying every partner the statement says receives, as ISO 20022 pain.001 for the bank.

    From the network's account (COALITION_NETWORK_IBAN and its holder and BIC) to each partner's; each transfer's
    end-to-end id is its reference, `S<sequence>P<partner id>`. A missing account is a 422 naming it.
    """
    debtor = network_account()
    execution = args.get("execution_date") or now().date()
    data = read(lambda session: credit_transfers(session, sequence, debtor, execution=execution))
    return download(data, "application/xml", f"statement-{sequence}-transfers.xml")


@blp.route("/settlement/bank-statements", methods=["POST"])
@reads_raw_body
@requires(ADMIN, FINANCE)
@blp.doc(requestBody={
    "description": "The network account's ISO 20022 camt.053 bank-to-customer statement, as the bank exports it.",
    "required": True,
    "content": {"application/xml": {"schema": {"type": "string"}}},
})
@blp.response(200, BankStatementImport)
@answers("unreadable_bank_statement", "unsupported_media_type", "payload_too_large")
def post_bank_statement():
    """Mark the statements' transfers the bank statement shows paid; list every entry it could not match, with why.

    An entry is matched by its transfer's reference (`S<sequence>P<partner id>`, in its end-to-end id or remittance
    text), then checked for direction, amount and currency. An entry naming no transfer is listed, never guessed.
    Sent again, a file marks nothing twice. Funds it brings a partner release the partner's sales that waited for
    them (`released`).
    """
    media_type(XML_TYPES, "A bank statement")
    request.max_content_length = current_app.config["COALITION_MAX_BATCH_BYTES"]
    where = audit.Where(request.remote_addr, request.headers.get("User-Agent"))
    body = request.get_data()  # read whole by the XML parser anyway; kept, so a retried transaction reads it again

    def work(session):
        # Each partner's row is locked as its funds are recorded: the members their releases reach are locked first.
        plans = unfunded.ahead_of_funds(session, {partner_id: funding.micros(amount)
                                                  for partner_id, amount in credited(io.BytesIO(body)).items()})
        done = import_statement(session, io.BytesIO(body), now=now())
        audit.record(session, now(), audit_trail.actor(), "POST /v1/settlement/bank-statements", request.path,
                     where=where, after={"matched": len(done.matched), "unmatched": len(done.unmatched)})
        return {**done.view(), "released": _release_funded(session, plans)}

    return hub().db.transact(work)


def _release_funded(session, plans: dict[int, unfunded.Plan]) -> list[dict]:
    """What the funds the bank statement brought released of each partner's waiting sales, by slug."""
    released = []
    named = slugs(session, set(plans))
    for partner_id, slug in sorted(((pid, named[pid]) for pid in plans), key=lambda found: found[1]):
        done = unfunded.release(session, get_partner(session, slug), now(), planned=plans[partner_id])
        if done.sales:
            released.append({"partner": slug, **done.view()})
    return released
