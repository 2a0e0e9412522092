"""events and webhooks: the outbox, partners' webhooks, deliveries and their attempts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22

Events are written in the same transaction as the postings they describe;
`coalition events deliver` fans them out into deliveries (one per webhook or
delivery plugin) and records every attempt.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
NOT_FANNED_OUT = sa.text("fanned_out_at IS NULL")
KEYED = sa.text("dedup_key IS NOT NULL")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        'events',
        sa.Column('id', Id, primary_key=True),
        sa.Column('public_id', sa.String(36), nullable=False),
        sa.Column('kind', sa.String(32), nullable=False),
        sa.Column('member_id', sa.String(32), nullable=True),
        sa.Column('partner_id', sa.BigInteger(), nullable=True),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('dedup_key', sa.String(200), nullable=True),
        sa.Column('fanned_out_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_events'),
    )
    op.create_index('uq_events_kind_dedup_key', 'events', ['kind', 'dedup_key'], unique=True,
                    postgresql_where=KEYED, sqlite_where=KEYED)
    op.create_index('ix_events_not_fanned_out', 'events', ['id'],
                    postgresql_where=NOT_FANNED_OUT, sqlite_where=NOT_FANNED_OUT)
    op.create_table(
        'webhooks',
        sa.Column('id', Id, primary_key=True),
        sa.Column('partner_id', Id,
                  sa.ForeignKey('partners.id', name='fk_webhooks_partner_id_partners'), nullable=False),
        sa.Column('url', sa.String(2000), nullable=False),
        sa.Column('secret', sa.String(200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_webhooks'),
        sa.UniqueConstraint('partner_id', name='uq_webhooks_partner_id'),
    )
    op.create_table(
        'deliveries',
        sa.Column('id', Id, primary_key=True),
        sa.Column('event_id', Id,
                  sa.ForeignKey('events.id', name='fk_deliveries_event_id_events'), nullable=False),
        sa.Column('webhook_id', Id,
                  sa.ForeignKey('webhooks.id', name='fk_deliveries_webhook_id_webhooks'), nullable=True),
        sa.Column('plugin', sa.String(100), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_deliveries'),
        sa.UniqueConstraint('event_id', 'webhook_id', name='uq_deliveries_event_id_webhook_id'),
        sa.UniqueConstraint('event_id', 'plugin', name='uq_deliveries_event_id_plugin'),
        sa.CheckConstraint('(webhook_id IS NULL) <> (plugin IS NULL)', name='ck_deliveries_one_channel'),
    )
    op.create_index('ix_deliveries_webhook_id', 'deliveries', ['webhook_id'])
    op.create_index('ix_deliveries_due', 'deliveries', ['next_attempt_at'], postgresql_where=PENDING, sqlite_where=PENDING)
    op.create_table(
        'delivery_attempts',
        sa.Column('id', Id, primary_key=True),
        sa.Column('delivery_id', Id,
                  sa.ForeignKey('deliveries.id', name='fk_delivery_attempts_delivery_id_deliveries'), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(500), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_delivery_attempts'),
    )
    op.create_index('ix_delivery_attempts_delivery_id', 'delivery_attempts', ['delivery_id'])


def downgrade() -> None:
    op.drop_index('ix_delivery_attempts_delivery_id', table_name='delivery_attempts')
    op.drop_table('delivery_attempts')
    op.drop_index('ix_deliveries_due', table_name='deliveries')
    op.drop_index('ix_deliveries_webhook_id', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_table('webhooks')
    op.drop_index('ix_events_not_fanned_out', table_name='events')
    op.drop_index('uq_events_kind_dedup_key', table_name='events')
    op.drop_table('events')
