"""The outbox: events written in the caller's transaction, so a rolled-back booking never happened here either.

Nothing is sent from here. `emit` and `emit_many` only INSERT rows into
`events`, inside whatever transaction the caller holds; `coalition events
deliver` (network.events.delivery) later reads the committed ones and sends them.
An event therefore exists exactly when what it tells of was committed.

Kinds and their audience (the partner whose webhook receives it; every
event is offered to the delivery plugins as well):

| kind | audience | data |
|---|---|---|
| `points_earned` | the partner where the sale was made | member_id, partner, points, order_id, balance |
| `points_redeemed` | the partner where the points were spent | member_id, partner, points, order_id, redemption_id, balance |
| `reward_within_reach` | the partner where the sale was made | member_id, points_to_go, balance, reward (partner, sku, name, points), message |
| `points_expiring` | the member's enrolling partner | member_id, points, expires_at, days_left, balance |
| `tier_changed` | the member's enrolling partner | member_id, from, to, reason (threshold reached, yearly review) |
| `dormant_member` | the member's enrolling partner | member_id, points, last_activity_at, inactive_days |
| `webhook_test` | the partner that asked for it (`webhooks.send_test`) | partner, message |
| `webhook_paused` | the operator: delivery plugins only (network.events.breaker) | partner, failures, paused_until |
| `webhook_resumed` | the operator: delivery plugins only | partner, failures |
| `credit_warning` | the partner whose points drew 80% of its funds and limit | partner, funding, level, drawn, may_draw |
| `credit_limit_reached` | the partner whose sale was refused (or left waiting) at its limit, once per level of funds | partner, funding, over_limit, drawn, may_draw |
| `points_funded` | the partner where a sale left waiting for its funds was funded at last | member_id, partner, order_id, points, available_at (null: the order is not paid yet), balance |

Payloads never carry a member's e-mail or name: a partner's webhook is
outside the hub, and the member id is all it needs to look its own
customer up.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from network.events.kinds import EventKind
from network.ledger import bulk
from network.models import Event

_KINDS = frozenset(EventKind)

#: Personal data that must never leave the hub in an event.
_PRIVATE = frozenset({"email", "name", "card_number"})

_events = Event.__table__


class NewEvent(NamedTuple):
    """An event to write (a tuple: a batch makes thousands)."""

    member_id: str | None
    #: The audience: whose webhook gets it (None: the delivery plugins only).
    partner_id: int | None
    data: Mapping[str, Any]
    #: Once per kind and key: a second emit with the same key is skipped (scans run again and again).
    dedup_key: str | None = None


#: One encoder for every event: json.dumps with options builds a new one per call, a cost an import feels.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _uuid4s(count: int) -> list[str]:
    """Random (version 4) UUIDs from one read of the system's randomness: uuid.uuid4() reads it once each."""
    raw = os.urandom(16 * count)
    found = []
    for start in range(0, 16 * count, 16):
        h = raw[start:start + 16].hex()
        found.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}")
    return found


def _rows(kind: str, events: Sequence[NewEvent]) -> list[dict]:
    rows = []
    for event, public_id in zip(events, _uuid4s(len(events))):
        if not _PRIVATE.isdisjoint(event.data):
            raise ValueError(f"an event carries no personal data; {kind} has {sorted(_PRIVATE & set(event.data))}")
        rows.append({"public_id": public_id, "member_id": event.member_id, "partner_id": event.partner_id,
                     "data": _encode(event.data), "dedup_key": event.dedup_key})
    return rows


def emit_many(session: Session, kind: str, events: Sequence[NewEvent], *, now: datetime) -> list[str]:
    """Write many events of one kind in one INSERT; returns the public ids of those written.

    Events whose dedup key was already emitted for this kind are skipped,
    and missing from the answer.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(EventKind)}")
    if not events:
        return []
    rows = _rows(kind, events)
    connection = session.connection()
    if all(event.dedup_key is None for event in events):  # a booking's events: the bulk path
        bulk.insert_many(connection, _events, rows, same={"kind": kind, "created_at": now})
        return [row["public_id"] for row in rows]
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_events).on_conflict_do_nothing(
        index_elements=["kind", "dedup_key"], index_where=_events.c.dedup_key.is_not(None)
    ).returning(_events.c.public_id)
    written = set()
    for start in range(0, len(rows), 500):  # RETURNING of an executemany: each row's answer, one by one
        written |= {row.public_id for row in connection.execute(
            statement, [{**row, "kind": kind, "created_at": now} for row in rows[start:start + 500]]).all()}
    return [row["public_id"] for row in rows if row["public_id"] in written]


def points_redeemed(session: Session, member, partner, *, points: int, order_id: str | None, redemption_id: int,
                    now: datetime) -> None:
    """The `points_redeemed` event of a redemption, a capture or a donation (`member`: the locked MemberAccounts)."""
    emit(session, EventKind.POINTS_REDEEMED, member_id=member.member_id, partner_id=partner.id, now=now, data={
        "member_id": member.member_id, "partner": partner.slug, "points": points, "order_id": order_id,
        "redemption_id": redemption_id, "balance": member.balance_view()})


def emit(
    session: Session,
    kind: str,
    *,
    member_id: str | None,
    partner_id: int | None,
    data: Mapping[str, Any],
    now: datetime,
    dedup_key: str | None = None,
) -> str | None:
    """Write one event; returns its public id, or None when its dedup key was already emitted."""
    written = emit_many(session, kind, [NewEvent(member_id, partner_id, data, dedup_key)], now=now)
    return written[0] if written else None
