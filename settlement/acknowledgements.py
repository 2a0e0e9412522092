"""Partners countersign statements: the hash of the statement, signed with a key the partner registered.

The hub keeps the countersignature; the statement itself never changes, so
acknowledgements are listed beside it, not in it.
"""

from __future__ import annotations

import binascii
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid, NotFound
from network.models import Acknowledgement, Partner, Statement
from network.parties.registry import PartnerRef
from settlement.signing import b64url_decode


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = b64url_decode(text)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error):
        raise Invalid("Not an Ed25519 public key", {"public_key": ["must be the 32-byte raw key, base64url without padding"]},
                      code="invalid_public_key") from None


def set_public_key(session: Session, partner: PartnerRef, public_key: str) -> None:
    _public_key(public_key)
    session.execute(update(Partner).where(Partner.id == partner.id).values(public_key=public_key))


def acknowledge(session: Session, partner: PartnerRef, sequence: int, *, statement_hash: str, signature: str,
                now: datetime) -> dict:
    stored = session.get(Statement, sequence) if 0 < sequence < 2**31 else None
    if stored is None:
        raise NotFound(f"No statement {sequence}", code="unknown_statement")
    if statement_hash != stored.hash:
        raise Invalid("That is not this statement's hash", {"statement_hash": [f"statement {sequence}'s is {stored.hash}"]},
                      code="hash_mismatch")
    key = session.scalar(select(Partner.public_key).where(Partner.id == partner.id))
    if key is None:
        raise Invalid("Register a public key first (PUT /v1/partners/<slug>/public-key)", code="no_public_key")
    try:
        _public_key(key).verify(b64url_decode(signature), statement_hash.encode("ascii"))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        raise Invalid("The countersignature does not verify with the partner's public key",
                      {"signature": ["must be the base64url Ed25519 signature of the statement_hash's ASCII bytes"]},
                      code="bad_countersignature") from None
    if session.scalar(select(Acknowledgement.id).where(Acknowledgement.sequence == sequence,
                                                       Acknowledgement.partner_id == partner.id)) is not None:
        raise Conflict(f"{partner.name} already acknowledged statement {sequence}", code="already_acknowledged")
    session.execute(insert(Acknowledgement).values(sequence=sequence, partner_id=partner.id, statement_hash=statement_hash,
                                                   signature=signature, public_key=key, created_at=now))
    return {"sequence": sequence, "partner": partner.slug, "statement_hash": statement_hash, "acknowledged_at": now}


def listed(session: Session, sequence: int) -> list[dict]:
    rows = session.execute(
        select(Partner.slug, Acknowledgement.statement_hash, Acknowledgement.signature, Acknowledgement.public_key,
               Acknowledgement.created_at)
        .join(Partner, Partner.id == Acknowledgement.partner_id)
        .where(Acknowledgement.sequence == sequence)
        .order_by(Partner.slug)
    )
    return [{"partner": slug, "statement_hash": digest, "signature": signature, "public_key": key, "acknowledged_at": at}
            for slug, digest, signature, key, at in rows]
