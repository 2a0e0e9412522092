"""How the outbox is doing, read in SQL: its backlog, and each webhook's queue, success rate, latency and breaker.

/metrics reads them at every scrape and `coalition events status` prints
them, so every figure is counted by the database: a read returns one row for
the outbox and one per webhook, never the deliveries or attempts themselves.

A delivery is due when a deliverer would take it now (`delivery.due`): its
`next_attempt_at` has come, and it is pending or its claim ran out. An
attempt whose `duration_ms` is NULL has no outcome yet (in flight, or its
deliverer died): it counts as an attempt, but neither for the success rate
nor for the latency, which are over the attempts that ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from network.events import delivery
from network.events.kinds import UNSETTLED, DeliveryStatus
from network.models import Delivery, DeliveryAttempt, Event, Partner, Webhook

#: The span the success rate and the latency are over: recent enough to show an outage while it lasts.
WINDOW = timedelta(minutes=15)
#: The percentiles of the latency, in percent (integers, so SQLite's integer arithmetic ranks them exactly).
P50, P95 = 50, 95
#: A success ratio's places: a basis point is finer than any alert is set at.
RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class Backlog:
    """The whole outbox (webhooks and delivery plugins alike) at `now`."""

    not_fanned_out: int  # events no deliverer has yet turned into deliveries
    due: int  # pending, or sending with a claim that ran out, and next_attempt_at come
    waiting: int  # pending, retried later
    in_flight: int  # sending, its claim still running
    failed: int  # every attempt used
    oldest_due_seconds: int  # how long the oldest due delivery has waited past its time; 0 when none is due

    @property
    def unsent(self) -> int:
        """Deliveries waiting to be sent or retried: due now or later, not those being sent."""
        return self.due + self.waiting


@dataclass(frozen=True)
class WebhookFigures:
    """One partner's webhook: its queue, how its recent attempts went, and its circuit breaker."""

    partner: str  # the partner's slug
    pending: int  # deliveries still on their way (waiting, due or being sent)
    failed: int
    attempts: int  # started within the window, ended or not
    finished: int  # of those, the ones that ended (an HTTP status or an error)
    successes: int  # of those, the 2xx answers
    p50_ms: int | None  # over the finished attempts; None when there were none
    p95_ms: int | None
    failures: int  # failed attempts in a row
    paused_until: datetime | None  # when the breaker lets a probe through again; None when it is closed
    paused: bool  # tripped at `now`

    @property
    def success_ratio(self) -> Decimal | None:
        if not self.finished:
            return None
        return (Decimal(self.successes) / Decimal(self.finished)).quantize(RATIO, rounding=ROUND_HALF_EVEN)


def backlog(session: Session, now: datetime) -> Backlog:
    due = delivery.due(now)
    row = session.execute(
        select(func.count().filter(due).label("due"),
               func.count().filter(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at > now).label("waiting"),
               func.count().filter(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_until > now).label("in_flight"),
               func.count().filter(Delivery.status == DeliveryStatus.FAILED).label("failed"),
               func.min(Delivery.next_attempt_at).filter(due).label("oldest"),
               select(func.count()).select_from(Event).where(Event.fanned_out_at.is_(None)).scalar_subquery()
               .label("events"))
        .where(Delivery.status.in_((*UNSETTLED, DeliveryStatus.FAILED)))).one()
    oldest = 0 if row.oldest is None else max(0, int((now - row.oldest).total_seconds()))
    return Backlog(row.events, row.due, row.waiting, row.in_flight, row.failed, oldest)


def per_webhook(session: Session, now: datetime, window: timedelta = WINDOW) -> list[WebhookFigures]:
    """Every partner's webhook but a removed one, by slug."""
    queue = (select(Delivery.webhook_id,
                    func.count().filter(Delivery.status.in_(UNSETTLED)).label("pending"),
                    func.count().filter(Delivery.status == DeliveryStatus.FAILED).label("failed"))
             .where(Delivery.webhook_id.is_not(None), Delivery.status.in_((*UNSETTLED, DeliveryStatus.FAILED)))
             .group_by(Delivery.webhook_id).subquery())
    finished = DeliveryAttempt.duration_ms.is_not(None)
    recent = (select(Delivery.webhook_id,
                     func.count().label("attempts"),
                     func.count(DeliveryAttempt.duration_ms).label("finished"),
                     func.count().filter(finished, DeliveryAttempt.status_code.between(200, 299)).label("successes"))
              .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
              .where(DeliveryAttempt.attempted_at >= now - window, Delivery.webhook_id.is_not(None))
              .group_by(Delivery.webhook_id).subquery())
    latency = _latency(session, now - window)
    rows = session.execute(
        select(Partner.slug, Webhook.failures, Webhook.paused_until,
               func.coalesce(queue.c.pending, 0).label("pending"), func.coalesce(queue.c.failed, 0).label("failed"),
               func.coalesce(recent.c.attempts, 0).label("attempts"), func.coalesce(recent.c.finished, 0).label("finished"),
               func.coalesce(recent.c.successes, 0).label("successes"), latency.c.p50, latency.c.p95)
        .join(Partner, Partner.id == Webhook.partner_id)
        .outerjoin(queue, queue.c.webhook_id == Webhook.id)
        .outerjoin(recent, recent.c.webhook_id == Webhook.id)
        .outerjoin(latency, latency.c.webhook_id == Webhook.id)
        .where(Webhook.removed_at.is_(None))
        .order_by(Partner.slug))
    return [WebhookFigures(row.slug, row.pending, row.failed, row.attempts, row.finished, row.successes,
                           row.p50, row.p95, row.failures, row.paused_until,
                           row.paused_until is not None and row.paused_until > now)
            for row in rows]


def _latency(session: Session, since: datetime):
    """p50 and p95 of the finished attempts since `since`, per webhook, as PostgreSQL's percentile_disc picks them.

    percentile_disc(p) is the first value, in order, whose rank reaches
    p of the count: the ceil(p * n)-th. SQLite has no such aggregate, so there
    each attempt is ranked within its webhook and the rank picked, ceil in
    integer arithmetic; the tests hold both to the same figures.
    """
    ended = (DeliveryAttempt.duration_ms.is_not(None), DeliveryAttempt.attempted_at >= since)
    joined = (select(Delivery.webhook_id).join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
              .where(*ended, Delivery.webhook_id.is_not(None)))
    if session.get_bind().dialect.name == "postgresql":
        return (joined.add_columns(
            func.percentile_disc(P50 / 100).within_group(DeliveryAttempt.duration_ms).label("p50"),
            func.percentile_disc(P95 / 100).within_group(DeliveryAttempt.duration_ms).label("p95"))
            .group_by(Delivery.webhook_id).subquery())
    ranked = joined.add_columns(
        DeliveryAttempt.duration_ms,
        func.row_number().over(partition_by=Delivery.webhook_id, order_by=DeliveryAttempt.duration_ms).label("place"),
        func.count().over(partition_by=Delivery.webhook_id).label("n")).subquery()

    def pick(percent: int):
        wanted = (ranked.c.n * percent + 99) // 100  # ceil(n * percent / 100), in integers
        return func.min(case((ranked.c.place == wanted, ranked.c.duration_ms)))

    return (select(ranked.c.webhook_id, pick(P50).label("p50"), pick(P95).label("p95"))
            .group_by(ranked.c.webhook_id).subquery())
