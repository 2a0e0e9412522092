"""events: an index on (created_at, id), so `coalition events prune` walks only the old events

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04

Without it each batch of a prune read and sorted every event older than
the retention (half a second a batch at a million events); with it a batch
reads its own thousand rows and starts where the previous one stopped.
"""
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_events_created_at', 'events', ['created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_events_created_at', table_name='events')
