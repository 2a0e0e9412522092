"""wallet links: single-use links into a member's wallet, kept as hashes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

Stamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'wallet_links',
        sa.Column('token_hash', sa.String(length=64), primary_key=True),
        sa.Column('member_id', sa.String(length=32), sa.ForeignKey('members.id'), nullable=False),
        sa.Column('created_at', Stamp, nullable=False),
        sa.Column('expires_at', Stamp, nullable=False),
        sa.Column('used_at', Stamp, nullable=True),
    )
    op.create_index('ix_wallet_links_member_id', 'wallet_links', ['member_id'])


def downgrade() -> None:
    op.drop_index('ix_wallet_links_member_id', 'wallet_links')
    op.drop_table('wallet_links')
