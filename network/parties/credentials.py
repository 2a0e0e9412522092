"""Issuing and revoking bearer secrets: partners' API keys, people's tokens and sign-in sessions.

A partner holds several keys at once (one per till fleet, shop or script),
so a key is rotated by adding the new one, moving the callers over and
revoking the old one, without a moment when nothing works. Revocation is a
column set in the database; `auth` reads it on every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import NotFound
from network.models import Credential
from partners.credentials import hash_api_key, hint, new_api_key, new_personal_token

PARTNER_KEY, TOKEN, SESSION = "partner_key", "token", "session"


@dataclass(frozen=True)
class KeyInfo:
    """A credential as a list shows it: never the secret, nor its hash."""

    id: int
    name: str
    kind: str
    hint: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def as_json(self) -> dict:
        stamp = (lambda value: None if value is None else value.isoformat())
        return {"id": self.id, "name": self.name, "kind": self.kind, "hint": self.hint,
                "created_at": stamp(self.created_at), "expires_at": stamp(self.expires_at),
                "last_used_at": stamp(self.last_used_at), "revoked_at": stamp(self.revoked_at)}


def issue(session: Session, now: datetime, *, kind: str, name: str, partner_id: int | None = None,
          user_id: int | None = None, expires_at: datetime | None = None) -> tuple[str, int]:
    """A new secret (returned once, never stored) and its credential's id."""
    secret = new_api_key() if kind == PARTNER_KEY else new_personal_token()
    credential_id = session.execute(insert(Credential).values(
        key_hash=hash_api_key(secret), hint=hint(secret), name=name, kind=kind, partner_id=partner_id, user_id=user_id,
        created_at=now, expires_at=expires_at,
    ).returning(Credential.id)).scalar_one()
    return secret, credential_id


_INFO = (Credential.id, Credential.name, Credential.kind, Credential.hint, Credential.created_at, Credential.expires_at,
         Credential.last_used_at, Credential.revoked_at)


def of_partner(session: Session, partner_id: int) -> list[KeyInfo]:
    """A partner's API keys, revoked ones included (a list that forgets them hides who had access)."""
    rows = session.execute(select(*_INFO).where(Credential.partner_id == partner_id, Credential.kind == PARTNER_KEY)
                           .order_by(Credential.id))
    return [KeyInfo(*row) for row in rows]


def of_user(session: Session, user_id: int) -> list[KeyInfo]:
    rows = session.execute(select(*_INFO).where(Credential.user_id == user_id).order_by(Credential.id))
    return [KeyInfo(*row) for row in rows]


def partner_key(session: Session, partner_id: int, key_id: int) -> KeyInfo:
    row = session.execute(select(*_INFO).where(Credential.id == key_id, Credential.partner_id == partner_id,
                                               Credential.kind == PARTNER_KEY)).first()
    if row is None:
        raise NotFound(f"No API key {key_id} of this partner", {"key_id": [str(key_id)]}, code="unknown_api_key")
    return KeyInfo(*row)


def revoke(session: Session, credential_id: int, now: datetime) -> None:
    """Revoke once: a second revocation keeps the first time (the audit trail says who did it when)."""
    session.execute(update(Credential).where(Credential.id == credential_id, Credential.revoked_at.is_(None))
                    .values(revoked_at=now))

