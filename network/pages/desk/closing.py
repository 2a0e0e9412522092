"""Closing a period from the desk: the end asked for, the statement previewed, then closed and signed on confirmation.

A closing cannot be undone (a closed period never changes), so the first
post only shows the statement the end would make, drafted by the same steps
and refused for the same reasons as the real one, storing and signing
nothing; the confirmation posts the same end again and closes through the
API's own closing. Times are the network's settlement time, UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import redirect, render_template, request, url_for

from network.api.common import hub, now
from network.api.settlement import closing, preview
from network.errors import DomainError
from network.pages import signed_in
from network.pages.desk import MONEY, blp, forms, statement_view

#: The form's end, as a datetime-local input with seconds shows it, in UTC.
SHOWN = "%Y-%m-%dT%H:%M:%S"


def _form(end: str, error: str | None = None, status: int = 200):
    return render_template("desk/close.html", end=end, error=error, now=now()), status


def parse_end(text: str) -> datetime | None:
    """The period's end typed in the form: an ISO 8601 date and time, in UTC unless it names its own offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@blp.route("/close", methods=["GET"])
@signed_in.needs(MONEY)
def close():
    return _form(now().astimezone(timezone.utc).strftime(SHOWN))


@blp.route("/close", methods=["POST"])
@signed_in.needs(MONEY)
def close_period():
    typed = request.form.get("end") or ""
    end = parse_end(typed)
    if end is None:
        return _form(typed, "Give the period's end as a date and a time (UTC), e.g. 2026-03-14T10:00.", 422)
    try:
        if request.form.get("confirm") != "yes":
            draft = hub().db.read(lambda session: preview(session, end))
            return render_template("desk/preview.html", shown=statement_view.shown(draft), end=end.isoformat())
        closed = signed_in.write(closing(end))
    except DomainError as refused:
        return _form(end.strftime(SHOWN), forms.said(refused, "end"), refused.status)
    return redirect(url_for("desk.statement", sequence=closed["statement"]["sequence"]))
