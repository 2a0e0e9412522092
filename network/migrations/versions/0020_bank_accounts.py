"""partners' bank accounts, and statements' transfers seen paid on the bank statement

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04

A statement's transfers go to the bank as an ISO 20022 pain.001 file, which
names each receiving partner's account; the bank's camt.053 statement
comes back and marks them paid, beside the statement that never changes.
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('partners') as batch:
        batch.add_column(sa.Column('account_holder', sa.String(70), nullable=True))
        batch.add_column(sa.Column('iban', sa.String(34), nullable=True))
        batch.add_column(sa.Column('bic', sa.String(11), nullable=True))
    op.create_table(
        'transfer_payments',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('booked_on', sa.String(10), nullable=False),
        sa.Column('bank_reference', sa.String(140), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sequence'], ['statements.sequence'], name='fk_transfer_payments_sequence_statements'),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name='fk_transfer_payments_partner_id_partners'),
        sa.PrimaryKeyConstraint('id', name='pk_transfer_payments'),
        sa.UniqueConstraint('sequence', 'partner_id', name='uq_transfer_payments_sequence_partner_id'),
    )


def downgrade() -> None:
    op.drop_table('transfer_payments')
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('bic')
        batch.drop_column('iban')
        batch.drop_column('account_holder')
