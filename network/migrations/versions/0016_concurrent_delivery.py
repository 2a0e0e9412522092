"""delivery: lanes per webhook, claims that run out with their attempt's deadline, a circuit breaker

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

A delivery is `sending` while claimed, until `claimed_until`; `attempt_id`
names the attempt in flight. An attempt is written
when claimed, `duration_ms` NULL until it ends. Webhooks keep their breaker:
failures in a row and when the next probe may go. Failed deliveries and the
last minutes' attempts get indexes of their own: /metrics reads them.
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")
FAILED = sa.text("status = 'failed'")
UNSETTLED = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table('webhooks') as batch:
        batch.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch.add_column(sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('deliveries') as batch:
        batch.add_column(sa.Column('attempt_id', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('delivery_attempts') as batch:
        batch.alter_column('duration_ms', existing_type=sa.Integer(), nullable=True)
    op.drop_index('ix_deliveries_due', table_name='deliveries')
    op.create_index('ix_deliveries_lane_due', 'deliveries', ['webhook_id', 'plugin', 'next_attempt_at'],
                    postgresql_where=UNSETTLED, sqlite_where=UNSETTLED)
    op.create_index('ix_deliveries_failed', 'deliveries', ['webhook_id'], postgresql_where=FAILED, sqlite_where=FAILED)
    op.create_index('ix_delivery_attempts_attempted_at', 'delivery_attempts', ['attempted_at'])


def downgrade() -> None:
    op.drop_index('ix_delivery_attempts_attempted_at', table_name='delivery_attempts')
    op.drop_index('ix_deliveries_failed', table_name='deliveries')
    op.execute("UPDATE deliveries SET status = 'pending' WHERE status = 'sending'")
    op.drop_index('ix_deliveries_lane_due', table_name='deliveries')
    op.create_index('ix_deliveries_due', 'deliveries', ['next_attempt_at'],
                    postgresql_where=PENDING, sqlite_where=PENDING)
    op.execute("UPDATE delivery_attempts SET duration_ms = 0 WHERE duration_ms IS NULL")
    with op.batch_alter_table('delivery_attempts') as batch:
        batch.alter_column('duration_ms', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('deliveries') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('attempt_id')
    with op.batch_alter_table('webhooks') as batch:
        batch.drop_column('paused_until')
        batch.drop_column('failures')
