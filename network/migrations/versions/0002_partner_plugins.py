"""partner plugins: adapter config, rules, awards, referrals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Adapters get their own settings, earning rules become plugins (the old
`earn_rate` turns into a `base_rate` rule), awards say which rule gave which
points, referrals wait for the referred member's first sale, and order
kinds widen to name actions (`action:review`).
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('awards',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=False),
    sa.CheckConstraint('points <> 0', name=op.f('ck_awards_award_not_zero')),
    sa.ForeignKeyConstraint(['entry_id'], ['journal_entries.id'], name=op.f('fk_awards_entry_id_journal_entries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_awards'))
    )
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_awards_entry_id'), ['entry_id'], unique=False)

    op.create_table('referrals',
    sa.Column('referred_id', sa.String(length=32), nullable=False),
    sa.Column('referrer_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('referrer_points', sa.BigInteger(), nullable=False),
    sa.Column('referred_points', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['paid_entry_id'], ['journal_entries.id'], name=op.f('fk_referrals_paid_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_referrals_partner_id_partners')),
    sa.ForeignKeyConstraint(['referred_id'], ['members.id'], name=op.f('fk_referrals_referred_id_members')),
    sa.ForeignKeyConstraint(['referrer_id'], ['members.id'], name=op.f('fk_referrals_referrer_id_members')),
    sa.PrimaryKeyConstraint('referred_id', name=op.f('pk_referrals'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referrals_referrer_id'), ['referrer_id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('kind',
               existing_type=sa.VARCHAR(length=16),
               type_=sa.String(length=80),
               existing_nullable=False)

    # `earn_rate` becomes the rule it was shorthand for: one base rate.
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adapter_config', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('rules', sa.JSON(), nullable=True))
    partners = sa.table('partners', sa.column('id'), sa.column('earn_rate'),
                        sa.column('adapter_config', sa.JSON()), sa.column('rules', sa.JSON()))
    connection = op.get_bind()
    for partner_id, earn_rate in connection.execute(sa.select(partners.c.id, partners.c.earn_rate)).all():
        connection.execute(
            partners.update().where(partners.c.id == partner_id).values(
                adapter_config={}, rules=[{"rule": "base_rate", "rate": earn_rate}]
            )
        )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.alter_column('adapter_config', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('rules', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('earn_rate')

    # 0001 missed this check (declared on the column, which autogenerate skips).
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_postings_posting_not_zero'), 'amount <> 0')



def downgrade() -> None:
    with op.batch_alter_table('postings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_postings_posting_not_zero'), type_='check')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('earn_rate', sa.VARCHAR(length=40), nullable=False, server_default='1'))
        batch_op.drop_column('rules')
        batch_op.drop_column('adapter_config')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('kind',
               existing_type=sa.String(length=80),
               type_=sa.VARCHAR(length=16),
               existing_nullable=False)

    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referrals_referrer_id'))

    op.drop_table('referrals')
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_awards_entry_id'))

    op.drop_table('awards')
