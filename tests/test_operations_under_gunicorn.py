"""The real `coalition serve`, two workers: /metrics adds them up, and every log line is JSON with its request id.

Each worker counts into prometheus-client's multi-process directory, so a
scrape answers the whole server's figures whichever worker it reaches. The
requests are sent until both workers have answered some (each access line
names its worker's pid), so the sum is one of two workers' counts, not one's.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from network import schema
from tests.support.metrics import samples, value
from tests.support.server import raw_exchange, running_hub


@pytest.fixture(scope="module")
def server(tmp_path_factory, sqlite_template):
    workdir = tmp_path_factory.mktemp("operations")
    shutil.copy(sqlite_template, workdir / "hub.db")
    with running_hub(f"sqlite:///{workdir / 'hub.db'}", workdir, env={"COALITION_ADMIN_TOKEN": "t", "COALITION_ACCESS_LOG": "1"},
                     workers=2) as base:
        yield base, workdir / "server.log"


def get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def log_lines(log) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def access_lines(log, path: str) -> list[dict]:
    return [line for line in log_lines(log) if line["logger"] == "network.ops.access" and line["path"] == path]


def test_metrics_add_up_across_both_workers(server):
    base, log = server
    sent = 0
    with ThreadPoolExecutor(4) as pool:
        while sent < 2000:  # the second worker may still be loading the app when the first answers
            statuses = list(pool.map(lambda _: get(base + "/healthz")[0], range(20)))
            assert statuses == [200] * 20
            sent += 20
            if len({line["pid"] for line in access_lines(log, "/healthz")}) == 2:
                break
    assert len({line["pid"] for line in access_lines(log, "/healthz")}) == 2, "one worker answered everything"
    assert len(access_lines(log, "/healthz")) == sent
    for _ in range(6):  # whichever worker answers the scrape
        status, headers, body = get(base + "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        found = samples(body.decode())
        assert value(found, "coalition_http_requests_total", route="/healthz", method="GET", status="200") == sent
        assert value(found, "coalition_http_request_duration_seconds_count", route="/healthz", method="GET") == sent
        assert value(found, "coalition_outbox_pending_deliveries") == 0
    scrapes = access_lines(log, "/metrics")
    assert len(scrapes) == 6


def test_readyz_and_the_request_id_over_http(server):
    base, log = server
    status, headers, body = get(base + "/readyz", {"X-Request-Id": "lb-probe-17"})
    assert (status, json.loads(body)) == (200, {"status": "ok", "revision": ", ".join(schema.heads())})
    assert headers["X-Request-Id"] == "lb-probe-17"
    status, headers, body = get(base + "/v1/partners/nobody")
    assert status == 401 and len(headers["X-Request-Id"]) == 32
    (line,) = [line for line in access_lines(log, "/v1/partners/nobody")]
    assert (line["request_id"], line["route"], line["status"]) == (headers["X-Request-Id"], "/v1/partners/<slug>", 401)


def test_what_gunicorn_refuses_gets_a_request_id_and_an_access_line_too(server):
    base, log = server
    raw = raw_exchange(base, b"GET /v1/settlement/keys HTTP/1.1\r\nHost: hub\r\nX-Big: " + b"b" * 10_240 + b"\r\n\r\n")
    head = raw.partition(b"\r\n\r\n")[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 431")
    (request_id,) = [line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("x-request-id:")]
    (line,) = [line for line in log_lines(log) if line.get("request_id") == request_id]
    assert (line["logger"], line["status"], line["route"]) == ("network.ops.access", 431, None)


def test_every_line_the_server_writes_is_json(server):
    """gunicorn's own lines (booting, workers) as well as the hub's: a log shipper parses them all the same way."""
    _, log = server
    found = log_lines(log)
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in found)
    assert all({"time", "level", "logger", "message", "pid"} <= set(line) for line in found)
