"""What each operation may answer, declared beside its route and printed into the OpenAPI document.

An integration branches on error codes, so the document lists, per
operation and status, the codes it may answer, as an `enum` of
`error.code` and in the response's description, each with its meaning from
`network.error_codes` (a code not registered there, or registered with
another status, fails at import). The declaration is kept on the view
(`CODES`), so the test suite can hold every error it sees an operation
answer to what that operation declares.

`requires` adds what every authenticated call may answer, `writes` what an
Idempotency-Key brings; `answers` the operation's own codes.
"""

from __future__ import annotations

from network.api.idempotency import MAX_KEY_LENGTH
from network.error_codes import CODES as REGISTERED
from network.parties.roles import ALL_ROLES

#: The attribute of a view holding the codes it declares.
CODES = "_coalition_codes"

#: Any call the hub answers may fail in the hub itself, find the ledger busy past every retry, or be over its caller's
#: rate limit (network/api/limits.py).
EVERY_CALL = ("internal_error", "unavailable", "rate_limited")
#: What a 429 says in its headers (network/api/limits.py).
RETRY_AFTER = {"Retry-After": {"description": "seconds until the budget has room again",
                               "schema": {"type": "integer", "minimum": 1}}}
#: A call with a bearer token.
AUTHENTICATED = ("missing_token", "invalid_token")
#: What the gate (network/api/gate.py) answers before any view: a control character in a path parameter, query
#: string or JSON field; a JSON body nested too deep or too large, whether or not the operation reads one.
TEXT_GATE = ("validation_error", "body_too_deep", "payload_too_large")
#: A call that reads a JSON body.
JSON_BODY = ("bad_request", "body_too_deep", "payload_too_large", "validation_error")
#: A write under an Idempotency-Key (network/api/idempotency.py).
IDEMPOTENT = ("validation_error", "idempotency_key_reused", "idempotency_key_in_flight")

IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry-safe writes: the same key and body replay the first outcome (with `Idempotent-Replayed: "
                   "true`) and book nothing again; another body with the key is 422 `idempotency_key_reused`.",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
    "example": "till-7-2026-03-14-0042",
}


def declared(view) -> frozenset[str]:
    return frozenset(getattr(view, CODES, ()))


def answers(*codes: str):
    """Declare the error codes this operation may answer, beyond those every call and every body may."""

    def decorate(view):
        return _declare(view, codes + EVERY_CALL + TEXT_GATE)

    return decorate


#: The attribute marking a view whose write runs through `idempotent_write` (and so through the audit trail).
WRITE = "_coalition_write"


def is_write(view) -> bool:
    return bool(getattr(view, WRITE, False))


def writes(view):
    """Mark a write run by `idempotent_write`: it takes an Idempotency-Key, and may answer what one brings."""
    setattr(view, WRITE, True)
    doc = _apidoc(view)
    parameters = doc.setdefault("arguments", {}).setdefault("parameters", [])
    if IDEMPOTENCY_HEADER not in parameters:
        parameters.append(dict(IDEMPOTENCY_HEADER))
    return _declare(view, IDEMPOTENT)


def authenticated(view, roles: tuple[str, ...]):
    """What `requires` adds: a missing or bad token, the wrong role unless every role may call, and what a JSON body may.

    `requires` sits above `blp.arguments`, so it is the one that sees whether the operation reads a body.
    """
    return _declare(view, AUTHENTICATED + EVERY_CALL + (("wrong_role",) if set(roles) != set(ALL_ROLES) else ())
                    + (JSON_BODY if _reads_json(view) else ()))


def _reads_json(view) -> bool:
    parameters = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(isinstance(p, dict) and p.get("in") == "json" for p in parameters)


def _apidoc(view) -> dict:
    if "_apidoc" not in view.__dict__:
        view._apidoc = {}
    return view._apidoc


def _declare(view, codes) -> object:
    for code in codes:
        if code not in REGISTERED:
            raise ValueError(f"{view.__name__} declares {code!r}, which network/error_codes.py does not register")
    known = declared(view) | set(codes)
    setattr(view, CODES, known)
    doc = _apidoc(view)
    doc["manual_doc"] = {**doc.get("manual_doc", {}), "responses": {
        **doc.get("manual_doc", {}).get("responses", {}), **_responses(known)}}
    return view


def _responses(codes) -> dict:
    """One response per status: the error schema with its codes as an enum, and each code's meaning."""
    by_status: dict[int, list[str]] = {}
    for code in sorted(codes):
        by_status.setdefault(REGISTERED[code].status, []).append(code)
    return {str(status): _response(found) for status, found in sorted(by_status.items())}


def _response(codes: list[str]) -> dict:
    description = "; ".join(f"`{code}`: {REGISTERED[code].meaning}" for code in codes)
    first = REGISTERED[codes[0]]
    return {
        "description": description,
        **({"headers": RETRY_AFTER} if first.status == 429 else {}),
        "content": {"application/json": {
            "schema": error_schema(codes),
            "example": {"error": {"code": first.code, "message": first.meaning, "details": {}}},
        }},
    }


def error_schema(codes: list[str]) -> dict:
    """`{"error": {"code", "message", "details"}}`, the code one of `codes`."""
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": list(codes)},
                "message": {"type": "string", "description": "for the person reading the log, not to branch on"},
                "details": {"type": "object", "description": "the fields at fault, each with its reasons, or the "
                                                             "facts of a refusal (`merged_into`)"},
            },
        }},
    }
