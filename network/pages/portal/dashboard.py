"""The portal's "Today": how the partner's day and open period stand, and any order found by its own id.

A till's manager asks two things first: how today went, and "what happened
to order X?" when a customer calls. The answer names the member only by a
masked card: a partner never sees a member's personal data here either.
"""

from __future__ import annotations

from flask import render_template, request

from network.api.common import hub, now
from network.pages import signed_in
from network.pages.portal import PEOPLE, blp, figures, partner
from partners.fields import MAX_ORDER_ID


@blp.route("/<slug>", methods=["GET"])
@signed_in.needs(PEOPLE)
def partner_home(slug: str):
    return _page(partner(slug))


@blp.route("/<slug>/orders", methods=["POST"])
@signed_in.needs(PEOPLE)
def find_order(slug: str):
    """Find the partner's orders by its own id: 404 with the page when there is none, 422 for an id it could not have."""
    shown = partner(slug)
    wanted = (request.form.get("order_id") or "").strip()
    if not 1 <= len(wanted) <= MAX_ORDER_ID:
        return _page(shown, wanted=wanted, error=f"Give an order id of 1 to {MAX_ORDER_ID} characters."), 422
    found = hub().db.read(lambda session: figures.find_orders(session, shown.id, wanted))
    if not found:
        return _page(shown, wanted=wanted, found=[], error=f"No such order: {wanted}."), 404
    return _page(shown, wanted=wanted, found=found)


def _page(shown, *, wanted: str = "", found=None, error: str | None = None) -> str:
    at = now()
    day = hub().db.lagging_read(lambda session: figures.today(session, shown, at))
    top = max((units for _, _, units in day.top_rewards), default=0)
    bars = [(sku, name, units, max(1, units * 100 // top)) for sku, name, units in day.top_rewards]
    return render_template("portal/home.html", partner=shown, day=day, bars=bars, wanted=wanted, found=found, error=error)
