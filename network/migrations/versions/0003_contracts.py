"""partner contracts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Partner contracts for settlement: versions of the issue fee and the redeem
rate, each in force from its `effective_from`.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contracts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('issue_fee', sa.String(length=40), nullable=False),
    sa.Column('redeem_rate', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_contracts_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('partner_id', 'effective_from', name=op.f('uq_contracts_partner_id_effective_from'))
    )


def downgrade() -> None:
    op.drop_table('contracts')
