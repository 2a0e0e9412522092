"""Wallet links: a partner's app, which has signed its customer in already, opens that member's wallet for them."""

from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, principal, requires
from network.api.idempotency import ShownOnce
from network.api.partners import public_url
from network.members import cards, wallet_links
from network.parties.roles import ADMIN, PARTNER_KEY, SUPPORT

blp = Blueprint("wallet_links", __name__, description="Single-use links into a member's wallet")


class WalletLinkOut(Schema):
    url = fields.String(allow_none=True, metadata={
        "description": "open it for the member: it works once, for 15 minutes; on COALITION_PUBLIC_URL, or the path alone",
        "example": "https://hub.example.com/wallet/open/4kV..."})
    url_shown = fields.String(metadata={"description": '"once", in a replay: the link is never stored'})
    expires_at = fields.DateTime()


@blp.route("/members/<member_id>/wallet-links", methods=["POST"])
@requires(ADMIN, SUPPORT, PARTNER_KEY)
@writes
@blp.response(201, WalletLinkOut)
@answers("unknown_member", "member_merged", "member_deleted")
def make_link(member_id):
    """A single-use link that opens the member's wallet (balance, history, card, their data) in a browser.

    For the partner that enrolled the member (to any other the member is unknown: a link opens their personal data),
    and for admins and support. Only the link's hash is kept, and a replay of the request does not show it again.
    """
    partner = principal().partner
    at = now()

    def work(session):
        cards.get_member(session, member_id, enrolled_by=partner.id if partner else None)
        token, expires_at = wallet_links.issue(session, member_id, now=at)
        return {"url": ShownOnce(public_url(url_for("wallet.open_link", token=token))), "expires_at": expires_at}

    return idempotent_write(work)
