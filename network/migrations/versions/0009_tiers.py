"""tiers: the network's tier ladder and each member's tier

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

The ladder (name, threshold in qualifying points, earn multiplier) and, on
each member, its tier's position, since when, and the last yearly review.
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tiers',
        sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('threshold', sa.BigInteger(), nullable=False),
        sa.Column('multiplier', sa.String(length=40), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('threshold >= 0', name=op.f('ck_tiers_tier_threshold_not_negative')),
        sa.CheckConstraint('position >= 0', name=op.f('ck_tiers_tier_position_not_negative')),
        sa.PrimaryKeyConstraint('position', name=op.f('pk_tiers')),
        sa.UniqueConstraint('name', name=op.f('uq_tiers_name')),
    )
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('tier', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('tier_since', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('tier_reviewed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.drop_column('tier_reviewed_at')
        batch.drop_column('tier_since')
        batch.drop_column('tier')
    op.drop_table('tiers')
