"""Disputes over a statement's lines: a partner files, finance ends each with an adjustment or a rejection."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from network.api.answers import answers, writes
from network.api.common import acting_for, idempotent_write, lagging_read, now, principal, requires
from network.api.schemas import DecimalString, Strict
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY, PARTNER_ROLES
from settlement import disputes

blp = Blueprint("disputes", __name__, description="Disputes over statements")


class DisputeCreate(Strict):
    order_ids = fields.List(fields.String(validate=validate.Length(min=1, max=255)), required=True,
                            validate=validate.Length(min=1, max=disputes.MAX_ORDERS),
                            metadata={"description": "the partner's own order ids booked in the statement's period",
                                      "example": ["A-1001"]})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                           metadata={"example": "A-1001 was a test order on our staging till"})
    partner = fields.String(validate=validate.Length(max=64), metadata={
        "description": "the operator's staff name the partner they file for; a partner files for itself"})


class DisputeResolve(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(disputes.OUTCOMES))
    note = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                         metadata={"example": "Fee on A-1001 refunded"})
    amount = DecimalString(metadata={"description": "with `adjusted`: what the partner receives in the next statement "
                                                    "(negative: pays), in the settlement currency", "example": "0.40"})

    @validates_schema
    def _amount(self, data, **kwargs):
        if data.get("outcome") == disputes.ADJUSTED and data.get("amount") is None:
            raise ValidationError("is required when adjusted", "amount")
        if data.get("outcome") == disputes.REJECTED and data.get("amount") is not None:
            raise ValidationError("must not be given when rejected", "amount")


class DisputeOut(Schema):
    id = fields.Integer()
    sequence = fields.Integer()
    partner = fields.String()
    order_ids = fields.List(fields.String())
    reason = fields.String()
    status = fields.String(metadata={"description": "open, adjusted or rejected"})
    adjustment = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    resolved_at = fields.DateTime(allow_none=True)


class DisputeList(Schema):
    items = fields.List(fields.Nested(DisputeOut))


def _currency() -> str:
    return current_app.config["COALITION_SETTLEMENT_CURRENCY"]


@blp.route("/settlement/statements/<int:sequence>/disputes", methods=["POST"])
@requires(ADMIN, FINANCE, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(DisputeCreate)
@blp.response(201, DisputeOut)
@answers("unknown_statement", "unknown_partner", "wrong_partner", "not_in_statement")
def post_dispute(args, sequence):
    """Dispute lines of the partner's section: its orders booked in the statement's period, and why.

    A partner files for itself; the operator's staff name the partner. Finance ends it (its resolution); an upheld
    dispute's adjustment is in the next statement, which lists every dispute ended in its period.
    """
    slug = acting_for(args.get("partner"), "A partner disputes only its own section", required=True)

    def work(session):
        partner = get_partner(session, slug)
        return disputes.file(session, sequence, partner.id, args["order_ids"], args["reason"], now(), _currency())

    return idempotent_write(work)


@blp.route("/settlement/statements/<int:sequence>/disputes", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.response(200, DisputeList)
@answers()
def get_disputes(sequence):
    """The disputes filed against the statement, oldest first: finance sees all, a partner its own."""
    caller = principal()
    partner_id = caller.partner.id if caller.partner is not None else None
    return lagging_read(lambda session: {"items": disputes.listed(session, sequence, _currency(), partner_id)})


@blp.route("/settlement/disputes/<int:dispute_id>/resolution", methods=["POST"])
@requires(ADMIN, FINANCE)
@writes
@blp.arguments(DisputeResolve)
@blp.response(200, DisputeOut)
@answers("unknown_dispute", "dispute_closed")
def post_resolution(args, dispute_id):
    """End an open dispute: `adjusted` (the amount the partner receives, or pays when negative, in the next
    statement) or `rejected`, each with a note the partner reads."""
    return idempotent_write(lambda session: disputes.resolve(session, dispute_id, args["outcome"], args["note"],
                                                             args.get("amount"), _currency(), now()), status=200)
