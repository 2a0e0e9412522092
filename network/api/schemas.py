"""Request and response schemas; the OpenAPI document is generated from them."""

from __future__ import annotations

import zoneinfo

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from network.ledger.kinds import PartnerKind
from network.lifecycle.tiers import MAX_TIERS, ladder_errors
from partners.fields import CardNumber, Currency, DecimalString, Points
from partners.text import CONTROL


class Strict(Schema):
    class Meta:
        unknown = RAISE


def TimeZone(**kwargs):
    """An IANA time zone name; `format: iana-time-zone`, since the list is the host's tz database."""
    kwargs.setdefault("metadata", {}).update(format="iana-time-zone", example="Europe/Paris")
    return fields.String(validate=_timezone, **kwargs)


def _timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone such as Europe/Paris") from None


def PendingDays(**kwargs):
    return fields.Integer(
        strict=True, validate=validate.Range(min=0, max=365),
        metadata={"example": 14, "description": "return window: a sale's points stay pending this many days (0: available at once)"},
        **kwargs,
    )


class PartnerCreate(Strict):
    slug = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,39}$", error="must be 2-40 lowercase letters, digits or dashes"),
        metadata={"example": "brew-bar"},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "Brew Bar"})
    timezone = TimeZone(required=True)
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
    pending_days = PendingDays(load_default=0)
    kind = fields.String(load_default=PartnerKind.RETAILER, validate=validate.OneOf(list(PartnerKind)),
                         metadata={"description": "a charity receives donations (POST /v1/donations)"})
    points_per_unit = DecimalString(
        validate=validate.Range(min=0, min_inclusive=False, max=10**6), metadata={
            "example": "100", "description": "points per unit of its currency when a member pays an amount with points"})


class PartnerAmend(Strict):
    name = fields.String(validate=validate.Length(min=1, max=200))
    timezone = TimeZone()
    pending_days = PendingDays()


class ContractSet(Strict):
    issue_fee = DecimalString(required=True, metadata={"example": "0.004", "description": "money per point issued, owed to the network"})
    redeem_rate = DecimalString(required=True, metadata={"example": "0.008", "description": "money per point spent at this partner, received"})
    effective_from = fields.AwareDateTime(load_default=None, metadata={"description": "default: now"})
    funding = fields.String(validate=validate.OneOf(["prepaid", "credit", "none"]), metadata={
        "description": "prepaid: it issues against funds it sent; credit: up to `credit_limit` beyond them; none: "
                       "no control. Unsent: as it was. Each point issued draws its issue fee plus its expected "
                       "redemption value; past what may be drawn, its sales are refused (402 credit_limit_reached) or, with "
                       "over_limit pending, wait for funds"})
    credit_limit = DecimalString(metadata={"example": "5000.00", "description": "with funding credit: how far past its "
                                                                              "funds it may draw, in the settlement currency"})
    over_limit = fields.String(validate=validate.OneOf(["refuse", "pending"]), metadata={
        "description": "with funding prepaid or credit, what a sale past what may be drawn does (unsent: as it was, "
                       "at first refuse). refuse: 402 credit_limit_reached, nothing booked; pending: booked, its points "
                       "pending (the member sees them and cannot spend them, nothing drawn) until funds arrive (a "
                       "prepayment, the bank statement, a higher limit), which release the waiting sales oldest first, "
                       "each drawing as its earn would have, as far as the funds cover"})

    @validates_schema
    def _limit(self, data, **kwargs):
        if data.get("funding") == "credit" and data.get("credit_limit") is None:
            raise ValidationError("is required with funding credit", "credit_limit")
        if data.get("credit_limit") is not None and data.get("funding") != "credit":
            raise ValidationError("goes with funding credit only", "credit_limit")
        if data.get("credit_limit") is not None and data["credit_limit"] < 0:
            raise ValidationError("must not be negative", "credit_limit")
        if "over_limit" in data and data.get("funding") not in ("prepaid", "credit"):
            raise ValidationError("goes with funding prepaid or credit", "over_limit")


class ContractOut(Schema):
    effective_from = fields.DateTime()
    currency = fields.String()
    issue_fee = fields.String()
    redeem_rate = fields.String()


class ContractsOut(Schema):
    slug = fields.String()
    versions = fields.List(fields.Nested(ContractOut), metadata={"description": "oldest first"})
    funding = fields.Dict(metadata={"description": '{"funding": null} or {"funding", "credit_limit", "point_cost", '
                                                   '"over_limit"} '
                                                   '(what it drew: GET /v1/partners/<slug>/credit)'})


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
    pending_days = fields.Integer()
    kind = fields.String(metadata={"description": "retailer or charity"})
    points_per_unit = fields.String(allow_none=True, metadata={"description": "points per unit of its currency"})
    inbound_url = fields.String(allow_none=True, metadata={"description": "where a signed platform posts its webhooks: on COALITION_PUBLIC_URL, or the path alone"})
    inbound_topics = fields.List(fields.String(), metadata={"description": "the platform's webhook topics the adapter reads (subscribe these to inbound_url); empty when the format has no topics"})
    created_at = fields.DateTime()


class PartnerCreated(PartnerOut):
    api_key = fields.String(allow_none=True,
                            metadata={"description": "shown once; the hub keeps only its hash (null on a replay)"})
    api_key_shown = fields.String(metadata={"description": 'on a replay with the same Idempotency-Key: "once", '
                                                           "the key was in the first answer only"})


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


def BalanceHolder():
    """`member_id` beside a balance: a till that did not enrol the member reaches its history with it."""
    return fields.String(metadata={"description": "the member whose balance this is (a merged member's survivor): "
                                                  "its history is at /v1/members/{member_id}/history",
                                   "example": "8f14e45fceea167a5a36dedd4bea2543"})


class BalanceOut(Schema):
    available = fields.Integer()
    pending = fields.Integer()
    held = fields.Integer()


class ExpiringOut(Schema):
    points = fields.Integer()
    at = fields.DateTime(metadata={"description": "when these points expire unless spent (or, under activity_extends, "
                                                  "unless the member earns or redeems before)"})


class TierStanding(Schema):
    tier = fields.String(allow_none=True, metadata={"example": "Silver", "description": "null while no tiers are set"})
    tier_since = fields.DateTime(allow_none=True, metadata={"description": "when the member last moved tier"})
    qualifying_points = fields.Integer(allow_none=True, metadata={
        "description": "points earned from sales in the tier window; null while no tiers are set"})
    next_tier = fields.String(allow_none=True)
    points_to_next_tier = fields.Integer(allow_none=True, metadata={"description": "null at the top tier"})


class CardBalance(BalanceOut, TierStanding):
    card_number = fields.String()
    member_id = BalanceHolder()
    expiring = fields.Nested(ExpiringOut, allow_none=True, metadata={"description": "the next points to expire; null: none"})


class CardOut(Schema):
    number = fields.String()
    status = fields.String(metadata={"description": "active or blocked (a blocked card is refused at tills)"})
    created_at = fields.DateTime()
    blocked_at = fields.DateTime(allow_none=True)
    block_reason = fields.String(allow_none=True)


class MemberOut(TierStanding):
    member_id = fields.String()
    email = fields.String(allow_none=True, metadata={"description": "operator only; null when not given or erased"})
    name = fields.String(allow_none=True, metadata={"description": "operator only; null when not given or erased"})
    created_at = fields.DateTime()
    cards = fields.List(fields.Nested(CardOut))
    balance = fields.Nested(BalanceOut)
    expiring = fields.Nested(ExpiringOut, allow_none=True, metadata={"description": "the next points to expire; null: none"})


class AdjustmentCreate(Strict):
    points = fields.Integer(
        required=True, strict=True,
        validate=[validate.Range(min=-10**15, max=10**15, error="is too large"),
                  validate.NoneOf([0], error="must not be zero")],
        metadata={"example": 500, "description": "positive credits the member, negative takes points back", "not": {"enum": [0]}},
    )
    reason = fields.String(
        required=True, validate=validate.Length(min=1, max=500),
        metadata={"example": "Goodwill: coffee machine out of order", "description": "kept in the ledger"},
    )


class AdjustmentResult(Schema):
    adjustment_id = fields.Integer()
    points = fields.Integer()
    reason = fields.String()
    member_id = BalanceHolder()
    balance = fields.Nested(BalanceOut)


class Provenance(Schema):
    issuer = fields.String(metadata={"description": "slug of the partner whose points these were, or network"})
    points = fields.Integer()


class TransactionResult(Schema):
    journal_id = fields.Integer(allow_none=True, metadata={"description": "null when the sale earned no point"})
    points = fields.Integer(metadata={"description": "signed: positive for a sale, negative for a refund"})
    awards = fields.List(fields.Nested(AwardOut), metadata={"description": "the points by rule (negative for a refund)"})
    member_id = BalanceHolder()
    balance = fields.Nested(BalanceOut)
    uncollected_points = fields.Integer(metadata={"description": "refund only: points the balance could not cover"})
    awaiting_funds = fields.Boolean(metadata={"description": "true for a sale past its partner's limit under "
                                                             "over_limit pending: its points are pending until funds "
                                                             "arrive"})
    ignored = fields.Boolean(metadata={"description": "true (answered 200) for a platform's event that books nothing: "
                                                      "a shopper without a card, a refund of an order never booked"})
    reason = fields.String(metadata={"description": "why it was ignored"})


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


class StrictBoolean(fields.Boolean):
    """true or false, nothing else (marshmallow's Boolean takes "yes", 1 and "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class RedemptionCreate(Strict):
    card_number = CardNumber(required=True, metadata={"example": "7000000000000008"})
    points = Points(metadata={"description": "give exactly one of points, sku or amount"})
    sku = fields.String(validate=validate.Length(min=1, max=64),
                        metadata={"example": "FREE-COFFEE", "description": "a reward of this partner's catalogue"})
    quantity = fields.Integer(strict=True, validate=validate.Range(min=1, max=1000),
                              metadata={"description": "units of the reward; default 1"})
    amount = fields.String(validate=validate.Length(min=1, max=40), metadata={
        "example": "4.50", "description": "money in the partner's currency, paid with points at its points_per_unit"})
    order_id = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "B-2001"})
    capture = StrictBoolean(load_default=True, metadata={
        "description": "false places a hold, captured or voided later at /v1/redemptions/{id}/capture or /void"})
    hold_seconds = fields.Integer(strict=True, validate=validate.Range(min=1, max=10**9), metadata={
        "description": "with capture false: how long the hold lasts (default COALITION_HOLD_SECONDS)"})

    @validates_schema
    def _one_price(self, data, **kwargs):
        given = [name for name in ("points", "sku", "amount") if name in data]
        if len(given) != 1:
            message = "give exactly one of points, sku or amount"
            raise ValidationError({name: [message] for name in (given or ["points"])})
        if "quantity" in data and "sku" not in data:
            raise ValidationError({"quantity": ["only with sku"]})
        if "hold_seconds" in data and data["capture"]:
            raise ValidationError({"hold_seconds": ["only with capture false"]})


class RewardTaken(Schema):
    sku = fields.String()
    name = fields.String()
    quantity = fields.Integer()


class RedemptionResult(Schema):
    redemption_id = fields.Integer(metadata={"description": "for a hold: the id to capture or void"})
    points = fields.Integer()
    member_id = BalanceHolder()
    balance = fields.Nested(BalanceOut)
    provenance = fields.List(fields.Nested(Provenance))
    status = fields.String(metadata={"description": "holds only: authorized"})
    expires_at = fields.DateTime(metadata={"description": "holds only"})
    reward = fields.Nested(RewardTaken, metadata={"description": "with sku"})
    amount = fields.String(metadata={"description": "with amount: the money paid with points"})
    currency = fields.String()


class ReversalResult(Schema):
    reversal_id = fields.Integer()
    redemption_id = fields.Integer()
    points = fields.Integer()
    member_id = BalanceHolder()
    balance = fields.Nested(BalanceOut)
    provenance = fields.List(fields.Nested(Provenance))


class HistoryEntry(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "earn, refund, redemption, redemption_reversal, hold, hold_release"})
    partner = fields.String(allow_none=True)
    points = fields.Integer()
    reason = fields.String()
    order_id = fields.String(allow_none=True)
    reverses = fields.Integer(allow_none=True)
    booked_at = fields.DateTime()
    occurred_at = fields.DateTime(allow_none=True)
    provenance = fields.List(fields.Nested(Provenance))
    awards = fields.List(fields.Nested(AwardOut))


class ErrorDetail(Schema):
    code = fields.String()
    message = fields.String()
    details = fields.Dict()


class ErrorOut(Schema):
    error = fields.Nested(ErrorDetail)


class HoldCapture(Strict):
    points = Points(metadata={"description": "at most the points held; default all of them"})


class HoldResult(Schema):
    redemption_id = fields.Integer(metadata={"description": "the hold's id"})
    status = fields.String(metadata={"description": "captured or voided"})
    points = fields.Integer(metadata={"description": "captured (capture) or given back (void)"})
    held = fields.Integer()
    released = fields.Integer(metadata={"description": "points given back to the member"})
    capture_id = fields.Integer(metadata={"description": "the redemption entry a capture booked"})
    member_id = BalanceHolder()
    balance = fields.Nested(BalanceOut)
    provenance = fields.List(fields.Nested(Provenance))


class HoldOut(Schema):
    redemption_id = fields.Integer()
    status = fields.String(metadata={"description": "authorized, captured, voided or expired (by server time)"})
    order_id = fields.String()
    points = fields.Integer()
    captured = fields.Integer(allow_none=True)
    capture_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    released_at = fields.DateTime(allow_none=True)


class RewardCreate(Strict):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={"example": "FREE-COFFEE"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"example": "A free coffee"})
    points = Points(required=True)
    stock = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0, max=10**9),
                           metadata={"description": "units left; null: unlimited"})
    per_member_limit = fields.Integer(strict=True, load_default=None, allow_none=True,
                                      validate=validate.Range(min=1, max=10**6))


class RewardChange(Strict):
    name = fields.String(validate=validate.Length(min=1, max=200))
    points = Points()
    stock = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=10**9))
    per_member_limit = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=10**6))
    active = StrictBoolean(metadata={"description": "false retires the reward"})


class RewardOut(Schema):
    sku = fields.String()
    name = fields.String()
    points = fields.Integer()
    stock = fields.Integer(allow_none=True)
    per_member_limit = fields.Integer(allow_none=True)
    active = fields.Boolean()


class Catalogue(Schema):
    partner = fields.String()
    rewards = fields.List(fields.Nested(RewardOut))


class CatalogueQuery(Strict):
    retired = fields.Boolean(load_default=False, metadata={"description": "true lists retired rewards too"})


class PointsRateSet(Strict):
    points_per_unit = DecimalString(required=True, validate=validate.Range(min=0, min_inclusive=False, max=10**6),
                                    metadata={"example": "100"})


class DonationCreate(Strict):
    card_number = CardNumber(required=True)
    charity = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata={"example": "food-bank"})
    points = Points(required=True)


class DonationResult(Schema):
    donation_id = fields.Integer()
    charity = fields.String()
    points = fields.Integer()
    member_id = BalanceHolder()
    balance = fields.Nested(BalanceOut)
    provenance = fields.List(fields.Nested(Provenance))


class CardBlock(Strict):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200),
                           metadata={"example": "lost"})


class CardIssue(Strict):
    replaces = CardNumber(load_default=None, allow_none=True,
                          metadata={"description": "a card of this member to block in the same transaction"})


class CardIssued(Schema):
    member_id = fields.String()
    card_number = fields.String()
    replaces = fields.String(allow_none=True)
    cards = fields.List(fields.Nested(CardOut))


class MergeCreate(Strict):
    member_id = fields.String(required=True, validate=validate.Length(min=1, max=32),
                              metadata={"description": "the member merged into this one (it is then closed)",
                                        "example": "5f0c9a3e2b7d4c1e8a6f0b9d3c2e1a47"})


class MergeResult(Schema):
    member_id = fields.String()
    merged = fields.String()
    moved = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"example": {"available": 120, "pending": 0}})
    lots = fields.Integer(metadata={"description": "open lots moved, provenance and expiry kept"})
    cards = fields.List(fields.String())
    balance = fields.Nested(BalanceOut)


class MemberDeleted(Schema):
    member_id = fields.String()
    deleted_at = fields.DateTime()
    forfeited = fields.Integer(metadata={"description": "points forfeited as breakage of their issuers"})
    cards_blocked = fields.List(fields.String())
    balance = fields.Nested(BalanceOut)


#: 1-40 characters, not starting or ending with a space, none of them a control character (the gate's).
TIER_NAME = r"^[^\s" + CONTROL.pattern[1:-1] + r"]([^\n" + CONTROL.pattern[1:-1] + r"]{0,38}[^\s" + CONTROL.pattern[1:-1] + r"])?$"


class TierIn(Strict):
    name = fields.String(required=True, validate=validate.Regexp(TIER_NAME, error="must be 1-40 characters, "
                         "not starting or ending with a space"), metadata={"example": "Silver"})
    threshold = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**15),
                               metadata={"example": 1000, "description": "qualifying points that reach this tier"})
    multiplier = DecimalString(required=True, validate=validate.Range(min=1, max=100), metadata={
        "example": "1.25", "description": "what a sale earns, times"})


class TiersSet(Strict):
    tiers = fields.List(fields.Nested(TierIn), required=True, validate=validate.Length(min=1, max=MAX_TIERS),
                        metadata={"description": "lowest first; the first threshold is 0; thresholds and multipliers rise",
                                  "example": [{"name": "Member", "threshold": 0, "multiplier": "1"},
                                              {"name": "Silver", "threshold": 1000, "multiplier": "1.25"}]})

    @validates_schema
    def _ladder(self, data, **kwargs):
        errors = ladder_errors(data["tiers"])
        if errors:
            raise ValidationError(errors)


class TierOut(Schema):
    name = fields.String()
    threshold = fields.Integer()
    multiplier = fields.String(metadata={"example": "1.25"})


class TiersOut(Schema):
    tiers = fields.List(fields.Nested(TierOut))
    window = fields.String(metadata={"description": "rolling_365 or loyalty_year (COALITION_TIER_WINDOW)"})
    loyalty_year_start = fields.String(metadata={"example": "01-01"})


class WebhookSet(Strict):
    url = fields.String(required=True, metadata={"example": "https://hooks.brew-bar.example/coalition"})
    secret = fields.String(required=True, load_only=True,
                           metadata={"description": "16 to 200 characters; signs every delivery; never shown back",
                                     "example": "a-long-shared-secret-0042"})


class WebhookOut(Schema):
    slug = fields.String()
    url = fields.String(allow_none=True, metadata={"description": "null: no webhook"})
    secret_set = fields.Boolean(metadata={"description": "the secret itself is never shown"})
    updated_at = fields.DateTime(allow_none=True)
    failures_in_a_row = fields.Integer(metadata={"description": "failed attempts since the last answered one"})
    paused_until = fields.DateTime(allow_none=True, metadata={
        "description": "set while the circuit breaker holds deliveries back after failures in a row: nothing is sent "
                       "until then, then one probe; saving the webhook again resumes it at once"})


class AttemptOut(Schema):
    at = fields.DateTime()
    status_code = fields.Integer(allow_none=True, metadata={"description": "the HTTP status, or null: no answer"})
    error = fields.String(allow_none=True, metadata={"example": "timed out after 5 s"})
    duration_ms = fields.Integer(allow_none=True, metadata={
        "description": "null while the attempt is in flight, or when its deliverer stopped before it ended"})


class DeliveryOut(Schema):
    id = fields.Integer()
    event_id = fields.String()
    type = fields.String(metadata={"example": "points_earned"})
    created_at = fields.DateTime()
    status = fields.String(metadata={"description": "pending, sending (an attempt in flight), delivered, failed or "
                                                    "cancelled"})
    attempts = fields.List(fields.Nested(AttemptOut))
    next_attempt_at = fields.DateTime(allow_none=True, metadata={
        "description": "when pending, the next try; when sending, when it came due"})
    delivered_at = fields.DateTime(allow_none=True)
