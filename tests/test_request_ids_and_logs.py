"""A request id on every answer, the caller's when it is usable; and the hub's log as JSON lines carrying it.

A till that logs the `X-Request-Id` it sent finds the hub's lines of that
request by it, so the id must come back on every answer, refusals and
faults included, and be in every line written while the request is answered.
"""

from __future__ import annotations

import json
import re

import pytest

from network.ops.access import MAX_LENGTH

FRESH = re.compile(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}")  # a uuid4's 32 hex digits
ACCESS_FIELDS = {"time", "level", "logger", "message", "pid", "method", "route", "path", "status", "duration_ms",
                 "request_id", "remote_addr"}


@pytest.fixture
def app_config():
    return {"COALITION_ACCESS_LOG": True}  # off by default; these tests read its lines


@pytest.fixture
def faulty(app):
    """The hub with one route that fails as a bug would: its 500 is answered, not raised into the test."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", "boom", boom)
    return app.test_client()


ANSWERS = [  # (method, path, status): one of each kind of answer
    ("GET", "/healthz", 200),
    ("GET", "/v1/settlement/keys", 200),
    ("GET", "/no/such/path", 404),
    ("DELETE", "/healthz", 405),
    ("GET", "/v1/partners/brew-bar", 401),
    ("GET", "/healthz?q=%01", 422),  # the text gate, before any view
    ("GET", "/boom", 500),
]


def test_the_caller_s_request_id_comes_back_on_every_answer(faulty):
    for method, path, status in ANSWERS:
        response = faulty.open(path, method=method, headers={"X-Request-Id": "till-7/2026-03-14/0042"})
        assert (response.status_code, response.headers["X-Request-Id"]) == (status, "till-7/2026-03-14/0042"), path


def test_without_one_each_answer_gets_a_fresh_one(faulty):
    for method, path, status in ANSWERS:
        first, second = (faulty.open(path, method=method) for _ in range(2))
        assert first.status_code == second.status_code == status
        assert FRESH.fullmatch(first.headers["X-Request-Id"]) and FRESH.fullmatch(second.headers["X-Request-Id"])
        assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_an_id_a_log_could_not_hold_is_replaced_by_a_fresh_one(client):
    for given in ["", "x" * (MAX_LENGTH + 1), "caf\u00e9", "tab\there", "nul\x00", "del\x7f"]:
        response = client.get("/healthz", headers={"X-Request-Id": given})
        assert response.status_code == 200
        assert FRESH.fullmatch(response.headers["X-Request-Id"]), repr(given)


def test_the_longest_id_kept_is_200_printable_ascii_characters(client):
    given = "".join(chr(32 + i % 95) for i in range(MAX_LENGTH))
    assert client.get("/healthz", headers={"X-Request-Id": given}).headers["X-Request-Id"] == given


def lines(capsys) -> list[dict]:
    """What the hub wrote to standard error, every line a JSON object."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_each_request_writes_one_json_access_line_with_its_id(hub, world, capsys):
    capsys.readouterr()
    sale = hub.call("POST", "/v1/transactions", world.coffee, headers={"X-Request-Id": "till-7-0042"}, json={
        "type": "sale", "order_id": "S-0042", "card_number": world.card, "occurred_at": "2026-03-14T10:30:00+01:00",
        "currency": "EUR", "total": "12.00"})
    balance = hub.client.get(f"/v1/cards/{world.card}/balance?x=1", headers=hub.bearer(world.coffee))
    assert (sale.status_code, balance.status_code) == (201, 200)
    first, second = [line for line in lines(capsys) if line["logger"] == "network.ops.access"]
    assert set(first) == set(second) == ACCESS_FIELDS
    assert {key: first[key] for key in ("level", "method", "route", "path", "status", "request_id", "remote_addr")} == {
        "level": "INFO", "method": "POST", "route": "/v1/transactions", "path": "/v1/transactions", "status": 201,
        "request_id": "till-7-0042", "remote_addr": "127.0.0.1"}
    assert first["message"] == "POST /v1/transactions 201"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    # the route is the URL rule, the path the one asked for, without its query string
    assert (second["route"], second["path"]) == ("/v1/cards/<card_number>/balance", f"/v1/cards/{world.card}/balance")
    assert second["request_id"] == balance.headers["X-Request-Id"]


def test_a_fault_s_log_lines_carry_the_request_id_the_answer_returns(faulty, capsys):
    capsys.readouterr()
    response = faulty.get("/boom")
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    fault, access = lines(capsys)
    assert fault["level"] == "ERROR" and "RuntimeError: a bug" in fault["exception"]
    assert fault["request_id"] == access["request_id"] == response.headers["X-Request-Id"]
    assert (access["route"], access["status"]) == ("/boom", 500)


def test_a_request_no_route_matches_is_logged_without_a_route(client, capsys):
    capsys.readouterr()
    client.get("/v1/cards/7000000000000008/nothing")
    (line,) = lines(capsys)
    assert (line["route"], line["path"], line["status"]) == (None, "/v1/cards/7000000000000008/nothing", 404)


def test_the_access_line_can_be_switched_off(app, capsys, tmp_path):
    from network import create_app

    quiet = create_app({"TESTING": True, "DATABASE": app.extensions["coalition"].db, "COALITION_ACCESS_LOG": False,
                        "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "keys"), "COALITION_MASTER_KEY_FILE": str(tmp_path / "mk")})
    capsys.readouterr()
    response = quiet.test_client().get("/healthz")
    assert response.status_code == 200 and response.headers["X-Request-Id"]
    assert capsys.readouterr().err == ""
