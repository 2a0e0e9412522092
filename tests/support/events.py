"""The outbox as a test reads it."""

from __future__ import annotations

import json

from sqlalchemy import select

from network.models import Event, Partner


def events(database, kind: str | None = None) -> list[tuple[str, str | None, dict]]:
    """(kind, audience slug, data) of every event, oldest first."""
    with database.session() as session:
        query = select(Event.kind, Partner.slug, Event.data).outerjoin(Partner, Partner.id == Event.partner_id).order_by(Event.id)
        if kind:
            query = query.where(Event.kind == kind)
        return [(k, slug, json.loads(data)) for k, slug, data in session.execute(query)]
