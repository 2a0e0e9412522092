"""Named people and several keys: staff from the shell, partners' users, sign-in and lock-out, rotation, revocation."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import select

from network.models import AuditEvent, Credential
from tests.support.hub import order_id
from tests.support.ledger import snapshot
from tests.support.people import token_for
from tests.support.server import running_hub


def sign_in(hub, email, password):
    return hub.client.post("/v1/auth/sign-in", json={"email": email, "password": password})


def change(hub, email, password, new):
    return hub.client.post("/v1/auth/password", json={"email": email, "password": password, "new_password": new})


def one_time_password(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("password: ")]
    return line.removeprefix("password: ")


def test_staff_from_the_shell_sign_in_after_choosing_a_password(runner, hub, world):
    added = runner.invoke(["staff", "add", "Fiona@Operator.example", "--role", "finance"])
    assert added.exit_code == 0, added.output
    first = one_time_password(added.output)
    assert sign_in(hub, "fiona@operator.example", first).json["error"]["code"] == "password_change_required"
    assert change(hub, "fiona@operator.example", first, "short").status_code == 422
    assert change(hub, "fiona@operator.example", first, "fiona's own long passphrase").json == {"changed": True}
    assert sign_in(hub, "fiona@operator.example", first).json["error"]["code"] == "invalid_credentials"
    signed = sign_in(hub, "FIONA@operator.example ", "fiona's own long passphrase")
    assert signed.status_code == 201 and signed.json["role"] == "finance" and signed.json["partner"] is None
    token = signed.json["token"]
    assert token.startswith("coal_pt_")
    assert hub.call("GET", "/v1/partners/brew-bar/contract", token).status_code == 200
    assert hub.call("PUT", "/v1/network/tiers", token, json={"tiers": [{"name": "Base", "threshold": 0, "multiplier": "1"}]}
                    ).json["error"]["code"] == "wrong_role"
    listed = runner.invoke(["staff", "list"])
    assert "fiona@operator.example\tfinance\tactive" in listed.output
    assert runner.invoke(["staff", "add", "fiona@operator.example", "--role", "admin"]).exit_code == 1  # one account each
    assert runner.invoke(["staff", "disable", "fiona@operator.example"]).exit_code == 0
    assert hub.call("GET", "/v1/partners/brew-bar/contract", token).json["error"]["code"] == "invalid_token"
    assert sign_in(hub, "fiona@operator.example", "fiona's own long passphrase").json["error"]["code"] == "invalid_credentials"


def test_a_staff_token_is_shown_once_stored_hashed_and_revocable(runner, hub, app, world):
    assert runner.invoke(["staff", "add", "sam@operator.example", "--role", "support"]).exit_code == 0
    made = runner.invoke(["staff", "token", "sam@operator.example", "--name", "nightly export", "--expires", "30"])
    token_id, token = made.output.strip().removeprefix("token ").split(": ")
    stored = app.extensions["coalition"].db.read(lambda s: s.execute(select(Credential.key_hash, Credential.hint).where(
        Credential.id == int(token_id))).one())
    assert token not in stored and stored.hint == token[:12]
    assert hub.call("GET", f"/v1/members/{world.member_id}", token).json["email"] == "ann@example.com"
    app.config["CLOCK"].advance(days=31)
    assert hub.call("GET", f"/v1/members/{world.member_id}", token).json["error"]["code"] == "invalid_token"
    fresh = runner.invoke(["staff", "token", "sam@operator.example", "--name", "laptop"]).output.strip()
    fresh_id, fresh_token = fresh.removeprefix("token ").split(": ")
    assert runner.invoke(["staff", "revoke", "sam@operator.example", fresh_id]).exit_code == 0
    assert hub.call("GET", f"/v1/members/{world.member_id}", fresh_token).json["error"]["code"] == "invalid_token"


def test_wrong_passwords_lock_the_account_and_an_unknown_address_reads_the_same(runner, hub, app):
    first = one_time_password(runner.invoke(["staff", "add", "ada@operator.example", "--role", "admin"]).output)
    assert change(hub, "ada@operator.example", first, "ada's long passphrase").status_code == 200
    unknown = sign_in(hub, "nobody@operator.example", "guess")
    wrong = sign_in(hub, "ada@operator.example", "guess")
    assert (unknown.status_code, unknown.json) == (wrong.status_code, wrong.json) == (401, wrong.json)
    for _ in range(3):
        assert sign_in(hub, "ada@operator.example", "guess").status_code == 401
    assert sign_in(hub, "ada@operator.example", "ada's long passphrase").status_code == 201  # four failures: not yet
    for _ in range(5):
        sign_in(hub, "ada@operator.example", "guess")
    locked = sign_in(hub, "ada@operator.example", "ada's long passphrase")
    assert locked.status_code == 403 and locked.json["error"]["code"] == "account_locked"
    app.config["CLOCK"].advance(seconds=app.config["COALITION_SIGN_IN_LOCK_SECONDS"] + 1)
    assert sign_in(hub, "ada@operator.example", "ada's long passphrase").status_code == 201
    trail = app.extensions["coalition"].db.read(lambda s: s.scalars(select(AuditEvent.action).where(
        AuditEvent.actor == "ada@operator.example")).all())
    assert trail.count("sign-in") == 2 and "sign-in refused (account_locked)" in trail


def test_a_partner_rotates_its_keys_without_a_gap(hub, world, database):
    first = hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"]
    assert [(k["name"], k["kind"], k["revoked_at"]) for k in first] == [("first key", "partner_key", None)]
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201
    assert hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"][0]["last_used_at"] is not None
    made = hub.call("POST", "/v1/partners/brew-bar/api-keys", json={"name": "tills, store 4"}, headers={"Idempotency-Key": "k1"})
    assert made.status_code == 201 and made.json["key"].startswith("coal_pk_") and made.json["hint"] == made.json["key"][:12]
    replay = hub.call("POST", "/v1/partners/brew-bar/api-keys", json={"name": "tills, store 4"}, headers={"Idempotency-Key": "k1"})
    assert replay.json["key"] is None and replay.json["key_shown"] == "once"
    new = made.json["key"]
    assert hub.sale(new, world.card, "10.00").status_code == 201
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # both work while the tills move over
    listed = hub.call("GET", "/v1/partners/brew-bar/api-keys")
    assert new not in listed.get_data(as_text=True) and len(listed.json["items"]) == 2
    old_id = first[0]["id"]
    revoked = hub.call("DELETE", f"/v1/partners/brew-bar/api-keys/{old_id}")
    assert revoked.status_code == 200 and revoked.json["revoked_at"] is not None
    before = snapshot(database)
    refused = hub.sale(world.coffee, world.card, "10.00")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_token"
    assert snapshot(database) == before
    assert hub.sale(new, world.card, "10.00").status_code == 201
    assert hub.call("DELETE", "/v1/partners/brew-bar/api-keys/987654").json["error"]["code"] == "unknown_api_key"
    fuel_key = hub.call("GET", "/v1/partners/green-grocer/api-keys").json["items"][0]["id"]
    assert hub.call("DELETE", f"/v1/partners/brew-bar/api-keys/{fuel_key}").status_code == 404  # another partner's


def test_a_key_that_expires_stops_at_its_time(hub, world, app):
    at = app.config["CLOCK"].now + timedelta(hours=1)
    assert hub.call("POST", "/v1/partners/brew-bar/api-keys", json={"name": "late", "expires_at": (
        app.config["CLOCK"].now - timedelta(seconds=1)).isoformat()}).status_code == 422
    key = hub.call("POST", "/v1/partners/brew-bar/api-keys", json={"name": "pop-up", "expires_at": at.isoformat()}).json["key"]
    assert hub.call("GET", f"/v1/cards/{world.card}/balance", key).status_code == 200
    app.config["CLOCK"].advance(hours=1)
    assert hub.call("GET", f"/v1/cards/{world.card}/balance", key).json["error"]["code"] == "invalid_token"


def test_a_partner_admin_runs_its_own_partner_and_nothing_else(hub, world, app):
    admin = token_for(app, "ines@brew-bar.example", "partner_admin", "brew-bar")
    made = hub.call("POST", "/v1/partners/brew-bar/users", admin, json={"email": "Tom@Brew-Bar.example", "role": "partner_staff"})
    assert made.status_code == 201 and made.json["email"] == "tom@brew-bar.example" and made.json["must_change_password"]
    password = made.json["password"]
    assert change(hub, "tom@brew-bar.example", password, "tom's own long passphrase").status_code == 200
    tom = sign_in(hub, "tom@brew-bar.example", "tom's own long passphrase").json
    assert (tom["role"], tom["partner"]) == ("partner_staff", "brew-bar")
    assert hub.call("GET", f"/v1/members/{world.member_id}/history", tom["token"]).status_code == 200
    assert hub.call("POST", "/v1/partners/brew-bar/api-keys", tom["token"], json={"name": "x"}).json["error"]["code"] == "wrong_role"
    assert hub.call("POST", "/v1/transactions", tom["token"], json={}).json["error"]["code"] == "wrong_role"
    assert hub.call("POST", "/v1/partners/green-grocer/api-keys", admin, json={"name": "x"}).json["error"]["code"] == "wrong_partner"
    assert hub.call("POST", "/v1/partners/green-grocer/users", admin, json={"email": "a@b.example", "role": "partner_admin"}
                    ).json["error"]["code"] == "wrong_partner"
    assert hub.call("POST", "/v1/partners/brew-bar/users", admin, json={"email": "tom@brew-bar.example", "role": "partner_staff"}
                    ).json["error"]["code"] == "user_exists"
    assert hub.call("POST", "/v1/partners/brew-bar/users", admin, json={"email": "x@brew-bar.example", "role": "admin"}
                    ).status_code == 422  # a partner makes no staff
    users = hub.call("GET", "/v1/partners/brew-bar/users", admin).json["items"]
    assert sorted(u["email"] for u in users) == ["ines@brew-bar.example", "tom@brew-bar.example"]
    tom_id = next(u["id"] for u in users if u["email"] == "tom@brew-bar.example")
    assert hub.call("DELETE", f"/v1/partners/green-grocer/users/{tom_id}").json["error"]["code"] == "unknown_user"
    assert hub.call("DELETE", f"/v1/partners/brew-bar/users/{tom_id}", admin).json["disabled_at"] is not None
    assert hub.call("GET", f"/v1/members/{world.member_id}/history", tom["token"]).json["error"]["code"] == "invalid_token"


def test_finance_sees_members_without_personal_data_and_support_adjusts_within_its_limit(hub, world, app, database):
    finance = token_for(app, "fiona@operator.example", "finance")
    support = token_for(app, "sam@operator.example", "support")
    seen = hub.call("GET", f"/v1/members/{world.member_id}", finance).json
    assert "email" not in seen and "name" not in seen and all("*" in c["number"] for c in seen["cards"])
    assert hub.call("GET", f"/v1/members/{world.member_id}", support).json["email"] == "ann@example.com"
    limit = app.config["COALITION_SUPPORT_ADJUSTMENT_LIMIT"]
    before = snapshot(database)
    over = hub.call("POST", f"/v1/members/{world.member_id}/adjustments", support, json={"points": limit + 1, "reason": "x"})
    assert over.status_code == 403 and over.json["error"] == {
        "code": "over_role_limit", "message": f"Support adjusts at most {limit} points at once",
        "details": {"points": [f"at most {limit} either way"]}}
    assert snapshot(database) == before
    assert hub.call("POST", f"/v1/members/{world.member_id}/adjustments", support, json={"points": limit, "reason": "goodwill"}
                    ).status_code == 201
    assert hub.call("POST", f"/v1/members/{world.member_id}/adjustments", json={"points": limit * 10, "reason": "admin"}
                    ).status_code == 201
    assert hub.call("POST", "/v1/settlement/runs", support, json={"end": "2026-03-01T00:00:00Z"}).json["error"]["code"] == "wrong_role"


def test_a_new_ladder_reaches_every_worker_from_its_next_request(world, database, app, clock, tmp_path):
    from network import create_app
    from tests.support.hub import ADMIN_TOKEN, HubClient

    other = create_app({**{k: v for k, v in app.config.items() if k.startswith("COALITION_") or k in ("CLOCK",)},
                        "TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN})
    first, second = HubClient(app.test_client(), ADMIN_TOKEN), HubClient(other.test_client(), ADMIN_TOKEN)
    assert second.call("GET", f"/v1/cards/{world.card}/balance", world.grocer).json["tier"] is None  # read, and kept
    ladder = {"tiers": [{"name": "Base", "threshold": 0, "multiplier": "1"}, {"name": "Gold", "threshold": 100000,
                                                                                "multiplier": "2"}]}
    assert first.call("PUT", "/v1/network/tiers", json=ladder).status_code == 200
    assert second.call("GET", f"/v1/cards/{world.card}/balance", world.grocer).json["tier"] == "Base"


@pytest.fixture
def server(database, tmp_path):
    with running_hub(database.engine.url.render_as_string(hide_password=False), tmp_path,
                     env={"COALITION_ADMIN_TOKEN": "e2e-admin"}) as base:
        yield base


def http(base, method, path, token, body=None):
    request = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_revoked_key_is_refused_by_both_workers_at_the_next_request(server):
    status, made = http(server, "POST", "/v1/partners", "e2e-admin", {"slug": "kiosk", "name": "Kiosk", "timezone": "UTC",
                                                                      "currency": "EUR", "earn_rate": "1"})
    assert status == 201
    key = made["api_key"]
    status, member = http(server, "POST", "/v1/members", key, {})
    card = member["card_number"]
    for _ in range(8):  # reach both workers, so each has seen the key as good
        assert http(server, "GET", f"/v1/cards/{card}/balance", key)[0] == 200
    (first,) = http(server, "GET", "/v1/partners/kiosk/api-keys", "e2e-admin")[1]["items"]
    assert http(server, "DELETE", f"/v1/partners/kiosk/api-keys/{first['id']}", "e2e-admin")[0] == 200
    answers = [http(server, "GET", f"/v1/cards/{card}/balance", key) for _ in range(8)]
    assert all(status == 401 and body["error"]["code"] == "invalid_token" for status, body in answers), answers
    sale = {"type": "sale", "order_id": order_id("K"), "card_number": card, "occurred_at": "2026-03-14T10:00:00Z",
            "currency": "EUR", "total": "5.00"}
    assert http(server, "POST", "/v1/transactions", key, sale)[0] == 401


def test_a_worker_that_read_a_key_before_still_books_under_the_settings_of_now(world, database, app):
    """A write may start from the principal this worker read before; its audit INSERT proves it still holds."""
    from network import create_app
    from tests.support.hub import ADMIN_TOKEN, HubClient

    other = create_app({**{k: v for k, v in app.config.items() if k.startswith("COALITION_") or k in ("CLOCK",)},
                        "TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN})
    first, second = HubClient(app.test_client(), ADMIN_TOKEN), HubClient(other.test_client(), ADMIN_TOKEN)
    assert second.sale(world.coffee, world.card, "10.00").json["points"] == 10  # read, and kept by this worker
    doubled = {"tiers": [{"name": "Everyone", "threshold": 0, "multiplier": "2"}]}
    assert first.call("PUT", "/v1/network/tiers", json=doubled).status_code == 200
    assert second.sale(world.coffee, world.card, "10.00").json["points"] == 20
    assert first.call("PUT", "/v1/partners/brew-bar/rules", json=[{"rule": "base_rate", "rate": "3"}]).status_code == 200
    assert second.sale(world.coffee, world.card, "10.00").json["points"] == 60
    # With an Idempotency-Key, the proof rides in the statement that stores the outcome (on PostgreSQL).
    single = {"tiers": [{"name": "Everyone", "threshold": 0, "multiplier": "1"}]}
    assert first.call("PUT", "/v1/network/tiers", json=single).status_code == 200
    sale = {"type": "sale", "order_id": order_id("I"), "card_number": world.card, "occurred_at": "2026-03-14T10:30:00Z",
            "currency": "EUR", "total": "10.00"}
    keyed = second.call("POST", "/v1/transactions", world.coffee, json=sale, headers={"Idempotency-Key": "after-tiers"})
    assert (keyed.status_code, keyed.json["points"]) == (201, 30)


def test_a_revoked_key_learns_nothing_even_from_a_refusal(hub, world, database):
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # this worker now knows the key
    key_id = hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"][0]["id"]
    assert hub.call("DELETE", f"/v1/partners/brew-bar/api-keys/{key_id}").status_code == 200
    before = snapshot(database)
    for body in ({"card_number": world.card, "points": 10**9, "order_id": order_id("X")}, {"points": "many"}):
        refused = hub.call("POST", "/v1/redemptions", world.coffee, json=body)
        assert (refused.status_code, refused.json["error"]["code"]) == (401, "invalid_token")
    assert snapshot(database) == before


def test_an_expired_key_is_refused_by_both_workers_from_its_time(server):
    import time
    from datetime import datetime, timezone

    status, made = http(server, "POST", "/v1/partners", "e2e-admin", {"slug": "stall", "name": "Stall", "timezone": "UTC",
                                                                      "currency": "EUR", "earn_rate": "1"})
    assert status == 201
    card = http(server, "POST", "/v1/members", made["api_key"], {})[1]["card_number"]
    ends = datetime.now(timezone.utc) + timedelta(seconds=3)
    status, short = http(server, "POST", "/v1/partners/stall/api-keys", "e2e-admin", {"name": "pop-up", "expires_at": ends.isoformat()})
    assert status == 201
    for _ in range(8):  # both workers read the key while it is good
        assert http(server, "GET", f"/v1/cards/{card}/balance", short["key"])[0] == 200
    time.sleep(max(0.0, (ends - datetime.now(timezone.utc)).total_seconds()) + 0.2)
    answers = [http(server, "GET", f"/v1/cards/{card}/balance", short["key"]) for _ in range(8)]
    assert all(status == 401 and body["error"]["code"] == "invalid_token" for status, body in answers), answers
    assert http(server, "GET", f"/v1/cards/{card}/balance", made["api_key"])[0] == 200  # the partner's other key works


def test_a_revoked_key_read_before_is_refused_before_its_role_is_told(hub, world):
    assert hub.sale(world.coffee, world.card, "10.00").status_code == 201  # this worker now knows the key
    key_id = hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"][0]["id"]
    assert hub.call("DELETE", f"/v1/partners/brew-bar/api-keys/{key_id}").status_code == 200
    for method, path in (("PUT", "/v1/network/tiers"), ("POST", "/v1/settlement/runs")):  # the key's role may not
        refused = hub.call(method, path, world.coffee, json={})
        assert (refused.status_code, refused.json["error"]["code"]) == (401, "invalid_token")


def test_a_key_this_worker_knows_still_records_its_use_once_a_minute(hub, world, app):
    def last_used():
        (key,) = hub.call("GET", "/v1/partners/brew-bar/api-keys").json["items"]
        return key["last_used_at"]

    assert hub.sale(world.coffee, world.card, "1.00").status_code == 201
    first = last_used()
    app.config["CLOCK"].advance(seconds=30)
    assert hub.sale(world.coffee, world.card, "1.00").status_code == 201
    assert last_used() == first  # within the minute: not written again
    app.config["CLOCK"].advance(seconds=31)
    assert hub.sale(world.coffee, world.card, "1.00").status_code == 201
    assert last_used() == app.config["CLOCK"].now.isoformat()
