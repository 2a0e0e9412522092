"""Reconciliation of a partner's own records against a closed period, and CSV exports for finance teams."""

from __future__ import annotations

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from network.api.answers import answers
from network.api.common import acting_for, csv_file, hub, media_type, read, requires
from network.api.schemas import Strict
from network.parties.roles import ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY
from settlement import reconcile, runs

blp = Blueprint("reconciliation", __name__, description="Reconciliation and finance exports")


class PartnerQuery(Strict):
    partner = fields.String(metadata={"description": "the operator names the partner whose file it is; a partner "
                                                     "need not (it may name only itself)"})


class Listed(Schema):
    count = fields.Integer()
    points = fields.Integer()
    items = fields.List(fields.Dict(), metadata={"description": "the first 1,000"})


class Mismatched(Schema):
    count = fields.Integer()
    hub_points = fields.Integer()
    partner_points = fields.Integer()
    items = fields.List(fields.Dict(), metadata={"description": 'the first 1,000: {"row", "order_id", "type", '
                                                                '"hub_points", "partner_points"}'})


class Reconciliation(Schema):
    sequence = fields.Integer()
    partner = fields.String()
    period = fields.Dict(metadata={"description": '{"start", "end"}: booking time, [start, end)'})
    records = fields.Integer(metadata={"description": "good records in the file"})
    matched = fields.Dict(metadata={"description": '{"count", "points"}'})
    missing_at_hub = fields.Nested(Listed)
    missing_at_partner = fields.Nested(Listed)
    mismatched = fields.Nested(Mismatched)
    rejected = fields.List(fields.Dict(), metadata={"description": 'the first 1,000 bad rows: {"row", "errors"}'})
    rejected_total = fields.Integer()


@blp.route("/settlement/statements/<int:sequence>/reconciliation", methods=["POST"])
@requires(ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY)
@blp.arguments(PartnerQuery, location="query")
@blp.doc(
    requestBody={
        "description": "The partner's own records for the statement's period, streamed: a header `order_id,type,points`"
        " (type: sale, refund or redemption; refunds and redemptions may be negative, as the hub reports them, or "
        "positive: the type gives the sign).",
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}, "example": "order_id,type,points\nA-1001,sale,12\nB-2001,redemption,-100\n"}},
    }
)
@blp.response(200, Reconciliation)
@answers("bad_header", "unknown_statement", "unknown_partner", "unsupported_media_type", "wrong_partner", "payload_too_large", "unreadable_body")
def post_reconciliation(args, sequence):
    """Compare the partner's records with its orders booked in the period: matched, missing on either side, mismatched.

    A partner reconciles its own records; the operator names the partner with `?partner=`. Not run under an
    Idempotency-Key: it books nothing.
    """
    slug = acting_for(args.get("partner"), "A partner reconciles only its own records", required=True)
    media_type(("text/csv",), "A reconciliation")
    request.max_content_length = current_app.config["COALITION_MAX_BATCH_BYTES"]
    return reconcile.reconcile_file(hub().db, sequence, slug, request.stream)


def _csv(sequence: int, name: str, header: list[str], rows: list[list[str]]) -> Response:
    return csv_file(f"statement-{sequence}-{name}.csv", header, rows)


@blp.route("/settlement/statements/<int:sequence>/obligations.csv", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.response(200, content_type="text/csv", description="columns from,to,amount,currency")
@answers("unknown_statement")
def obligations_csv(sequence):
    """The statement's gross bilateral obligations (who would owe whom without netting), as CSV.

    Admins and finance; the amounts are those of the signed statement.
    """
    return obligations_file(sequence)


def obligations_file(sequence: int) -> Response:
    """The obligations CSV of statement `sequence`, as this API and the desk hand it out."""
    statement = read(lambda session: runs.signed_statement(session, sequence))["statement"]
    currency = statement["currency"]
    return _csv(sequence, "obligations", ["from", "to", "amount", "currency"],
                [[o["from"], o["to"], o["amount"], currency] for o in statement["obligations"]])


@blp.route("/settlement/statements/<int:sequence>/transfers.csv", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.response(200, content_type="text/csv", description="columns partner,direction,amount,currency")
@answers("unknown_statement")
def transfers_csv(sequence):
    """The statement's net transfers through the network (each partner pays or receives its net), as CSV.

    Admins and finance; the amounts are those of the signed statement.
    """
    return transfers_file(sequence)


def transfers_file(sequence: int) -> Response:
    """The transfers CSV of statement `sequence`, as this API and the desk hand it out."""
    statement = read(lambda session: runs.signed_statement(session, sequence))["statement"]
    currency = statement["currency"]
    return _csv(sequence, "transfers", ["partner", "direction", "amount", "currency"],
                [[t["partner"], t["direction"], t["amount"], currency] for t in statement["transfers"]])
