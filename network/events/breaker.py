"""A webhook's circuit breaker: an endpoint that keeps failing is paused, probed, and resumed when it answers.

Without it, an endpoint that is down burns every delivery's attempts and
the last one fails it for good: an outage of a few hours lost events. With
it, after `failures` failed attempts in a row the webhook is paused: no
attempts at all until `paused_until`, then one probe at a time (the oldest
due delivery); each failed probe doubles the pause up to its cap, the first
answered one resumes the webhook with its backlog intact. Failures of a
paused webhook count against no delivery's attempts, so nothing is failed
by an outage, however long.

The state is two columns of the webhook's row, shared by every deliverer
on every host; a pause and a resume are events to the operator (audience:
the delivery plugins, where an operator's alerting listens) and lines of
the partner's delivery log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from network.events import outbox
from network.events.kinds import EventKind
from network.models import Partner, Webhook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Breaker:
    failures: int = 10
    pause: timedelta = timedelta(seconds=10)
    pause_max: timedelta = timedelta(minutes=10)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Breaker:
        return cls(failures=max(1, int(config.get("COALITION_WEBHOOK_BREAKER_FAILURES", 10))),
                   pause=timedelta(seconds=max(1, int(config.get("COALITION_WEBHOOK_BREAKER_PAUSE_SECONDS", 10)))),
                   pause_max=timedelta(seconds=max(1, int(config.get("COALITION_WEBHOOK_BREAKER_PAUSE_MAX_SECONDS",
                                                                     600)))))

    def tripped(self, failures: int) -> bool:
        return failures >= self.failures

    def paused_for(self, failures: int) -> timedelta:
        """The pause after the `failures`-th failure in a row: 10 s at the threshold, doubling, up to the cap."""
        return min(self.pause * 2 ** min(failures - self.failures, 30), self.pause_max)

    def cap(self, failures: int, paused_until: datetime | None, now: datetime, concurrency: int) -> int:
        """How many attempts the webhook may have in flight now: all, one probe, or none while paused."""
        if not self.tripped(failures):
            return concurrency
        return 1 if paused_until is None or paused_until <= now else 0


def failed(session: Session, webhook_id: int, now: datetime, breaker: Breaker) -> datetime | None:
    """Count a failed attempt; when the webhook is (or becomes) paused, until when: the delivery waits that long."""
    failures = session.scalar(update(Webhook).where(Webhook.id == webhook_id)
                              .values(failures=Webhook.failures + 1).returning(Webhook.failures))
    if failures is None or not breaker.tripped(failures):
        return None
    until = now + breaker.paused_for(failures)
    session.execute(update(Webhook).where(Webhook.id == webhook_id).values(paused_until=until))
    if failures == breaker.failures:
        _tell(session, EventKind.WEBHOOK_PAUSED, webhook_id, now, failures=failures, paused_until=until.isoformat())
    return until


def answered(session: Session, webhook_id: int, now: datetime, breaker: Breaker) -> None:
    """An answered attempt after failures: the count starts again, and a paused webhook resumes."""
    before = session.scalar(select(Webhook.failures).where(Webhook.id == webhook_id).with_for_update())
    if not before:
        return
    session.execute(update(Webhook).where(Webhook.id == webhook_id).values(failures=0, paused_until=None))
    if breaker.tripped(before):
        _tell(session, EventKind.WEBHOOK_RESUMED, webhook_id, now, failures=before)


def _tell(session: Session, kind: str, webhook_id: int, now: datetime, **data) -> None:
    slug = session.scalar(select(Partner.slug).join(Webhook, Webhook.partner_id == Partner.id)
                          .where(Webhook.id == webhook_id))
    log.warning("webhook of %s: %s %s", slug, kind, data)
    outbox.emit(session, kind, member_id=None, partner_id=None, now=now, data={"partner": slug, **data})
