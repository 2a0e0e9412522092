"""The outbox, partners' webhooks and every delivery and attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id

#: A delivery still on its way: waiting, or claimed by a deliverer.
UNSETTLED = text("status IN ('pending', 'sending')")


class Event(Base):
    """Something a partner or a plugin may want to hear of, written in the transaction that made it true.

    Rolled back with its postings, so no event is lost or invented. `partner_id`
    is the audience (the partner whose webhook gets it; NULL: plugins only).
    `dedup_key` makes a scan's event once per kind and key (a member's expiry
    date, a dormancy); NULL keys never clash.
    """

    __tablename__ = "events"
    __table_args__ = (
        # Only the keyed events (scans'): a sale's event pays for no entry here.
        Index("uq_events_kind_dedup_key", "kind", "dedup_key", unique=True,
              postgresql_where=text("dedup_key IS NOT NULL"), sqlite_where=text("dedup_key IS NOT NULL")),
        # What `coalition events deliver` has not yet turned into deliveries.
        Index("ix_events_not_fanned_out", "id", postgresql_where=text("fanned_out_at IS NULL"),
              sqlite_where=text("fanned_out_at IS NULL")),
        # What `coalition events prune` walks: old events, oldest first, each batch from where the last stopped.
        Index("ix_events_created_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # A random uuid4, what receivers deduplicate on; not indexed: the hub never looks an event up by it.
    public_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    # No foreign keys: an import writes thousands of events a second, and a key check per row cost
    # a tenth of its speed; the ids are copied from rows the same transaction has just read or locked.
    member_id: Mapped[str | None] = mapped_column(String(32))
    partner_id: Mapped[int | None]
    # The event's fields as JSON text, kept as written: bulk inserts send it as text, and it is what is signed.
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    fanned_out_at: Mapped[datetime | None]


class Webhook(Base):
    """Where a partner wants its events POSTed, and the secret they are signed with (never shown back)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # NULL once removed: a removed webhook keeps no secret.
    secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    # The circuit breaker, shared by every deliverer: failed attempts in a row, and while tripped,
    # when the next probe may go (network.events.breaker).
    failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    paused_until: Mapped[datetime | None]


class Delivery(Base):
    """One event on its way to one webhook or one delivery plugin: pending, sending, delivered, failed or cancelled.

    While `sending`, `claimed_until` is when the claim runs out (the
    attempt's deadline and a few seconds): a deliverer that died mid-send
    leaves it due again then, and first in its lane, since `next_attempt_at`
    keeps the time it first came due. `attempt_id` is the attempt in flight,
    so only its sender may record how it ended.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook_id"),
        UniqueConstraint("event_id", "plugin"),
        CheckConstraint("(webhook_id IS NULL) <> (plugin IS NULL)", name="one_channel"),
        # Each lane's (webhook's or plugin's) queue, oldest due first; a claim that ran out is due again.
        Index("ix_deliveries_lane_due", "webhook_id", "plugin", "next_attempt_at", postgresql_where=UNSETTLED,
              sqlite_where=UNSETTLED),
        # Each webhook's failed deliveries: what /metrics counts and a replay takes.
        Index("ix_deliveries_failed", "webhook_id", postgresql_where=text("status = 'failed'"),
              sqlite_where=text("status = 'failed'")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"), index=True)
    # The name of the plugin (pluggy's) that delivers it another way (e-mail, SMS).
    plugin: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    attempt_id: Mapped[int | None]
    claimed_until: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """Every try that was started, kept: when, the HTTP status or the error, and how long it took.

    Written when the try is claimed, before anything is sent: one whose
    `duration_ms` stays NULL was cut short by its deliverer's end.
    """

    __tablename__ = "delivery_attempts"
    # The last minutes' attempts, which /metrics reads for each webhook's success rate and latency.
    __table_args__ = (Index("ix_delivery_attempts_attempted_at", "attempted_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
