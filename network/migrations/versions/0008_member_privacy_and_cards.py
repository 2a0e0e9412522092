"""member privacy and cards: encrypted e-mail and name, member keys, merges, blocked cards

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

Members' e-mail and name become Fernet ciphertext (Text) under a data key of
each member's own, kept wrapped under the master key in `member_keys`.
Existing e-mails and names are encrypted here, so none is lost: that needs
the master key (COALITION_MASTER_KEY, or the key file `coalition db upgrade`
passes on); with rows to encrypt and no key, the migration stops and says so.
Also: members.merged_into and deleted_at, cards.blocked_at and block_reason,
lots.merged_from_id.
"""
from datetime import datetime, timezone

from alembic import context, op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    master = _master_key_if_needed(connection)  # before any change: no key, no migration
    op.create_table(
        'member_keys',
        sa.Column('member_id', sa.String(length=32), nullable=False),
        sa.Column('wrapped_key', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id'], name='fk_member_keys_member_id_members'),
        sa.PrimaryKeyConstraint('member_id', name='pk_member_keys'),
    )
    with op.batch_alter_table('members') as batch:
        batch.alter_column('email', existing_type=sa.String(length=320), type_=sa.Text(), existing_nullable=True)
        batch.alter_column('name', existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=True)
        batch.add_column(sa.Column('merged_into', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key('fk_members_merged_into_members', 'members', ['merged_into'], ['id'])
    with op.batch_alter_table('cards') as batch:
        batch.add_column(sa.Column('blocked_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('block_reason', sa.String(length=200), nullable=True))
    with op.batch_alter_table('lots') as batch:
        batch.add_column(sa.Column('merged_from_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch.create_foreign_key('fk_lots_merged_from_id_lots', 'lots', ['merged_from_id'], ['id'])
    merged = sa.text("merged_from_id IS NOT NULL")
    op.create_index('ix_lots_merged_from', 'lots', ['merged_from_id'], postgresql_where=merged, sqlite_where=merged)
    absorbed = sa.text("merged_into IS NOT NULL")
    op.create_index('ix_members_merged_into', 'members', ['merged_into'], postgresql_where=absorbed, sqlite_where=absorbed)
    if master is not None:
        _encrypt_existing(connection, master)


MEMBERS = sa.table('members', sa.column('id', sa.String), sa.column('email', sa.Text), sa.column('name', sa.Text))
WITH_DATA = MEMBERS.c.email.is_not(None) | MEMBERS.c.name.is_not(None)


def _master_key_if_needed(connection):
    count = connection.execute(sa.select(sa.func.count()).select_from(MEMBERS).where(WITH_DATA)).scalar_one()
    if not count:
        return None
    from network.members.privacy import ENV_VAR, MasterKey

    key_file = context.config.attributes.get("master_key_file")
    master = MasterKey(key_file) if key_file else MasterKey()
    try:
        master.fernet()
    except Exception as exc:
        raise RuntimeError(
            f"{count} members have an e-mail or name to encrypt and there is no master key: set {ENV_VAR} "
            f"to a Fernet key (or run `coalition db upgrade`, which uses the instance folder's key file). ({exc})"
        ) from None
    return master


def _encrypt_existing(connection, master) -> None:
    from cryptography.fernet import Fernet

    members = MEMBERS
    keys = sa.table('member_keys', sa.column('member_id', sa.String), sa.column('wrapped_key', sa.Text),
                    sa.column('created_at', sa.DateTime(timezone=True)))
    rows = connection.execute(sa.select(members.c.id, members.c.email, members.c.name).where(WITH_DATA)).all()
    now = datetime.now(timezone.utc)
    # SQLite stores naive UTC text (the models' UtcDateTime); PostgreSQL takes the aware value.
    created = now.replace(tzinfo=None) if connection.dialect.name == 'sqlite' else now
    for member_id, email, name in rows:
        data_key = Fernet.generate_key()
        fernet = Fernet(data_key)
        connection.execute(keys.insert().values(member_id=member_id, wrapped_key=master.wrap(data_key), created_at=created))
        connection.execute(members.update().where(members.c.id == member_id).values(
            email=None if email is None else fernet.encrypt(email.encode()).decode(),
            name=None if name is None else fernet.encrypt(name.encode()).decode(),
        ))


def downgrade() -> None:
    # The ciphertext stays ciphertext: decrypting personal data back into clear columns is not done by a downgrade.
    op.drop_index('ix_lots_merged_from', table_name='lots')
    op.drop_index('ix_members_merged_into', table_name='members')
    with op.batch_alter_table('lots') as batch:
        batch.drop_constraint('fk_lots_merged_from_id_lots', type_='foreignkey')
        batch.drop_column('merged_from_id')
    with op.batch_alter_table('cards') as batch:
        batch.drop_column('block_reason')
        batch.drop_column('blocked_at')
    with op.batch_alter_table('members') as batch:
        batch.drop_constraint('fk_members_merged_into_members', type_='foreignkey')
        batch.drop_column('deleted_at')
        batch.drop_column('merged_into')
    op.drop_table('member_keys')
