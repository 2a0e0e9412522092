"""member life: pending days, partner kind, last activity, network accounts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

A partner's return window (pending_days) and kind (retailer or charity);
a member's last activity (for expiry that activity extends); the points a
member owes after a claw-back beyond their balance (an `owed` account each
and a `debts` table saying to whom); one account
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
    op.create_table('debts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('remaining >= 0 AND remaining <= points', name=op.f('ck_debts_debt_remaining_in_range')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_debts_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_debts_member_id_members')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_debts_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_debts'))
    )
    op.create_index('ix_debts_open', 'debts', ['member_id', 'id'], postgresql_where=OPEN, sqlite_where=OPEN)
    # Every member gets the account that keeps what a claw-back left owing.
    op.execute("INSERT INTO accounts (kind, member_id, balance) SELECT 'owed', id, 0 FROM members")


def downgrade() -> None:
    op.execute("DELETE FROM accounts WHERE kind = 'owed'")
    op.drop_index('ix_debts_open', table_name='debts')
    op.drop_table('debts')
    op.drop_index('ix_lots_open_by_expiry', table_name='lots')
    op.drop_index('uq_accounts_network_kind', table_name='accounts')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('last_activity_at')
    with op.batch_alter_table('partners') as batch:
        batch.drop_column('kind')
        batch.drop_column('pending_days')
