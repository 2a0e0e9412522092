"""A partner's API keys and its people: added, listed and revoked by the partner's own admin or the operator's.

Keys are rotated by overlap: add the new key, move the tills over, revoke
the old one; every worker refuses a revoked key from its next request.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_smorest import Blueprint

from network.api import audit_trail
from network.api.access_schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOut,
    PartnerUserCreate,
    UserCreated,
    UserList,
    UserOut,
)
from network.api.answers import answers, writes
from network.api.common import idempotent_write, now, only_itself, read, requires
from network.api.idempotency import ShownOnce
from network.errors import Invalid, NotFound
from network.parties import credentials, people
from network.parties.registry import get_partner
from network.parties.roles import ADMIN, PARTNER_ADMIN

blp = Blueprint("partner_access", __name__, description="Partners' API keys and users")


@blp.route("/partners/<slug>/api-keys", methods=["POST"])
@requires(ADMIN, PARTNER_ADMIN)
@writes
@blp.arguments(ApiKeyCreate)
@blp.response(201, ApiKeyCreated)
@answers("unknown_partner", "wrong_partner")
def add_key(args, slug):
    """Add an API key to the partner (a till fleet, a shop, a script): the key is in this answer only.

    An admin, or the partner's own admin. The partner's other keys keep working: rotate by adding, moving the callers
    over, then revoking the old key.
    """
    only_itself(slug)
    checked_expiry(args["expires_at"])
    return idempotent_write(lambda session: issue_key(session, slug, args["name"], args["expires_at"]))


def checked_expiry(expires_at: datetime | None) -> None:
    if expires_at is not None and expires_at <= now():
        raise Invalid("A key must expire in the future", {"expires_at": [expires_at.isoformat()]})


def issue_key(session, slug: str, name: str, expires_at: datetime | None) -> dict:
    """A new key of the partner's, its change audited: the view of it, with the key itself shown this once."""
    partner = get_partner(session, slug)
    key, key_id = credentials.issue(session, now(), kind=credentials.PARTNER_KEY, name=name,
                                    partner_id=partner.id, expires_at=expires_at)
    view = credentials.partner_key(session, partner.id, key_id).as_json()
    audit_trail.change(None, view, partner_id=partner.id)
    return {**view, "key": ShownOnce(key)}


@blp.route("/partners/<slug>/api-keys", methods=["GET"])
@requires(ADMIN, PARTNER_ADMIN)
@blp.response(200, ApiKeyList)
@answers("unknown_partner", "wrong_partner")
def list_keys(slug):
    """The partner's API keys, revoked ones too, with when each was made and last used; never a key itself."""
    only_itself(slug)
    return read(lambda session: {"items": [key.as_json() for key in credentials.of_partner(
        session, get_partner(session, slug).id)], "next": None})


@blp.route("/partners/<slug>/api-keys/<int:key_id>", methods=["DELETE"])
@requires(ADMIN, PARTNER_ADMIN)
@writes
@blp.response(200, ApiKeyOut)
@answers("unknown_partner", "wrong_partner", "unknown_api_key")
def revoke_key(slug, key_id):
    """Revoke a key: every worker refuses it from its next request (401 `invalid_token`). Revoking twice changes nothing."""
    only_itself(slug)
    return idempotent_write(lambda session: revoke_partner_key(session, slug, key_id), status=200)


def revoke_partner_key(session, slug: str, key_id: int) -> dict:
    """Revoke one of the partner's keys (404 `unknown_api_key` for another's), the change audited."""
    partner = get_partner(session, slug)
    before = credentials.partner_key(session, partner.id, key_id).as_json()
    credentials.revoke(session, key_id, now())
    after = credentials.partner_key(session, partner.id, key_id).as_json()
    audit_trail.change(before, after, partner_id=partner.id)
    return after


@blp.route("/partners/<slug>/users", methods=["POST"])
@requires(ADMIN, PARTNER_ADMIN)
@writes
@blp.arguments(PartnerUserCreate)
@blp.response(201, UserCreated)
@answers("unknown_partner", "wrong_partner", "user_exists")
def add_user(args, slug):
    """Give a person of the partner's an account: `partner_admin` (keys, webhook, adapter, rewards, users) or
    `partner_staff` (reads transactions, members and statements).

    An admin, or the partner's own admin. The answer holds a one-time password, shown this once; the person
    replaces it at `POST /v1/auth/password` before signing in.
    """
    only_itself(slug)

    def work(session):
        partner = get_partner(session, slug)
        person, password = people.add(session, people.Policy.from_config(current_app.config), now(), email=args["email"],
                                      role=args["role"], partner_id=partner.id)
        view = person.as_json(slug)
        audit_trail.change(None, view, partner_id=partner.id)
        return {**view, "password": ShownOnce(password)}

    return idempotent_write(work)


@blp.route("/partners/<slug>/users", methods=["GET"])
@requires(ADMIN, PARTNER_ADMIN)
@blp.response(200, UserList)
@answers("unknown_partner", "wrong_partner")
def list_users(slug):
    """The partner's people, disabled ones too."""
    only_itself(slug)
    return read(lambda session: {"items": [person.as_json(slug) for person in people.of_partner(
        session, get_partner(session, slug).id)], "next": None})


@blp.route("/partners/<slug>/users/<int:user_id>", methods=["DELETE"])
@requires(ADMIN, PARTNER_ADMIN)
@writes
@blp.response(200, UserOut)
@answers("unknown_partner", "wrong_partner", "unknown_user")
def disable_user(slug, user_id):
    """Disable a person's account: their tokens stop working at once; the account stays in the audit trail."""
    only_itself(slug)

    def work(session):
        partner = get_partner(session, slug)
        person = people.by_id(session, user_id)
        if person.partner_id != partner.id:
            raise NotFound(f"No user {user_id} at this partner", {"user_id": [str(user_id)]}, code="unknown_user")
        after = people.disable(session, user_id, now()).as_json(slug)
        audit_trail.change(person.as_json(slug), after, partner_id=partner.id)
        return after

    return idempotent_write(work, status=200)
