"""What gunicorn refuses before the app runs is answered in the hub's JSON error shape, over a real socket.

One gunicorn for the module, on an SQLite file: these refusals happen while
gunicorn parses the request, before any view or database is reached, so
PostgreSQL would add nothing.
"""

from __future__ import annotations

import json

import pytest

from network.error_codes import CODES
from network.serve_errors import ANSWERS, SERVER_FAULT
from tests.support.server import raw_exchange, running_hub


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("server-errors")
    with running_hub(f"sqlite:///{workdir / 'hub.db'}", workdir, env={"COALITION_ADMIN_TOKEN": "t"}, workers=1) as base:
        yield base


def answer(raw: bytes) -> tuple[int, dict, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    assert int(headers["content-length"]) == len(body), raw
    return int(status_line.split()[1]), headers, json.loads(body)


def refused(server, request: bytes, status: int, code: str, part: str) -> dict:
    got, headers, body = answer(raw_exchange(server, request))
    assert (got, body["error"]["code"]) == (status, code), body
    assert headers["content-type"] == "application/json"
    assert len(headers["x-request-id"]) == 32  # a fresh one: gunicorn read no usable header, maybe none at all
    assert set(body["error"]) == {"code", "message", "details"}
    assert list(body["error"]["details"]) == [part]
    return body


def test_a_10_kb_request_line_is_414_request_line_too_long(server):
    path = "/v1/partners/" + "a" * 10_240
    refused(server, f"GET {path} HTTP/1.1\r\nHost: hub\r\n\r\n".encode(), 414, "request_line_too_long", "request_line")


@pytest.mark.parametrize("line", [b"NOT HTTP AT ALL", b"GET /v1/settlement/keys HTTP/9.9", b"GET", b"G\x00T / HTTP/1.1"])
def test_a_malformed_request_line_is_400_malformed_request_line(server, line):
    refused(server, line + b"\r\nHost: hub\r\n\r\n", 400, "malformed_request_line", "request_line")


def test_a_header_over_8_kb_is_431_headers_too_large(server):
    request = b"GET /v1/settlement/keys HTTP/1.1\r\nHost: hub\r\nX-Big: " + b"b" * 10_240 + b"\r\n\r\n"
    refused(server, request, 431, "headers_too_large", "headers")


def test_more_than_100_headers_is_431_headers_too_large(server):
    many = b"".join(b"X-H%d: v\r\n" % n for n in range(150))
    refused(server, b"GET /v1/settlement/keys HTTP/1.1\r\nHost: hub\r\n" + many + b"\r\n", 431, "headers_too_large", "headers")


def test_a_malformed_header_is_400_malformed_header(server):
    request = b"GET /v1/settlement/keys HTTP/1.1\r\nHost: hub\r\nBad Name: x\r\n\r\n"
    refused(server, request, 400, "malformed_header", "headers")


def test_a_malformed_chunked_body_is_400_malformed_body(server):
    """From a known caller: the body is read once the token is checked (a stranger is answered 401 first)."""
    request = (b"POST /v1/partners HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
    refused(server, request, 400, "malformed_body", "body")


def test_a_body_over_the_limit_is_the_apps_413_payload_too_large(server):
    """Flask's own refusal (MAX_CONTENT_LENGTH) through gunicorn: JSON as well (a stranger's is answered 401 unread)."""
    body = b"[" + b"0," * (1024 * 1024 // 2) + b"0]"
    request = (b"POST /v1/partners HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body
    status, headers, error = answer(raw_exchange(server, request))
    assert (status, error["error"]["code"]) == (413, "payload_too_large")
    assert headers["content-type"] == "application/json"


def test_the_server_still_answers_after_every_refusal(server):
    status, _, keys = answer(raw_exchange(server, b"GET /v1/settlement/keys HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n"))
    assert status == 200 and "keys" in keys


def test_every_answer_names_a_registered_code_with_its_status():
    for _, refusal in ANSWERS + ((None, SERVER_FAULT),):
        assert CODES[refusal.code].status == refusal.status, refusal.code
