"""The one gate for text the HTTP layer takes: path parameters, query strings and JSON bodies.

Run before every view, so a NUL never reaches the database driver (PostgreSQL
refuses it with an error, a 500) and no parser or fingerprint recurses over a
document nested 10,000 deep. Adapter routes read their raw bodies through
`partners.payloads`, which applies the same test after a signature is checked.
"""

from __future__ import annotations

import json

from flask import Flask, current_app, request

from network.errors import BadRequest, Invalid
from partners.text import MAX_DEPTH, REASON, TooDeep, has_control, printable_name, screen

#: Views that hand their body to a partner's adapter unread (`reads_raw_body`).
RAW = "_coalition_raw_body"
#: Views that authenticate first and then run the gate themselves (`after_authentication`).
AUTHENTICATED = "_coalition_gate_after_auth"


def reads_raw_body(view):
    """Mark a view whose body its adapter reads (and screens) itself, after any signature is checked."""
    setattr(view, RAW, True)
    return view


def after_authentication(view):
    """Mark a view that checks its caller before the gate, so a stranger gets 401, not a verdict on its input."""
    setattr(view, AUTHENTICATED, True)
    return view


def too_deep() -> BadRequest:
    return BadRequest(f"The body is nested deeper than {MAX_DEPTH} levels", {"body": [f"is nested deeper than {MAX_DEPTH} levels"]},
                      code="body_too_deep")


def check_request() -> None:
    """422 naming each path parameter, query parameter or JSON field with a control character; 400 past the depth."""
    fields = {name: [REASON] for name, value in (request.view_args or {}).items()
              if isinstance(value, str) and has_control(value)}
    for name, value in request.args.items(multi=True):
        if has_control(name) or has_control(value):
            fields[printable_name(name)] = [REASON]
    if fields:
        raise Invalid("Some parameters contain a control character: " + ", ".join(sorted(fields)), fields)
    if request.is_json and not _raw():
        _check_body(request.get_data(cache=True))


def _raw() -> bool:
    return _marked(RAW)


def _marked(mark: str) -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, mark, False))


def _before_request() -> None:
    if not _marked(AUTHENTICATED):
        check_request()


def _check_body(body: bytes) -> None:
    if not body:
        return
    try:
        document = json.loads(body)
    except RecursionError:
        raise too_deep() from None
    except ValueError:  # not JSON: the view's own parser says so, in its own words
        return
    try:
        fields = screen(document)
    except TooDeep:
        raise too_deep() from None
    if fields:
        raise Invalid("Some fields contain a control character: " + ", ".join(sorted(fields)), fields)


def register(app: Flask) -> None:
    app.before_request(_before_request)
