"""card aliases: a partner's own loyalty numbers for hub cards

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'card_aliases',
        sa.Column('id', Id, primary_key=True),
        sa.Column('partner_id', Id, sa.ForeignKey('partners.id'), nullable=False),
        sa.Column('alias', sa.String(length=128), nullable=False),
        sa.Column('card_number', sa.String(length=16), sa.ForeignKey('cards.number'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('partner_id', 'alias'),
    )
    op.create_index('ix_card_aliases_card_number', 'card_aliases', ['card_number'])


def downgrade() -> None:
    op.drop_index('ix_card_aliases_card_number', 'card_aliases')
    op.drop_table('card_aliases')
