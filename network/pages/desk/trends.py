"""The desk's charts, `/desk/charts`: what the network issued and redeemed, what it owes, and who pays whom.

Each picture is drawn on the server from integer figures the database
summed, and each has its figures in a table beside it for whoever does
not see the picture.
"""

from __future__ import annotations

from flask import render_template

from network.api.common import lagging_read, now
from network.pages import signed_in
from network.pages.desk import MONEY, blp, charts, figures, statement_view


@blp.route("/charts", methods=["GET"], endpoint="charts")
@signed_in.needs(MONEY)
def charts_page():
    at = now()
    weekly, liability, last = lagging_read(lambda session: (figures.weekly(session, at), figures.liability(session),
                                                            figures.last_statement(session)))
    labels = [week.strftime("%-d %b") for week in weekly.weeks]
    series = [f"{slug} {what}" for slug in weekly.partners for what in ("issued", "redeemed")]
    values = {}
    for week, label in zip(weekly.weeks, labels):
        for slug in weekly.partners:
            values[label, f"{slug} issued"] = weekly.issued.get((week, slug), 0)
            values[label, f"{slug} redeemed"] = weekly.redeemed.get((week, slug), 0)
    return render_template(
        "desk/charts.html", weekly=weekly, labels=labels, series=series, values=values,
        bars=charts.grouped_bars(labels, series, values), liability=liability,
        line=charts.line([f"#{point.sequence}" for point in liability], [point.outstanding for point in liability]),
        last=statement_view.shown(last) if last else None)
