"""Who may call the hub: people (the operator's staff, partners' users), their credentials, and the trail they leave."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id


class User(Base):
    """A named person: the operator's staff (no partner) or one partner's own user.

    One table for both, so that signing in, locking out and auditing are
    one piece of code; the role says which, and a partner role always names
    its partner.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    #: Lower-cased and stripped: one person, one address, however they type it.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    #: argon2id, in its own self-describing string (parameters and salt included).
    password_hash: Mapped[str] = mapped_column(Text)
    #: A password someone else chose (a one-time password) must be replaced before the first sign-in.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_sign_in_at: Mapped[datetime | None]


class Credential(Base):
    """A bearer secret, stored as its SHA-256: a partner's API key, a person's API token, or a sign-in session.

    A partner key names its partner and no user; a person's token names the
    user (and so, for a partner user, the partner). One table, so that a
    request is authenticated by one indexed lookup whatever it carries.
    """

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the secret (its kind and a few random ones), so a list tells keys apart.
    hint: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    #: "partner_key", "token" (made by a person for a script) or "session" (made by signing in).
    kind: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    #: Written at most once a minute per credential, so that authenticating stays a read.
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditEvent(Base):
    """One write, by whom, from where, and for a change of configuration the value before and after.

    Written in the write's own transaction, so a write without its event
    cannot commit. Rows are only ever inserted: no code path updates or
    deletes them, and a database trigger refuses both.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    #: The person's e-mail, "key <id> (<name>)" for a partner key, "operator token" or "cli (<os user>)".
    actor: Mapped[str] = mapped_column(String(300), index=True)
    role: Mapped[str] = mapped_column(String(20))
    #: Whose partner the actor is, or whose thing was changed: a partner admin reads its partner's events.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    action: Mapped[str] = mapped_column(String(80), index=True)
    target: Mapped[str] = mapped_column(String(300), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    #: SQL NULL (not JSON null) when there is nothing to say: every sale leaves an event, and none needs serialising.
    before: Mapped[dict | list | None] = mapped_column(JSON(none_as_null=True))
    after: Mapped[dict | list | None] = mapped_column(JSON(none_as_null=True))


class SettingsVersion(Base):
    """One row whose number goes up with every change of a network-wide setting a worker keeps in memory.

    Read with the caller's credential in the one query every request makes,
    so every worker sees a new tier ladder or catalogue from its next request.
    """

    __tablename__ = "settings_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
