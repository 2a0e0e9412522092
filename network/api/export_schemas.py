"""The member's data export (GET /v1/members/<id>/export): the schemas of the one document an access request gets.

Apart from the other schemas because it mirrors the tables, not the API's
other answers: a change to what is stored shows here first.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from network.api.schemas import AwardOut, BalanceOut, CardOut


class ExportProfile(Schema):
    member_id = fields.String()
    email = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    enrolled_by = fields.String(allow_none=True)
    last_activity_at = fields.DateTime(allow_none=True)
    merged_into = fields.String(allow_none=True)
    deleted_at = fields.DateTime(allow_none=True)


class ExportLot(Schema):
    id = fields.Integer()
    account = fields.String()
    issuer = fields.String()
    points = fields.Integer()
    remaining = fields.Integer()
    earned_at = fields.DateTime()
    available_at = fields.DateTime()
    expires_at = fields.DateTime()
    merged_from = fields.Integer(allow_none=True)


class ExportPosting(Schema):
    account = fields.String()
    amount = fields.Integer()


class ExportEntry(Schema):
    id = fields.Integer()
    kind = fields.String()
    partner = fields.String(allow_none=True)
    reason = fields.String()
    order = fields.Integer(allow_none=True)
    reverses = fields.Integer(allow_none=True)
    occurred_at = fields.DateTime(allow_none=True)
    booked_at = fields.DateTime()
    postings = fields.List(fields.Nested(ExportPosting))
    awards = fields.List(fields.Nested(AwardOut))


class ExportOrder(Schema):
    partner = fields.String()
    kind = fields.String()
    order_id = fields.String()
    original_order_id = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    total_minor = fields.Integer(allow_none=True)
    points = fields.Integer()
    occurred_at = fields.DateTime(allow_none=True)
    booked_at = fields.DateTime()


class ExportReferral(Schema):
    role = fields.String()
    other_member_id = fields.String()
    partner = fields.String()
    referrer_points = fields.Integer()
    referred_points = fields.Integer()
    created_at = fields.DateTime()
    paid_entry_id = fields.Integer(allow_none=True)


class MemberExport(Schema):
    profile = fields.Nested(ExportProfile)
    cards = fields.List(fields.Nested(CardOut))
    balance = fields.Nested(BalanceOut)
    lots = fields.List(fields.Nested(ExportLot))
    entries = fields.List(fields.Nested(ExportEntry))
    orders = fields.List(fields.Nested(ExportOrder))
    referrals = fields.List(fields.Nested(ExportReferral))
