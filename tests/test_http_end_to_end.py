"""The real thing: `coalition serve` (gunicorn, 2 workers) answering over HTTP, as a till talks to it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

TOKEN = "e2e-operator-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(database, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
           "COALITION_ADMIN_TOKEN": TOKEN}
    coalition = str(Path(sys.executable).with_name("coalition"))
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen([coalition, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                               env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/v1/openapi.json", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError((tmp_path / "server.log").read_text())
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


def call(base, method, path, token=TOKEN, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_member_earns_at_one_store_and_spends_at_another_over_http(server):
    partner = {"timezone": "Europe/Paris", "currency": "EUR", "adapter": "canonical"}
    status, coffee = call(server, "POST", "/v1/partners", body={"slug": "brew-bar", "name": "Brew Bar", "earn_rate": "2", **partner})
    assert status == 201
    status, fuel = call(server, "POST", "/v1/partners", body={"slug": "fuel-stop", "name": "Fuel Stop", "earn_rate": "0.5", **partner})
    assert status == 201

    status, member = call(server, "POST", "/v1/members", coffee["api_key"], {"email": "cy@example.com"})
    assert status == 201
    card = member["card_number"]

    sale = {"type": "sale", "order_id": "BB-1", "card_number": card, "occurred_at": "2026-11-22T08:15:00+01:00",
            "currency": "EUR", "total": "7.60",
            "items": [{"sku": "FLAT-WHITE", "category": "coffee", "quantity": 2, "unit_price": "3.80"}]}
    status, earned = call(server, "POST", "/v1/transactions", coffee["api_key"], sale, {"Idempotency-Key": "bb-1"})
    assert (status, earned["points"]) == (201, 15)
    # The till lost the answer and retries: same outcome, nothing posted twice.
    assert call(server, "POST", "/v1/transactions", coffee["api_key"], sale, {"Idempotency-Key": "bb-1"}) == (201, earned)

    status, redeemed = call(server, "POST", "/v1/redemptions", fuel["api_key"], {"card_number": card, "points": 10, "order_id": "FS-9"})
    assert status == 201
    assert redeemed["provenance"] == [{"issuer": "brew-bar", "points": 10}]
    status, refused = call(server, "POST", "/v1/redemptions", fuel["api_key"], {"card_number": card, "points": 10, "order_id": "FS-10"})
    assert (status, refused["error"]["code"]) == (422, "insufficient_points")

    status, balance = call(server, "GET", f"/v1/cards/{card}/balance", fuel["api_key"])
    assert (status, balance["available"], balance["pending"], balance["held"]) == (200, 5, 0, 0)
    assert balance["expiring"]["points"] == 5
    assert {name: balance[name] for name in ("tier", "tier_since", "qualifying_points", "next_tier", "points_to_next_tier")} \
        == {"tier": None, "tier_since": None, "qualifying_points": None, "next_tier": None, "points_to_next_tier": None}
    status, page = call(server, "GET", f"/v1/members/{member['member_id']}/history")
    assert [e["kind"] for e in page["entries"]] == ["redemption", "earn"]

    assert call(server, "POST", "/v1/redemptions", fuel["api_key"], b"{oops")[0] == 400
    assert call(server, "GET", "/v1/partners/brew-bar", "wrong")[0] == 401
