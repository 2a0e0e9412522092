"""Every request's id, figures and access line: the first hook to run before a request and the last after it.

The id is the caller's `X-Request-Id` when it is one a log can hold (1 to
200 printable ASCII characters), else a new uuid4; the answer returns it in
the same header, errors included, and `flask.g.request_id` hands it to every
later log line (`network.ops.logs`). A till that logs the id it sent can be
found in the hub's log, and a hub that calls out can pass it on.

This runs on every request, so it is kept to a few calls: the figures'
label children are cached (`metrics.observe_request`), and the access line
is one `logging` call, switched off by COALITION_ACCESS_LOG=0 where a load
balancer logs requests already. The line names the path without its query
string, which may carry a search for an e-mail address.
"""

from __future__ import annotations

import logging
import os
import time

from flask import Flask, Response, g, request

from network.ops import metrics

HEADER = "X-Request-Id"
ENVIRON_HEADER = "HTTP_X_REQUEST_ID"
#: Where the hooks keep the request's start and id between them: the WSGI environ, read without a context look-up.
STARTED, REQUEST_ID = "coalition.started", "coalition.request_id"
MAX_LENGTH = 200
#: A path is logged up to this many characters (gunicorn reads request lines of 4094 bytes).
PATH_CHARACTERS = 500

log = logging.getLogger(__name__)


def request_id() -> str:
    """This request's id (`flask.g.request_id`); made here if asked for before the first hook ran."""
    found = g.get("request_id")
    if found is None:
        found = g.request_id = chosen(request.environ.get(ENVIRON_HEADER))
    return found


def chosen(given: str | None) -> str:
    """The caller's id if it is 1 to 200 printable ASCII characters, else a new one."""
    if given and len(given) <= MAX_LENGTH and given.isascii() and given.isprintable():
        return given
    return fresh()


def fresh() -> str:
    """A random (version 4) UUID as 32 hex digits, from one read of the system's randomness (uuid4().hex costs more)."""
    h = os.urandom(16).hex()
    return f"{h[:12]}4{h[13:16]}{'89ab'[int(h[16], 16) & 3]}{h[17:]}"


def _started() -> None:
    environ = request.environ
    environ[STARTED] = time.perf_counter()
    g.request_id = environ[REQUEST_ID] = chosen(environ.get(ENVIRON_HEADER))


def _answered(response: Response, access_log: bool) -> Response:
    current = request._get_current_object()  # one look-up of the context, not one per attribute
    environ = current.environ
    started = environ.get(STARTED)
    seconds = time.perf_counter() - started if started is not None else 0.0
    rid = environ.get(REQUEST_ID) or request_id()
    response.headers[HEADER] = rid
    rule = current.url_rule
    route = None if rule is None else rule.rule
    method, status = current.method, response.status_code
    metrics.observe_request(route or metrics.UNMATCHED, method, status, seconds)
    if access_log:
        line(method, route, current.path, status, seconds, rid, environ.get("REMOTE_ADDR"))
    return response


def line(method: str, route: str | None, path: str, status: int, seconds: float, rid: str, remote: str | None) -> None:
    """The access line; also written for what gunicorn refuses before the app runs (`network.serve_errors`).

    Made with `makeRecord` and handed to `handle`, as `log.info` would, less its search of the stack for the caller.
    """
    if log.isEnabledFor(logging.INFO):
        path = path[:PATH_CHARACTERS]
        log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None, extra={
            "fields": {"method": method, "route": route, "path": path, "status": status,
                       "duration_ms": round(seconds * 1000, 3), "request_id": rid, "remote_addr": remote}}))


def register(app: Flask) -> None:
    """First of the before-request hooks (the gate's 422 gets an id too), and so last of the after-request ones."""
    access_log = app.config["COALITION_ACCESS_LOG"]
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request_funcs.setdefault(None, []).insert(0, lambda response: _answered(response, access_log))
