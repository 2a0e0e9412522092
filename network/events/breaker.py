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
from collections.abc import Mapping, Sequence
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


def tally(session: Session, outcomes: Sequence[tuple[int, bool, datetime]], breaker: Breaker) -> list[datetime | None]:
    """Count a batch of attempts' outcomes (webhook, answered?, when), in order, on their webhooks' rows.

    Returns, for each outcome, until when its webhook is paused if that
    failure found it paused or paused it (the delivery waits that long,
    and the failure costs it no attempt), else None. The rows are locked
    for the count, in id order, so two deliverers' counts add up.
    """
    if not outcomes:
        return []
    ids = sorted({webhook_id for webhook_id, _, _ in outcomes})
    state = {row.id: [row.failures, row.paused_until] for row in session.execute(
        select(Webhook.id, Webhook.failures, Webhook.paused_until).where(Webhook.id.in_(ids))
        .order_by(Webhook.id).with_for_update())}
    before = {webhook_id: list(found) for webhook_id, found in state.items()}
    waits: list[datetime | None] = []
    for webhook_id, answered, at in outcomes:
        found = state.get(webhook_id)
        if found is None:
            waits.append(None)
            continue
        if answered:
            if breaker.tripped(found[0]):
                _tell(session, EventKind.WEBHOOK_RESUMED, webhook_id, at, failures=found[0])
            found[:] = [0, None]
            waits.append(None)
            continue
        found[0] += 1
        if not breaker.tripped(found[0]):
            waits.append(None)
            continue
        found[1] = at + breaker.paused_for(found[0])
        if found[0] == breaker.failures:
            _tell(session, EventKind.WEBHOOK_PAUSED, webhook_id, at, failures=found[0],
                  paused_until=found[1].isoformat())
        waits.append(found[1])
    for webhook_id, (failures, paused_until) in state.items():
        if [failures, paused_until] != before[webhook_id]:
            session.execute(update(Webhook).where(Webhook.id == webhook_id)
                            .values(failures=failures, paused_until=paused_until))
    return waits


def _tell(session: Session, kind: str, webhook_id: int, now: datetime, **data) -> None:
    slug = session.scalar(select(Partner.slug).join(Webhook, Webhook.partner_id == Partner.id)
                          .where(Webhook.id == webhook_id))
    log.warning("webhook of %s: %s %s", slug, kind, data)
    outbox.emit(session, kind, member_id=None, partner_id=None, now=now, data={"partner": slug, **data})
