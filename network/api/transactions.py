"""Sales and refunds in the partner's own format, batches, actions and redemptions."""

from __future__ import annotations

from datetime import timedelta
from typing import IO

from flask import current_app, request
from flask_smorest import Blueprint

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import hub, idempotent_write, media_type, now, principal, requires, terms
from network.api.gate import reads_raw_body, too_deep
from network.api.schemas import (
    ActionCreate,
    BatchResult,
    RedemptionCreate,
    RedemptionResult,
    ReversalResult,
    TransactionResult,
)
from network.earning import bonuses, credit, intake
from network.errors import BadRequest, Invalid, PaymentRequired, UnsupportedMediaType
from network.ops import metrics
from network.parties.registry import PartnerRef
from network.parties.roles import PARTNER_ADMIN, PARTNER_KEY
from network.spending import redemptions
from partners.adapters import Adapter, BatchAdapter, Payload
from partners.canonical import CanonicalTransactionSchema
from partners.errors import InvalidTransaction, UnreadablePayload
from partners.text import TooDeep
from partners.transactions import Payment, Sale, Transaction

blp = Blueprint("transactions", __name__, description="Earning, refunds, actions and redemptions")


def payload(partner: PartnerRef, adapter: Adapter) -> Payload:
    """The request as an adapter sees it; a media type it does not read is a 415."""
    found = media_type(adapter.content_types, f"The {adapter.name} adapter")
    headers = {name.lower(): value for name, value in request.headers.items()}
    return Payload(request.get_data(), found, headers, partner.timezone)


def count_sales(channel: str, transactions: list[Transaction], booked: list[dict]) -> None:
    """The figures of the sales among `transactions` that `booked` (their answers, in order) committed."""
    count = points = 0
    for transaction, answer in zip(transactions, booked):
        # A payment of an order the hub never saw placed books its sale: counted, as its answer is the sale's.
        if isinstance(transaction, (Sale, Payment)) and not {"duplicate", "ignored", "paid"} & answer.keys():
            count, points = count + 1, points + answer["points"]
    metrics.earned(channel, count, points)


def parse(adapter: Adapter, config: dict, body: Payload) -> list[Transaction]:
    try:
        return adapter.parse(body, config)
    except TooDeep:
        raise too_deep() from None
    except UnreadablePayload as exc:
        raise BadRequest(str(exc), code="unreadable_body") from None
    except InvalidTransaction as exc:
        raise Invalid(exc.message, exc.fields, code="invalid_transaction") from None


@blp.route("/transactions", methods=["POST"])
@reads_raw_body
@requires(PARTNER_KEY)
@writes
@blp.doc(
    requestBody={
        "description": "The partner's own payload, read by its adapter (JSON, CSV or XML); shown here: the canonical "
        "adapter's JSON. One transaction answers with its booking; a file of several with `{\"transactions\": [...]}`, "
        "all booked or none.",
        "required": True,
        "content": {"application/json": {"schema": CanonicalTransactionSchema}},
    }
)
@blp.response(201, TransactionResult)
@answers("unknown_card", "invalid_card", "card_blocked", "card_mismatch", "currency_mismatch", "refund_exceeds_sale", "unknown_order", "unmeasurable_refund", "invalid_transaction", "unreadable_body", "body_too_deep", "payload_too_large", "unsupported_media_type", "adapter_unavailable", "rules_unavailable", "bad_signature", "duplicate_order", "credit_limit_reached")
def post_transaction():
    """Book sales (they earn points) and refunds (they claw back their share) in the partner's format.

    A partner key only. The body is read by the partner's adapter; signed formats (Shopify, Square) check their
    signature first. An order id is booked once per partner and type: a resent sale is 409 `duplicate_order` (or,
    with the same Idempotency-Key, the first answer replayed).
    """
    partner = principal().partner
    adapter, config = hub().adapter(partner)
    body = payload(partner, adapter)
    if not getattr(adapter, "key_vouches", False):  # Square's orders are fetched from its API, which signs nothing
        intake.verify(adapter, config, body)
    transactions = parse(adapter, config, body)
    rules, policies = hub().ruleset(partner), terms()
    platform = bool(getattr(adapter, "signed", False))

    def work(session):
        booked = [intake.book_one(session, partner, rules, t, now=now(), terms=policies, platform=platform)
                  for t in transactions]
        return booked[0] if len(booked) == 1 else {"transactions": booked}

    return credit.telling_refusals(hub().db, partner, now, lambda: idempotent_write(
        work, status=_status, booked=lambda answer: count_sales(
            "transactions", transactions, answer["transactions"] if "transactions" in answer else [answer])),
        refused_in=lambda answer: answer.status_code == PaymentRequired.status and not answer.headers.get(
            "Idempotent-Replayed"))


def _status(answer: dict) -> int:
    """201 when something was booked; 200 when all was ignored (a platform's event that books nothing) or empty."""
    answers = answer["transactions"] if "transactions" in answer else [answer]
    return 201 if any("ignored" not in one for one in answers) else 200


@blp.route("/transactions/batch", methods=["POST"])
@reads_raw_body
@requires(PARTNER_KEY, PARTNER_ADMIN)
@blp.doc(
    requestBody={
        "description": "An end-of-day export (text/csv for the csv adapter), streamed: any size. Rows are booked in "
        "chunks as they arrive; a re-sent file books nothing twice (order ids count as duplicates).",
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}, "example": "order_id,type,card_number,occurred_at,currency,total\n"
                                 "A-1001,sale,7000000000000008,2026-03-14T10:30:00+01:00,EUR,12.50\n"}},
    }
)
@blp.response(200, BatchResult)
@answers("batch_not_supported", "unsupported_media_type", "unreadable_body", "body_too_deep", "payload_too_large", "adapter_unavailable", "rules_unavailable")
def post_batch():
    """Book a file of transactions: good rows post, bad rows are listed with their row number and reason.

    A partner key only, for adapters that read files (the csv adapter). Not run under an Idempotency-Key: re-sending
    a file books nothing twice, as its rows count as duplicates.
    """
    partner = principal().partner
    adapter, config = batch_adapter(partner)
    media_type(adapter.content_types, f"The {adapter.name} adapter")
    request.max_content_length = current_app.config["COALITION_MAX_BATCH_BYTES"]
    return import_batch(partner, adapter, config, request.stream).view()


def batch_adapter(partner: PartnerRef) -> tuple[BatchAdapter, dict]:
    """The partner's adapter if it reads batch files (415 `batch_not_supported` otherwise), and its settings."""
    adapter, config = hub().adapter(partner)
    if not isinstance(adapter, BatchAdapter):
        raise UnsupportedMediaType(f"The {adapter.name} adapter reads no batch files", code="batch_not_supported")
    return adapter, config


def import_batch(partner: PartnerRef, adapter: BatchAdapter, config: dict, stream: IO[bytes]) -> intake.BatchOutcome:
    """A partner's file booked a chunk at a time, each chunk's audit event by this request's caller (`g.principal`):
    the API's batch and the portal's upload run this one function."""
    try:
        rows = adapter.read_rows(stream, config, partner.timezone)
        outcome = intake.import_rows(hub().db, partner, hub().ruleset(partner), rows, clock=current_app.config["CLOCK"],
                                      terms=terms(), audit=audit_trail.for_batch())
    except TooDeep:
        raise too_deep() from None
    except UnreadablePayload as exc:
        raise BadRequest(str(exc), code="unreadable_body") from None
    metrics.earned("batch", outcome.sales, outcome.points_earned)
    return outcome


@blp.route("/actions", methods=["POST"])
@requires(PARTNER_KEY)
@writes
@blp.arguments(ActionCreate)
@blp.response(201, TransactionResult)
@answers("unknown_card", "invalid_card", "card_blocked", "duplicate_order", "unknown_action", "action_limit_reached", "rules_unavailable")
def post_action(args):
    """Reward a non-purchase action (a review, a social post) by the partner's `action` rule.

    A partner key only. The partner's `action` rule names the actions it rewards, their points and their daily
    limit; `reference` is the action's own id, booked once.
    """
    partner = principal().partner
    rules, days = hub().ruleset(partner), terms().lifetime
    return idempotent_write(
        lambda session: bonuses.record_action(session, partner, rules, now=now(), lifetime=days, **args),
        booked=lambda answer: metrics.earned("actions", 1, answer["points"]),
    )


@blp.route("/redemptions", methods=["POST"])
@requires(PARTNER_KEY)
@writes
@blp.arguments(RedemptionCreate, example={"card_number": "7000000000000008", "points": 100, "order_id": "B-2001"})
@blp.response(201, RedemptionResult)
@answers("unknown_card", "invalid_card", "card_blocked", "unknown_reward", "duplicate_order", "out_of_stock", "insufficient_points", "reward_limit_reached", "reward_retired", "no_points_rate")
def redeem(args):
    """Spend points at this partner: so many `points`, a reward by `sku`, or an `amount` at the partner's rate.

    Captured at once, or with `"capture": false` held (status authorized,
    counted against the available balance at once) until captured, voided,
    or expired at `expires_at`.
    """
    partner = principal().partner
    capture, seconds = args.pop("capture"), args.pop("hold_seconds", None)
    args["price"] = redemptions.Price(**{name: args.pop(name) for name in ("points", "sku", "quantity", "amount")
                                         if name in args})
    if capture:
        return idempotent_write(lambda session: redemptions.redeem(session, partner, now=now(), **args),
                                booked=lambda answer: metrics.redeemed("redemptions", answer["points"]))
    longest = current_app.config["COALITION_HOLD_MAX_SECONDS"]
    if seconds is not None and seconds > longest:
        raise Invalid("The hold is too long", {"hold_seconds": [f"must be at most {longest}"]})
    until = now() + timedelta(seconds=seconds or current_app.config["COALITION_HOLD_SECONDS"])
    return idempotent_write(lambda session: redemptions.hold(session, partner, now=now(), until=until, **args))


@blp.route("/redemptions/<int:redemption_id>/reversal", methods=["POST"])
@requires(PARTNER_KEY)
@writes
@blp.response(201, ReversalResult)
@answers("unknown_redemption", "already_reversed")
def reverse(redemption_id):
    """Cancel a redemption made by this partner; the points return to the lots they came from.

    A partner key only, for its own redemptions. The member gets the points back with their issuer and expiry, so
    settlement bills nobody for them.
    """
    partner = principal().partner
    return idempotent_write(lambda session: redemptions.reverse(session, partner, redemption_id, now=now()))
