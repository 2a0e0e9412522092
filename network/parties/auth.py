"""Who is calling: a bearer secret turned into a principal (its role, its partner, its name in the audit trail).

Every request with a token makes exactly one query, which reads the
credential, its person, its partner with the partner's hot accounts, and
the network's settings version together. Nothing about a caller is kept
between requests: a revoked or expired key, a disabled person or a changed
partner is seen by every worker from its very next request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from network.db import Database
from network.errors import Unauthenticated
from network.ledger.journal import ISSUANCE, REDEMPTION
from network.models import Account, Credential, Partner, SettingsVersion, User
from network.parties import roles
from network.parties.registry import PARTNER_COLUMNS, PartnerRef, partner_ref
from partners.credentials import hash_api_key

#: The bootstrap admin's name in the audit trail and its idempotency namespace.
OPERATOR_TOKEN = "operator token"
#: A credential's last use is written at most this often, so authenticating stays a read.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    role: str
    partner: PartnerRef | None = None
    #: Who this is in the audit trail: a person's e-mail, "key 12 (till 4)", or the bootstrap token.
    actor: str = OPERATOR_TOKEN
    credential_id: int | None = None
    user_id: int | None = None
    #: The network's settings version as this request read it (see `Hub.recently`); None: not read yet (the
    #: bootstrap token needs no query, so a request that reads no setting makes none).
    settings_version: int | None = None

    @property
    def key(self) -> str:
        """The namespace of this caller's idempotency keys: a partner's keys and people share theirs, so a
        retry sent with a rotated key still finds its first outcome."""
        if self.partner is not None:
            return f"partner:{self.partner.id}"
        return "operator" if self.user_id is None else f"user:{self.user_id}"

    @property
    def is_staff(self) -> bool:
        return self.role in roles.STAFF_ROLES

    @property
    def sees_personal_data(self) -> bool:
        return self.role in roles.SEES_PERSONAL_DATA


_issuance, _redemption = aliased(Account), aliased(Account)
_PARTNERS = (
    Partner.__table__.join(_issuance, and_(_issuance.partner_id == Partner.id, _issuance.kind == ISSUANCE))
    .join(_redemption, and_(_redemption.partner_id == Partner.id, _redemption.kind == REDEMPTION))
)
_VERSION_ROW = select(SettingsVersion.version).where(SettingsVersion.id == 1)
_VERSION = _VERSION_ROW.scalar_subquery()
_CALLER = (
    select(
        Credential.id.label("credential_id"), Credential.kind.label("credential_kind"), Credential.name.label("credential_name"),
        Credential.expires_at, Credential.revoked_at, Credential.last_used_at,
        User.id.label("user_id"), User.email, User.role.label("user_role"), User.disabled_at,
        *PARTNER_COLUMNS, _issuance.id.label(ISSUANCE), _redemption.id.label(REDEMPTION),
        _VERSION.label("settings_version"),
    )
    .select_from(Credential)
    .outerjoin(User, User.id == Credential.user_id)
    .outerjoin(_PARTNERS, Partner.id == func.coalesce(Credential.partner_id, User.partner_id))
    .where(Credential.key_hash == bindparam("key_hash"))
)


def settings_version(session: Session) -> int:
    return session.scalar(_VERSION_ROW) or 0


def bump_settings_version(session: Session) -> None:
    """Call in the transaction that changes a setting workers keep (the tier ladder, a catalogue).

    The migration seeds the one row; should it be gone, the change writes it
    again rather than leave every worker on the old value for ever.
    """
    bumped = session.execute(update(SettingsVersion).where(SettingsVersion.id == 1).values(version=SettingsVersion.version + 1))
    if bumped.rowcount == 0:
        session.execute(insert(SettingsVersion).values(id=1, version=1))


def authenticate(db: Database, authorization: str | None, admin_token: str | None, now: datetime) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send Authorization: Bearer <token>", code="missing_token")
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(roles.ADMIN)
    row = db.row(_CALLER, {"key_hash": hash_api_key(token)})
    principal = _principal(row, now)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        db.transact(lambda session: session.execute(
            update(Credential).where(Credential.id == row.credential_id).values(last_used_at=now)))
    return principal


def _principal(row, now: datetime) -> Principal:
    if row is None:
        raise Unauthenticated("The token is not valid", code="invalid_token")
    if row.revoked_at is not None:
        raise Unauthenticated("The token was revoked", code="invalid_token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("The token has expired", code="invalid_token")
    if row.user_id is not None and row.disabled_at is not None:
        raise Unauthenticated("The account of this token is disabled", code="invalid_token")
    partner = partner_ref(row) if row.id is not None else None
    if row.user_id is None:
        return Principal(roles.PARTNER_KEY, partner, actor=f"key {row.credential_id} ({row.credential_name})",
                         credential_id=row.credential_id, settings_version=row.settings_version)
    return Principal(row.user_role, partner, actor=row.email, credential_id=row.credential_id, user_id=row.user_id,
                     settings_version=row.settings_version)
