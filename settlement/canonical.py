"""Canonical bytes of a statement: RFC 8785, the JSON Canonicalization Scheme.

A signature, a hash chain and a Merkle root are only worth something if every
verifier, in any language, derives the very same bytes from the same JSON
value. RFC 8785 defines those bytes; the `rfc8785` package writes them.

On top of the scheme this module is stricter than RFC 8785 in two ways, both
because statements are money:

- floats are refused outright. RFC 8785 serialises them (ECMAScript number
  formatting), but a binary float cannot hold a money amount exactly, and two
  systems that rounded differently would sign different statements. Money is
  a decimal string, points an integer.
- integers outside the I-JSON safe range (|n| <= 2**53 - 1) are refused with
  the path that carries them: a verifier in JavaScript or any other language
  that parses numbers as doubles would read another value than the one signed.

Errors name the offending path (`$.partners[2].fee`) so that the bug that put
a float into a statement can be found from the message alone.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["MAX_SAFE_INTEGER", "canonical_bytes", "sha256_hex"]

MAX_SAFE_INTEGER = 2**53 - 1


def canonical_bytes(obj: Any) -> bytes:
    """The RFC 8785 bytes of `obj`: what is hashed, signed and put into a Merkle leaf.

    The value is checked completely before anything is serialised, so a bad value
    raises the same error (with its path) whatever the key order.
    """
    _check(obj, "$")
    return rfc8785.dumps(obj)


def sha256_hex(obj: Any) -> str:
    """SHA-256 (lowercase hex) of the canonical bytes: the statement hash the chain links by."""
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


def _check(value: Any, path: str) -> None:
    # bool is an int subclass and is fine as a JSON literal: test it first.
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, float):
        raise TypeError(
            f"{path}: float {value!r} is not allowed in a statement; "
            "money is a decimal string and points an integer"
        )
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(
                f"{path}: integer {value} is outside the I-JSON safe range "
                f"(|n| <= 2**53-1 = {MAX_SAFE_INTEGER}); RFC 8785 cannot represent it exactly, "
                "write it as a decimal string"
            )
        return
    if isinstance(value, str):
        _check_text(value, path)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: object key {key!r} is a {type(key).__name__}; JSON keys are strings")
            _check_text(key, f"{path} (key {key!r})")
            _check(item, _child(path, key))
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    hint = "; write it as a decimal string" if type(value).__name__ == "Decimal" else ""
    raise TypeError(f"{path}: {type(value).__name__} {value!r} is not a JSON value{hint}")


def _check_text(text: str, path: str) -> None:
    # A lone surrogate has no UTF-8 form, so it has no canonical bytes either.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{path}: string contains a lone surrogate, which has no UTF-8 form") from None


def _child(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"
