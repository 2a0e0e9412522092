"""The outbox's figures: its backlog, and each webhook's queue, success rate, latency and breaker.

The deliveries and attempts are written straight into the tables, with the
statuses, times and durations each figure is meant to count, so every figure
is known exactly; no deliverer runs. The same figures are expected on SQLite
and on PostgreSQL, where the latency is PostgreSQL's own percentile_disc.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from network.events import figures
from network.models import Delivery, DeliveryAttempt, Event, Partner, Webhook
from tests.support.metrics import scrape, value
from tests.support.webhooks import register

URL = "http://127.0.0.1:9/coalition"


@pytest.fixture
def hooked(app, hub):
    """Partners with a webhook (brew-bar, fuel-stop, green-grocer), one whose webhook was removed, one with none."""
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True
    for slug in ("brew-bar", "green-grocer", "fuel-stop", "maple", "quiet-shop"):
        hub.create_partner(slug)
    for slug in ("brew-bar", "green-grocer", "fuel-stop", "maple"):
        assert register(hub, slug, URL).status_code == 200
    assert hub.call("DELETE", "/v1/partners/maple/webhook").status_code == 200
    return hub


class Rows:
    """Events, deliveries and attempts written in one session, at times relative to the test's clock."""

    def __init__(self, session, now):
        self.session, self.now = session, now
        self.hooks = dict(session.execute(select(Partner.slug, Webhook.id).join(Webhook, Webhook.partner_id == Partner.id)).all())

    def event(self, *, fanned_out: bool = True) -> Event:
        made = Event(public_id=str(uuid.uuid4()), kind="points_earned", partner_id=None, data="{}", created_at=self.now,
                     fanned_out_at=self.now if fanned_out else None)
        self.session.add(made)
        self.session.flush()
        return made

    def delivery(self, status: str, due_in: int | None = None, *, to: str | None = "brew-bar",
                 plugin: str | None = None) -> Delivery:
        """`due_in`: seconds from now to its next_attempt_at, or a sending one's claimed_until (negative: past)."""
        at = None if due_in is None else self.now + timedelta(seconds=due_in)
        sending = status == "sending"
        made = Delivery(event_id=self.event().id, webhook_id=self.hooks[to] if to else None, plugin=plugin, status=status,
                        attempts=0, created_at=self.now - timedelta(hours=1),
                        next_attempt_at=min(at, self.now) if sending and at else at,
                        claimed_until=at if sending else None)
        self.session.add(made)
        self.session.flush()
        return made

    def attempt(self, delivery: Delivery, ago: timedelta, status_code: int | None, duration_ms: int | None,
                error: str | None = None) -> None:
        self.session.add(DeliveryAttempt(delivery_id=delivery.id, attempted_at=self.now - ago, status_code=status_code,
                                         error=error, duration_ms=duration_ms))

    def breaker(self, slug: str, failures: int, paused_for: timedelta | None) -> None:
        found = self.session.get(Webhook, self.hooks[slug])
        found.failures, found.paused_until = failures, None if paused_for is None else self.now + paused_for


def scene(database, now) -> None:
    """An outbox with something of every kind, the figures it must give written beside each row."""
    with database.session() as session:
        rows = Rows(session, now)
        rows.event(fanned_out=False)
        rows.event(fanned_out=False)  # 2 events not fanned out
        rows.delivery("pending", -120)  # due, 120 s late
        rows.delivery("pending", 0)  # due this very second
        rows.delivery("sending", -30)  # its claim ran out: due again
        sending = rows.delivery("sending", 20)  # in flight
        rows.delivery("pending", 300)  # waiting for its retry
        failed = rows.delivery("failed")
        delivered = rows.delivery("delivered")
        rows.delivery("cancelled")
        rows.delivery("failed", to="green-grocer")
        grocer = rows.delivery("pending", 60, to="green-grocer")  # waiting
        rows.delivery("pending", -200, to=None, plugin="sms")  # a plugin's: due, and the oldest of all (200 s)

        # brew-bar, in the window: 10 attempts that ended (7 of them 2xx) and one in flight.
        ended = [(200, 5), (201, 15), (500, 25), (204, 35), (None, 45), (299, 55), (302, 65), (200, 75), (200, 85),
                 (200, 1000)]
        for n, (status_code, ms) in enumerate(ended):
            ago = figures.WINDOW if n == 0 else timedelta(minutes=n)  # the first exactly at the window's start
            rows.attempt(delivered if status_code == 200 else failed, ago, status_code, ms,
                         error="timed out after 5 s" if status_code is None else None)
        rows.attempt(sending, timedelta(seconds=5), None, None)  # started, no outcome yet
        rows.attempt(delivered, figures.WINDOW + timedelta(seconds=1), 200, 99_999)  # before the window
        rows.breaker("brew-bar", 2, timedelta(minutes=-1))  # paused until a minute ago: no longer

        # green-grocer: 3 attempts this very second, 2 of them 2xx, and its breaker tripped for 20 more minutes.
        for ms, status_code in ((300, 200), (100, 200), (200, 503)):
            rows.attempt(grocer, timedelta(0), status_code, ms)
        rows.breaker("green-grocer", 4, timedelta(minutes=20))
        session.commit()


def read(database, now):
    with database.session() as session:
        return figures.backlog(session, now), figures.per_webhook(session, now)


def test_the_backlog_counts_what_is_due_waiting_in_flight_and_failed_and_how_late_the_oldest_is(hooked, database, clock):
    scene(database, clock.now)
    outbox, _ = read(database, clock.now)
    assert outbox == figures.Backlog(not_fanned_out=2, due=4, waiting=2, in_flight=1, failed=2, oldest_due_seconds=200)
    assert outbox.unsent == 6

    clock.advance(seconds=30)  # the in-flight claim runs out; the retry 60 s out is 30 s away
    later, _ = read(database, clock.now)
    assert (later.due, later.waiting, later.in_flight, later.oldest_due_seconds) == (5, 2, 0, 230)


def test_each_webhook_has_its_queue_success_rate_latency_and_breaker(hooked, database, clock):
    scene(database, clock.now)
    _, webhooks = read(database, clock.now)
    assert [one.partner for one in webhooks] == ["brew-bar", "fuel-stop", "green-grocer"]  # not the removed, not the none
    brew, fuel, grocer = webhooks
    assert (brew.pending, brew.failed, brew.attempts, brew.finished, brew.successes) == (5, 1, 11, 10, 7)
    assert (brew.success_ratio, brew.p50_ms, brew.p95_ms) == (Decimal("0.7"), 45, 1000)
    assert (brew.failures, brew.paused_until, brew.paused) == (2, clock.now - timedelta(minutes=1), False)
    assert (grocer.pending, grocer.failed, grocer.attempts, grocer.finished, grocer.successes) == (1, 1, 3, 3, 2)
    assert (grocer.success_ratio, grocer.p50_ms, grocer.p95_ms) == (Decimal("0.6667"), 200, 300)
    assert (grocer.failures, grocer.paused_until, grocer.paused) == (4, clock.now + timedelta(minutes=20), True)
    assert fuel == figures.WebhookFigures("fuel-stop", pending=0, failed=0, attempts=0, finished=0, successes=0, p50_ms=None,
                                          p95_ms=None, failures=0, paused_until=None, paused=False)
    assert fuel.success_ratio is None

    clock.advance(minutes=15)  # every attempt but green-grocer's has left the window; its breaker has not yet closed
    _, later = read(database, clock.now)
    assert [(one.attempts, one.success_ratio, one.p50_ms, one.paused) for one in later] == [
        (0, None, None, False), (0, None, None, False), (3, Decimal("0.6667"), 200, True)]


@pytest.mark.parametrize(("durations", "p50", "p95"), [
    ([7], 7, 7),
    ([2, 1], 1, 2),
    ([40, 10, 30, 20], 20, 40),
    (list(range(20, 0, -1)), 10, 19),  # 95 % of 20 is the 19th exactly
    (list(range(1, 22)), 11, 20),
    ([5, 5, 5, 9], 5, 9),
])
def test_the_latency_percentiles_are_the_first_values_to_reach_their_share_of_the_attempts(hooked, database, clock,
                                                                                             durations, p50, p95):
    with database.session() as session:
        rows = Rows(session, clock.now)
        delivery = rows.delivery("delivered")
        for ms in durations:
            rows.attempt(delivery, timedelta(minutes=1), 200, ms)
        session.commit()
    _, (brew, *_) = read(database, clock.now)
    assert (brew.p50_ms, brew.p95_ms, brew.finished) == (p50, p95, len(durations))


def test_metrics_show_the_backlog_and_each_webhooks_figures_labelled_by_partner(hooked, database, clock):
    scene(database, clock.now)
    found = scrape(hooked.client)
    assert [value(found, name) for name in ("coalition_outbox_events_not_fanned_out", "coalition_outbox_pending_deliveries",
                                            "coalition_outbox_due_deliveries", "coalition_outbox_oldest_due_seconds")] == [
        2, 6, 4, 200]

    def per(name):
        return {dict(labels)["partner"]: figure for (sample, labels), figure in found.items() if sample == name}

    assert per("coalition_webhook_success_ratio") == {"brew-bar": 0.7, "green-grocer": 0.6667}  # fuel-stop: no attempt
    assert per("coalition_webhook_latency_p50_seconds") == {"brew-bar": 0.045, "green-grocer": 0.2}
    assert per("coalition_webhook_latency_p95_seconds") == {"brew-bar": 1.0, "green-grocer": 0.3}
    assert per("coalition_webhook_pending") == {"brew-bar": 5, "fuel-stop": 0, "green-grocer": 1}
    assert per("coalition_webhook_failed") == {"brew-bar": 1, "fuel-stop": 0, "green-grocer": 1}
    assert per("coalition_webhook_paused") == {"brew-bar": 0, "fuel-stop": 0, "green-grocer": 1}


def test_an_empty_outbox_shows_zeros_and_no_webhook_series(client, database, clock):
    outbox, webhooks = read(database, clock.now)
    assert (outbox, webhooks) == (figures.Backlog(0, 0, 0, 0, 0, 0), [])
    found = scrape(client)
    assert (found[("coalition_outbox_due_deliveries", frozenset())], found[("coalition_outbox_oldest_due_seconds", frozenset())]) == (
        0, 0)
    assert not [name for name, _ in found if name.startswith("coalition_webhook_") and name != "coalition_webhook_failures_total"]


def test_events_status_prints_the_backlog_and_a_line_per_webhook(hooked, database, clock, runner):
    scene(database, clock.now)
    result = runner.invoke(["events", "status"])
    assert result.exit_code == 0, result.output
    backlog, table = result.output.split("\n\n")
    assert backlog.splitlines() == [
        "events not fanned out: 2",
        "deliveries due now: 4 (the oldest 200 s past its time)",
        "waiting for a retry: 2",
        "being sent: 1",
        "failed: 2",
    ]
    lines = table.splitlines()
    assert lines[0].split() == ["partner", "pending", "failed", "success", "(15", "min)", "p50", "ms", "p95", "ms", "breaker"]
    assert [line.split() for line in lines[1:]] == [
        ["brew-bar", "5", "1", "70.0%", "of", "10", "45", "1000", "2", "failed", "in", "a", "row"],
        ["fuel-stop", "0", "0", "-", "-", "-"],
        ["green-grocer", "1", "1", "66.7%", "of", "3", "200", "300", "paused", "until", "2026-03-14T09:50:00+00:00"],
    ]
    under = lines[0].index("pending") + len("pending")
    assert lines[1][:under].endswith(" 5") and lines[1][under] == " "  # the figures stand under their heading


def test_events_status_on_an_empty_outbox_says_no_partner_has_a_webhook(runner):
    result = runner.invoke(["events", "status"])
    assert result.exit_code == 0, result.output
    assert result.output == ("events not fanned out: 0\ndeliveries due now: 0\nwaiting for a retry: 0\nbeing sent: 0\n"
                             "failed: 0\n\nno partner has a webhook\n")
