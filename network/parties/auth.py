"""Who is calling: a bearer secret turned into a principal (its role, its partner, its name in the audit trail).

A read makes exactly one query for it, which reads the credential, its
person, its partner with the partner's hot accounts, and the network's
settings version together. A write may start from the principal this
worker read before (`CallerCache`), unchecked: the write's own audit event
is inserted only if the credential is still good and the settings version
unchanged (`audit.write`; on PostgreSQL in the statement that stores the
write's idempotent outcome, `audit.write_along`), and
otherwise the write is rolled back and run again on a fresh reading. So a
revoked or expired key, a disabled person, a changed partner or ladder is
seen by every worker from its very next request, reads and writes alike,
and the hot path pays no query of its own for it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
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
    #: False for a principal this worker read earlier: its write proves it still holds (`audit.write`).
    verified: bool = True
    expires_at: datetime | None = None

    @property
    def key(self) -> str:
        """The namespace of this caller's idempotency keys: a partner's keys and people share theirs, so a
        retry sent with a rotated key still finds its first outcome."""
        if self.partner is not None:
            return f"partner:{self.partner.id}"
        return "operator" if self.user_id is None else f"user:{self.user_id}"

    @property
    def sees_personal_data(self) -> bool:
        return self.role in roles.SEES_PERSONAL_DATA


_issuance, _redemption = aliased(Account), aliased(Account)
_PARTNERS = (
    Partner.__table__.join(_issuance, and_(_issuance.partner_id == Partner.id, _issuance.kind == ISSUANCE))
    .join(_redemption, and_(_redemption.partner_id == Partner.id, _redemption.kind == REDEMPTION))
)
_VERSION_ROW = select(SettingsVersion.version).where(SettingsVersion.id == 1)
#: No row reads as version 0 (a database made without the migrations' seed row still works, just as one made by them).
VERSION = func.coalesce(_VERSION_ROW.scalar_subquery(), 0)
_CALLER = (
    select(
        Credential.id.label("credential_id"), Credential.kind.label("credential_kind"), Credential.name.label("credential_name"),
        Credential.expires_at, Credential.revoked_at, Credential.last_used_at,
        User.id.label("user_id"), User.email, User.role.label("user_role"), User.disabled_at,
        *PARTNER_COLUMNS, _issuance.id.label(ISSUANCE), _redemption.id.label(REDEMPTION),
        VERSION.label("settings_version"),
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


class Stale(Exception):
    """A write's unchecked principal no longer holds (revoked, expired, disabled, or the settings moved on)."""


class CallerCache:
    """The principals this worker read, by their secret's hash: a write starts from one without a query.

    Never trusted on its own: see the module's docstring. Bounded, and
    emptied whole when full (a worker serves a few thousand keys at most).
    """

    def __init__(self, size: int = 10_000):
        self.size = size
        self._found: dict[str, Principal] = {}
        #: When this worker last wrote each credential's `last_used_at`.
        self._used: dict[str, datetime] = {}

    def get(self, key_hash: str, now: datetime) -> Principal | None:
        found = self._found.get(key_hash)
        if found is None or (found.expires_at is not None and found.expires_at <= now):
            return None
        return found

    def put(self, key_hash: str, principal: Principal, used_at: datetime | None) -> None:
        if len(self._found) >= self.size:
            self._found.clear()
            self._used.clear()
        self._found[key_hash] = replace(principal, verified=False)  # kept unchecked: a later request proves it
        if used_at is not None:
            self._used[key_hash] = used_at

    def use_due(self, key_hash: str, now: datetime) -> bool:
        """Whether this use is to be written: once a minute per credential and worker, not on every request."""
        last = self._used.get(key_hash)
        if last is not None and now - last < LAST_USED_EVERY:
            return False
        self._used[key_hash] = now
        return True

    def drop(self, key_hash: str) -> None:
        self._found.pop(key_hash, None)


def bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send Authorization: Bearer <token>", code="missing_token")
    return token


#: Whether a principal read before still holds: a one-column answer, far cheaper to read than the caller's row.
_STILL_GOOD = (
    select(Credential.id)
    .select_from(Credential)
    .outerjoin(User, User.id == Credential.user_id)
    .where(Credential.id == bindparam("credential_id"), Credential.revoked_at.is_(None),
           or_(Credential.expires_at.is_(None), Credential.expires_at > bindparam("now", type_=Credential.expires_at.type)),
           User.disabled_at.is_(None), VERSION == bindparam("version"))
)


def still_good(connection, principal: Principal, now: datetime) -> bool:
    """Whether a principal read before still holds, asked on the caller's own connection (no checkout of its own)."""
    return connection.execute(_STILL_GOOD, {"credential_id": principal.credential_id, "now": now,
                                            "version": principal.settings_version}).first() is not None


def authenticate(db: Database, authorization: str | None, admin_token: str | None, now: datetime,
                 cache: CallerCache | None = None) -> Principal:
    """The caller; with `cache`, possibly one this worker read before, unchecked: the request must prove it
    (`still_good`, or a write's audit INSERT) before it answers."""
    token = bearer(authorization)
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(roles.ADMIN)
    key_hash = hash_api_key(token)
    if cache is not None and (found := cache.get(key_hash, now)) is not None:
        if cache.use_due(key_hash, now):
            _used(db, found.credential_id, now)
        return found
    row = db.row(_CALLER, {"key_hash": key_hash})
    principal = _principal(row, now)
    due = row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY
    if cache is not None:
        cache.put(key_hash, principal, now if due else row.last_used_at)
    if due:
        _used(db, row.credential_id, now)
    return principal


def _used(db: Database, credential_id: int, now: datetime) -> None:
    db.transact(lambda session: session.execute(
        update(Credential).where(Credential.id == credential_id).values(last_used_at=now)))


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
                         credential_id=row.credential_id, settings_version=row.settings_version, expires_at=row.expires_at)
    return Principal(row.user_role, partner, actor=row.email, credential_id=row.credential_id, user_id=row.user_id,
                     settings_version=row.settings_version, expires_at=row.expires_at)
