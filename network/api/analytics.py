"""The programme's analytics: for finance and the operator over the network, for a partner over its own members.

Reports may lag the ledger, so they read on the replica when there is one.
Each report also comes as CSV (`.csv`), a line per figure, for a
spreadsheet.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from analytics.cohorts import cohorts
from analytics.members import DORMANT_DAYS
from analytics.programme import assemble, parts
from analytics.returns import RETURN_DAYS
from analytics.window import Window
from network.api.answers import answers
from network.api.common import acting_for, csv_file, lagging_read, lagging_reads, requires
from network.api.paging import QUERY
from network.api.schemas import Strict
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, FINANCE, PARTNER_ROLES
from settlement.liability import liability, parse_breakage

blp = Blueprint("analytics", __name__, description="The programme's analytics")

#: The longest span one report covers: ten years of days.
MAX_DAYS = 3660
#: The days a report may name: from the year 2000 to the last day whose end is still a date.
DAYS = validate.Range(min=date(2000, 1, 1), max=date(9999, 12, 30), error="must be a day from 2000-01-01 to 9999-12-30")


class Span(Strict):
    first = fields.Date(required=True, data_key="from", validate=DAYS, metadata={"description": "the first day (UTC), included",
                                                                    "example": "2026-11-01"})
    last = fields.Date(required=True, data_key="to", validate=DAYS, metadata={"description": "the last day (UTC), included",
                                                                 "example": "2026-11-30"})
    partner = fields.String(validate=validate.Length(max=64), metadata={
        "description": "one partner's members and points; a partner's caller may name only itself (and need not)"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        first, last = data.get("first"), data.get("last")
        if first and last and last < first:
            raise ValidationError("must be on or after `from`", "to")
        if first and last and (last - first) > timedelta(days=MAX_DAYS):
            raise ValidationError(f"must be at most {MAX_DAYS} days after `from`", "to")


class ProgrammeQuery(Span):
    dormant_days = fields.Integer(load_default=DORMANT_DAYS, validate=validate.Range(1, 3660), metadata={
        "description": "days without buying or spending after which a member is dormant (with points) or lapsed"})
    return_days = fields.Integer(load_default=RETURN_DAYS, validate=validate.Range(1, 366), metadata={
        "description": "days after a reward (or a purchase) in which buying again counts as coming back"})


class Programme(Schema):
    period = fields.Dict(metadata={"description": '{"from", "to"}: days, both included'})
    partner = fields.String(allow_none=True)
    members = fields.Dict(metadata={"description": '{"enrolled", "active", "dormant", "lapsed", "dormant_days"}'})
    points = fields.Dict(metadata={"description": '{"issued", "redeemed", "expired", "outstanding", '
                                                  '"spent_elsewhere_share", "average_days_to_spend" (from earning a '
                                                  'point to spending it, one decimal)} (a partner\'s: of the points it issued, '
                                                  'and "spent_here": spent at its tills)'})
    redemption_rate = fields.String(allow_none=True, metadata={"description": "redeemed / issued, 4 places"})
    return_after_reward = fields.Dict(metadata={"description": '{"days", "redeemers", "others"}: each {"members", '
                                                               '"returned", "share"}'})


class Cohorts(Schema):
    period = fields.Dict()
    partner = fields.String(allow_none=True)
    cohorts = fields.List(fields.Dict(), metadata={"description": '{"month", "members", "retention": [{"months_since", '
                                                                  '"active", "share"}]}'})


class LiabilityQuery(Strict):
    as_of = fields.Date(required=True, validate=DAYS, metadata={"description": "the day valued (UTC): the liability at its end",
                                                 "example": "2026-11-30"})
    first = fields.Date(data_key="from", validate=DAYS, metadata={"description": "the roll-forward's first day (UTC); default the "
                                                                  "first of as_of's month", "example": "2026-11-01"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        first, as_of = data.get("first"), data.get("as_of")
        if first and as_of and not timedelta(0) <= as_of - first <= timedelta(days=MAX_DAYS):
            raise ValidationError(f"must be on or before `as_of`, at most {MAX_DAYS} days before it", "from")


class Liability(Schema):
    period = fields.Dict(metadata={"description": '{"from", "to"}: the roll-forward\'s days, both included'})
    currency = fields.String()
    outstanding = fields.Integer(metadata={"description": "points members hold at the end of as_of"})
    deferred_revenue = fields.String(metadata={"description": "outstanding x value x (1 - breakage), summed by issuer"})
    roll_forward = fields.Dict(metadata={"description": '{"points": {"opening", "issued", "redeemed", "expired", '
                                                        '"closing", "unexplained"}, "money": {"opening", "issued", '
                                                        '"redeemed", "expired", "change_of_estimate", "closing"}}'})
    issuers = fields.List(fields.Dict(), metadata={"description": '{"issuer", "outstanding", "value_per_point", '
                                                                  '"value_basis", "breakage", "breakage_basis", '
                                                                  '"deferred_revenue", "roll_forward"}'})


def scope(args: dict):
    """(window, (partner id, slug) or None): a partner's caller always reads its own partner."""
    slug = acting_for(args.get("partner"), "A partner reads only its own analytics", required=False)
    return Window.of_days(args["first"], args["last"]), slug


def _programme(args: dict) -> dict:
    window, slug = scope(args)
    found = lagging_read(lambda session: None if slug is None else get_partner(session, slug))
    partner = None if found is None else (found.id, found.slug)
    works = parts(window, partner, dormant_days=args["dormant_days"], return_days=args["return_days"])
    return assemble(window, partner, lagging_reads(works))


def _cohorts(args: dict) -> dict:
    window, slug = scope(args)

    def work(session):
        partner = None if slug is None else get_partner(session, slug)
        return {"period": window.view(), "partner": slug,
                "cohorts": cohorts(session, window, None if partner is None else partner.id)}

    return lagging_read(work)


@blp.route("/analytics/programme", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.arguments(ProgrammeQuery, **QUERY)
@blp.response(200, Programme)
@answers("unknown_partner", "wrong_partner")
def get_programme(args):
    """Members (enrolled, active, dormant, lapsed), points (issued, redeemed, expired, outstanding), the redemption rate
    and the return after a reward, for the days `from` to `to`.

    Points are the settlement figures of the span (a closed month shows its statement's). With `partner`: its members
    (enrolled by it, or who bought or spent there) and the points it issued, wherever spent.
    """
    return _programme(args)


@blp.route("/analytics/programme.csv", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.arguments(ProgrammeQuery, **QUERY)
@blp.response(200, content_type="text/csv", description="columns section,figure,value")
@answers("unknown_partner", "wrong_partner")
def get_programme_csv(args):
    """The programme report as CSV: a line per figure."""
    report = _programme(args)
    rows = [["period", name, value] for name, value in report["period"].items()]
    rows += [["partner", "slug", report["partner"] or ""]]
    rows += [["members", name, value] for name, value in report["members"].items()]
    rows += [["points", name, "" if value is None else value] for name, value in report["points"].items()]
    rows += [["points", "redemption_rate", report["redemption_rate"] or ""]]
    returns = report["return_after_reward"]
    rows += [["return_after_reward", "days", returns["days"]]]
    rows += [["return_after_reward", f"{group}_{name}", "" if value is None else value]
             for group in ("redeemers", "others") for name, value in returns[group].items()]
    return _csv("programme", ["section", "figure", "value"], rows)


@blp.route("/analytics/cohorts", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.arguments(Span, **QUERY)
@blp.response(200, Cohorts)
@answers("unknown_partner", "wrong_partner")
def get_cohorts(args):
    """Members by month of enrolment in the span, and the share of each who bought or spent in each month since.

    With `partner`: the members it enrolled (active at any partner).
    """
    return _cohorts(args)


@blp.route("/analytics/cohorts.csv", methods=["GET"])
@requires(ADMIN, FINANCE, PARTNER_ROLES)
@blp.arguments(Span, **QUERY)
@blp.response(200, content_type="text/csv", description="columns cohort,members,months_since,active,share")
@answers("unknown_partner", "wrong_partner")
def get_cohorts_csv(args):
    """The cohorts as CSV: a line per cohort and month since enrolment."""
    rows = [[c["month"], c["members"], r["months_since"], r["active"], r["share"] or ""]
            for c in _cohorts(args)["cohorts"] for r in c["retention"]]
    return _csv("cohorts", ["cohort", "members", "months_since", "active", "share"], rows)


@blp.route("/analytics/liability", methods=["GET"])
@requires(ADMIN, FINANCE)
@blp.arguments(LiabilityQuery, **QUERY)
@blp.response(200, Liability)
@answers()
def get_liability(args):
    """The points liability at the end of `as_of`, per issuer and for the network, with the roll-forward from `from`.

    Each issuer's point is valued at the redeemers' rates in force, weighted by where its points were spent in the
    last year, less the expected breakage (estimated from points whose life ended, or COALITION_EXPECTED_BREAKAGE).
    """
    as_of = args["as_of"]
    window = Window.of_days(args.get("first") or as_of.replace(day=1), as_of)
    config = current_app.config
    override = parse_breakage(config["COALITION_EXPECTED_BREAKAGE"])
    return lagging_read(lambda session: {"period": window.view(), **liability(
        session, window.start, window.end, config["COALITION_SETTLEMENT_CURRENCY"], override)})


def _csv(name: str, header: list[str], rows: list[list]) -> Response:
    return csv_file(f"{name}.csv", header, rows)
