"""The programme's figures on the desk, `/desk/analytics`: the report, its cohorts drawn, the liability, credit.

The page reads what the API's reports read (analytics, settlement's
liability, the partners' funding), for the days a person picks, the last
whole month unless they pick others; a bad day is said on the page, as the
API would say it, and nothing is read.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from flask import current_app, render_template, request
from marshmallow import ValidationError
from sqlalchemy import select

from analytics.cohorts import cohorts
from analytics.programme import programme
from analytics.window import Window
from network.api.analytics import Span
from network.api.common import lagging_read, now
from network.models import Partner
from network.pages import signed_in
from network.pages.desk import MONEY, blp, charts
from network.parties import funding
from network.parties.registry import get_partner
from settlement.liability import liability, parse_breakage

#: Months of enrolment the cohort grid shows, up to the report's last day.
COHORT_MONTHS = 12


@blp.route("/analytics", methods=["GET"], endpoint="analytics")
@signed_in.needs(MONEY)
def analytics_page():
    today = now().date()
    first_of_month = today.replace(day=1)
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    asked = {"from": request.args.get("from") or last_month.isoformat(),
             "to": request.args.get("to") or (first_of_month - timedelta(days=1)).isoformat()}
    if request.args.get("partner"):
        asked["partner"] = request.args["partner"]
    try:
        span = Span().load(asked)
    except ValidationError as exc:
        return render_template("desk/analytics.html", asked=asked, errors=exc.messages, report=None,
                               partners=lagging_read(_slugs)), 422
    window = Window.of_days(span["first"], span["last"])
    config = current_app.config
    override = parse_breakage(config["COALITION_EXPECTED_BREAKAGE"])

    def work(session):
        partner = get_partner(session, span["partner"]) if span.get("partner") else None
        scope = None if partner is None else (partner.id, partner.slug)
        grid_start = _months_before(span["last"], COHORT_MONTHS - 1)
        return {
            "report": programme(session, window, scope),
            "cohorts": cohorts(session, Window.of_days(grid_start, span["last"]), None if partner is None else partner.id),
            "liability": liability(session, window.start, window.end, config["COALITION_SETTLEMENT_CURRENCY"], override),
            "credit": funding.exposures(session),
            "partners": _slugs(session),
        }

    found = lagging_read(work)
    return render_template("desk/analytics.html", asked=asked, errors=None, grid=_grid(found["cohorts"]),
                           currency=config["COALITION_SETTLEMENT_CURRENCY"], **found)


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _slugs(session) -> list[str]:
    return list(session.scalars(select(Partner.slug).order_by(Partner.slug)))


def _grid(found: list[dict]) -> charts.HeatMap:
    """The cohorts as a heat map: a row per month of enrolment, a column per month since, shaded by retention."""
    width = max((len(c["retention"]) for c in found), default=0)
    cells = [{"issuer": c["month"], "redeemer": str(r["months_since"]), "points": r["active"],
              "amount": None if r["share"] is None else f"{(Decimal(r['share']) * 100).quantize(Decimal(1))}%"}
             for c in found for r in c["retention"]]
    return charts.shares_map(cells, [c["month"] for c in found], [str(k) for k in range(width)],
                             {c["month"]: c["members"] for c in found})
