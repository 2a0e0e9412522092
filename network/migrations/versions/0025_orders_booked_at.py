"""orders by booking time: a BRIN index for the analytics' revenue and uplift over a span

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06

Orders are written in booking order, so a BRIN index (a few pages per
million rows on PostgreSQL, next to nothing per insert) finds a month's
orders without reading the whole table. SQLite has no BRIN; it gets a
b-tree, as for the journal's booking time.
"""
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_orders_booked_at', 'orders', ['booked_at'], postgresql_using='brin')


def downgrade() -> None:
    op.drop_index('ix_orders_booked_at', table_name='orders')
