"""partners' credit: funding, a limit, what their points drew and the funds they sent

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04

An issuing partner may be prepaid or on credit: each point it issues draws
its issue fee and expected redemption value on one row, checked and moved
by the earn's own conditional UPDATE.
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('partners') as batch:
        batch.add_column(sa.Column('funding', sa.String(8), nullable=True))
    op.create_table(
        'partner_credit',
        sa.Column('partner_id', ID, nullable=False),
        sa.Column('limit_micros', sa.BigInteger(), nullable=False),
        sa.Column('point_cost_micros', sa.BigInteger(), nullable=False),
        sa.Column('drawn_micros', sa.BigInteger(), nullable=False),
        sa.Column('funded_micros', sa.BigInteger(), nullable=False),
        sa.Column('warned', sa.String(8), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_partner_credit_partner_id_partners'),
        sa.PrimaryKeyConstraint('partner_id', name='pk_partner_credit'),
    )
    op.create_table(
        'prepayments',
        sa.Column('id', ID, nullable=False),
        sa.Column('partner_id', ID, nullable=False),
        sa.Column('amount_micros', sa.BigInteger(), nullable=False),
        sa.Column('reference', sa.String(140), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_prepayments_partner_id_partners'),
        sa.PrimaryKeyConstraint('id', name='pk_prepayments'),
        sa.UniqueConstraint('partner_id', 'reference', name='uq_prepayments_partner_id_reference'),
    )


def downgrade() -> None:
    op.drop_table('prepayments')
    op.drop_table('partner_credit')
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('funding')
