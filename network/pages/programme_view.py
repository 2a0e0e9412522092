"""The programme's figures as the desk and a partner's portal both show them: the span asked, the report, its grid.

One reading for both, so the network's page and a partner's cannot tell
different stories: a partner's is the same report narrowed to its own
members and points (the API's `partner` scope).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from flask import current_app

from analytics.cohorts import cohorts
from analytics.programme import assemble, parts
from analytics.returns_on_points import METHOD as UPLIFT_METHOD
from analytics.returns_on_points import returns
from analytics.window import Window
from network.api.analytics import Span
from network.pages.desk import charts

#: Months of enrolment the cohort grid shows, up to the report's last day.
COHORT_MONTHS = 12


def asked_span(args, today: date, partner: str | None = None) -> dict:
    """The days a person asked for, the last whole month unless they picked others, as the API's query names them."""
    first_of_month = today.replace(day=1)
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    asked = {"from": args.get("from") or last_month.isoformat(),
             "to": args.get("to") or (first_of_month - timedelta(days=1)).isoformat()}
    if partner or args.get("partner"):
        asked["partner"] = partner or args["partner"]
    return asked


def load_span(asked: dict) -> dict:
    """The span checked as the API checks it (`marshmallow.ValidationError` naming the field)."""
    return Span().load(asked)


def works(span: dict, scope: tuple[int, str] | None) -> dict:
    """The page's reads, independent of each other (`Database.lagging_reads` runs them side by side).

    Everything they need is taken here, in the request: they run on other threads, outside its app context.
    """
    window = Window.of_days(span["first"], span["last"])
    partner_id = None if scope is None else scope[0]
    grid = Window.of_days(_months_before(span["last"], COHORT_MONTHS - 1), span["last"])
    currency, at = current_app.config["COALITION_SETTLEMENT_CURRENCY"], current_app.config["CLOCK"]()
    return {**{f"report.{name}": work for name, work in parts(window, scope).items()},
            "cohorts": lambda session: cohorts(session, grid, partner_id),
            "returns": lambda session: returns(session, window, currency, at, partner_id)}


def shown(span: dict, scope: tuple[int, str] | None, found: dict) -> dict:
    """What the template shows of the reads' answers: the report, the cohorts and their grid, the return."""
    report = {name.split(".", 1)[1]: answer for name, answer in found.items() if name.startswith("report.")}
    return {"report": assemble(Window.of_days(span["first"], span["last"]), scope, report), "cohorts": found["cohorts"],
            "grid": _grid(found["cohorts"]), "returns": found["returns"], "uplift_method": UPLIFT_METHOD}


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _grid(found: list[dict]) -> charts.HeatMap:
    """The cohorts as a heat map: a row per month of enrolment, a column per month since, shaded by retention."""
    width = max((len(c["retention"]) for c in found), default=0)
    cells = [{"issuer": c["month"], "redeemer": str(r["months_since"]), "points": r["active"],
              "amount": None if r["share"] is None else f"{(Decimal(r['share']) * 100).quantize(Decimal(1))}%"}
             for c in found for r in c["retention"]]
    return charts.shares_map(cells, [c["month"] for c in found], [str(k) for k in range(width)],
                             {c["month"]: c["members"] for c in found})
