"""Idempotency-Key handling, after the IETF httpapi idempotency-key draft.

The outcome of a write (status and exact body) is stored in the same
transaction as its postings, keyed by (principal, key). A retry with the same
key and payload gets the stored outcome back and posts nothing; with another
payload it is refused (422 `idempotency_key_reused`). There is no look-up
before the work: a retry finds its order id taken, or the key taken when it
stores its outcome, and is rolled back and answered with the stored outcome.
Two concurrent requests with one key: the second waits on the first's
uncommitted rows (PostgreSQL's row locks and unique index, SQLite's write
lock), then is rolled back and replays the first, so the work is done
exactly once. If the first was rolled back meanwhile, the second is told to
retry (409 `idempotency_key_in_flight`).

An answer that hands out a secret (a new partner's API key) marks it
`ShownOnce`: the secret goes to the caller, the stored outcome has null in
its place and `<field>_shown: "once"` beside it, so the database keeps only
the secret's hash and a replay cannot serve it again.

Business refusals (insufficient points, a duplicate order) are stored and
replayed too; requests refused by validation never get this far, and 5xx
outcomes are not stored, so they can be retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from network.db import Database, insert_unless_taken
from network.errors import Conflict, DomainError, Invalid
from network.models import IdempotencyRecord
from network.parties import audit

MAX_KEY_LENGTH = 255


def to_json(body: dict) -> str:
    return json.dumps(body, default=_encode, separators=(",", ":"))


def _encode(value):
    """Times in ISO 8601; a Decimal as its exact string (money is never a JSON number here); ids as text."""
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


class ShownOnce(str):
    """A secret in an answer (a top-level value): sent to the caller this once, never stored nor replayed."""

    __slots__ = ()


def redacted(body: dict) -> dict:
    """The answer as stored: each ShownOnce value null, with `<field>_shown: "once"` saying why."""
    secrets = [name for name, value in body.items() if isinstance(value, ShownOnce)]
    if not secrets:
        return body
    return {**body, **{name: None for name in secrets}, **{f"{name}_shown": "once" for name in secrets}}


@dataclass(frozen=True)
class Outcome:
    status: int
    body: str
    replayed: bool = False


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Equal for the same request, whatever its JSON whitespace or key order.

    A body nested past the JSON module's recursion limit is hashed as its bytes, never a 500.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def validate_key(key: str | None) -> None:
    if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()):
        raise Invalid(
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            {"Idempotency-Key": ["must be 1 to 255 printable ASCII characters"]},
        )


def _replay(record, request_hash: str) -> Outcome:
    if record.request_hash != request_hash:
        raise Invalid(
            "This Idempotency-Key was used for a different request",
            {"Idempotency-Key": [record.key]},
            code="idempotency_key_reused",
        )
    return Outcome(record.status, record.body, replayed=True)


_records = IdempotencyRecord.__table__
_STORED = select(_records.c.key, _records.c.request_hash, _records.c.status, _records.c.body).where(
    _records.c.principal == bindparam("principal"), _records.c.key == bindparam("key")
)
_STORE = insert_unless_taken(_records, ["principal", "key"])
_OUTCOME = ("principal", "key", "request_hash", "status", "body", "created_at")
#: On PostgreSQL the outcome and the write's audit event go in one statement, the write's last.
_STORE_WITH_EVENT = audit.along(
    postgresql.insert(_records).values({name: bindparam(name, type_=_records.c[name].type) for name in _OUTCOME})
    .on_conflict_do_nothing(index_elements=["principal", "key"]).returning(_records.c.id)
)


class _KeyTaken(Exception):
    """Another request with this key finished first: roll this one back and replay that one."""


def _stored(session: Session, principal: str, key: str):
    return session.connection().execute(_STORED, {"principal": principal, "key": key}).first()


def run(
    db: Database,
    work: Callable[[Session], tuple[int, dict]],
    *,
    principal: str,
    key: str | None,
    request_hash: str,
    now,
    before_refusal: Callable[[Session], None] = lambda session: None,
    event: Callable[[], audit.Event] | None = None,
) -> Outcome:
    """Run `work` once per key; `work` returns (status, body) or raises DomainError.

    `event`: the audit event of a write that `work` made, asked for once it is done and written with its outcome.
    """

    def store(session: Session, status: int, body: str, made: audit.Event | None = None) -> None:
        """Insert the outcome (and the event), unless the key is taken (then the work is rolled back)."""
        params = {"principal": principal, "key": key, "request_hash": request_hash, "status": status, "body": body,
                  "created_at": now}
        dialect = session.get_bind().dialect.name
        if made is not None and dialect == "postgresql":
            stored = audit.write_along(session, made, _STORE_WITH_EVENT, params)
        else:
            if made is not None:
                audit.write(session, made)
            stored = session.connection().execute(_STORE[dialect], params).first() is not None
        if not stored:
            raise _KeyTaken

    def unit(session: Session) -> Outcome:
        # No look-up first: a retry is rare, and a retried write finds its
        # order taken (a 409, replaced below by the stored outcome) or its
        # key taken when it stores, and is rolled back either way.
        status, body = work(session)
        text = to_json(body)
        made = None if event is None else event()
        if key is not None:
            kept = redacted(body)
            store(session, status, text if kept is body else to_json(kept), made)
        elif made is not None:
            audit.write(session, made)
        return Outcome(status, text)

    def replay(session: Session) -> Outcome:
        record = _stored(session, principal, key)
        if record is None:  # the first request was rolled back meanwhile: it can be retried
            raise Conflict("A request with this Idempotency-Key is in flight; retry", code="idempotency_key_in_flight")
        return _replay(record, request_hash)

    try:
        return db.transact(unit)
    except _KeyTaken:
        return db.read(replay)
    except DomainError as refusal:
        if key is None or refusal.status >= 500:
            raise
        status, failure = refusal.status, to_json(refusal.body())

        def remember(session: Session) -> Outcome:
            before_refusal(session)  # may find the caller no longer holds: nothing is stored for it then
            store(session, status, failure)
            return Outcome(status, failure)

        try:
            return db.transact(remember)
        except _KeyTaken:
            return db.read(replay)
