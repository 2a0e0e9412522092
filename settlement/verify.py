"""Checking a statement offline: its signature, its Merkle root, its place in the chain; or a partner's section.

Everything needed is in the files themselves and the hub's public keys (a
JWK set): no database, no network. Each failure names what failed.
"""

from __future__ import annotations

import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from settlement.canonical import canonical_bytes, sha256_hex
from settlement.merkle import merkle_root, section_leaves, verify_inclusion
from settlement.signing import BadSignature, b64url_decode, verify


class VerificationFailed(Exception):
    """The first check that failed, in words a finance team can act on."""


def _signature(data: bytes, signature: Any, jwks: dict, what: str) -> None:
    try:
        verify(data, signature, jwks)
    except BadSignature as exc:
        raise VerificationFailed(f"{what}: the signature does not hold ({exc})") from None


def head_of(document: dict) -> dict:
    """The signed facts of a document (a whole statement or a partner's section): sequence, period, hashes."""
    return document["statement"] if "statement" in document else document["signed_root"]


STATEMENT_FILE = {"statement", "signature", "acknowledgements"}
SECTION_FILE = {"sequence", "section", "proof", "merkle_root", "statement_hash", "signed_root", "signature"}


def check(document: Any, jwks: dict, previous: Any = None, partner_keys: dict | None = None) -> list[str]:
    """Verify `document`; return what was checked, or raise VerificationFailed.

    A whole statement's acknowledgements are checked too: each names this
    statement's hash and its countersignature holds under the key kept
    with it, or under `partner_keys` (slug -> key: the finance team's own
    copy of the partners' keys) where that names the partner.
    """
    if not isinstance(document, dict) or not ("statement" in document or "section" in document):
        raise VerificationFailed("the file is neither a signed statement nor a partner's section")
    expected = STATEMENT_FILE if "statement" in document else SECTION_FILE
    if not set(document) <= expected:
        raise VerificationFailed(f"the file has parts no statement has: {', '.join(sorted(set(document) - expected))}")
    checked = []
    try:
        if "statement" in document:
            statement = document["statement"]
            _signature(canonical_bytes(statement), document.get("signature"), jwks, f"statement {statement['sequence']}")
            checked.append(f"statement {statement['sequence']}: signature by key {document['signature']['key_id']}")
            if merkle_root(section_leaves(statement["partners"])) != statement["merkle_root"]:
                raise VerificationFailed(f"statement {statement['sequence']}: the Merkle root does not match its sections")
            checked.append("Merkle root over the partner sections")
            checked += _acknowledgements(document.get("acknowledgements") or [], sha256_hex(statement), partner_keys or {})
        else:
            head = document["signed_root"]
            _signature(canonical_bytes(head), document.get("signature"), jwks, f"statement {head['sequence']}'s root")
            checked.append(f"statement {head['sequence']}: signed root by key {document['signature']['key_id']}")
            if any(document[key] != head[key] for key in ("merkle_root", "sequence", "statement_hash")):
                raise VerificationFailed("the section's statement number, Merkle root or hash is not the signed one")
            if not verify_inclusion(canonical_bytes(document["section"]), document["proof"], head["merkle_root"]):
                raise VerificationFailed(f"the section of {document['section'].get('partner')!r} is not in the signed statement")
            checked.append(f"section of {document['section']['partner']!r} included under the signed root")
        if previous is not None:
            checked += _chain(document, previous, jwks)
    except (KeyError, TypeError, AttributeError) as exc:
        raise VerificationFailed(f"the file lacks a part a statement has ({exc!r})") from None
    return checked


def _acknowledgements(acknowledgements: list, statement_hash: str, partner_keys: dict) -> list[str]:
    checked = []
    for ack in acknowledgements:
        partner = ack["partner"]
        if ack["statement_hash"] != statement_hash:
            raise VerificationFailed(f"{partner!r} acknowledged another statement (hash {ack['statement_hash']})")
        key = partner_keys.get(partner, ack.get("public_key"))
        if not key:
            raise VerificationFailed(f"{partner!r}'s acknowledgement names no key to check it with (--partner-keys)")
        try:
            Ed25519PublicKey.from_public_bytes(b64url_decode(key)).verify(b64url_decode(ack["signature"]),
                                                                           statement_hash.encode("ascii"))
        except (InvalidSignature, ValueError, TypeError, binascii.Error):
            raise VerificationFailed(f"{partner!r}'s acknowledgement: the countersignature does not hold") from None
        whose = "the finance team's copy of its key" if partner in partner_keys else "the key kept with it"
        checked.append(f"acknowledged by {partner!r}: its countersignature holds under {whose}")
    return checked


def _chain(document: dict, previous: Any, jwks: dict) -> list[str]:
    check(previous, jwks)
    head, before = head_of(document), head_of(previous)
    if head["sequence"] != before["sequence"] + 1:
        raise VerificationFailed(f"statement {head['sequence']} does not follow statement {before['sequence']}")
    if head["period"]["start"] != before["period"]["end"]:
        raise VerificationFailed(f"statement {head['sequence']}'s period does not start where {before['sequence']}'s ended")
    if "statement" not in previous:
        return [f"follows statement {before['sequence']} (sequence and period; its hash needs the whole statement)"]
    if head["previous_hash"] != sha256_hex(previous["statement"]):
        raise VerificationFailed(f"statement {head['sequence']} names another predecessor than statement {before['sequence']}")
    return [f"chained to statement {before['sequence']} by its hash"]


def verdict(document: Any, jwks: dict, previous: Any = None, partner_keys: dict | None = None) -> tuple[bool, list[str]]:
    """What `coalition settlement verify` prints: a line per check that holds, or the one that failed."""
    try:
        return True, [f"ok    {line}" for line in check(document, jwks, previous, partner_keys)]
    except (VerificationFailed, ValueError) as exc:
        return False, [f"FAIL  {exc}"]
