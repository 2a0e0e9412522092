"""Webhooks from shop platforms, authenticated by their signature alone.

Shopify and Square cannot send a partner's bearer key; they sign the body
instead. Only adapters whose format carries a signature take this route.
Platforms retry anything but a 2xx for days, so a webhook for an order
already booked is acknowledged (200, `"duplicate": true`), never a 409.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint

from network.api.answers import answers
from network.api.common import hub, now, read, terms
from network.api.gate import reads_raw_body
from network.api.idempotency import to_json
from network.api.schemas import TransactionResult
from network.api.transactions import count_sales, parse, payload
from network.earning import credit, intake
from network.errors import Conflict, NotFound, Unauthenticated
from network.parties.registry import get_partner

blp = Blueprint("inbound", __name__, description="Signed webhooks from shop platforms")


@blp.route("/partners/<slug>/inbound", methods=["POST"])
@reads_raw_body
@blp.doc(security=[], requestBody={"required": True, "content": {"application/json": {"schema": {"type": "object"}}},
                                    "description": "the platform's own webhook body (Shopify, Square), signed"})
@blp.response(201, TransactionResult)
@answers("unknown_card", "invalid_card", "card_blocked", "card_mismatch", "currency_mismatch", "refund_exceeds_sale", "unknown_order", "unmeasurable_refund", "invalid_transaction", "unreadable_body", "body_too_deep", "payload_too_large", "unsupported_media_type", "adapter_unavailable", "rules_unavailable", "bad_signature", "unknown_partner", "no_inbound_endpoint", "bad_request", "credit_limit_reached")
def inbound(slug):
    """Book a platform's webhook for this partner, once its signature holds.

    No bearer token: the platform signs the body with the partner's webhook secret. A webhook for an order booked
    already answers 200 with `"duplicate": true`, never a 409, since platforms retry anything else for days.
    """
    partner = read(lambda session: get_partner(session, slug))
    adapter, config = hub().adapter(partner)
    if not getattr(adapter, "signed", False):
        raise NotFound("This partner takes no signed webhooks; use POST /v1/transactions", code="no_inbound_endpoint")
    body = payload(partner, adapter)
    if not intake.verify(adapter, config, body):
        raise Unauthenticated("The payload's signature does not match", code="bad_signature")
    transactions = parse(adapter, config, body)
    rules, policies = hub().ruleset(partner), terms()

    def work(session):
        booked = []
        for transaction in transactions:
            try:
                booked.append(intake.book_one(session, partner, rules, transaction, now=now(), terms=policies,
                                              platform=True))
            except Conflict as exc:
                if exc.code != "duplicate_order":
                    raise
                booked.append({"duplicate": True, "order_id": transaction.order_id})
        return booked

    booked = credit.telling_refusals(hub().db, partner, now, lambda: hub().db.transact(work))
    count_sales("inbound", transactions, booked)
    status = 201 if any("duplicate" not in b and "ignored" not in b for b in booked) else 200
    body_out = booked[0] if len(booked) == 1 else {"transactions": booked}
    return Response(to_json(body_out) + "\n", status=status, mimetype="application/json")
