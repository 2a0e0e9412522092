"""acknowledgements: the public key each countersignature was checked with, kept beside it

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

A partner may register a new key later; a statement's acknowledgements
must still verify offline with the key that signed them, so each keeps
its own. Rows from before take their partner's key on record.
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('acknowledgements') as batch:
        batch.add_column(sa.Column('public_key', sa.String(64), nullable=True))
    op.execute("UPDATE acknowledgements SET public_key = "
               "(SELECT partners.public_key FROM partners WHERE partners.id = acknowledgements.partner_id)")


def downgrade() -> None:
    with op.batch_alter_table('acknowledgements') as batch:
        batch.drop_column('public_key')
