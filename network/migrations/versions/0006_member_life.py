"""member life: pending days, partner kind, last activity, network accounts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

A partner's return window (pending_days) and kind (retailer or charity);
a member's last activity (for expiry that activity extends); one account
of each kind for the network itself (promotion, breakage); and an index of
open lots by expiry date for `coalition expire`.
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NETWORK = sa.text("member_id IS NULL AND partner_id IS NULL")
OPEN = sa.text("remaining > 0")


def upgrade() -> None:
    with op.batch_alter_table('partners') as batch:
        batch.add_column(sa.Column('pending_days', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('kind', sa.String(length=16), server_default='retailer', nullable=False))
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_accounts_network_kind', 'accounts', ['kind'], unique=True,
                    postgresql_where=NETWORK, sqlite_where=NETWORK)
    op.create_index('ix_lots_open_by_expiry', 'lots', ['expires_at'], postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index('ix_lots_open_by_expiry', table_name='lots')
    op.drop_index('uq_accounts_network_kind', table_name='accounts')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('last_activity_at')
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('kind')
        batch.drop_column('pending_days')
