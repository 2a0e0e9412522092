"""Campaigns before launch: how many members an audience holds today.

A campaign's rule (PUT /v1/partners/<slug>/rules) may name an audience
(partners.audience); a partner's marketer asks first how many members it
would reach, with the same audience the rule would carry, read on the
partner's own clock.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from network.api.answers import answers
from network.api.common import lagging_read, now, only_itself, requires
from network.api.schemas import Strict
from network.earning.audiences import preview
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, PARTNER_ROLES
from partners import audience

blp = Blueprint("campaigns", __name__, description="Campaigns: who a campaign's rule is for")


class PreviewIn(Strict):
    audience = fields.Nested(audience.AudienceSchema, required=True, metadata={
        "description": "as on a rule: any of tiers, enrolled_since, enrolled_before, dormant_days",
        "example": {"tiers": ["Gold"], "dormant_days": 60}})


class PreviewOut(Schema):
    partner = fields.String()
    audience = fields.Dict(metadata={"description": "the audience as the hub read it"})
    members = fields.Integer(metadata={"description": "members in it now (merged-away and erased members aside)"})


@blp.route("/partners/<slug>/audience-preview", methods=["POST"])
@requires(ADMIN, PARTNER_ROLES)
@blp.arguments(PreviewIn)
@blp.response(200, PreviewOut)
@answers("unknown_partner", "wrong_partner")
def post_preview(args, slug):
    """How many members an audience holds today: what a campaign's rule with it would reach if it started now.

    Nothing is written. Dates are the partner's: `enrolled_since` from its midnight, `enrolled_before` up to it.
    """
    only_itself(slug, "A partner previews only its own campaigns")
    found, at = audience.of(args["audience"]), now()

    def work(session):
        partner = get_partner(session, slug)
        return {"partner": slug, "audience": found.view(), "members": preview(session, found, partner.timezone, at)}

    return lagging_read(work)
