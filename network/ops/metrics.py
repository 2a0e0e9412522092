"""The hub's figures, in Prometheus' text format through prometheus-client.

Under `coalition serve` they are kept in prometheus-client's multi-process
mode (see `metrics_dir`), so that /metrics adds every worker up; in a process
of its own (tests, `flask run`, a command) in the ordinary registry, in memory.
The figures are module globals because prometheus-client's are: one set per
process, whichever apps it builds (a test sees the figures grow, never reset).

Every label is bounded, since each value a label takes is a series kept
forever: a route is the URL rule (`/v1/cards/<card_number>/balance`), never
the raw path, so no id or card number reaches a label; a method the caller
made up is `other`; a status is a number. Bookings are counted by the API
after their transaction committed and not for a replayed answer, so a figure
counts what the ledger holds.

The outbox's backlog and each webhook's success rate, latency and breaker
are figures of the database, not of a process: they are read when /metrics is
scraped (`Backlog`), by whichever worker answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Histogram, disable_created_metrics, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

#: The text format every Prometheus reads (0.0.4).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route of a request no URL rule matched (404, 405): the path itself would be the caller's to choose.
UNMATCHED = "unmatched"

REQUESTS = Counter("coalition_http_requests", "HTTP requests answered, by route (the URL rule), method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("coalition_http_request_duration_seconds", "Time to answer a request, by route and method",
                    ["route", "method"])
EARNS = Counter("coalition_earns", "Sales and rewarded actions booked, by channel (transactions, inbound, batch, actions)",
                ["channel"])
POINTS_EARNED = Counter("coalition_points_earned", "Points those sales and actions awarded, by channel", ["channel"])
REDEMPTIONS = Counter("coalition_redemptions", "Redemptions booked, by channel (redemptions, captures, donations)",
                      ["channel"])
POINTS_REDEEMED = Counter("coalition_points_redeemed", "Points those redemptions spent, by channel", ["channel"])
WEBHOOK_FAILURES = Counter("coalition_webhook_failures", "Failed delivery attempts, by channel (webhook, plugin) and what "
                           "became of the delivery (retrying, failed for good, superseded)", ["channel", "outcome"])

_requests: dict[tuple[str, str, int], tuple] = {}

# A `_created` timestamp beside every series doubles what a scrape reads for what no dashboard uses.
disable_created_metrics()


def multiprocess() -> bool:
    """Whether this process counts into the shared directory (prometheus-client chose so when first imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request. The label children are kept per process: `labels()` on every request would cost more."""
    key = (route, method, status)
    found = _requests.get(key)
    if found is None:
        label = method if method in METHODS else "other"
        found = _requests[key] = (REQUESTS.labels(route, label, str(status)), LATENCY.labels(route, label))
    found[0].inc()
    found[1].observe(seconds)


def earned(channel: str, bookings: int, points: int) -> None:
    if bookings:
        count, total = _children(EARNS, POINTS_EARNED, channel)
        count.inc(bookings)
        total.inc(points)


def redeemed(channel: str, points: int) -> None:
    count, total = _children(REDEMPTIONS, POINTS_REDEEMED, channel)
    count.inc()
    total.inc(points)


def webhook_failed(channel: str, outcome: str) -> None:
    WEBHOOK_FAILURES.labels(channel, outcome).inc()


_pairs: dict[tuple, tuple] = {}


def _children(count: Counter, total: Counter, channel: str) -> tuple:
    """A booking's two counters for its channel, their label children kept as `observe_request` keeps its own."""
    key = (count, channel)
    found = _pairs.get(key)
    if found is None:
        found = _pairs[key] = (count.labels(channel), total.labels(channel))
    return found


class Backlog:
    """The outbox's backlog, each webhook's figures and the ledger partitions' reach, read from the database at scrape
    time; nothing when the database does not answer.

    `read` returns network.events.figures' `Backlog` and `WebhookFigures`, and network.ledger.partitions' `Cover` or
    None (this module imports no layer of the hub, so it takes them as they come). A webhook's series are labelled
    with its partner's slug: as many as partners.
    """

    def __init__(self, read: Callable[[], tuple | None]):
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        found = self.read()
        if found is None:
            return
        outbox, webhooks, ledger = found
        if ledger is not None:  # PostgreSQL's monthly partitions of postings and lot movements
            yield GaugeMetricFamily("coalition_ledger_partition_months_ahead", "Whole months after the current one whose "
                                    "ledger partitions are made (coalition db partitions; below 1: run it)",
                                    value=ledger.months_ahead)
            yield GaugeMetricFamily("coalition_ledger_rows_awaiting_partition", "Postings and lot movements booked in a "
                                    "month with no partition, waiting in the default one", value=ledger.waiting)
        yield GaugeMetricFamily("coalition_outbox_events_not_fanned_out", "Events written but not yet turned into "
                                "deliveries (coalition events deliver does that)", value=outbox.not_fanned_out)
        yield GaugeMetricFamily("coalition_outbox_pending_deliveries", "Deliveries waiting to be sent or retried",
                                value=outbox.unsent)
        yield GaugeMetricFamily("coalition_outbox_due_deliveries", "Deliveries due now (pending, or a claim that ran out)",
                                value=outbox.due)
        yield GaugeMetricFamily("coalition_outbox_oldest_due_seconds", "How long the oldest due delivery has waited past "
                                "its time (0 when none is due)", value=outbox.oldest_due_seconds)
        families = {name: GaugeMetricFamily(name, text, labels=["partner"]) for name, text in WEBHOOK_GAUGES.items()}
        for one in webhooks:
            ratio = one.success_ratio
            for name, figure in (("coalition_webhook_success_ratio", None if ratio is None else float(ratio)),
                                 ("coalition_webhook_latency_p50_seconds", _seconds(one.p50_ms)),
                                 ("coalition_webhook_latency_p95_seconds", _seconds(one.p95_ms)),
                                 ("coalition_webhook_pending", one.pending), ("coalition_webhook_failed", one.failed),
                                 ("coalition_webhook_paused", int(one.paused))):
                if figure is not None:  # no attempt ended in the window: no ratio or latency, rather than a made-up 0
                    families[name].add_metric([one.partner], figure)
        yield from families.values()


#: Each webhook's gauges, labelled `partner`.
WEBHOOK_GAUGES = {
    "coalition_webhook_success_ratio": "Of the attempts made in the last 15 minutes that have ended, the share answered 2xx",
    "coalition_webhook_latency_p50_seconds": "Median time of the attempts made in the last 15 minutes that have ended",
    "coalition_webhook_latency_p95_seconds": "95th percentile time of the attempts made in the last 15 minutes that have ended",
    "coalition_webhook_pending": "Deliveries to the webhook still on their way (waiting, due or being sent)",
    "coalition_webhook_failed": "Deliveries to the webhook that used every attempt",
    "coalition_webhook_paused": "1 while the webhook's circuit breaker holds its deliveries back, else 0",
}


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class Replica:
    """The read replica's figures (network.ops.probe's `Replica`, or None with no replica set), read at scrape time."""

    def __init__(self, read: Callable[[], object | None]):
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        found = self.read()
        if found is None:
            return
        yield GaugeMetricFamily("coalition_replica_up", "1 when the read replica (DATABASE_REPLICA_URL) answered this "
                                "scrape, else 0: its reads then go to the primary", value=int(found.up))
        if found.lag_seconds is not None:
            yield GaugeMetricFamily("coalition_replica_lag_seconds", "How far the read replica's replay is behind: "
                                    "0 once it has applied all it received", value=found.lag_seconds)


class _Scrape:
    """What one scrape reads: the processes' figures and the database's."""

    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def render(*read_now) -> bytes:
    """The processes' counted figures, then those `read_now` (Backlog, Replica) read from the database."""
    counted = MultiProcessCollector(None, os.environ["PROMETHEUS_MULTIPROC_DIR"]) if multiprocess() else REGISTRY
    return generate_latest(_Scrape(counted, *read_now))
