"""The partner's webhook in the portal: where its events go, a test event, the delivery log, a retry and a replay.

A partner debugging its endpoint needs to send something and see what
happened to it: the test event goes through the outbox and the deliverer
like any other, so what it shows is what real events will meet. The
settings are set by the API's own function (`set_webhook`), the secret
write-only there as here; the adapter's settings are shown masked, as the
API shows them. A replay's start is typed in the partner's own time zone,
as its day is shown elsewhere in the portal.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import redirect, render_template, request, url_for

from network.api.common import hub, now
from network.api.partners import partner_view
from network.api.webhooks import replay_failed, retry_one, set_webhook
from network.errors import DomainError, Invalid
from network.events import webhooks
from network.pages import signed_in
from network.pages.portal import ADMINS, blp, partner

#: Deliveries the log shows, newest first.
SHOWN = 50


@blp.route("/<slug>/webhook", methods=["GET"])
@signed_in.needs(ADMINS)
def webhook(slug: str):
    return _page(partner(slug), sent=request.args.get("sent"), retried=request.args.get("retried"),
                 replayed=request.args.get("replayed"))


@blp.route("/<slug>/webhook", methods=["POST"])
@signed_in.needs(ADMINS)
def set_url(slug: str):
    """Register the URL and a secret; a new secret with the same URL rotates it. 422 said next to the field."""
    shown = partner(slug)
    url, secret = (request.form.get("url") or "").strip(), request.form.get("secret") or ""
    try:
        signed_in.write(lambda session: set_webhook(session, slug, url, secret))
    except Invalid as refused:
        return _page(shown, url=url, errors={name: "; ".join(said) for name, said in refused.details.items()}), 422
    return redirect(url_for("portal.webhook", slug=slug, sent="saved"))


@blp.route("/<slug>/webhook/test", methods=["POST"])
@signed_in.needs(ADMINS)
def send_test(slug: str):
    shown = partner(slug)
    try:
        signed_in.write(lambda session: webhooks.send_test(session, shown.id, shown.slug, now=now()))
    except DomainError as refused:
        return _page(shown, refused=refused.message), refused.status
    return redirect(url_for("portal.webhook", slug=slug, sent="test"))


@blp.route("/<slug>/webhook/deliveries/<int:delivery_id>/retry", methods=["POST"])
@signed_in.needs(ADMINS)
def retry(slug: str, delivery_id: int):
    shown = partner(slug)
    try:
        signed_in.write(lambda session: retry_one(session, shown.slug, delivery_id))
    except DomainError as refused:
        return _page(shown, refused=refused.message), refused.status
    return redirect(url_for("portal.webhook", slug=slug, retried=delivery_id))


@blp.route("/<slug>/webhook/replay", methods=["POST"])
@signed_in.needs(ADMINS)
def replay(slug: str):
    """Every failed delivery (of events since the time typed, if one is) due again; 422 said next to the field."""
    shown = partner(slug)
    typed = (request.form.get("since") or "").strip()
    since = _since(typed, shown.timezone) if typed else None
    if typed and since is None:
        return _page(shown, since=typed, errors={"since": "Give a date and a time, e.g. 2026-03-14T06:00."}), 422
    try:
        done = signed_in.write(lambda session: replay_failed(session, shown.slug, since))
    except Invalid as refused:
        return _page(shown, since=typed, errors={name: "; ".join(said) for name, said in refused.details.items()}), 422
    except DomainError as refused:
        return _page(shown, since=typed, refused=refused.message), refused.status
    return redirect(url_for("portal.webhook", slug=slug, replayed=done["replayed"]))


def _since(typed: str, zone: str) -> datetime | None:
    """A datetime-local input's value, in the partner's zone unless it names its own offset; None if it is no time."""
    try:
        moment = datetime.fromisoformat(typed)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))).astimezone(timezone.utc)


def _page(shown, *, url: str | None = None, errors: dict | None = None, refused: str | None = None,
          sent: str | None = None, retried: str | None = None, replayed: str | None = None, since: str = "") -> str:
    # The settings as just saved, from the primary; the deliveries may lag (the replica, when there is one).
    current = hub().db.read(lambda session: webhooks.show(session, shown.id))
    deliveries = hub().db.lagging_read(lambda session: webhooks.deliveries(session, shown.id, status=None, count=SHOWN,
                                                                           below=None))
    return render_template("portal/webhook.html", partner=shown, current=current, deliveries=deliveries,
                           url=current.url if url is None else url, errors=errors or {}, refused=refused, sent=sent,
                           retried=retried, replayed=replayed, since=since, settings=partner_view(shown))
