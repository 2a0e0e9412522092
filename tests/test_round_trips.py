"""What a sale at a till costs in round trips to the database: each statement the driver sends, counted.

The earn's speed is bounded by its waits on the server (docs/scaling.md), so
the count is what a change to the hot path must not raise unnoticed. On
PostgreSQL the sale's entry, postings, lot, awards and balance go in one
statement of CTEs (network.ledger.bulk.insert_entries_with); a member's
second sale of the day writes no activity.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select

from network.models import Award, Lot, Posting


@pytest.fixture
def backend():
    """PostgreSQL alone: SQLite runs in this process, where a statement costs no wait."""
    return "postgres"


@pytest.fixture
def sent(monkeypatch):
    """Every statement the psycopg cursors of this test send, in order."""
    statements: list[str] = []
    for cursor_class in (psycopg.Cursor, psycopg.ClientCursor):
        original = cursor_class.execute

        def execute(self, query, params=None, *args, _original=original, **kwargs):
            statements.append(query if isinstance(query, str) else query.decode() if isinstance(query, bytes)
                              else str(query))
            return _original(self, query, params, *args, **kwargs)

        monkeypatch.setattr(cursor_class, "execute", execute)
    return statements


def test_a_sale_sends_its_entry_postings_lot_awards_and_balance_in_one_statement(hub, world, database, sent):
    hub.sale(world.coffee, world.card, "1.00", order="WARM-1")  # the member's first of the day, and the caller's
    sent.clear()
    assert hub.sale(world.coffee, world.card, "12.50", order="RT-1").status_code == 201
    writes = [statement[:60] for statement in sent]
    # The card with its lock, the order, the entry with its postings, lot, awards and the balance, the event, and
    # the audit event (the idempotency record with it, when the till sends a key): 5, where a statement per table
    # was 9.
    assert len(sent) == 5, writes
    (together,) = [statement for statement in sent if statement.startswith("WITH e AS (INSERT INTO journal_entries")]
    for part in ("w0 AS (INSERT INTO postings", "w1 AS (INSERT INTO lots", "w2 AS (INSERT INTO awards",
                 "b AS (UPDATE accounts"):
        assert part in together, together
    assert not any(statement.startswith(("UPDATE members", "UPDATE accounts")) for statement in sent)
    with database.session() as session:
        entry = session.scalar(select(Lot.entry_id).order_by(Lot.id.desc()).limit(1))
        assert sorted(session.scalars(select(Posting.amount).where(Posting.entry_id == entry))) == [-12, 12]
        assert session.scalar(select(Lot.points).where(Lot.entry_id == entry)) == 12
        assert [a.points for a in session.scalars(select(Award).where(Award.entry_id == entry))] == [12]
