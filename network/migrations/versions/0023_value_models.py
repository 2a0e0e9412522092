"""value models: fits of BG/NBD and Gamma-Gamma a member's predicted value is read from

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

Fitting reads every member's history, so it runs as a job and is kept;
a member's predicted value then costs that member's own purchases.
"""
import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'value_models',
        sa.Column('id', ID, nullable=False),
        sa.Column('currency', sa.String(3), nullable=False),
        sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
        sa.Column('fitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('members', sa.BigInteger(), nullable=False),
        sa.Column('repeaters', sa.BigInteger(), nullable=False),
        sa.Column('frequency', sa.JSON(), nullable=False),
        sa.Column('spend', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name='pk_value_models'),
    )
    op.create_index('ix_value_models_currency', 'value_models', ['currency'])


def downgrade() -> None:
    op.drop_index('ix_value_models_currency', table_name='value_models')
    op.drop_table('value_models')
