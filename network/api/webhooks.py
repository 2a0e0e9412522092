"""A partner's webhook: set by the partner itself or the operator; the secret goes in and never comes out."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from network.api import audit_trail
from network.api.answers import answers, writes
from network.api.common import idempotent_write, lagging_read, now, only_itself, read, requires
from network.api.paging import QUERY, Listing, page, page_schema, query_schema
from network.api.schemas import DeliveryOut, Strict, WebhookOut, WebhookSet
from network.events import replay, webhooks
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

    return lagging_read(work)


@blp.route("/partners/<slug>/webhook/deliveries/<int:delivery_id>/retry", methods=["POST"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.response(200, DeliveryOut)
@answers("wrong_partner", "unknown_partner", "not_found", "conflict")
def retry_delivery(slug, delivery_id):
    """Send a failed delivery again: due now, with a fresh set of tries; the attempts made are kept.

    The partner's admin or keys, or an admin. 404 `not_found` for a delivery not of this partner's webhook, 409
    `conflict` for one that has not failed (or whose webhook was removed). Answers the delivery as the list shows it.
    """
    only_itself(slug, "A partner retries only its own deliveries")
    return idempotent_write(lambda session: retry_one(session, slug, delivery_id), status=200)


def retry_one(session, slug: str, delivery_id: int) -> dict:
    """A failed delivery due again, audited; the delivery as the list shows it. 404 `not_found`, 409 `conflict`."""
    partner = get_partner(session, slug)
    replay.retry(session, partner.id, delivery_id, now=now())
    audit_trail.change({"delivery_id": delivery_id, "status": DeliveryStatus.FAILED},
                       {"delivery_id": delivery_id, "status": DeliveryStatus.PENDING}, partner_id=partner.id)
    (shown,) = webhooks.deliveries(session, partner.id, status=None, count=1, below=delivery_id + 1)
    return shown


class ReplayQuery(Strict):
    since = fields.AwareDateTime(load_default=None, metadata={
        "description": "only the events made at or after this instant, with its offset; not in the future "
                       "(default: every failed delivery)", "example": "2026-03-14T06:00:00+00:00"})


class ReplayOut(Schema):
    replayed = fields.Integer(metadata={"description": "how many failed deliveries are due again", "example": 12})
    since = fields.DateTime(allow_none=True)


@blp.route("/partners/<slug>/webhook/deliveries/replay", methods=["POST"])
@requires(ADMIN, PARTNER_ADMIN, PARTNER_KEY)
@writes
@blp.arguments(ReplayQuery, **QUERY)
@blp.response(200, ReplayOut)
@answers("wrong_partner", "unknown_partner", "no_webhook")
def replay_deliveries(args, slug):
    """Send every failed delivery again (after an outage of the receiver), each with a fresh set of tries.

    The partner's admin or keys, or an admin. `?since=` keeps to the events made from then on. 404 `no_webhook`
    without a webhook; a receiver deduplicates on the event id, as some may have reached it already.
    """
    only_itself(slug, "A partner replays only its own deliveries")
    return idempotent_write(lambda session: replay_failed(session, slug, args["since"]), status=200)


def replay_failed(session, slug: str, since: datetime | None) -> dict:
    """Every failed delivery (of events since `since`) due again, audited. 404 `no_webhook`, 422 naming `since`."""
    partner = get_partner(session, slug)
    answer = {"replayed": replay.replay(session, partner.id, since=since, now=now()), "since": since}
    audit_trail.change(None, answer, partner_id=partner.id)
    return answer
