"""What members are worth and whether the programme pays: a member's value and prediction, averages, the return.

Split from `network.api.analytics` (the programme's counts) because these
answer in money. They read on the replica when there is one.
"""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from analytics.lifetime import GROUPINGS, averages, member_value
from analytics.returns_on_points import METHOD as UPLIFT_METHOD
from analytics.returns_on_points import returns
from analytics.value import HORIZON_DAYS, METHOD, model_views, predicted
from analytics.window import Window
from network.api.analytics import DAYS, Span, scope
from network.api.answers import answers
from network.api.common import lagging_read, now, requires
from network.api.paging import QUERY
from network.api.schemas import Strict
from network.members.cards import get_member
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, FINANCE, PARTNER_ROLES

blp = Blueprint("value", __name__, description="What members are worth, and the return on the programme")


class MemberValueQuery(Strict):
    horizon_days = fields.Integer(load_default=HORIZON_DAYS, validate=validate.Range(1, 3660), metadata={
        "description": "the days ahead the predicted value covers"})


class MemberValue(Schema):
    member_id = fields.String()
    enrolled_at = fields.String()
    purchases = fields.Integer()
    first_purchase = fields.String(allow_none=True)
    last_purchase = fields.String(allow_none=True)
    spend = fields.List(fields.Dict(), metadata={"description": '{"currency", "amount"}: sales less refunds'})
    points = fields.Dict(metadata={"description": '{"earned", "bonus", "redeemed", "expired", "other", "balance"}'})
    predicted = fields.List(fields.Dict(), metadata={"description": (
        'per currency with a fitted model: {"currency", "horizon_days", "purchases" (expected, 2 places), "alive" '
        '(the probability the member still buys, 4 places), "mean_purchase", "value", "model": {"id", "as_of", '
        '"method"}}; empty until `coalition analytics fit` has run, or for a member who never bought')})


class ValueModels(Schema):
    method = fields.String()
    models = fields.List(fields.Dict(), metadata={"description": '{"id", "currency", "as_of", "fitted_at", "members", '
                                                                 '"repeaters", "frequency": {"r", "alpha", "a", "b"}, '
                                                                 '"spend": {"p", "q", "gamma"} or null, "method"}'})


class LifetimeQuery(Strict):
    as_of = fields.Date(required=True, validate=DAYS, metadata={"description": "so far: up to the end of this day (UTC)",
                                                                "example": "2026-11-30"})
    by = fields.String(required=True, validate=validate.OneOf(GROUPINGS), metadata={
        "description": "the partner that enrolled the member, the member's tier, or the month it enrolled (cohort)"})


class Lifetime(Schema):
    as_of = fields.String()
    by = fields.String()
    groups = fields.List(fields.Dict(), metadata={"description": '{"group", "members", "spend": [{"currency", "total", '
                                                                 '"per_member"}], "points": {"net_earned", '
                                                                 '"per_member"}}'})


class Returns(Schema):
    period = fields.Dict()
    currency = fields.String(metadata={"description": "the settlement currency the points' cost is in"})
    method = fields.String(metadata={"description": "how incremental revenue is estimated"})
    partners = fields.List(fields.Dict(), metadata={"description": (
        '{"partner", "revenue": [{"currency", "amount"}], "points_issued", "cost": {"currency", "issue_fees", '
        '"owed_for_points_spent_elsewhere", "received_for_points_spent_here", "net"}, "cost_share_of_revenue", '
        '"incremental": {"members", "before", "after", "incremental", "method"}}')})


@blp.route("/analytics/members/<member_id>", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.arguments(MemberValueQuery, **QUERY)
@blp.response(200, MemberValue)
@answers("unknown_member", "member_deleted", "member_merged")
def get_member_value(args, member_id):
    """One member's value so far (purchases, spend by currency, points by what moved them) and the value predicted.

    The prediction reads the latest fit of `coalition analytics fit` in each currency and the member's own purchases.
    """
    at = now()

    def work(session):
        member = get_member(session, member_id)
        return {**member_value(session, member), "predicted": predicted(session, member.id, at, args["horizon_days"])}

    return lagging_read(work)


@blp.route("/analytics/value-models", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.response(200, ValueModels)
@answers()
def get_value_models():
    """The latest fit in each currency behind members' predicted value, with its parameters and method."""
    return lagging_read(lambda session: {
        "method": METHOD, "models": model_views(session)})


@blp.route("/analytics/lifetime", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.arguments(LifetimeQuery, **QUERY)
@blp.response(200, Lifetime)
@answers()
def get_lifetime(args):
    """Members' spend and net points so far, in total and per member, by enrolling partner, tier or cohort."""
    until = Window.of_days(args["as_of"], args["as_of"]).end
    return lagging_read(lambda session: {"as_of": args["as_of"].isoformat(), "by": args["by"],
                                         "groups": averages(session, until, args["by"])})


@blp.route("/analytics/returns", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.arguments(Span, **QUERY)
@blp.response(200, Returns)
@answers("unknown_partner", "wrong_partner")
def get_returns(args):
    """Per partner: members' revenue at its tills, what the points cost it under the contracts, and the uplift.

    The cost is the span's settlement figures (fees, what it owes for its points spent elsewhere, less what it is owed
    for honouring others'). A partner's caller reads its own line.
    """
    window, slug = scope(args)
    currency, at = current_app.config["COALITION_SETTLEMENT_CURRENCY"], now()

    def work(session):
        partner_id = None if slug is None else get_partner(session, slug).id
        return {"period": window.view(), "currency": currency, "method": UPLIFT_METHOD,
                "partners": returns(session, window, currency, at, partner_id)}

    return lagging_read(work)
