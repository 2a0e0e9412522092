"""The audit trail: one row per write, inserted in the write's own transaction, never changed.

A write and its event commit together or not at all, so the trail cannot
miss a write nor name one that did not happen. The table only grows: this
module has no update or delete, and the migration's trigger refuses both
from any other code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from network.models import AuditEvent, Credential, User
from network.parties.auth import VERSION, Stale


@dataclass(frozen=True)
class Actor:
    """Who wrote, as the trail names them; `unchecked`: the principal was not read by this request (see `auth`)."""

    name: str
    role: str
    partner_id: int | None = None
    credential_id: int | None = None
    unchecked: bool = False
    settings_version: int | None = None


@dataclass(frozen=True)
class Where:
    address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Event:
    """One write as the trail keeps it. `partner_id`: whose thing changed, if not the actor's own partner (an operator
    changing a partner's rules)."""

    at: datetime
    actor: Actor
    action: str
    target: str
    where: Where = Where()
    partner_id: int | None = None
    before: object = None
    after: object = None

    def params(self) -> dict:
        actor, where = self.actor, self.where
        return {
            "at": self.at, "actor": actor.name[:300], "role": actor.role,
            "partner_id": self.partner_id if self.partner_id is not None else actor.partner_id,
            "credential_id": actor.credential_id, "action": self.action[:80], "target": self.target[:300],
            "address": (where.address or None) and where.address[:64],
            "user_agent": (where.user_agent or None) and where.user_agent[:300], "before": self.before, "after": self.after,
            **({"now": self.at, "version": actor.settings_version} if actor.unchecked else {}),
        }


def record(session: Session, at: datetime, actor: Actor, action: str, target: str, *, where: Where = Where(),
           partner_id: int | None = None, before=None, after=None) -> None:
    write(session, Event(at, actor, action, target, where, partner_id, before, after))


def write(session: Session, event: Event) -> None:
    """One prepared Core INSERT on the write's connection: every sale writes one of these.

    For an unchecked actor the INSERT takes its row from the credential, so it writes nothing unless the
    credential is still good and the settings version the request used is still the network's: then `Stale`
    rolls the write back.
    """
    written = session.connection().execute(_CHECKED if event.actor.unchecked else _INSERT, event.params())
    if event.actor.unchecked and written.first() is None:  # RETURNING: psycopg reports no rowcount for INSERT ... SELECT
        raise Stale


def along(statement) -> dict[bool, object]:
    """`statement` (a PostgreSQL INSERT ... RETURNING with its own bound names) and an event's INSERT, made one
    statement: the write's last round trip carries its event (`write_along`). By whether the actor is unchecked."""
    clash = set(statement.compile(dialect=postgresql.dialect()).binds) & {*_COLUMNS, "now", "version"}
    if clash:
        raise ValueError(f"{sorted(clash)} are an audit event's bound names")
    made = {}
    for unchecked, event in ((False, _VALUES), (True, _CHECKED)):
        events, rows = event.cte("event"), statement.cte("outcome")
        made[unchecked] = select(select(func.count()).select_from(events).scalar_subquery().label("events"),
                                 select(func.count()).select_from(rows).scalar_subquery().label("rows"))
    return made


def write_along(session: Session, event: Event, combined: dict[bool, object], params: dict) -> bool:
    """Run a statement made by `along` (PostgreSQL only): whether the other INSERT wrote its row; `Stale` as `write`."""
    found = session.connection().execute(combined[event.actor.unchecked], {**event.params(), **params}).one()
    if found.events == 0:
        raise Stale
    return found.rows > 0


_INSERT = insert(AuditEvent.__table__)
_COLUMNS = ("at", "actor", "role", "partner_id", "credential_id", "action", "target", "address", "user_agent", "before",
            "after")
_BOUND = tuple(bindparam(name, type_=AuditEvent.__table__.c[name].type) for name in _COLUMNS)
_VALUES = insert(AuditEvent.__table__).values(dict(zip(_COLUMNS, _BOUND))).returning(AuditEvent.id)
_CHECKED = insert(AuditEvent.__table__).from_select(_COLUMNS, select(*_BOUND).select_from(
    Credential.__table__.outerjoin(User.__table__, User.id == Credential.user_id)
).where(
    Credential.id == bindparam("credential_id"), Credential.revoked_at.is_(None),
    or_(Credential.expires_at.is_(None), Credential.expires_at > bindparam("now", type_=Credential.__table__.c.expires_at.type)),
    User.disabled_at.is_(None),
    VERSION == bindparam("version"),
)).returning(AuditEvent.id)


@dataclass(frozen=True)
class Filter:
    actor: str | None = None
    target: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: A partner admin's view: only events of its partner.
    partner_id: int | None = None


def page(session: Session, found: Filter, *, before_id: int | None, limit: int) -> list[dict]:
    """Events newest first, `limit` of them below `before_id` (the last id of the page before)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if found.actor:
        query = query.where(AuditEvent.actor == found.actor)
    if found.target:
        query = query.where(or_(AuditEvent.target == found.target, AuditEvent.target.startswith(found.target.rstrip("/") + "/",
                                                                                                 autoescape=True)))
    if found.action:
        query = query.where(AuditEvent.action == found.action)
    if found.since:
        query = query.where(AuditEvent.at >= found.since)
    if found.until:
        query = query.where(AuditEvent.at < found.until)
    if found.partner_id is not None:
        query = query.where(AuditEvent.partner_id == found.partner_id)
    return [_json(event) for event in session.scalars(query)]


def _json(event: AuditEvent) -> dict:
    return {"id": event.id, "at": event.at.isoformat(), "actor": event.actor, "role": event.role, "action": event.action,
            "target": event.target, "address": event.address, "user_agent": event.user_agent,
            "before": event.before, "after": event.after}
