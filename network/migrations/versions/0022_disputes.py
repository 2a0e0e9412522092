"""disputes: partners' objections to lines of a statement, and how finance ended each

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

A signed statement never changes; an upheld dispute is an adjustment in
money booked in the open period, which the next statement carries.
"""
import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'disputes',
        sa.Column('id', ID, nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('partner_id', ID, nullable=False),
        sa.Column('order_ids', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('status', sa.String(10), nullable=False),
        sa.Column('adjustment_minor', sa.BigInteger(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['sequence'], ['statements.sequence'], name='fk_disputes_sequence_statements'),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_disputes_partner_id_partners'),
        sa.PrimaryKeyConstraint('id', name='pk_disputes'),
    )
    op.create_index('ix_disputes_sequence', 'disputes', ['sequence'])
    op.create_index('ix_disputes_resolved_at', 'disputes', ['resolved_at'])


def downgrade() -> None:
    op.drop_index('ix_disputes_resolved_at', table_name='disputes')
    op.drop_index('ix_disputes_sequence', table_name='disputes')
    op.drop_table('disputes')
