"""Request and response schemas of who may call: sign-in, passwords, partners' keys and users, the audit trail."""

from __future__ import annotations

from marshmallow import fields, validate

from network.api.paging import Listing, page_schema, query_schema
from network.api.schemas import Strict
from network.parties.people import MAX_PASSWORD
from network.parties.roles import PARTNER_USER_ROLES


def Stamp(**kwargs):
    """An ISO 8601 time the domain already wrote as text (answers of writes are stored as they are sent)."""
    kwargs.setdefault("metadata", {}).update(format="date-time")
    return fields.String(**kwargs)


_EMAIL = {"example": "ines@brew-bar.example", "description": "compared lower-cased"}


class SignIn(Strict):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254), metadata=_EMAIL)
    password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_PASSWORD),
                             metadata={"example": "correct horse battery staple"})


class SignedIn(Strict):
    token = fields.String(metadata={"description": "send as `Authorization: Bearer <token>`; shown once",
                                    "example": "coal_pt_3q2-7Zk0..."})
    expires_at = fields.DateTime()
    role = fields.String(metadata={"example": "partner_admin"})
    partner = fields.String(allow_none=True, metadata={"description": "the partner's slug, for a partner's user"})


class PasswordChange(Strict):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254), metadata=_EMAIL)
    password = fields.String(required=True, validate=validate.Length(min=1, max=MAX_PASSWORD),
                             metadata={"description": "the current (or one-time) password"})
    new_password = fields.String(required=True, validate=validate.Length(min=12, max=MAX_PASSWORD),
                                 metadata={"description": "12 characters or more", "example": "my own long passphrase"})


class PasswordChanged(Strict):
    changed = fields.Boolean()


class ApiKeyCreate(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={"example": "tills, store 4"})
    expires_at = fields.AwareDateTime(load_default=None, metadata={"description": "default: never"})


class ApiKeyOut(Strict):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String(metadata={"example": "partner_key"})
    hint = fields.String(metadata={"description": "the key's first characters, to tell keys apart", "example": "coal_pk_x7Qa"})
    created_at = Stamp()
    expires_at = Stamp(allow_none=True)
    last_used_at = Stamp(allow_none=True, metadata={"description": "to the minute"})
    revoked_at = Stamp(allow_none=True)


class ApiKeyCreated(ApiKeyOut):
    key = fields.String(allow_none=True, metadata={"description": "the key, shown this once (null in a replay)",
                                                   "example": "coal_pk_x7Qa..."})
    key_shown = fields.String(metadata={"description": '"once", in a replay: the key is never stored'})


class ApiKeyList(Strict):
    items = fields.List(fields.Nested(ApiKeyOut))
    next = fields.String(allow_none=True)


class PartnerUserCreate(Strict):
    email = fields.Email(required=True, validate=validate.Length(min=3, max=254), metadata=_EMAIL)
    role = fields.String(required=True, validate=validate.OneOf(PARTNER_USER_ROLES), metadata={"example": "partner_staff"})


class UserOut(Strict):
    id = fields.Integer()
    email = fields.String()
    role = fields.String()
    partner = fields.String(allow_none=True)
    must_change_password = fields.Boolean()
    disabled_at = Stamp(allow_none=True)
    created_at = Stamp()
    last_sign_in_at = Stamp(allow_none=True)


class UserCreated(UserOut):
    password = fields.String(allow_none=True, metadata={"description": "a one-time password, shown this once: the user "
                                                                       "chooses their own at `POST /v1/auth/password`"})
    password_shown = fields.String(metadata={"description": '"once", in a replay'})


class UserList(Strict):
    items = fields.List(fields.Nested(UserOut))
    next = fields.String(allow_none=True)


#: The audit trail as a list of the API (network/api/paging.py): newest first, by event id.
AUDIT = Listing("audit-events", int, bound=2**63 - 1, newest_first=True, example_key=1234)


class AuditQuery(query_schema(AUDIT, "by event id")):
    actor = fields.String(validate=validate.Length(max=300), metadata={"example": "ines@brew-bar.example"})
    target = fields.String(validate=validate.Length(max=300), metadata={"description": "a path, and everything below it",
                                                                       "example": "/v1/partners/brew-bar"})
    action = fields.String(validate=validate.Length(max=80), metadata={"example": "PUT /v1/partners/<slug>/contract"})
    since = fields.AwareDateTime(data_key="from", metadata={"description": "from this instant on"})
    until = fields.AwareDateTime(data_key="to", metadata={"description": "before this instant"})


class AuditEventOut(Strict):
    id = fields.Integer()
    at = Stamp()
    actor = fields.String()
    role = fields.String()
    action = fields.String()
    target = fields.String()
    address = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True, metadata={"description": "a configuration change: the value it replaced"})
    after = fields.Raw(allow_none=True, metadata={"description": "a configuration change: the value it left"})


AuditPage = page_schema(AuditEventOut, "AuditPage", AUDIT, "/v1/audit-events")
