"""Request and response schemas; the OpenAPI document is generated from them."""

from __future__ import annotations

import zoneinfo

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from partners.fields import CardNumber, Currency, DecimalString, Points


class Strict(Schema):
    class Meta:
        unknown = RAISE


def _timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone such as Europe/Paris") from None


class PartnerCreate(Strict):
    slug = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,39}$", error="must be 2-40 lowercase letters, digits or dashes"),
        metadata={"example": "brew-bar"},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Brew Bar"})
    timezone = fields.String(required=True, validate=_timezone, metadata={"example": "Europe/Paris"})
    currency = Currency(required=True, metadata={"example": "EUR"})
    adapter = fields.String(load_default="canonical", metadata={"example": "canonical"})
    adapter_config = fields.Dict(
        load_default=dict, metadata={"description": "the adapter's settings, validated by its own schema"}
    )
    earn_rate = DecimalString(
        validate=validate.Range(max=1000, error="must be at most 1000 points per unit"),
        metadata={"example": "1", "description": "shorthand for rules [{\"rule\": \"base_rate\", \"rate\": ...}]; default 1"},
    )
    rules = fields.List(fields.Dict(), metadata={"description": "earning rules; see PUT /v1/partners/{slug}/rules"})


class ContractSet(Strict):
    issue_fee = DecimalString(required=True, metadata={"example": "0.004", "description": "money per point issued, owed to the network"})
    redeem_rate = DecimalString(required=True, metadata={"example": "0.008", "description": "money per point spent at this partner, received"})
    effective_from = fields.AwareDateTime(load_default=None, metadata={"description": "default: now"})


class ContractOut(Schema):
    effective_from = fields.DateTime()
    currency = fields.String()
    issue_fee = fields.String()
    redeem_rate = fields.String()


class ContractsOut(Schema):
    slug = fields.String()
    versions = fields.List(fields.Nested(ContractOut), metadata={"description": "oldest first"})


class AdapterSet(Strict):
    adapter = fields.String(required=True, metadata={"example": "shopify"})
    adapter_config = fields.Dict(load_default=dict, metadata={"example": {"webhook_secret": "whsec..."}})


class PartnerOut(Schema):
    slug = fields.String()
    name = fields.String()
    timezone = fields.String()
    currency = fields.String()
    adapter = fields.String()
    adapter_config = fields.Dict(metadata={"description": "secrets (keys named *secret* or *key*) are masked"})
    rules = fields.List(fields.Dict())
    inbound_url = fields.String(allow_none=True, metadata={"description": "where a signed platform posts its webhooks"})
    created_at = fields.DateTime()


class PartnerCreated(PartnerOut):
    api_key = fields.String(metadata={"description": "shown once; the hub keeps only its hash"})


class MemberCreate(Strict):
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=320))
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    referred_by = CardNumber(load_default=None, allow_none=True, metadata={"description": "the referring member's card"})


class AwardOut(Schema):
    rule = fields.String(metadata={"example": "base_rate"})
    points = fields.Integer()
    detail = fields.String(metadata={"example": "1 point per EUR"})


class MemberCreated(Schema):
    member_id = fields.String()
    card_number = fields.String()
    welcome_bonus = fields.Integer(metadata={"description": "points of the enrolling partner's welcome bonus"})
    referral = fields.Dict(metadata={"description": "the referral promised, paid after the first sale"})
    balance = fields.Nested(lambda: BalanceOut())


class BalanceOut(Schema):
    available = fields.Integer()
    pending = fields.Integer()
    held = fields.Integer()


class CardBalance(BalanceOut):
    card_number = fields.String()


class CardOut(Schema):
    number = fields.String()
    status = fields.String()


class MemberOut(Schema):
    member_id = fields.String()
    email = fields.String(metadata={"description": "operator only"})
    name = fields.String(metadata={"description": "operator only"})
    created_at = fields.DateTime()
    cards = fields.List(fields.Nested(CardOut))
    balance = fields.Nested(BalanceOut)


class AdjustmentCreate(Strict):
    points = fields.Integer(
        required=True, strict=True,
        validate=[validate.Range(min=-10**15, max=10**15, error="is too large"),
                  validate.NoneOf([0], error="must not be zero")],
        metadata={"example": 500, "description": "positive credits the member, negative takes points back"},
    )
    reason = fields.String(
        required=True, validate=validate.Length(min=1, max=500),
        metadata={"example": "Goodwill: coffee machine out of order", "description": "kept in the ledger"},
    )


class AdjustmentResult(Schema):
    adjustment_id = fields.Integer()
    points = fields.Integer()
    reason = fields.String()
    balance = fields.Nested(BalanceOut)


class Provenance(Schema):
    issuer = fields.String(metadata={"description": "slug of the partner whose points these were, or network"})
    points = fields.Integer()


class TransactionResult(Schema):
    journal_id = fields.Integer(allow_none=True, metadata={"description": "null when the sale earned no point"})
    points = fields.Integer(metadata={"description": "signed: positive for a sale, negative for a refund"})
    awards = fields.List(fields.Nested(AwardOut), metadata={"description": "the points by rule (negative for a refund)"})
    balance = fields.Nested(BalanceOut)
    uncollected_points = fields.Integer(metadata={"description": "refund only: points the balance could not cover"})


class BatchRejection(Schema):
    row = fields.Integer(metadata={"description": "1 is the first data row, after the header"})
    code = fields.String()
    message = fields.String()
    errors = fields.Dict()


class BatchResult(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.List(fields.Nested(BatchRejection), metadata={"description": "the first 1,000 rejected rows"})
    rejected_total = fields.Integer()


class ActionCreate(Strict):
    card_number = CardNumber(required=True, metadata={"example": "7000000000000008"})
    action = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "review"})
    reference = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "review-8812"})


class RedemptionCreate(Strict):
    card_number = CardNumber(required=True, metadata={"example": "7000000000000008"})
    points = Points(required=True)
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "B-2001"})


class RedemptionResult(Schema):
    redemption_id = fields.Integer()
    points = fields.Integer()
    balance = fields.Nested(BalanceOut)
    provenance = fields.List(fields.Nested(Provenance))


class ReversalResult(Schema):
    reversal_id = fields.Integer()
    redemption_id = fields.Integer()
    points = fields.Integer()
    balance = fields.Nested(BalanceOut)
    provenance = fields.List(fields.Nested(Provenance))


class HistoryQuery(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1))


class HistoryEntry(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "earn, refund, redemption, redemption_reversal"})
    partner = fields.String(allow_none=True)
    points = fields.Integer()
    reason = fields.String()
    order_id = fields.String(allow_none=True)
    reverses = fields.Integer(allow_none=True)
    booked_at = fields.DateTime()
    occurred_at = fields.DateTime(allow_none=True)
    provenance = fields.List(fields.Nested(Provenance))
    awards = fields.List(fields.Nested(AwardOut))


class HistoryPage(Schema):
    member_id = fields.String()
    entries = fields.List(fields.Nested(HistoryEntry))
    next_before = fields.Integer(allow_none=True, metadata={"description": "pass as ?before= for the next page"})


class ErrorDetail(Schema):
    code = fields.String()
    message = fields.String()
    details = fields.Dict()


class ErrorOut(Schema):
    error = fields.Nested(ErrorDetail)


class WebhookSet(Strict):
    url = fields.String(required=True, metadata={"example": "https://hooks.brew-bar.example/coalition"})
    secret = fields.String(required=True, load_only=True,
                           metadata={"description": "16 to 200 characters; signs every delivery; never shown back"})


class WebhookOut(Schema):
    slug = fields.String()
    url = fields.String(allow_none=True, metadata={"description": "null: no webhook"})
    secret_set = fields.Boolean(metadata={"description": "the secret itself is never shown"})
    updated_at = fields.DateTime(allow_none=True)


class DeliveriesQuery(Strict):
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "delivered", "failed", "cancelled"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**63 - 1))


class AttemptOut(Schema):
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "the HTTP status, or null: no answer"})
    error = fields.String(allow_none=True, metadata={"example": "timed out after 5 s"})
    duration_ms = fields.Integer()


class DeliveryOut(Schema):
    id = fields.Integer()
    event_id = fields.String()
    type = fields.String(metadata={"example": "points_earned"})
    created_at = fields.DateTime()
    status = fields.String(metadata={"description": "pending, delivered, failed or cancelled"})
    attempts = fields.List(fields.Nested(AttemptOut))
    next_attempt_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class DeliveriesPage(Schema):
    deliveries = fields.List(fields.Nested(DeliveryOut), metadata={"description": "newest first"})
    next_before = fields.Integer(allow_none=True, metadata={"description": "pass as ?before= for the next page"})
