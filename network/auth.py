"""Who is calling: the operator (one bearer token from the environment) or a partner (its API key)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from network.db import Database
from network.errors import Unauthenticated
from network.registry import PartnerRef, partner_by_key

OPERATOR, PARTNER = "operator", "partner"


@dataclass(frozen=True)
class Principal:
    role: str
    partner: PartnerRef | None = None

    @property
    def key(self) -> str:
        """The namespace of this caller's idempotency keys."""
        return OPERATOR if self.partner is None else f"partner:{self.partner.id}"


def authenticate(db: Database, authorization: str | None, admin_token: str | None) -> Principal:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send Authorization: Bearer <token>", code="missing_token")
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(OPERATOR)
    partner = db.read(lambda session: partner_by_key(session, token))
    if partner is None:
        raise Unauthenticated("The token is not valid", code="invalid_token")
    return Principal(PARTNER, partner)
