"""Partners: created by the operator, each readable by itself and the operator."""

from __future__ import annotations

from flask_smorest import Blueprint

from network.api.common import hub, idempotent_write, now, principal, read, requires
from network.api.schemas import ErrorOut, PartnerCreate, PartnerCreated, PartnerOut
from network.auth import OPERATOR, PARTNER
from network.errors import Forbidden, Invalid
from network.registry import NewPartner, create_partner, get_partner

blp = Blueprint("partners", __name__, description="Partner retailers")


def _view(partner) -> dict:
    return {
        "slug": partner.slug,
        "name": partner.name,
        "timezone": partner.timezone,
        "currency": partner.currency,
        "adapter": partner.adapter,
        "earn_rate": str(partner.earn_rate),
        "created_at": partner.created_at,
    }


@blp.route("/partners", methods=["POST"])
@requires(OPERATOR)
@blp.arguments(PartnerCreate)
@blp.response(201, PartnerCreated)
@blp.alt_response(409, schema=ErrorOut, description="slug taken")
def create(args):
    """Add a partner; the answer carries its API key, shown this once."""
    if args["adapter"] not in hub().adapters:
        known = ", ".join(sorted(hub().adapters))
        raise Invalid("Unknown adapter", {"adapter": [f"must be one of: {known}"]})

    def work(session):
        partner, key = create_partner(session, NewPartner(**args), now())
        return {**_view(partner), "api_key": key}

    return idempotent_write(work)


@blp.route("/partners/<slug>", methods=["GET"])
@requires(OPERATOR, PARTNER)
@blp.response(200, PartnerOut)
@blp.alt_response(404, schema=ErrorOut)
def show(slug):
    caller = principal()
    if caller.partner is not None and caller.partner.slug != slug:
        raise Forbidden("A partner sees only itself", code="wrong_partner")
    return read(lambda session: _view(get_partner(session, slug)))
