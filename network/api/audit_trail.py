"""Where HTTP meets the audit trail: each write's event, written by the write's transaction.

`idempotent_write` writes every write's `event`, so a write route cannot
forget it; a view that changes configuration says what it
was and what it became with `change`, read in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from flask import current_app, g, request
from sqlalchemy.orm import Session

from network.parties import audit

_CHANGE = "coalition_audit_change"


def change(before, after, partner_id: int | None = None, target: str | None = None) -> None:
    """The configuration this write replaces and the one it leaves, kept as JSON (decimals and times as strings).

    `target`: what was made, where the request's path names only its collection (a new partner's own path).
    """
    setattr(g, _CHANGE, (jsonable(before), jsonable(after), partner_id, target))


def jsonable(value):
    return None if value is None else json.loads(json.dumps(value, default=_text))


def _text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def begin() -> None:
    """Start a write's attempt: a retry starts with no change said yet."""
    g.pop(_CHANGE, None)


def event(*, action: str | None = None, target: str | None = None) -> audit.Event:
    """The event of the write this request made, with the change its view said (`change`).

    `common.idempotent_write` has it written in the write's transaction, with its outcome; the INSERT proves an
    unchecked caller still holds, or raises `Stale` (see `network.parties.auth`).
    """
    before, after, partner_id, made = g.pop(_CHANGE, (None, None, None, None))
    current = request._get_current_object()  # one look-up of the request, not one per attribute: every sale comes here
    return audit.Event(current_app.config["CLOCK"](), actor(), action or f"{current.method} {current.url_rule.rule}",
                       target or made or current.path, audit.Where(current.remote_addr, current.headers.get("User-Agent")),
                       partner_id, before, after)


def for_batch() -> Callable[[Session, dict], None]:
    """A chunk's event writer, for a batch booked in chunks on other threads (no request there): who and where are
    this request's, `after` says what the chunk held."""
    who, where, clock = actor(), audit.Where(request.remote_addr, request.headers.get("User-Agent")), current_app.config["CLOCK"]
    action, target = f"{request.method} {request.url_rule.rule}", request.path

    def write(session: Session, what: dict) -> None:
        audit.record(session, clock(), who, action, target, where=where, after=what)

    return write


def actor() -> audit.Actor:
    caller = g.principal
    return audit.Actor(caller.actor, caller.role, caller.partner.id if caller.partner else None, caller.credential_id,
                       unchecked=not caller.verified, settings_version=caller.settings_version)
