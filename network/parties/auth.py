"""Who is calling: the operator (one bearer token from the environment) or a partner (its API key)."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field

from network.db import Database
from network.errors import Unauthenticated
from network.parties.registry import PartnerRef, partner_by_key
from partners.credentials import hash_api_key

OPERATOR, PARTNER = "operator", "partner"


@dataclass(frozen=True)
class Principal:
    role: str
    partner: PartnerRef | None = None

    @property
    def key(self) -> str:
        """The namespace of this caller's idempotency keys."""
        return OPERATOR if self.partner is None else f"partner:{self.partner.id}"


@dataclass
class KeyCache:
    """Partners recently authenticated by this worker, by a hash of their key.

    Authentication is the one query every request makes; remembering a
    partner for a few seconds saves it. A change to a partner (or a revoked
    key) therefore reaches each worker within `seconds`. Unknown keys are
    never remembered, so a new partner's key works at once.
    """

    seconds: float = 5.0
    clock: object = time.monotonic
    _entries: dict[str, tuple[float, PartnerRef]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key_hash: str) -> PartnerRef | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < self.clock():
            return None
        return entry[1]

    def clear(self) -> None:
        """Forget every partner: this worker sees a change it made at once."""
        with self._lock:
            self._entries.clear()

    def put(self, key_hash: str, partner: PartnerRef) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key_hash] = (self.clock() + self.seconds, partner)


def authenticate(
    db: Database, authorization: str | None, admin_token: str | None, cache: KeyCache | None = None
) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send Authorization: Bearer <token>", code="missing_token")
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(OPERATOR)
    key_hash = hash_api_key(token)
    partner = cache.get(key_hash) if cache else None
    if partner is None:
        partner = db.read(lambda session: partner_by_key(session, token))
        if partner is None:
            raise Unauthenticated("The token is not valid", code="invalid_token")
        if cache:
            cache.put(key_hash, partner)
    return Principal(PARTNER, partner)
