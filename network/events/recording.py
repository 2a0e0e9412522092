"""How attempts ended, written for a whole batch in a few statements: the delivery moved on, the breaker counted.

A deliverer's recorder thread writes every outcome that came in while it
wrote the last batch, in one transaction: under load a commit and a round
trip per attempt were most of what delivery cost. However many attempts a
batch holds, it takes one locking read of their deliveries, one statement
for the attempts, one for the deliveries (psycopg sends an executemany in
one pipeline) and one for each webhook whose breaker moved.

Only an attempt's own sender moves its delivery (`attempt_id`, read under
lock): one whose claim ran out while it waited must not overwrite the
outcome of the one that claimed the delivery next, nor undo a removed
webhook's cancellation. Its attempt's outcome is kept all the same; it
happened, and it counts for the breaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from network.events import breaker
from network.events.delivery import Job, Policy
from network.events.kinds import DeliveryStatus
from network.events.sending import Outcome
from network.models import Delivery, DeliveryAttempt

#: What `record` answers when another deliverer took this delivery over (this one's claim ran out mid-send).
SUPERSEDED = "superseded"
#: A failed attempt's figure (/metrics) by what became of its delivery.
FAILURE_OUTCOMES = {DeliveryStatus.PENDING: "retrying", DeliveryStatus.FAILED: "failed", SUPERSEDED: "superseded"}

_deliveries, _attempts = Delivery.__table__, DeliveryAttempt.__table__

Ended = tuple[Job, datetime, Outcome]


def record(session: Session, job: Job, ended_at: datetime, outcome: Outcome, policy: Policy) -> str:
    """One attempt's outcome: what became of its delivery (a status, or SUPERSEDED)."""
    return record_all(session, [(job, ended_at, outcome)], policy)[0]


def record_all(session: Session, ended: Sequence[Ended], policy: Policy) -> list[str]:
    """Every outcome of the batch, in order: what became of each delivery (a status, or SUPERSEDED).

    Delivered on a 2xx; a failure that found its webhook paused waits for
    the breaker, costing no attempt, however long the outage; otherwise
    failed after the last attempt, or pending again after its backoff.
    """
    if not ended:
        return []
    connection = session.connection()
    held = {row.id: row for row in connection.execute(
        select(_deliveries.c.id, _deliveries.c.attempt_id, _deliveries.c.status)
        .where(_deliveries.c.id.in_({job.delivery_id for job, _, _ in ended}))
        .order_by(_deliveries.c.id).with_for_update())}
    connection.execute(
        _attempts.update().where(_attempts.c.id == bindparam("attempt"))
        .values(status_code=bindparam("status_code"), error=bindparam("error"), duration_ms=bindparam("duration_ms")),
        [{"attempt": job.attempt_id, "status_code": outcome.status_code, "error": outcome.error,
          "duration_ms": outcome.duration_ms} for job, _, outcome in ended])
    on_webhooks = [(job.webhook_id, outcome.ok, ended_at) for job, ended_at, outcome in ended if job.webhook_id]
    waits = iter(breaker.tally(session, on_webhooks, policy.breaker))
    moves, answers = [], []
    for job, _, outcome in ended:
        paused_until = next(waits) if job.webhook_id else None
        found = held.get(job.delivery_id)
        if found is None or found.attempt_id != job.attempt_id or found.status != DeliveryStatus.SENDING:
            answers.append(SUPERSEDED)
            continue
        move = _move(job, outcome, paused_until, policy)
        moves.append({"delivery": job.delivery_id, **move})
        answers.append(move["status"])
    if moves:
        connection.execute(
            _deliveries.update().where(_deliveries.c.id == bindparam("delivery"))
            .values(status=bindparam("status"), next_attempt_at=bindparam("next_attempt_at"),
                    attempts=bindparam("attempts"), delivered_at=bindparam("delivered_at"),
                    attempt_id=None, claimed_until=None),
            moves)
    return answers


def _move(job: Job, outcome: Outcome, paused_until: datetime | None, policy: Policy) -> dict:
    if outcome.ok:
        return {"status": DeliveryStatus.DELIVERED, "next_attempt_at": None, "attempts": job.attempts,
                "delivered_at": job.attempted_at}
    if paused_until is not None:
        return {"status": DeliveryStatus.PENDING, "next_attempt_at": paused_until, "attempts": job.attempts - 1,
                "delivered_at": None}
    if job.attempts >= policy.max_attempts:
        return {"status": DeliveryStatus.FAILED, "next_attempt_at": None, "attempts": job.attempts, "delivered_at": None}
    return {"status": DeliveryStatus.PENDING, "next_attempt_at": policy.retry_at(job.attempted_at, job.attempts),
            "attempts": job.attempts, "delivered_at": None}
