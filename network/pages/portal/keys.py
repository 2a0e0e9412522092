"""The partner's API keys in the portal: listed, added (the key shown on its answer page only) and revoked.

The same functions as the API's (`issue_key`, `revoke_partner_key`), so a
key made here is refused the moment it is revoked here, by every worker. A
new key's page is the one time it is ever shown: the hub keeps only its
hash, and the page is not cached (`Cache-Control: no-store`).
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from marshmallow import ValidationError

from network.api.access_schemas import ApiKeyCreate
from network.api.common import hub
from network.api.partner_access import issue_key, revoke_partner_key
from network.errors import NotFound
from network.pages import signed_in
from network.pages.portal import ADMINS, blp, partner
from network.parties import credentials


@blp.route("/<slug>/keys", methods=["GET"])
@signed_in.needs(ADMINS)
def keys(slug: str):
    return _page(partner(slug), revoked=request.args.get("revoked"))


@blp.route("/<slug>/keys", methods=["POST"])
@signed_in.needs(ADMINS)
def add_key(slug: str):
    shown = partner(slug)
    name = (request.form.get("name") or "").strip()
    try:
        args = ApiKeyCreate().load({"name": name})
    except ValidationError:
        return _page(shown, name=name, error="Give the key a name of 1 to 100 characters."), 422
    made = signed_in.write(lambda session: issue_key(session, slug, args["name"], args["expires_at"]))
    return render_template("portal/key_made.html", partner=shown, made=made)


@blp.route("/<slug>/keys/<int:key_id>/revoke", methods=["GET"])
@signed_in.needs(ADMINS)
def confirm_revoke(slug: str, key_id: int):
    shown = partner(slug)
    key = hub().db.read(lambda session: credentials.partner_key(session, shown.id, key_id))
    return render_template("portal/key_revoke.html", partner=shown, key=key)


@blp.route("/<slug>/keys/<int:key_id>/revoke", methods=["POST"])
@signed_in.needs(ADMINS)
def revoke_key(slug: str, key_id: int):
    """Revoke the key (404 for one that is not this partner's): its callers get 401 from their next request."""
    partner(slug)
    try:
        signed_in.write(lambda session: revoke_partner_key(session, slug, key_id))
    except NotFound:
        return signed_in.page_message("No such key", f"This partner has no API key {key_id}.", 404)
    return redirect(url_for("portal.keys", slug=slug, revoked=key_id))


def _page(shown, *, name: str = "", error: str | None = None, revoked: str | None = None) -> str:
    listed = hub().db.read(lambda session: credentials.of_partner(session, shown.id))
    return render_template("portal/keys.html", partner=shown, listed=listed, name=name, error=error, revoked=revoked)
