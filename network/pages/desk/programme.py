"""The programme's figures on the desk, `/desk/analytics`: the report, cohorts drawn, the return, value, liability, credit.

The page reads what the API's reports read (analytics, settlement's
liability, the partners' funding), for the days a person picks, the last
whole month unless they pick others; a bad day is said on the page, as the
API would say it, and nothing is read.
"""

from __future__ import annotations

from flask import current_app, render_template, request
from marshmallow import ValidationError
from sqlalchemy import select

from analytics.lifetime import averages
from analytics.value import METHOD, MIN_REPEATERS, model_views
from analytics.window import Window
from network.api.common import lagging_read, lagging_reads, now
from network.models import Partner
from network.pages import programme_view, signed_in
from network.pages.desk import MONEY, blp
from network.parties import funding
from network.parties.registry import get_partner
from settlement.liability import liability, parse_breakage


@blp.route("/analytics", methods=["GET"], endpoint="analytics")
@signed_in.needs(MONEY)
def analytics_page():
    asked = programme_view.asked_span(request.args, now().date())
    try:
        span = programme_view.load_span(asked)
    except ValidationError as exc:
        return render_template("desk/analytics.html", asked=asked, errors=exc.messages, report=None,
                               partners=lagging_read(_slugs)), 422
    config = current_app.config
    override = parse_breakage(config["COALITION_EXPECTED_BREAKAGE"])
    partner = lagging_read(lambda session: get_partner(session, span["partner"]) if span.get("partner") else None)
    scope = None if partner is None else (partner.id, partner.slug)
    window, currency = Window.of_days(span["first"], span["last"]), config["COALITION_SETTLEMENT_CURRENCY"]
    start, end = window.start, window.end
    found = lagging_reads({
        **programme_view.works(span, scope),
        "liability": lambda session: liability(session, start, end, currency, override),
        "credit": funding.exposures,
        "lifetime": lambda session: averages(session, end, "partner"),
        "models": model_views,
        "partners": _slugs,
    })
    return render_template("desk/analytics.html", asked=asked, errors=None, currency=currency,
                           value_method=METHOD, min_repeaters=MIN_REPEATERS,
                           **programme_view.shown(span, scope, found),
                           **{name: found[name] for name in ("liability", "credit", "lifetime", "models", "partners")})


def _slugs(session) -> list[str]:
    return list(session.scalars(select(Partner.slug).order_by(Partner.slug)))
