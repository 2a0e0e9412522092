"""orders: ids of any length platforms use (Square's refunds: 73 characters); what a sale charged for its goods

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.alter_column('order_id', existing_type=sa.String(length=64), type_=sa.String(length=255),
                           existing_nullable=False)
        batch.add_column(sa.Column('charged_minor', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders') as batch:
        batch.drop_column('charged_minor')
        batch.alter_column('order_id', existing_type=sa.String(length=255), type_=sa.String(length=64),
                           existing_nullable=False)
