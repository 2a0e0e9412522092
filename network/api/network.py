"""The network's own settings: the tier ladder every member climbs, whichever partner they shop at."""

from __future__ import annotations

from collections.abc import Callable

from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, read, requires, tier_window
from network.api.schemas import TiersOut, TiersSet
from network.lifecycle import tiers
from network.parties.auth import bump_settings_version
from network.parties.roles import ADMIN, ALL_ROLES

blp = Blueprint("network", __name__, description="Network-wide settings")


def ladder_view(ladder: list[tiers.Tier]) -> dict:
    """The ladder and which sales qualify, as GET /v1/network/tiers answers them."""
    return {"tiers": [tier.view() for tier in ladder], **tier_window().view()}


@blp.route("/network/tiers", methods=["GET"])
@requires(ALL_ROLES)
@blp.response(200, TiersOut)
@answers()
def get_tiers():
    """The tier ladder, lowest first, and which sales qualify.

    Any caller: tills show a member's tier and what the next one needs.
    """
    return read(lambda session: ladder_view(tiers.ladder(session)))


@blp.route("/network/tiers", methods=["PUT"])
@requires(ADMIN)
@writes
@blp.arguments(TiersSet)
@blp.response(200, TiersOut)
@answers()
def put_tiers(args):
    """Replace the whole ladder. Members keep their tier's position; they move up at their next sale.

    Admins only. The first threshold is 0 (every member is in a tier); thresholds and multipliers rise from one
    tier to the next.
    """
    return idempotent_write(ladder_change(args["tiers"]), status=200)


def ladder_change(ladder: list[dict]) -> Callable[[Session], dict]:
    """The work of replacing the ladder with `TiersSet`'s tiers, audited before and after: what this API and the desk
    both commit. Every worker reads the new ladder from its next request."""

    def work(session):
        before = ladder_view(tiers.ladder(session))
        after = ladder_view(tiers.set_ladder(session, ladder, now=now()))
        bump_settings_version(session)
        audit_trail.change(before, after)
        return after

    return work
