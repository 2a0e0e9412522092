"""Errors the domain raises, each with its HTTP status and stable code.

Every error leaves the API as
`{"error": {"code": ..., "message": ..., "details": {...}}}`; the code is
what a till's integration branches on, the message is for the person
reading the log.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 422
    code = "invalid_request"

    def __init__(self, message: str, details: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code:
            self.code = code

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


class Invalid(DomainError):
    status = 422
    code = "validation_error"


class InsufficientPoints(DomainError):
    status = 422
    code = "insufficient_points"


class PaymentRequired(DomainError):
    """A partner past its credit limit (or its prepaid funds): it may not issue more points until funds arrive."""

    status = 402
    code = "credit_limit_reached"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
