"""holds and rewards

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

Two-phase redemptions (holds), partners' reward catalogues and the units of
each reward members took, and a partner's points-per-unit rate for paying an
amount with points.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rewards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('per_member_limit', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_rewards_reward_points_positive')),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name=op.f('ck_rewards_reward_stock_not_negative')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_rewards_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards')),
    sa.UniqueConstraint('partner_id', 'sku', name=op.f('uq_rewards_partner_id_sku'))
    )
    op.create_table('holds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hold_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('release_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('redemption_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('captured', sa.BigInteger(), nullable=True),
    sa.Column('reward_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('quantity', sa.BigInteger(), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('points > 0', name=op.f('ck_holds_hold_points_positive')),
    sa.ForeignKeyConstraint(['hold_entry_id'], ['journal_entries.id'], name=op.f('fk_holds_hold_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_holds_member_id_members')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_holds_order_id_orders')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_holds_partner_id_partners')),
    sa.ForeignKeyConstraint(['redemption_entry_id'], ['journal_entries.id'], name=op.f('fk_holds_redemption_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['release_entry_id'], ['journal_entries.id'], name=op.f('fk_holds_release_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_holds_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds')),
    sa.UniqueConstraint('hold_entry_id', name=op.f('uq_holds_hold_entry_id'))
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index('ix_holds_member_id_status', ['member_id', 'status'], unique=False)

    op.create_table('reward_redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reward_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.String(length=32), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('reversal_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_reward_redemptions_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_reward_redemptions_member_id_members')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_reward_redemptions_reward_id_rewards')),
    sa.ForeignKeyConstraint(['reversal_entry_id'], ['journal_entries.id'], name=op.f('fk_reward_redemptions_reversal_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reward_redemptions')),
    sa.UniqueConstraint('entry_id', name=op.f('uq_reward_redemptions_entry_id'))
    )
    with op.batch_alter_table('reward_redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_reward_redemptions_reward_id_member_id', ['reward_id', 'member_id'], unique=False)

    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_per_unit', sa.String(length=40), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_column('points_per_unit')

    with op.batch_alter_table('reward_redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_reward_redemptions_reward_id_member_id')

    op.drop_table('reward_redemptions')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index('ix_holds_member_id_status')

    op.drop_table('holds')
    op.drop_table('rewards')
