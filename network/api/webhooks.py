"""A partner's webhook: set by the partner itself or the operator; the secret goes in and never comes out."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import fields, validate

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, only_itself, read, requires
from network.api.paging import QUERY, Listing, page, page_schema, query_schema
from network.api.schemas import DeliveryOut, WebhookOut, WebhookSet
from network.events import webhooks
from network.events.kinds import DeliveryStatus
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, PARTNER_ADMIN, PARTNER_KEY

blp = Blueprint("webhooks", __name__, description="Partners' webhooks: events signed and sent at least once")


@blp.route("/partners/<slug>/webhook", methods=["PUT"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(WebhookSet)
@blp.response(200, WebhookOut)
@answers("wrong_partner", "unknown_partner", "invalid_webhook")
def put_webhook(args, slug):
    """Register or replace where the partner's events are POSTed and the secret they are signed with.

    The partner's admin or keys, or an admin. The URL must be http(s) and outside the hub's own networks; deliveries are
    signed with the secret and retried with backoff.
    """
    only_itself(slug, "A partner sets only its own webhook")
    return idempotent_write(lambda session: set_webhook(session, slug, args["url"], args["secret"]), status=200)


def set_webhook(session, slug: str, url: str, secret: str) -> dict:
    """Register or replace the partner's webhook (a new secret rotates it), the change audited; 422 `invalid_webhook`."""
    private_networks = bool(current_app.config.get("COALITION_WEBHOOK_PRIVATE_NETWORKS", False))
    partner = get_partner(session, slug)
    before = webhooks.show(session, partner.id).view(slug)
    after = webhooks.put(session, partner.id, url=url, secret=secret, now=now(),
                         private_networks=private_networks).view(slug)
    audit_trail.change(before, after, partner_id=partner.id)
    return after


@blp.route("/partners/<slug>/webhook", methods=["DELETE"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.response(200, WebhookOut)
@answers("wrong_partner", "unknown_partner", "no_webhook")
def delete_webhook(slug):
    """Stop sending: the secret is forgotten and deliveries still pending are cancelled.

    The partner's admin or keys, or an admin. 404 `no_webhook` when none is set.
    """
    only_itself(slug, "A partner removes only its own webhook")

    def work(session):
        partner = get_partner(session, slug)
        before = webhooks.show(session, partner.id).view(slug)
        after = webhooks.remove(session, partner.id, now=now()).view(slug)
        audit_trail.change(before, after, partner_id=partner.id)
        return after

    return idempotent_write(work, status=200)


@blp.route("/partners/<slug>/webhook", methods=["GET"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@blp.response(200, WebhookOut)
@answers("wrong_partner", "unknown_partner")
def get_webhook(slug):
    """The URL and whether a secret is set (never the secret).

    The partner's admin or keys, or an admin.
    """
    only_itself(slug)
    return read(lambda session: webhooks.show(session, get_partner(session, slug).id).view(slug))


#: A webhook's deliveries as a list of the API (network/api/paging.py): newest first, by delivery id.
DELIVERIES = Listing("deliveries", int, bound=2**63 - 1, newest_first=True, example_key=815)


class DeliveriesQuery(query_schema(DELIVERIES, "by delivery id")):
    status = fields.String(load_default=None, validate=validate.OneOf(list(DeliveryStatus)),
                           metadata={"description": "only the deliveries in this state", "example": "failed"})


@blp.route("/partners/<slug>/webhook/deliveries", methods=["GET"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@blp.arguments(DeliveriesQuery, **QUERY)
@blp.response(200, page_schema(DeliveryOut, "DeliveriesPage", DELIVERIES, "/v1/partners/brew-bar/webhook/deliveries"))
@answers("wrong_partner", "unknown_partner")
def list_deliveries(args, slug):
    """The webhook's deliveries, newest first, each with every attempt (time, HTTP status or error, duration).

    The partner's admin or keys, or an admin; a page at a time (follow `next`); `?status=` filters.
    """
    only_itself(slug)

    def work(session):
        partner_id = get_partner(session, slug).id
        return page(DELIVERIES, args, lambda after, count: webhooks.deliveries(
            session, partner_id, status=args["status"], count=count, below=after), key=lambda delivery: delivery["id"])

    return read(work)
