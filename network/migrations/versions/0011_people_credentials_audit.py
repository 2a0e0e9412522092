"""people, credentials and the audit trail: staff and partner users, several keys per partner

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Each partner's one key moves from `partners.api_key_hash` into `credentials`
(named "first key"), so existing tills keep working and the partner can add
and revoke keys beside it. `audit_events` refuses UPDATE and DELETE by
trigger on both databases: the trail is only ever appended to.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
Stamp = sa.DateTime(timezone=True)

POSTGRES_GUARD = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""
SQLITE_GUARD = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
]


def upgrade() -> None:
    op.create_table(
        'users',
        sa.Column('id', Id, primary_key=True),
        sa.Column('email', sa.String(254), nullable=False),
        sa.Column('role', sa.String(20), nullable=False),
        sa.Column('partner_id', Id, sa.ForeignKey('partners.id', name=op.f('fk_users_partner_id_partners')), nullable=True),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('must_change_password', sa.Boolean(), nullable=False),
        sa.Column('failed_sign_ins', sa.Integer(), server_default='0', nullable=False),
        sa.Column('locked_until', Stamp, nullable=True),
        sa.Column('disabled_at', Stamp, nullable=True),
        sa.Column('created_at', Stamp, nullable=False),
        sa.Column('last_sign_in_at', Stamp, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
        sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    )
    op.create_index(op.f('ix_users_partner_id'), 'users', ['partner_id'])
    op.create_table(
        'credentials',
        sa.Column('id', Id, primary_key=True),
        sa.Column('key_hash', sa.String(64), nullable=False),
        sa.Column('hint', sa.String(20), nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('partner_id', Id, sa.ForeignKey('partners.id', name=op.f('fk_credentials_partner_id_partners')),
                  nullable=True),
        sa.Column('user_id', Id, sa.ForeignKey('users.id', name=op.f('fk_credentials_user_id_users')), nullable=True),
        sa.Column('created_at', Stamp, nullable=False),
        sa.Column('expires_at', Stamp, nullable=True),
        sa.Column('last_used_at', Stamp, nullable=True),
        sa.Column('revoked_at', Stamp, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_credentials_key_hash')),
    )
    op.create_index(op.f('ix_credentials_partner_id'), 'credentials', ['partner_id'])
    op.create_index(op.f('ix_credentials_user_id'), 'credentials', ['user_id'])
    op.create_table(
        'audit_events',
        sa.Column('id', Id, primary_key=True),
        sa.Column('at', Stamp, nullable=False),
        sa.Column('actor', sa.String(300), nullable=False),
        sa.Column('role', sa.String(20), nullable=False),
        sa.Column('partner_id', Id, sa.ForeignKey('partners.id', name=op.f('fk_audit_events_partner_id_partners')),
                  nullable=True),
        sa.Column('credential_id', Id,
                  sa.ForeignKey('credentials.id', name=op.f('fk_audit_events_credential_id_credentials')), nullable=True),
        sa.Column('action', sa.String(80), nullable=False),
        sa.Column('target', sa.String(300), nullable=False),
        sa.Column('address', sa.String(64), nullable=True),
        sa.Column('user_agent', sa.String(300), nullable=True),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    )
    for column in ('at', 'actor', 'partner_id', 'action', 'target'):
        op.create_index(op.f(f'ix_audit_events_{column}'), 'audit_events', [column])
    op.create_table(
        'settings_version',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_settings_version')),
    )
    op.execute("INSERT INTO settings_version (id, version) VALUES (1, 0)")
    op.execute(
        "INSERT INTO credentials (key_hash, hint, name, kind, partner_id, created_at) "
        "SELECT api_key_hash, 'ck_', 'first key', 'partner_key', id, created_at FROM partners"
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_constraint('uq_partners_api_key_hash', type_='unique')
        batch_op.drop_column('api_key_hash')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(POSTGRES_GUARD)
    else:
        for statement in SQLITE_GUARD:
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_hash', sa.String(64), nullable=True))
    op.execute(
        "UPDATE partners SET api_key_hash = (SELECT key_hash FROM credentials c WHERE c.partner_id = partners.id "
        "AND c.kind = 'partner_key' AND c.revoked_at IS NULL ORDER BY c.id LIMIT 1)"
    )
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_partners_api_key_hash', ['api_key_hash'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER audit_events_no_update ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_table('settings_version')
    op.drop_table('audit_events')
    op.drop_table('credentials')
    op.drop_table('users')
