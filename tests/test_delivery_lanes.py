"""Delivery that holds up when an endpoint does not: lanes, deadlines, claims that run out, the circuit breaker.

Against real HTTP servers on 127.0.0.1 that answer slowly, drip their
answer a byte at a time, or fail; a few of these tests run for a second or
two of real time, since what they check is how long things took.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from network.events import breaker, deliverer, delivery, recording, sending
from network.models import Delivery, DeliveryAttempt, Event, Webhook
from tests.support import webhooks as hooks
from tests.support.pages import signed_in
from tests.support.webhooks import register, settings

receiver = hooks.receiver


class Endpoint:
    """A partner's endpoint that behaves as told: `ok`, `fail`, `slow` (answers after `delay`) or `drip` (a byte per `delay`)."""

    def __init__(self, behaviour: str = "ok", delay: float = 0.0):
        self.behaviour, self.delay = behaviour, delay
        self.received: list[tuple[float, str]] = []
        self.open = self.most_open = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint.lock:
                    endpoint.received.append((time.monotonic(), self.headers["Coalition-Event-Id"]))
                    endpoint.open += 1
                    endpoint.most_open = max(endpoint.most_open, endpoint.open)
                try:
                    endpoint.answer(self)
                except OSError:
                    pass  # the hub cut the connection at its deadline
                finally:
                    with endpoint.lock:
                        endpoint.open -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler) -> None:
        if self.behaviour == "drip":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(self.delay)
            return
        if self.behaviour == "slow":
            time.sleep(self.delay)
        handler.send_response(500 if self.behaviour == "fail" else 200)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoints(app):
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True
    made = []

    def make(behaviour="ok", delay=0.0):
        made.append(Endpoint(behaviour, delay))
        return made[-1]

    yield make
    for one in made:
        one.close()


def run(app, clock, **overrides):
    hub = app.extensions["coalition"]
    return deliverer.deliver(hub.db, hub.plugins, settings(app, **overrides), clock, threads=overrides.pop("threads", 16))


def attempts_of(database):
    with database.session() as session:
        return session.execute(select(DeliveryAttempt.delivery_id, DeliveryAttempt.status_code, DeliveryAttempt.error,
                                      DeliveryAttempt.duration_ms).order_by(DeliveryAttempt.id)).all()


def statuses(database):
    with database.session() as session:
        return sorted(session.scalars(select(Delivery.status)))


# ---------------------------------------------------------------- deadlines


def test_an_endpoint_that_drips_its_answer_is_cut_off_at_the_deadline(world, app, database, clock, endpoints):
    """A byte every 0.15 s keeps every socket read short; the attempt as a whole still ends at 0.5 s."""
    drip = endpoints("drip", 0.15)
    register(world.hub, "brew-bar", drip.url)
    world.hub.sale(world.coffee, world.card, "1.00")
    started = time.monotonic()
    done = run(app, clock, COALITION_WEBHOOK_TIMEOUT_SECONDS=0.5)
    assert time.monotonic() - started < 2.0
    assert (done.attempts, done.retrying) == (1, 1)
    ((_, status, error, duration),) = attempts_of(database)
    assert (status, error) == (None, "timed out after 0.5 s")
    assert 450 <= duration <= 800
    assert statuses(database) == ["pending"]


def test_a_claim_lasts_its_attempts_deadline_and_a_few_seconds(clock):
    policy = delivery.Policy(timeout=5, backoff=timedelta(seconds=30), backoff_max=timedelta(hours=1), max_attempts=3)
    assert policy.lease == timedelta(seconds=5) + delivery.GRACE == timedelta(seconds=10)


# ---------------------------------------------------------------- lanes


def test_a_slow_endpoint_delays_only_itself(world, app, database, clock, endpoints):
    """Twelve events for a partner whose endpoint takes 1 s, three for one that answers at once: the three go first."""
    slow, quick = endpoints("slow", 1.0), endpoints()
    register(world.hub, "brew-bar", slow.url, world.coffee)
    register(world.hub, "green-grocer", quick.url, world.grocer)
    for _ in range(12):
        world.hub.sale(world.coffee, world.card, "1.00")
    for _ in range(3):
        world.hub.sale(world.grocer, world.card, "1.00")
    started = time.monotonic()
    done = run(app, clock, COALITION_WEBHOOK_TIMEOUT_SECONDS=5, COALITION_WEBHOOK_CONCURRENCY=4, threads=8)
    assert (done.attempts, done.delivered) == (15, 15)
    assert len(quick.received) == 3 and max(at for at, _ in quick.received) - started < 0.8
    assert slow.most_open == 4  # the slow lane's cap, never more, though threads were free
    assert time.monotonic() - started >= 3.0  # twelve at four at a time, a second each


def test_a_webhooks_cap_holds_over_two_deliverers(world, app, database, clock, endpoints):
    slow = endpoints("slow", 0.4)
    register(world.hub, "brew-bar", slow.url)
    for _ in range(8):
        world.hub.sale(world.coffee, world.card, "1.00")
    results = []
    threads = [threading.Thread(target=lambda: results.append(run(app, clock, COALITION_WEBHOOK_CONCURRENCY=2,
                                                                  COALITION_WEBHOOK_TIMEOUT_SECONDS=5)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(r.delivered for r in results) == 8
    assert slow.most_open <= 2
    assert len({event for _, event in slow.received}) == len(slow.received) == 8


def test_a_running_deliverer_sends_a_new_event_within_a_poll_while_a_slow_lane_is_busy(world, app, database, endpoints):
    """Real time: the deliverer runs on, a slow partner's backlog fills its lane, a new sale elsewhere goes at once."""
    slow, quick = endpoints("slow", 1.0), endpoints()
    register(world.hub, "brew-bar", slow.url, world.coffee)
    register(world.hub, "green-grocer", quick.url, world.grocer)
    for _ in range(8):
        world.hub.sale(world.coffee, world.card, "1.00")
    hub = app.extensions["coalition"]
    running = deliverer.Deliverer(hub.db, hub.plugins, settings(app, COALITION_WEBHOOK_TIMEOUT_SECONDS=5),
                                  lambda: datetime.now(timezone.utc), threads=8)
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop, 0.05))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not slow.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slow.received, "the slow lane started"
        sold = time.monotonic()
        world.hub.sale(world.grocer, world.card, "1.00")
        while not quick.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert quick.received and quick.received[0][0] - sold < 0.5
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()


# ---------------------------------------------------------------- a deliverer that died


def test_a_dead_deliverers_claim_runs_out_and_its_attempt_stays_on_record(world, app, database, clock, endpoints):
    quick = endpoints()
    register(world.hub, "brew-bar", quick.url)
    world.hub.sale(world.coffee, world.card, "1.00")
    policy = delivery.Policy.from_config(settings(app))
    database.transact(lambda session: delivery.fan_out(session, [], clock.now))
    (held,) = database.transact(lambda session: delivery.claim(session, clock.now, policy))  # then the process died
    assert run(app, clock).attempts == 0  # claimed: nobody else sends it
    clock.now += policy.lease - timedelta(seconds=1)
    assert run(app, clock).attempts == 0
    clock.advance(seconds=1)
    again = run(app, clock, COALITION_WEBHOOK_TIMEOUT_SECONDS=5)
    assert (again.attempts, again.delivered) == (1, 1)
    assert [(status, error, duration is None) for _, status, error, duration in attempts_of(database)] == [
        (None, None, True), (200, None, False)]
    listed = world.hub.call("GET", "/v1/partners/brew-bar/webhook/deliveries").json["items"][0]
    assert [(a["status_code"], a["duration_ms"]) for a in listed["attempts"]] == [(None, None), (200, listed["attempts"][1]["duration_ms"])]
    assert held.attempts == 1 and listed["status"] == "delivered"


def test_removing_a_webhook_cancels_a_delivery_in_flight_and_its_sender_cannot_undo_it(world, app, database, clock):
    register(world.hub, "brew-bar", "https://hooks.brew-bar.example/hook")
    world.hub.sale(world.coffee, world.card, "1.00")
    policy = delivery.Policy.from_config(settings(app))
    database.transact(lambda session: delivery.fan_out(session, [], clock.now))
    (job,) = database.transact(lambda session: delivery.claim(session, clock.now, policy))
    assert world.hub.call("DELETE", "/v1/partners/brew-bar/webhook", world.coffee).status_code == 200
    answered = sending.Outcome(True, 200, None, 5)
    assert database.transact(lambda session: recording.record(session, job, clock.now, answered, policy)) == recording.SUPERSEDED
    assert statuses(database) == ["cancelled"]


# ---------------------------------------------------------------- the circuit breaker


def test_an_endpoint_that_keeps_failing_is_paused_probed_and_gets_its_backlog_when_it_answers(
        world, app, database, clock, endpoints):
    down = endpoints("fail")
    register(world.hub, "brew-bar", down.url)
    for _ in range(6):
        world.hub.sale(world.coffee, world.card, "1.00")
    tuned = {"COALITION_WEBHOOK_BREAKER_FAILURES": 3, "COALITION_WEBHOOK_MAX_ATTEMPTS": 2,
             "COALITION_WEBHOOK_CONCURRENCY": 1, "COALITION_WEBHOOK_BACKOFF_SECONDS": 1,
             "COALITION_WEBHOOK_TIMEOUT_SECONDS": 5}
    first = run(app, clock, **tuned)
    # One at a time: two deliveries fail once each, the third failure in a row pauses the webhook for 10 s.
    assert (first.attempts, first.failed) == (3, 0)
    with database.session() as session:
        hook = session.scalars(select(Webhook)).one()
        assert (hook.failures, hook.paused_until) == (3, clock.now + timedelta(seconds=10))
        (paused,) = session.scalars(select(Event).where(Event.kind == "webhook_paused")).all()
        assert paused.partner_id is None and '"partner":"brew-bar"' in paused.data
    clock.advance(seconds=5)
    assert run(app, clock, **tuned).attempts == 0  # paused: nothing is tried, though retries are due
    clock.advance(seconds=5)
    probe = run(app, clock, **tuned)
    assert probe.attempts == 1  # one probe; it fails; the pause doubles
    with database.session() as session:
        assert session.scalar(select(Webhook.paused_until)) == clock.now + timedelta(seconds=20)
    clock.advance(hours=3)
    for _ in range(3):  # a long outage: probe after probe fails, and still no delivery has failed for good
        run(app, clock, **tuned)
        clock.advance(hours=1)
    assert "failed" not in statuses(database)
    down.behaviour = "ok"
    back = run(app, clock, **tuned)
    assert (back.delivered, back.failed) == (6, 0)
    assert statuses(database) == ["delivered"] * 6
    with database.session() as session:
        assert session.execute(select(Webhook.failures, Webhook.paused_until)).one() == (0, None)
        assert len(session.scalars(select(Event).where(Event.kind == "webhook_resumed")).all()) == 1


def test_answers_between_failures_keep_the_breaker_closed(world, app, database, clock, receiver):
    flaky = receiver(["500", "500", "200", "500", "500", "200", "500", "500"])
    register(world.hub, "brew-bar", flaky.url)
    for _ in range(8):
        world.hub.sale(world.coffee, world.card, "1.00")
    run(app, clock, COALITION_WEBHOOK_BREAKER_FAILURES=3, COALITION_WEBHOOK_CONCURRENCY=1,
        COALITION_WEBHOOK_TIMEOUT_SECONDS=5)  # a loaded machine's slow answer is no failure here
    with database.session() as session:
        assert session.execute(select(Webhook.failures, Webhook.paused_until)).one() == (2, None)


def test_the_pause_doubles_up_to_its_cap():
    rule = breaker.Breaker(failures=3, pause=timedelta(seconds=10), pause_max=timedelta(seconds=60))
    assert [rule.paused_for(n).total_seconds() for n in (3, 4, 5, 6, 7)] == [10, 20, 40, 60, 60]
    now = datetime(2026, 3, 14, tzinfo=timezone.utc)
    assert (rule.cap(2, None, now, 4), rule.cap(3, now + timedelta(seconds=1), now, 4), rule.cap(3, now, now, 4)) == (4, 0, 1)


# ---------------------------------------------------------------- jitter


def test_retries_of_one_batch_are_spread_by_jitter(clock):
    policy = delivery.Policy(timeout=5, backoff=timedelta(seconds=30), backoff_max=timedelta(hours=1), max_attempts=9,
                             jitter=0.5)
    waits = [(policy.retry_at(clock.now, 2) - clock.now).total_seconds() for _ in range(200)]
    assert all(30 <= wait <= 60 for wait in waits)
    assert len({round(wait, 3) for wait in waits}) > 150


def test_the_portal_says_a_webhook_is_paused_and_which_attempt_has_no_outcome(world, app, database, clock, endpoints):
    down = endpoints("fail")
    register(world.hub, "brew-bar", down.url)
    for _ in range(2):
        world.hub.sale(world.coffee, world.card, "1.00")
    policy = delivery.Policy.from_config(settings(app))
    database.transact(lambda session: delivery.fan_out(session, [], clock.now))
    hook = database.read(lambda session: session.scalar(select(Webhook.id)))
    database.transact(lambda session: delivery.claim(session, clock.now, policy, {delivery.Lane(hook, None): 1}))
    clock.now += policy.lease  # that deliverer died; the next one meets an endpoint that keeps failing
    run(app, clock, COALITION_WEBHOOK_BREAKER_FAILURES=2, COALITION_WEBHOOK_CONCURRENCY=1,
        COALITION_WEBHOOK_TIMEOUT_SECONDS=5)
    desk = signed_in(app, "ops@hub.example", "admin")
    page = desk.get("/portal/brew-bar/webhook").get_data(as_text=True)
    assert "Paused: your endpoint failed 2 times in a row" in page
    assert f"Nothing is sent until {(clock.now + timedelta(seconds=10)):%Y-%m-%d %H:%M:%S} UTC" in page
    assert page.count("no outcome: its deliverer stopped mid-send") == 1
    shown = world.hub.call("GET", "/v1/partners/brew-bar/webhook", world.coffee).json
    assert (shown["failures_in_a_row"], shown["paused_until"]) == (2, (clock.now + timedelta(seconds=10)).isoformat())
    saved = register(world.hub, "brew-bar", down.url)
    assert (saved.json["failures_in_a_row"], saved.json["paused_until"]) == (0, None)
    assert saved.status_code == 200
    assert "Paused" not in desk.get("/portal/brew-bar/webhook").get_data(as_text=True)
