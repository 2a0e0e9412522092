"""Idempotency-Key handling, after the IETF httpapi idempotency-key draft.

The outcome of a write (status and exact body) is stored in the same
transaction as its postings, keyed by (principal, key). A retry with the same
key and payload gets the stored outcome back and posts nothing; with another
payload it is refused (422 `idempotency_key_reused`). Two concurrent requests
with one key: the second waits on the first's uncommitted row (PostgreSQL's
unique index, SQLite's write lock), then finds it and replays it, so the
work is done exactly once.

Business refusals (insufficient points, a duplicate order) are stored and
replayed too; requests refused by validation never get this far, and 5xx
outcomes are not stored, so they can be retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from network.db import Database
from network.errors import DomainError, Invalid
from network.models import IdempotencyRecord

MAX_KEY_LENGTH = 255


def to_json(body: dict) -> str:
    return json.dumps(body, default=_encode, separators=(",", ":"))


def _encode(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True)
class Outcome:
    status: int
    body: str
    replayed: bool = False


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Equal for the same request, whatever its JSON whitespace or key order."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
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
_STORE = insert(_records)


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
) -> Outcome:
    """Run `work` once per key; `work` returns (status, body) or raises DomainError."""

    def store(session: Session, status: int, body: str) -> None:
        session.connection().execute(
            _STORE,
            {"principal": principal, "key": key, "request_hash": request_hash, "status": status, "body": body, "created_at": now},
        )

    def unit(session: Session) -> Outcome:
        if key is not None and (record := _stored(session, principal, key)) is not None:
            return _replay(record, request_hash)
        status, body = work(session)
        text = to_json(body)
        if key is not None:
            store(session, status, text)
        return Outcome(status, text)

    try:
        return db.transact(unit)
    except DomainError as refusal:
        if key is None or refusal.status >= 500 or refusal.code == "idempotency_key_reused":
            raise
        failure = to_json(refusal.body())

        def remember(session: Session) -> Outcome:
            if (record := _stored(session, principal, key)) is not None:
                return _replay(record, request_hash)
            store(session, refusal.status, failure)
            return Outcome(refusal.status, failure)

        return db.transact(remember)
