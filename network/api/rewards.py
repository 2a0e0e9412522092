"""Partners' reward catalogues, their points rate for paying amounts, and donations to charities."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, only_itself, principal, read, requires
from network.api.partners import partner_view
from network.api.schemas import (
    Catalogue,
    CatalogueQuery,
    DonationCreate,
    DonationResult,
    PartnerOut,
    PointsRateSet,
    RewardChange,
    RewardCreate,
    RewardOut,
)
from network.ops import metrics
from network.parties.auth import bump_settings_version
from network.parties.registry import get_partner, set_points_rate
from network.parties.roles import ADMIN, ALL_ROLES, PARTNER_ADMIN, PARTNER_KEY, SUPPORT
from network.spending import redemptions, rewards

blp = Blueprint("rewards", __name__, description="Reward catalogues, paying with points, donations")


@blp.route("/partners/<slug>/rewards", methods=["POST"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(RewardCreate)
@blp.response(201, RewardOut)
@answers("unknown_partner", "wrong_partner", "reward_exists")
def add_reward(args, slug):
    """Add a reward to the partner's catalogue (the partner's admin or keys, or an admin).

    The sku is unique in the partner's catalogue (409 `reward_exists`). Members redeem it with `POST
    /v1/redemptions` and `sku`.
    """
    only_itself(slug, "A partner keeps only its own catalogue")
    return idempotent_write(lambda session: add_reward_to(session, slug, args))


def add_reward_to(session, slug: str, args: dict) -> dict:
    """A new reward in the partner's catalogue (409 `reward_exists`): every worker reads the catalogues afresh."""
    partner = get_partner(session, slug)
    added = rewards.add(session, partner.id, now=now(), **args)
    bump_settings_version(session)
    audit_trail.change(None, added, partner_id=partner.id)
    return added


@blp.route("/partners/<slug>/rewards", methods=["GET"])
@requires(ALL_ROLES)
@blp.arguments(CatalogueQuery, location="query")
@blp.response(200, Catalogue)
@answers("unknown_partner")
def catalogue(query, slug):
    """A partner's active rewards, by sku; any partner may read any catalogue (tills show them).

    With `?retired=true` retired rewards are listed too.
    """
    return read(lambda session: {"partner": slug, "rewards": rewards.catalogue(
        session, get_partner(session, slug).id, retired=query["retired"])})


@blp.route("/partners/<slug>/rewards/<sku>", methods=["PATCH"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(RewardChange)
@blp.response(200, RewardOut)
@answers("unknown_partner", "unknown_reward", "wrong_partner")
def change_reward(args, slug, sku):
    """Change a reward's name, points, stock or limit, or retire it with `"active": false`.

    The partner's admin or keys, or an admin. Fields left out keep their value; a retired reward stays in members'
    histories.
    """
    only_itself(slug, "A partner keeps only its own catalogue")
    return idempotent_write(lambda session: change_reward_of(session, slug, sku, args), status=200)


def change_reward_of(session, slug: str, sku: str, args: dict) -> dict:
    """A reward of the partner's changed or retired (404 `unknown_reward`): every worker reads the catalogues afresh."""
    partner = get_partner(session, slug)
    before = rewards.one(session, partner.id, sku)
    after = rewards.change(session, partner.id, sku, args)
    bump_settings_version(session)
    audit_trail.change(before, after, partner_id=partner.id)
    return after


@blp.route("/partners/<slug>/points-rate", methods=["PUT"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(PointsRateSet)
@blp.response(200, PartnerOut)
@answers("unknown_partner", "wrong_partner")
def put_points_rate(args, slug):
    """Set how many points one unit of the partner's currency costs when a member pays an amount with points.

    The partner itself, or the operator. Without a rate a partner takes points, not amounts (`no_points_rate`).
    """
    only_itself(slug)
    return idempotent_write(points_rate_change(slug, args["points_per_unit"]), status=200)


def points_rate_change(slug: str, points_per_unit: Decimal) -> Callable[[Session], dict]:
    """The work of setting a partner's points per unit (checked by `PointsRateSet`): what this API and the desk
    both commit. Every worker reads the partner afresh."""

    def work(session):
        before = get_partner(session, slug)
        after = partner_view(set_points_rate(session, slug, points_per_unit))
        bump_settings_version(session)
        audit_trail.change(partner_view(before), after, partner_id=before.id)
        return after

    return work


@blp.route("/donations", methods=["POST"])
@requires(ADMIN, SUPPORT, PARTNER_KEY)
@writes
@blp.arguments(DonationCreate)
@blp.response(201, DonationResult)
@answers("unknown_card", "invalid_card", "card_blocked", "unknown_partner", "not_a_charity", "insufficient_points")
def donate(args):
    """Give a member's points to a charity partner: a redemption there, billed to each point's issuer.

    An admin, support, or any partner's key. The charity is a partner of kind `charity`; the donation is booked as a redemption
    there, so settlement bills each point's issuer as for any redemption.
    """
    donor = principal().partner
    return idempotent_write(lambda session: redemptions.donate(session, donor=donor, now=now(), **args),
                            booked=lambda answer: metrics.redeemed("donations", answer["points"]))
