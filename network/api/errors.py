"""Every error leaves the API in one shape: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from network.api.idempotency import to_json
from network.errors import DomainError
from partners.errors import flatten_errors

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}
LOCATIONS = {"json", "query", "headers", "view_args", "form", "files"}


def flatten(messages) -> dict[str, list[str]]:
    """webargs files errors under their location ({"json": {...}}); drop that level."""
    if isinstance(messages, dict) and len(messages) == 1 and set(messages) <= LOCATIONS:
        messages = next(iter(messages.values()))
    return flatten_errors(messages)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


class CoalitionApi(Api):
    """flask-smorest's Api, answering errors in the network's JSON shape.

    No generic default error in the document: each operation lists the statuses
    and codes it answers (`network/api/answers.py`), in the shape it answers them.
    """

    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        details = flatten(data["messages"]) if "messages" in data else {}
        if error.code == 400 and data.get("messages"):
            message = "The body is not valid JSON"
        elif error.code == 422:
            message = "Some fields are invalid: " + ", ".join(sorted(details))
        else:
            message = error.description if error.code != 500 else "Internal error"
        code = CODES.get(error.code, "http_error")
        return jsonify(error_body(code, message, details)), error.code, {**(data.get("headers") or {}), **_allow(error)}


def _allow(error: HTTPException) -> dict:
    """RFC 9110 makes Allow a must on a 405; werkzeug puts it on its HTML answer, which this one replaces."""
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        return {"Allow": ", ".join(sorted(error.valid_methods))}
    return {}


def handle_domain_error(error: DomainError):
    """Encoded as success answers and stored refusals are (times in ISO 8601), so a replay answers the same bytes."""
    return Response(to_json(error.body()) + "\n", status=error.status, mimetype="application/json")
