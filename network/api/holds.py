"""Holds: capture or void an authorised redemption, and look one up."""

from __future__ import annotations

from flask_smorest import Blueprint

from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, principal, read, requires
from network.api.schemas import HoldCapture, HoldOut, HoldResult
from network.ops import metrics
from network.parties.roles import PARTNER_KEY, PARTNER_ROLES
from network.spending import holds

blp = Blueprint("holds", __name__, description="Two-phase redemptions: capture or void a hold")


@blp.route("/redemptions/<int:redemption_id>/capture", methods=["POST"])
@requires(PARTNER_KEY)
@writes
@blp.arguments(HoldCapture, required=False, description="optional: without it the whole hold is captured")
@blp.response(201, HoldResult)
@answers("unknown_redemption", "hold_captured", "hold_voided", "hold_expired", "duplicate_order", "capture_exceeds_hold", "partial_reward_capture", "insufficient_points")
def capture(args, redemption_id):
    """Capture a hold, all of it or fewer points; the rest goes back to the member's lots.

    A partner key only, for its own holds. A held reward is captured whole. Captured once: a second capture is 409
    `hold_captured`.
    """
    partner = principal().partner
    return idempotent_write(lambda session: holds.capture(session, partner, redemption_id, points=args.get("points"),
                                                          now=now()),
                            booked=lambda answer: metrics.redeemed("captures", answer["points"]))


@blp.route("/redemptions/<int:redemption_id>/void", methods=["POST"])
@requires(PARTNER_KEY)
@writes
@blp.response(200, HoldResult)
@answers("unknown_redemption", "hold_captured", "hold_voided", "hold_expired")
def void(redemption_id):
    """Void a hold: every held point goes back to the lots it came from.

    A partner key only, for its own holds. A held reward goes back to stock.
    """
    partner = principal().partner
    return idempotent_write(lambda session: holds.void(session, partner, redemption_id, now=now()), status=200)


@blp.route("/redemptions/<int:redemption_id>", methods=["GET"])
@requires(PARTNER_ROLES)
@blp.response(200, HoldOut)
@answers("unknown_redemption")
def show(redemption_id):
    """A hold of this partner; one past `expires_at` shows as expired even before any write released it.

    A partner key only: a partner sees its own holds.
    """
    partner = principal().partner
    return read(lambda session: holds.show(session, partner, redemption_id, now()))
