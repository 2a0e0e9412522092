"""member e-mail search: a keyed hash of each member's normalised e-mail, indexed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

`members.email_hash` is HMAC-SHA256 of the stripped, casefolded address under
a key derived from the master key (network/members/privacy.py), so a search
by e-mail reads one index entry and decrypts only the members it finds.
Existing members' hashes are filled here, which decrypts each e-mail once:
that needs the master key (COALITION_MASTER_KEY, or the key file `coalition
db upgrade` passes on), as revision 0008 did; with e-mails to hash and no
key the migration stops and says so, rather than leave members no search
finds. (`coalition members rewrap-keys` hashes every e-mail again too, under
the first master key.)
"""
from alembic import context, op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

HASHED = sa.text("email_hash IS NOT NULL")
MEMBERS = sa.table('members', sa.column('id', sa.String), sa.column('email', sa.Text), sa.column('email_hash', sa.String))
KEYS = sa.table('member_keys', sa.column('member_id', sa.String), sa.column('wrapped_key', sa.Text))


def upgrade() -> None:
    connection = op.get_bind()
    master = _master_key_if_needed(connection)  # before any change: no key, no migration
    op.add_column('members', sa.Column('email_hash', sa.String(length=64), nullable=True))
    op.create_index('ix_members_email_hash', 'members', ['email_hash'], postgresql_where=HASHED, sqlite_where=HASHED)
    if master is not None:
        _hash_existing(connection, master)


def _master_key_if_needed(connection):
    count = connection.execute(sa.select(sa.func.count()).select_from(MEMBERS).where(MEMBERS.c.email.is_not(None))).scalar_one()
    if not count:
        return None
    from network.members.privacy import ENV_VAR, MasterKey

    key_file = context.config.attributes.get("master_key_file")
    master = MasterKey(key_file) if key_file else MasterKey()
    try:
        master.fernet()
    except Exception as exc:
        raise RuntimeError(
            f"{count} members have an e-mail to hash for search and there is no master key: set {ENV_VAR} "
            f"to the hub's Fernet key (or run `coalition db upgrade`, which uses the instance folder's key file). ({exc})"
        ) from None
    return master


def _hash_existing(connection, master) -> None:
    from network.members.privacy import decrypt

    rows = connection.execute(
        sa.select(MEMBERS.c.id, MEMBERS.c.email, KEYS.c.wrapped_key).join(KEYS, KEYS.c.member_id == MEMBERS.c.id)
        .where(MEMBERS.c.email.is_not(None))
    ).all()
    for member_id, email, wrapped in rows:
        connection.execute(MEMBERS.update().where(MEMBERS.c.id == member_id).values(
            email_hash=master.email_hash(decrypt(master, member_id, wrapped, email))))


def downgrade() -> None:
    op.drop_index('ix_members_email_hash', table_name='members')
    with op.batch_alter_table('members') as batch:
        batch.drop_column('email_hash')
