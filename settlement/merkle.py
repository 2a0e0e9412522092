"""A Merkle tree over a statement's per-partner sections (RFC 6962, section 2.1).

The statement is signed once, over a root that commits to every partner's
section; each partner then receives only its own section and an inclusion
proof. It can check that its section is part of the statement every partner
was given, without seeing anybody else's figures.

Why RFC 6962 exactly, rather than a home-made tree:

- leaves and interior nodes are hashed with different prefixes (0x00, 0x01),
  so an interior node can never be passed off as a leaf (second preimage);
- an odd level is split at the largest power of two smaller than n, never by
  duplicating the last node: duplication lets two different leaf lists (with
  and without a repeated last section) share one root;
- it is a published construction with test vectors (Certificate
  Transparency), so a partner can verify a proof with any RFC 6962 library.

Leaves are the RFC 8785 bytes of each section, sorted by the section's
`partner` slug, so the tree, and hence the root, depends only on the
statement's content and not on the order a query returned the rows in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from settlement.canonical import canonical_bytes

__all__ = [
    "EMPTY_ROOT",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "section_index",
    "section_leaves",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()

_HEX32 = re.compile(r"[0-9a-f]{64}")


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + bytes(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first, built bottom-up in O(n).

    Pairing neighbours and carrying an unpaired last node up unchanged builds
    the very tree RFC 6962's recursive split describes (the left subtree is
    always the complete one of 2**k leaves), without its O(n log n) rehashing.
    """
    level = [leaf_hash(leaf) for leaf in leaves]
    levels = [level]
    while len(level) > 1:
        level = [
            node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        levels.append(level)
    return levels


def merkle_root(leaves: Sequence[bytes]) -> str:
    """RFC 6962 Merkle Tree Hash of `leaves` (lowercase hex); SHA-256 of nothing when empty."""
    if not leaves:
        return EMPTY_ROOT
    return _levels(leaves)[-1][0].hex()


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[dict[str, str]]:
    """The audit path of `leaves[index]`, leaf upwards: RFC 6962's PATH(m, D[n]).

    Each step names the side its sibling hash goes on, so a verifier needs
    neither the index nor the tree size.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index!r} is outside a tree of {len(leaves)} leaves")
    proof = []
    for level in _levels(leaves)[:-1]:
        sibling = index ^ 1
        if sibling < len(level):  # an unpaired last node moves up without a step
            proof.append({"side": "left" if sibling < index else "right", "hash": level[sibling].hex()})
        index //= 2
    return proof


def verify_inclusion(leaf: bytes, proof: Any, root_hex: str) -> bool:
    """Whether `leaf` is in the tree whose root is `root_hex`, by `proof`.

    Returns False, never raises, on a malformed proof: whatever a partner was
    handed, the answer to "is my section in the signed statement" is yes or no.
    Hashes must be spelled as `merkle_root` and `inclusion_proof` spell them
    (64 lowercase hex digits), so no altered byte of a proof can still pass.
    """
    if not isinstance(leaf, (bytes, bytearray, memoryview)) or not isinstance(root_hex, str):
        return False
    if not _HEX32.fullmatch(root_hex) or not isinstance(proof, list):
        return False
    current = leaf_hash(leaf)
    for step in proof:
        if not isinstance(step, Mapping) or set(step) != {"side", "hash"}:
            return False
        sibling = step["hash"]
        if not isinstance(sibling, str) or not _HEX32.fullmatch(sibling):
            return False
        if step["side"] == "left":
            current = node_hash(bytes.fromhex(sibling), current)
        elif step["side"] == "right":
            current = node_hash(current, bytes.fromhex(sibling))
        else:
            return False
    return current.hex() == root_hex


# ------------------------------------------------------------------ statement sections


def section_leaves(sections: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """The Merkle leaves of a statement's partner sections: canonical bytes, sorted by `partner`.

    Two sections with one slug would make "the section of partner X" ambiguous,
    so they are refused.
    """
    slugs = []
    for position, section in enumerate(sections):
        slug = section.get("partner") if isinstance(section, Mapping) else None
        if not isinstance(slug, str):
            raise ValueError(f"section {position} has no `partner` slug")
        slugs.append(slug)
    if len(set(slugs)) != len(slugs):
        duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        raise ValueError(f"partner sections repeat: {', '.join(duplicates)}")
    ordered = sorted(zip(slugs, sections), key=lambda pair: pair[0])
    return [canonical_bytes(section) for _, section in ordered]


def section_index(sections: Sequence[Mapping[str, Any]], partner: str) -> int:
    """Where partner's section sits among `section_leaves(sections)`, for `inclusion_proof`."""
    section_leaves(sections)  # the same checks, so index and leaves always agree
    slugs = sorted(section["partner"] for section in sections)
    try:
        return slugs.index(partner)
    except ValueError:
        raise KeyError(f"no section for partner {partner!r}") from None
