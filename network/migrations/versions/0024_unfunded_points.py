"""unfunded points: a partner's sales past its limit booked pending until funds arrive, and what each sale drew

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

A partner may have its sales past its limit booked pending (`over_limit`
"pending") rather than refused; they wait in `unfunded_sales` for funds.
Each sale that drew remembers what a point of it drew, so a refund gives
back exactly that.
"""
import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('partners') as batch:
        batch.add_column(sa.Column('over_limit', sa.String(8), server_default='refuse', nullable=False))
    with op.batch_alter_table('orders') as batch:
        batch.add_column(sa.Column('point_cost_micros', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('drawn_points', sa.BigInteger(), nullable=True))
    op.create_table(
        'unfunded_sales',
        sa.Column('order_id', ID, nullable=False),
        sa.Column('partner_id', ID, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name='fk_unfunded_sales_order_id_orders'),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_unfunded_sales_partner_id_partners'),
        sa.PrimaryKeyConstraint('order_id', name='pk_unfunded_sales'),
    )
    op.create_index('ix_unfunded_sales_partner_id_order_id', 'unfunded_sales', ['partner_id', 'order_id'])


def downgrade() -> None:
    op.drop_index('ix_unfunded_sales_partner_id_order_id', table_name='unfunded_sales')
    op.drop_table('unfunded_sales')
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('drawn_points')
        batch.drop_column('point_cost_micros')
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('over_limit')
