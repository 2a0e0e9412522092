"""The partner's webhook in the portal: where its events go, a test event, the delivery log and a retry.

A partner debugging its endpoint needs to send something and see what
happened to it: the test event goes through the outbox and the deliverer
like any other, so what it shows is what real events will meet. The
settings are set by the API's own function (`set_webhook`), the secret
write-only there as here; the adapter's settings are shown masked, as the
API shows them.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from network.api.common import hub, now
from network.api.partners import partner_view
from network.api.webhooks import set_webhook
from network.errors import DomainError, Invalid
from network.events import webhooks
from network.pages import signed_in
from network.pages.portal import ADMINS, blp, partner

#: Deliveries the log shows, newest first.
SHOWN = 50


@blp.route("/<slug>/webhook", methods=["GET"])
@signed_in.needs(ADMINS)
def webhook(slug: str):
    return _page(partner(slug), sent=request.args.get("sent"), retried=request.args.get("retried"))


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
        signed_in.write(lambda session: webhooks.retry(session, shown.id, delivery_id, now=now()))
    except DomainError as refused:
        return _page(shown, refused=refused.message), refused.status
    return redirect(url_for("portal.webhook", slug=slug, retried=delivery_id))


def _page(shown, *, url: str | None = None, errors: dict | None = None, refused: str | None = None,
          sent: str | None = None, retried: str | None = None) -> str:
    def work(session):
        return webhooks.show(session, shown.id), webhooks.deliveries(session, shown.id, status=None, count=SHOWN, below=None)

    current, deliveries = hub().db.read(work)
    return render_template("portal/webhook.html", partner=shown, current=current, deliveries=deliveries,
                           url=current.url if url is None else url, errors=errors or {}, refused=refused, sent=sent,
                           retried=retried, settings=partner_view(shown))
