"""Rate limits: each credential its own budget, an address's for callers without one, 429 with Retry-After, nothing booked.

The budgets here are a handful of requests an hour, so a test counts its
requests exactly and the window never turns while it runs.
"""

from __future__ import annotations

import logging
import os
import time
import uuid

import pytest
import redis
from flask import jsonify

from network import config
from network.api.limits import EXTENSION, json_field, limited
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.ledger import snapshot
from tests.support.redis_server import PrivateRedis

HOUR = 3600


def refused(response, budget: str, limit: str) -> int:
    """Assert a 429 in the API's shape naming `budget`; return its Retry-After."""
    assert response.status_code == 429, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["budget"] == budget
    assert error["details"]["limit"] == limit
    retry = int(response.headers["Retry-After"])
    assert error["details"]["retry_after"] == retry
    assert response.headers["X-RateLimit-Limit"] == limit.split(" ")[0]
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) >= time.time() + retry - 2
    return retry


# ---------------------------------------------------------------- per credential


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT": "4/hour"}])
def test_the_request_past_a_keys_budget_is_429_with_retry_after_and_books_nothing(hub, database):
    coffee = hub.create_partner("brew-bar")                              # the operator's 1st
    grocer = hub.create_partner("green-grocer")                          # the operator's 2nd
    _, card = hub.enrol(coffee)                                          # brew-bar's 1st
    for total in ("10.00", "20.00", "30.00"):                            # brew-bar's 2nd to 4th
        assert hub.sale(coffee, card, total).status_code == 201
    before = snapshot(database)

    response = hub.sale(coffee, card, "40.00", headers={"Idempotency-Key": "till-1-0005"})

    retry = refused(response, "credential", "4 per 1 hour")
    assert HOUR - 60 < retry <= HOUR
    assert snapshot(database) == before
    assert hub.points(card, grocer)["available"] == 60                   # another key: its own budget
    assert hub.points(card)["available"] == 60                           # the operator's 3rd
    refused(hub.call("GET", f"/v1/cards/{card}/balance", coffee), "credential", "4 per 1 hour")


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT": "3/hour"}])
def test_two_keys_of_one_address_have_separate_budgets(hub):
    keys = [hub.create_partner("brew-bar"), hub.create_partner("green-grocer")]
    for key in keys:
        for _ in range(3):
            assert hub.call("GET", "/v1/network/tiers", key).status_code == 200
    for key in keys:
        refused(hub.call("GET", "/v1/network/tiers", key), "credential", "3 per 1 hour")
    assert hub.call("GET", "/v1/network/tiers").status_code == 200      # the operator's token: a budget of its own


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT": "off", "COALITION_RATE_LIMIT_ANONYMOUS": "0"}])
def test_off_means_no_limit(client, hub):
    key = hub.create_partner("brew-bar")
    for _ in range(30):
        assert hub.call("GET", "/v1/network/tiers", key).status_code == 200
        assert client.get("/v1/settlement/keys").status_code == 200


@pytest.mark.parametrize("setting", ["COALITION_RATE_LIMIT", "COALITION_RATE_LIMIT_ANONYMOUS"])
def test_a_misspelt_limit_stops_the_hub_at_start(make_app, setting):
    with pytest.raises(ValueError, match=setting):
        make_app(**{setting: "3000 a minute"})


# ---------------------------------------------------------------- per address


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT_ANONYMOUS": "3/hour"}])
def test_requests_without_a_token_are_limited_per_address(client, hub):
    for path in ("/v1/openapi.json", "/v1/settlement/keys", "/docs"):
        assert client.get(path).status_code == 200
    retry = refused(client.get("/v1/settlement/keys"), "address", "3 per 1 hour")
    assert HOUR - 60 < retry <= HOUR
    refused(client.post("/v1/members", json={}), "address", "3 per 1 hour")  # before the 401: no token, no budget left
    assert client.get("/v1/settlement/keys", environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 200
    key = hub.create_partner("brew-bar")                                 # a token from the same address: its own budget
    assert hub.call("GET", "/v1/network/tiers", key).status_code == 200


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT_ANONYMOUS": "3/hour"}])
def test_refused_tokens_share_a_budget_per_address_and_known_ones_go_on(client, hub):
    known = hub.create_partner("brew-bar")
    assert hub.call("GET", "/v1/network/tiers", known).status_code == 200  # accepted once: known to this worker
    for _ in range(3):
        assert hub.call("GET", "/v1/network/tiers", f"ck_{uuid.uuid4().hex}").json["error"]["code"] == "invalid_token"
    refused(hub.call("GET", "/v1/network/tiers", f"ck_{uuid.uuid4().hex}"), "refused_tokens", "3 per 1 hour")
    assert hub.call("GET", "/v1/network/tiers", known).status_code == 200  # the till whose key works sells on
    assert hub.call("GET", "/v1/network/tiers").status_code == 200        # so does the operator
    assert client.get("/v1/settlement/keys").status_code == 200          # and a caller without a token: its own budget
    fresh = hub.create_partner("green-grocer")                           # a key this worker never saw accepted ...
    refused(hub.call("GET", "/v1/network/tiers", fresh), "refused_tokens", "3 per 1 hour")
    elsewhere = hub.client.get("/v1/network/tiers", headers=hub.bearer(fresh), environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 200                                  # ... works from any other address
    assert hub.call("GET", "/v1/network/tiers", fresh).status_code == 200  # and, now known, from this one too


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT_ANONYMOUS": "2/hour"}])
def test_x_forwarded_for_is_read_only_behind_the_proxies_configured(client, make_app):
    spoofed = [client.get("/v1/settlement/keys", headers={"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(3)]
    assert [response.status_code for response in spoofed] == [200, 200, 429]  # no proxy: the header buys nothing

    behind = make_app(COALITION_RATE_LIMIT_ANONYMOUS="2/hour", COALITION_PROXY_HOPS=1).test_client()
    for n in range(3):
        assert behind.get("/v1/settlement/keys", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 200
    forwarded = {"X-Forwarded-For": "198.51.100.9"}
    assert [behind.get("/v1/settlement/keys", headers=forwarded).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT_ANONYMOUS": "1/hour"}])
def test_health_and_metrics_paths_are_exempt(app):
    for path in ("/healthz", "/readyz", "/metrics"):  # stand-ins for the real ones, which live beside the API
        app.add_url_rule(path, f"test_{path[1:]}", lambda: jsonify(ok=True))
    client = app.test_client()
    for _ in range(3):
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200
    assert client.get("/v1/settlement/keys").status_code == 200
    assert client.get("/v1/settlement/keys").status_code == 429


def test_the_429_is_in_the_document_with_its_retry_after(client):
    operation = client.get("/v1/openapi.json").json["paths"]["/v1/transactions"]["post"]
    answer = operation["responses"]["429"]
    assert "rate_limited" in answer["content"]["application/json"]["schema"]["properties"]["error"]["properties"]["code"]["enum"]
    assert "Retry-After" in answer["headers"]


# ---------------------------------------------------------------- a view's own budget


SIGN_IN = {"COALITION_TEST_SIGN_IN_LIMIT": "2/hour", "COALITION_TEST_SIGN_IN_LIMIT_PER_ADDRESS": "4/hour"}


def sign_in_app(make_app, **settings):
    """A hub with a test-only sign-in view, limited per account and per address as the real one will be."""
    app = make_app(**{**SIGN_IN, **settings})
    attempts = []

    @limited("COALITION_TEST_SIGN_IN_LIMIT", json_field("email"))
    @limited("COALITION_TEST_SIGN_IN_LIMIT_PER_ADDRESS")
    def sign_in():
        attempts.append(1)
        return jsonify(signed_in=False), 401

    app.add_url_rule("/test/sign-in", "test_sign_in", sign_in, methods=["POST"])
    return app, attempts


def test_a_view_can_limit_attempts_per_account_and_per_address(make_app):
    app, attempts = sign_in_app(make_app)
    client = app.test_client()
    here, there = {"REMOTE_ADDR": "192.0.2.1"}, {"REMOTE_ADDR": "192.0.2.7"}
    for email in ("ann@example.com", " ANN@example.com", "bob@example.com", "cy@example.com"):
        assert client.post("/test/sign-in", json={"email": email}, environ_base=here).status_code == 401
    refused(client.post("/test/sign-in", json={"email": "dan@example.com"}, environ_base=here),
            "COALITION_TEST_SIGN_IN_LIMIT_PER_ADDRESS", "4 per 1 hour")  # 4 attempts from here, whatever the account
    refused(client.post("/test/sign-in", json={"email": "ann@example.com"}, environ_base=there),
            "COALITION_TEST_SIGN_IN_LIMIT", "2 per 1 hour")              # ann's 2 attempts follow her account (any case)
    assert client.post("/test/sign-in", json={"email": "cy@example.com"}, environ_base=there).status_code == 401
    assert len(attempts) == 5                                            # no refused attempt reached the view

    stored = " ".join(app.extensions[EXTENSION].counters.store.events)
    assert "COALITION_TEST_SIGN_IN_LIMIT" in stored
    assert "example.com" not in stored and "ann" not in stored.lower()


def test_a_views_budget_turns_off_with_its_setting(make_app):
    app, attempts = sign_in_app(make_app, COALITION_TEST_SIGN_IN_LIMIT="off", COALITION_TEST_SIGN_IN_LIMIT_PER_ADDRESS="off")
    client = app.test_client()
    assert [client.post("/test/sign-in", json={"email": "ann@example.com"}).status_code for _ in range(6)] == [401] * 6


def test_a_misspelt_view_limit_stops_the_hub_at_start():
    from flask import Blueprint, Flask

    from network.api import limits

    blueprint = Blueprint("sign_in", __name__)
    blueprint.add_url_rule("/sign-in", "sign_in", limited("COALITION_TEST_SIGN_IN_LIMIT")(lambda: "no"), methods=["POST"])
    app = Flask(__name__)
    app.config.update(COALITION_RATE_LIMIT="off", COALITION_RATE_LIMIT_ANONYMOUS="off", COALITION_REDIS_URL=None,
                      COALITION_RATE_LIMIT_PREFIX="test", COALITION_TEST_SIGN_IN_LIMIT="5 a minute")
    app.register_blueprint(blueprint)
    with pytest.raises(ValueError, match="COALITION_TEST_SIGN_IN_LIMIT"):
        limits.init(app)
    del app.config["COALITION_TEST_SIGN_IN_LIMIT"]
    with pytest.raises(ValueError, match="COALITION_TEST_SIGN_IN_LIMIT is not a setting"):
        limits.init(app)


@pytest.mark.parametrize("app_config", [{"COALITION_SIGN_IN_LIMIT": "2/hour", "COALITION_SIGN_IN_LIMIT_PER_ADDRESS": "3/hour"}])
def test_sign_in_attempts_are_limited_per_account_and_per_address(client, database):
    def attempt(email, address="192.0.2.1"):
        return client.post("/v1/auth/sign-in", json={"email": email, "password": "guess"}, environ_base={"REMOTE_ADDR": address})

    assert [attempt("ann@example.com").status_code for _ in range(2)] == [401, 401]
    before = snapshot(database)
    refused(attempt("ANN@example.com"), "COALITION_SIGN_IN_LIMIT", "2 per 1 hour")
    assert snapshot(database) == before                                  # not checked, not counted, not audited
    assert attempt("bob@example.com").status_code == 401                 # the address's 3rd
    refused(attempt("cy@example.com"), "COALITION_SIGN_IN_LIMIT_PER_ADDRESS", "3 per 1 hour")
    assert attempt("cy@example.com", "192.0.2.7").status_code == 401
    refused(client.post("/v1/auth/password", json={"email": "ann@example.com", "password": "guess",
                                                   "new_password": "a long new passphrase"},
                        environ_base={"REMOTE_ADDR": "192.0.2.7"}), "COALITION_SIGN_IN_LIMIT", "2 per 1 hour")


# ---------------------------------------------------------------- what is stored, and where


@pytest.mark.parametrize("app_config", [{"COALITION_RATE_LIMIT": "5/hour"}])
def test_counters_are_keyed_by_a_digest_never_the_token(app, hub):
    key = hub.create_partner("brew-bar")
    hub.call("GET", "/v1/network/tiers", key)
    stored = " ".join(app.extensions[EXTENSION].counters.store.events)
    assert "credential" in stored
    for secret in (key, ADMIN_TOKEN, key.removeprefix("ck_")):
        assert secret not in stored


def test_plugins_never_see_the_redis_url(make_app):
    app = make_app(COALITION_REDIS_URL="redis://:secret@127.0.0.1:9/0")
    assert "COALITION_REDIS_URL" not in config.plugin_settings(app.config)


def test_two_hubs_on_one_redis_share_the_counters(make_app, database, redis_limits):
    workers = [make_app(**redis_limits, COALITION_RATE_LIMIT="3/hour") for _ in range(2)]
    first, second = (HubClient(worker.test_client(), ADMIN_TOKEN) for worker in workers)
    key = first.create_partner("brew-bar")
    _, card = first.enrol(key)                                           # 1st, on the first worker
    assert second.sale(key, card, "10.00").status_code == 201            # 2nd, on the second
    assert first.sale(key, card, "10.00").status_code == 201             # 3rd
    before = snapshot(database)
    refused(second.sale(key, card, "10.00"), "credential", "3 per 1 hour")
    refused(first.sale(key, card, "10.00"), "credential", "3 per 1 hour")
    assert snapshot(database) == before

    server = redis.Redis.from_url(redis_limits["COALITION_REDIS_URL"], decode_responses=True)
    try:
        stored = list(server.scan_iter(match=f"*{redis_limits['COALITION_RATE_LIMIT_PREFIX']}*"))
    finally:
        server.close()
    assert any("credential" in name for name in stored)
    assert not any(key in name or ADMIN_TOKEN in name for name in stored)


# ---------------------------------------------------------------- Redis down


def test_a_hub_whose_redis_does_not_answer_counts_in_memory_and_says_so(make_app, caplog):
    from tests.support.server import free_port

    app = make_app(COALITION_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", COALITION_RATE_LIMIT="3/hour")
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    with caplog.at_level(logging.WARNING, logger="network.api.rate_counters"):
        key = hub.create_partner("brew-bar")                             # taken: the ledger keeps working
    assert "Rate limit storage unreachable" in caplog.text
    for _ in range(3):
        assert hub.call("GET", "/v1/network/tiers", key).status_code == 200
    refused(hub.call("GET", "/v1/network/tiers", key), "credential", "3 per 1 hour")  # the same limit, counted here


@pytest.fixture
def own_redis(tmp_path):
    """A Redis this test may stop, on a port of its own (never the shared one)."""
    if not PrivateRedis.available():
        message = "redis-server is not installed"
        if os.environ.get("COALITION_REQUIRE_REDIS") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_going_down_fails_open_and_its_return_is_used_again(make_app, database, own_redis, caplog):
    app = make_app(COALITION_REDIS_URL=own_redis.url, COALITION_RATE_LIMIT="100/hour")
    hub = HubClient(app.test_client(), ADMIN_TOKEN)
    world = World.build(hub)
    assert any("credential" in name for name in own_redis.keys())

    own_redis.stop()
    with caplog.at_level(logging.INFO, logger="network.api.rate_counters"):
        assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # booked while Redis is down
        assert "Rate limit storage unreachable" in caplog.text
        own_redis.start()                                                # empty: it kept nothing on disk
        deadline = time.monotonic() + 10                                 # asked again after 1 s, then 2 s ...
        while not own_redis.keys() and time.monotonic() < deadline:
            assert hub.points(world.card, world.coffee)["available"] == 10
            time.sleep(0.2)
        assert "Rate limit storage recovered" in caplog.text
    assert any("credential" in name for name in own_redis.keys())


def test_counting_in_memory_starts_no_thread_per_request(hub, monkeypatch):
    import threading

    started = []
    real_start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: (started.append(thread.name), real_start(thread))[1])
    key = hub.create_partner("brew-bar")
    for _ in range(20):
        assert hub.call("GET", "/v1/network/tiers", key).status_code == 200
    assert started == []
