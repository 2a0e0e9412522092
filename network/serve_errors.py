"""What gunicorn answers before the app sees a request, in the hub's error shape.

A request line over gunicorn's limit, headers too many or too large, a line
that is not HTTP: gunicorn refuses these while parsing, before Flask runs,
and writes an HTML page of its own. A till's client branches on
`error.code` like everywhere else, so the worker below answers them as the
app answers everything: `{"error": {"code", "message", "details"}}`, with
`details` naming the part of the request at fault and codes registered in
`network/error_codes.py`. gunicorn logs a warning for a client's fault and
the traceback for the server's; the refusal also gets the app's access line
and an `X-Request-Id`, a new one (the headers may be what could not be read).
"""

from __future__ import annotations

import json
import time
from typing import NamedTuple

from flask import Response as FlaskResponse
from gunicorn import util
from gunicorn.http import errors as http
from gunicorn.workers.gthread import ThreadWorker

from network.api.errors import error_body
from network.ops import access, metrics


class Answer(NamedTuple):
    status: int
    reason: str
    code: str
    part: str
    message: str


SERVER_FAULT = Answer(500, "Internal Server Error", code="internal_error", part="", message="Internal error")

#: gunicorn's parse errors, the first that matches answering; an error the app caused is never the client's.
ANSWERS: tuple[tuple[tuple[type[Exception], ...], Answer], ...] = (
    ((http.InvalidResponseHeader, http.InvalidResponseHeaderName, http.ConfigurationProblem), SERVER_FAULT),
    ((http.LimitRequestLine,),
     Answer(414, "URI Too Long", code="request_line_too_long", part="request_line",
            message="The request line is longer than the server reads")),
    ((http.LimitRequestHeaders,),
     Answer(431, "Request Header Fields Too Large", code="headers_too_large", part="headers",
            message="The request has more headers, or longer ones, than the server reads")),
    ((http.InvalidRequestLine, http.InvalidRequestMethod, http.InvalidHTTPVersion),
     Answer(400, "Bad Request", code="malformed_request_line", part="request_line", message="The request line is not HTTP/1.x")),
    ((http.InvalidHeader, http.InvalidHeaderName, http.ObsoleteFolding, http.InvalidSchemeHeaders),
     Answer(400, "Bad Request", code="malformed_header", part="headers", message="A header is malformed")),
    ((http.InvalidChunkSize, http.ChunkMissingTerminator, http.InvalidChunkExtension),
     Answer(400, "Bad Request", code="malformed_body", part="body", message="The chunked body is malformed")),
    ((http.UnsupportedTransferCoding,),
     Answer(501, "Not Implemented", code="unsupported_transfer_coding", part="headers",
            message="The server reads no such Transfer-Encoding")),
    ((http.ExpectationFailed,),
     Answer(417, "Expectation Failed", code="expectation_failed", part="headers", message="The server meets no such Expect")),
    ((http.ParseException,),
     Answer(400, "Bad Request", code="bad_request", part="request", message="The request is malformed")),
)

#: How much of gunicorn's own account (which may quote the request) an answer repeats.
QUOTED = 120


def answer_for(exc: BaseException) -> Answer:
    for classes, answer in ANSWERS:
        if isinstance(exc, classes):
            return answer
    return SERVER_FAULT


def body_bytes(answer: Answer, exc: BaseException) -> bytes:
    details = {answer.part: [str(exc)[:QUOTED]]} if answer.status < 500 else {}
    return (json.dumps(error_body(answer.code, answer.message, details)) + "\n").encode()


def response_bytes(exc: BaseException, request_id: str) -> tuple[Answer, bytes]:
    """The whole HTTP response: gunicorn closes the connection after it, and so says the response."""
    answer = answer_for(exc)
    body = body_bytes(answer, exc)
    head = (f"HTTP/1.1 {answer.status} {answer.reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{access.HEADER}: {request_id}\r\n\r\n").encode("latin-1")
    return answer, head + body


class JsonErrorsWorker(ThreadWorker):
    """gunicorn's threaded worker, with its `handle_error` writing JSON where gunicorn writes HTML."""

    def handle_error(self, req, client, addr, exc):
        started = time.perf_counter()
        addr = addr or ("", -1)  # a unix socket has no peer address
        request_id = access.fresh()
        answer, raw = response_bytes(exc, request_id)
        if answer.status < 500:
            self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
        else:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        method, path = getattr(req, "method", None) or "", getattr(req, "path", None) or ""  # what was read of it, if any
        seconds = time.perf_counter() - started
        metrics.observe_request(metrics.UNMATCHED, method, answer.status, seconds)
        access.line(method, None, path, answer.status, seconds, request_id, addr[0] or None)
        try:
            util.write_nonblock(client, raw)
        except Exception:
            self.log.debug("Failed to send error message.")


def in_app(exc: http.ParseException):
    """A chunked body is parsed as the app reads it, so its faults surface inside a view: the same answer, not a 500."""
    answer = answer_for(exc)
    return FlaskResponse(body_bytes(answer, exc), status=answer.status, mimetype="application/json",
                         headers={"Connection": "close"})
