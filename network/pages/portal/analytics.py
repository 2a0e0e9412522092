"""A partner's own analytics in the portal: its members, the points it issued, its cohorts and its return.

The same report as the desk's (`network.pages.programme_view`) narrowed
to the partner, as `GET /v1/analytics/programme?partner=` and
`/v1/analytics/returns` answer a partner's key: a partner sees counts of
its members, never another partner's figures nor anyone's personal data.
"""

from __future__ import annotations

from flask import render_template, request
from marshmallow import ValidationError

from network.api.common import hub, now
from network.pages import programme_view, signed_in
from network.pages.portal import PEOPLE, blp, partner


@blp.route("/<slug>/analytics", methods=["GET"])
@signed_in.needs(PEOPLE)
def analytics(slug: str):
    shown = partner(slug)
    asked = programme_view.asked_span(request.args, now().date(), shown.slug)
    try:
        span = programme_view.load_span(asked)
    except ValidationError as exc:
        return render_template("portal/analytics.html", partner=shown, asked=asked, errors=exc.messages, report=None), 422
    scope = (shown.id, shown.slug)
    found = hub().db.lagging_reads(programme_view.works(span, scope))
    return render_template("portal/analytics.html", partner=shown, asked=asked, errors=None,
                           **programme_view.shown(span, scope, found))
