"""Webhooks: registration, and delivery to a real HTTP server on 127.0.0.1 that fails, times out and recovers.

The server answers from a script ("500", "hang", "200"); a hanging answer
blocks past the small timeout this test configures (0.2 s) and is released
when the test ends. Retries are made due by moving the clock, never by
sleeping.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from network.events import delivery, recording, sending, webhooks
from network.models import Delivery, DeliveryAttempt, Event
from tests.support import webhooks as hooks
from tests.support.ledger import snapshot
from tests.support.webhooks import SECRET, attempts, deliver, register, the_delivery

receiver = hooks.receiver  # the fixture: real HTTP servers on 127.0.0.1

# ---------------------------------------------------------------- delivery


def test_a_webhook_that_fails_then_times_out_then_recovers_gets_the_event_once_it_does(world, app, database, clock, receiver):
    hub = world.hub
    server = receiver(["500", "hang"])
    assert register(hub, "brew-bar", server.url, world.coffee).status_code == 200
    assert hub.sale(world.coffee, world.card, "12.50", order="A-1").status_code == 201
    t0 = clock.now

    first = deliver(app, clock)
    assert (first.fanned_out, first.attempts, first.retrying) == (1, 1, 1)
    assert deliver(app, clock).attempts == 0  # nothing due until the backoff has passed
    assert the_delivery(database).next_attempt_at == t0 + timedelta(seconds=30)

    clock.advance(seconds=29)
    assert deliver(app, clock).attempts == 0
    clock.advance(seconds=1)
    assert deliver(app, clock).retrying == 1  # the server hangs past the 0.2 s timeout
    assert the_delivery(database).next_attempt_at == t0 + timedelta(seconds=30 + 60)

    clock.advance(seconds=60)
    recovered = deliver(app, clock)
    assert (recovered.attempts, recovered.delivered) == (1, 1)
    assert attempts(database) == [
        (t0, 500, None),
        (t0 + timedelta(seconds=30), None, "timed out after 0.2 s"),
        (t0 + timedelta(seconds=90), 200, None),
    ]
    done = the_delivery(database)
    assert (done.status, done.attempts, done.delivered_at, done.next_attempt_at) == (
        "delivered", 3, t0 + timedelta(seconds=90), None)

    # The same event each time, signed afresh at each attempt's time, every signature good.
    assert [r["verified"] for r in server.requests] == [True, True, True]
    assert [r["signature"].split(",")[0] for r in server.requests] == [
        f"t={int((t0 + timedelta(seconds=s)).timestamp())}" for s in (0, 30, 90)]
    assert len({r["body"] for r in server.requests}) == 1
    body = json.loads(server.requests[0]["body"])
    with database.session() as session:
        event = session.scalars(select(Event)).one()
    assert body == {"id": event.public_id, "type": "points_earned", "created_at": t0.isoformat(), "data": {
        "member_id": world.member_id, "partner": "brew-bar", "points": 12, "order_id": "A-1",
        "balance": {"available": 12, "pending": 0, "held": 0}}}
    assert {r["event_id"] for r in server.requests} == {event.public_id}

    clock.advance(days=1)
    assert deliver(app, clock).attempts == 0  # delivered is done
    assert len(server.requests) == 3

    # The partner reads the same story from the API.
    listed = hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries", world.coffee)
    assert listed.status_code == 200
    (shown,) = listed.json["items"]
    assert (shown["event_id"], shown["type"], shown["status"], shown["delivered_at"]) == (
        event.public_id, "points_earned", "delivered", (t0 + timedelta(seconds=90)).isoformat())
    assert [(a["at"], a["status_code"], a["error"]) for a in shown["attempts"]] == [
        (t0.isoformat(), 500, None), ((t0 + timedelta(seconds=30)).isoformat(), None, "timed out after 0.2 s"),
        ((t0 + timedelta(seconds=90)).isoformat(), 200, None)]
    assert hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries", world.grocer).status_code == 403
    assert hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries", query_string={"status": "failed"}).json == {
        "items": [], "next": None}
    bad = hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries", query_string={"status": "lost"})
    assert bad.status_code == 422 and "status" in bad.json["error"]["details"]


def test_a_delivery_is_failed_after_the_last_attempt_and_every_attempt_is_kept(world, app, database, clock, receiver):
    hub = world.hub
    server = receiver(["500", "503", "404", "200"])
    register(hub, "brew-bar", server.url)
    hub.sale(world.coffee, world.card, "5.00")
    t0 = clock.now
    waits = []
    for _ in range(3):
        done = deliver(app, clock, COALITION_WEBHOOK_MAX_ATTEMPTS=3, COALITION_WEBHOOK_BACKOFF_SECONDS=10)
        assert done.attempts == 1
        after = the_delivery(database)
        if after.next_attempt_at:
            waits.append(after.next_attempt_at - clock.now)
            clock.now = after.next_attempt_at
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]
    assert done.failed == 1
    assert [(a[1], a[2]) for a in attempts(database)] == [(500, None), (503, None), (404, None)]
    failed = the_delivery(database)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 3, None)
    clock.advance(days=30)
    assert deliver(app, clock).attempts == 0
    assert len(server.requests) == 3
    assert clock.now - t0 > timedelta(days=30)


def test_the_backoff_doubles_up_to_its_cap(clock):
    policy = delivery.Policy(timeout=5, backoff=timedelta(seconds=30), backoff_max=timedelta(minutes=5), max_attempts=10)
    assert [policy.retry_at(clock.now, n) - clock.now for n in range(1, 7)] == [
        timedelta(seconds=s) for s in (30, 60, 120, 240, 300, 300)]


def test_a_refused_connection_is_an_attempt_like_any_other(world, app, database, clock):
    hub = world.hub
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True
    register(hub, "brew-bar", f"http://127.0.0.1:{port}/hook")
    hub.sale(world.coffee, world.card, "5.00")
    assert deliver(app, clock).retrying == 1
    ((at, status, error),) = attempts(database)
    assert at == clock.now and status is None and "NewConnectionError" in error


def test_a_partner_without_a_webhook_gets_no_delivery_rows(world, app, database, clock, receiver):
    hub = world.hub
    server = receiver()
    register(hub, "brew-bar", server.url)
    hub.sale(world.grocer, world.card, "5.00")  # green-grocer has no webhook
    hub.sale(world.coffee, world.card, "5.00")
    done = deliver(app, clock)
    assert (done.fanned_out, done.attempts, done.delivered) == (2, 1, 1)
    with database.session() as session:
        assert session.scalar(select(Delivery.id).join(Event).where(Event.partner_id != Delivery.webhook_id)) is None
        assert len(session.scalars(select(Delivery)).all()) == 1
    assert [json.loads(r["body"])["data"]["partner"] for r in server.requests] == ["brew-bar"]


def test_removing_the_webhook_cancels_what_was_pending(world, app, database, clock, receiver):
    hub = world.hub
    server = receiver(["500"])
    register(hub, "brew-bar", server.url)
    hub.sale(world.coffee, world.card, "5.00")
    deliver(app, clock)
    removed = hub.call("DELETE", "/v1/partners/brew-bar/webhook", world.coffee)
    assert removed.status_code == 200
    assert removed.json == {"slug": "brew-bar", "url": None, "secret_set": False, "updated_at": clock.now.isoformat(),
                            "failures_in_a_row": 0, "paused_until": None}
    assert the_delivery(database).status == "cancelled"
    clock.advance(hours=1)
    hub.sale(world.coffee, world.card, "5.00")
    assert deliver(app, clock).attempts == 0
    assert len(server.requests) == 1
    again = hub.call("DELETE", "/v1/partners/brew-bar/webhook", world.coffee)
    assert again.status_code == 404 and again.json["error"]["code"] == "no_webhook"


def test_coalition_events_deliver_once(world, app, runner, clock, receiver):
    server = receiver()
    register(world.hub, "brew-bar", server.url)
    world.hub.sale(world.coffee, world.card, "5.00")
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True  # the receiver listens on 127.0.0.1
    result = runner.invoke(["events", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 events fanned out; 1 attempts: 1 delivered, 0 to retry, 0 failed" in result.output
    assert [r["verified"] for r in server.requests] == [True]


def test_two_deliverers_at_once_never_send_the_same_attempt(world, app, database, clock, receiver):
    """Claims skip what another deliverer holds (SKIP LOCKED on PostgreSQL; SQLite's single writer)."""
    hub = world.hub
    server = receiver()
    register(hub, "brew-bar", server.url)
    for _ in range(30):
        hub.sale(world.coffee, world.card, "1.00")
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        barrier.wait()
        try:
            results.append(deliver(app, clock))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sum(r.attempts for r in results) == 30
    assert len(server.requests) == 30
    assert len({r["event_id"] for r in server.requests}) == 30


# ---------------------------------------------------------------- registration


def test_a_partner_registers_its_own_webhook_and_never_sees_the_secret_again(world, database):
    hub = world.hub
    put = register(hub, "brew-bar", "https://hooks.brew-bar.example/coalition", world.coffee)
    assert put.status_code == 200
    assert put.json == {"slug": "brew-bar", "url": "https://hooks.brew-bar.example/coalition", "secret_set": True,
                        "updated_at": "2026-03-14T09:30:00+00:00", "failures_in_a_row": 0, "paused_until": None}
    for key in (world.coffee, None):
        shown = hub.call("GET", "/v1/partners/brew-bar/webhook", key)
        assert shown.status_code == 200 and shown.json["secret_set"] is True
        assert SECRET not in shown.get_data(as_text=True)
        assert SECRET not in hub.call("GET", "/v1/partners/brew-bar", key).get_data(as_text=True)
    assert SECRET not in put.get_data(as_text=True)
    assert hub.call("GET", "/v1/partners/green-grocer/webhook").json == {
        "slug": "green-grocer", "url": None, "secret_set": False, "updated_at": None, "failures_in_a_row": 0,
        "paused_until": None}
    # The operator may set it for any partner; a replacement keeps one webhook.
    assert register(hub, "brew-bar", "http://hooks-2.brew-bar.example:8080/in", secret="another-secret-of-16+").status_code == 200
    assert hub.call("GET", "/v1/partners/brew-bar/webhook", world.coffee).json["url"] == "http://hooks-2.brew-bar.example:8080/in"


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://hooks.example/x", "secret": SECRET}, "url"),
    ({"url": "https:///no-host", "secret": SECRET}, "url"),
    ({"url": "hooks.example/x", "secret": SECRET}, "url"),
    ({"url": "https://hooks.example/x", "secret": "short"}, "secret"),
    ({"url": "https://hooks.example/" + "x" * 2000, "secret": SECRET}, "url"),
    ({"url": "https://hooks.example/x"}, "secret"),
    ({"url": "https://hooks.example/x", "secret": SECRET, "events": ["all"]}, "events"),
])
def test_a_bad_registration_is_refused_naming_the_field_and_changes_nothing(world, database, body, field):
    before = snapshot(database)
    refused = world.hub.call("PUT", "/v1/partners/brew-bar/webhook", world.coffee, json=body)
    assert refused.status_code == 422, refused.json
    assert field in refused.json["error"]["details"]
    assert snapshot(database) == before


def test_a_partner_cannot_touch_another_partners_webhook(world, database):
    hub = world.hub
    before = snapshot(database)
    for method, body in (("PUT", {"url": "https://evil.example/", "secret": SECRET}), ("DELETE", None), ("GET", None)):
        refused = hub.call(method, "/v1/partners/brew-bar/webhook", world.grocer, json=body)
        assert refused.status_code == 403 and refused.json["error"]["code"] == "wrong_partner"
    assert snapshot(database) == before
    assert hub.call("PUT", "/v1/partners/nobody/webhook", json={"url": "https://a.example/", "secret": SECRET}).status_code == 404


def test_the_signature_helper_checks_body_secret_and_time():
    body = b'{"id":"e-1"}'
    header = webhooks.sign(SECRET, body, 1_773_480_600)
    assert webhooks.verify_signature(SECRET, header, body, now=1_773_480_600 + 300)
    assert not webhooks.verify_signature(SECRET, header, body, now=1_773_480_600 + 301)  # a replay, too late
    assert not webhooks.verify_signature(SECRET, header, body + b" ", now=1_773_480_600)
    assert not webhooks.verify_signature("another-secret-16chars", header, body, now=1_773_480_600)
    assert not webhooks.verify_signature(SECRET, "v1=abc", body, now=1_773_480_600)
    assert webhooks.verify_signature(SECRET, header + ",v1=" + "0" * 64, body, now=1_773_480_600)


def test_the_readme_verifier_a_partner_copies_accepts_what_the_hub_signs():
    import re
    import time
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "def verify_signature" in block]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own example
    body = b'{"id":"e-1","type":"points_earned"}'
    now = int(time.time())
    assert namespace["verify_signature"](SECRET, webhooks.sign(SECRET, body, now), body)
    assert not namespace["verify_signature"](SECRET, webhooks.sign(SECRET, body, now - 301), body)
    assert not namespace["verify_signature"](SECRET, webhooks.sign(SECRET, body, now), body + b"x")


def test_a_sender_whose_claim_ran_out_does_not_overwrite_the_next_senders_outcome(world, app, database, clock):
    """The first sender's claim ran out and a second claimed the delivery: the late record is kept as an attempt only."""
    register(world.hub, "brew-bar", "https://hooks.brew-bar.example/hook")
    world.hub.sale(world.coffee, world.card, "1.00")
    policy = delivery.Policy.from_config(app.config)
    database.transact(lambda session: delivery.fan_out(session, [], clock.now))
    (first,) = database.transact(lambda session: delivery.claim(session, clock.now, policy))
    assert database.transact(lambda session: delivery.claim(session, clock.now, policy)) == []  # held by the first
    clock.now += policy.lease
    (second,) = database.transact(lambda session: delivery.claim(session, clock.now, policy))
    assert (first.attempts, second.attempts) == (1, 2)  # the first attempt was started: it counts
    delivered = sending.Outcome(True, 200, None, 12)
    failed = sending.Outcome(False, 500, None, 30)
    assert database.transact(lambda session: recording.record(session, second, clock.now, delivered, policy)) == "delivered"
    assert database.transact(lambda session: recording.record(session, first, clock.now, failed, policy)) == recording.SUPERSEDED
    with database.session() as session:
        assert session.execute(select(Delivery.status, Delivery.attempts)).one() == ("delivered", 2)
        assert [row.status_code for row in session.execute(select(DeliveryAttempt.status_code).order_by(DeliveryAttempt.id))] \
            == [500, 200]


@pytest.mark.parametrize("url", ["http://127.0.0.1:5432/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/hook",
                                 "http://localhost:8000/hook"])
def test_a_webhook_into_the_hubs_own_network_is_refused_and_never_sent(world, app, database, clock, receiver, url):
    server = receiver()
    register(world.hub, "brew-bar", url)
    world.hub.sale(world.coffee, world.card, "1.00")
    done = deliver(app, clock, COALITION_WEBHOOK_PRIVATE_NETWORKS=False)
    assert (done.attempts, done.delivered, done.retrying) == (1, 0, 1)
    ((_, status, error),) = attempts(database)
    assert status is None and error.startswith("refused: the URL's host is a private address")
    assert server.requests == []
