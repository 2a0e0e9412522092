"""Sales and refunds in the partner's own format, and redemptions."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, request
from flask_smorest import Blueprint

from network import redemptions, sales
from network.api.common import hub, idempotent_write, now, principal, requires
from network.api.schemas import ErrorOut, RedemptionCreate, RedemptionResult, ReversalResult, TransactionResult
from network.auth import PARTNER
from network.errors import BadRequest, Invalid, Unavailable
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.transactions import Sale
from partners.canonical import CanonicalTransactionSchema

blp = Blueprint("transactions", __name__, description="Earning, refunds and redemptions")


@blp.route("/transactions", methods=["POST"])
@requires(PARTNER)
@blp.doc(
    requestBody={
        "description": "The partner's own payload, read by its adapter; shown here: the canonical adapter's JSON.",
        "required": True,
        "content": {"application/json": {"schema": CanonicalTransactionSchema}},
    }
)
@blp.response(201, TransactionResult)
@blp.alt_response(409, schema=ErrorOut, description="order id already booked by this partner")
@blp.alt_response(422, schema=ErrorOut, description="invalid transaction")
def post_transaction():
    """Book a sale (earns points) or a refund (claws back its share)."""
    partner = principal().partner
    adapter = hub().adapters.get(partner.adapter)
    if adapter is None:
        raise Unavailable(f"The adapter {partner.adapter!r} is not installed on this hub", code="adapter_unavailable")
    try:
        parsed = adapter.parse(request.get_data(), request.content_type or "")
    except UnreadablePayload as exc:
        raise BadRequest(str(exc), code="unreadable_body") from None
    except InvalidTransaction as exc:
        raise Invalid(exc.message, exc.fields, code="invalid_transaction") from None
    if len(parsed) != 1:
        raise Invalid("Send one transaction per request", {"_schema": [f"found {len(parsed)}"]}, code="invalid_transaction")
    (transaction,) = parsed
    lifetime = timedelta(days=current_app.config["COALITION_POINTS_LIFETIME_DAYS"])

    def work(session):
        if isinstance(transaction, Sale):
            return sales.record_sale(session, partner, transaction, now=now(), lifetime=lifetime)
        return sales.record_refund(session, partner, transaction, now=now())

    return idempotent_write(work)


@blp.route("/redemptions", methods=["POST"])
@requires(PARTNER)
@blp.arguments(RedemptionCreate)
@blp.response(201, RedemptionResult)
@blp.alt_response(422, schema=ErrorOut, description="insufficient_points, or invalid fields")
def redeem(args):
    """Spend points at this partner; lots are consumed oldest expiry first."""
    partner = principal().partner
    return idempotent_write(lambda session: redemptions.redeem(session, partner, now=now(), **args))


@blp.route("/redemptions/<int:redemption_id>/reversal", methods=["POST"])
@requires(PARTNER)
@blp.response(201, ReversalResult)
@blp.alt_response(404, schema=ErrorOut)
@blp.alt_response(409, schema=ErrorOut, description="already reversed")
def reverse(redemption_id):
    """Cancel a redemption made by this partner; the points return to the lots they came from."""
    partner = principal().partner
    return idempotent_write(lambda session: redemptions.reverse(session, partner, redemption_id, now=now()))
