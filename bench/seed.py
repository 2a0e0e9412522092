"""One member with a million postings, written in bulk but as the ledger would have them.

Each seeded movement is an earn of 1 point: a journal entry, its two postings
(member's available +1, the partner's issuance -1), a lot of 1 point; the
member's running balance moves by the same total, so every ledger invariant
still holds. Rows are generated inside the database (generate_series on
PostgreSQL, a recursive CTE on SQLite) in chunks, one transaction each; on
PostgreSQL foreign-key triggers are skipped for the load, as pg_restore does,
so a million takes tens of seconds, not minutes.
"""

from __future__ import annotations

import contextlib
import sys

import click
from sqlalchemy import bindparam, func, select, text

from bench.world import LIFETIME, OCCURRED, BenchPartner
from network.clock import utc_now
from network.db import Database
from network.members import cards
from network.models import Account, Posting, UtcDateTime

CHUNK = 100_000


def _series(dialect: str) -> tuple[str, str]:
    """(prefix, source): `{prefix} INSERT ... SELECT ... FROM {source}` yields g = :lo .. :hi."""
    if dialect == "postgresql":
        return "", "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS s(g)"
    return "WITH RECURSIVE s(g) AS (SELECT :lo UNION ALL SELECT g + 1 FROM s WHERE g < :hi)", "s"


def seed_heavy_member(db: Database, partner: BenchPartner, postings: int, progress: bool) -> tuple[str, str]:
    """Enrol a member and give them `postings` postings; returns (member_id, card)."""
    now = utc_now()
    member_id, card = db.transact(lambda s: cards.enrol(s, email=None, name=None, enrolled_by=None, now=now))
    with db.session() as session:
        account = session.scalar(select(Account.id).where(Account.member_id == member_id, Account.kind == "available"))
    dialect = db.engine.dialect.name
    prefix, source = _series(dialect)
    times = (bindparam("t", type_=UtcDateTime()), bindparam("exp", type_=UtcDateTime()))
    entries = text(
        f"{prefix} INSERT INTO journal_entries (kind, partner_id, member_id, reason, occurred_at, booked_at) "
        f"SELECT 'earn', :partner, CAST(:member AS VARCHAR(32)), 'Bench seed sale ' || CAST(g AS TEXT), :t, :t FROM {source}"
    ).bindparams(*times[:1])
    legs = text(
        "INSERT INTO postings (entry_id, account_id, amount, booked_at) "
        "SELECT id, :account, :amount, booked_at FROM journal_entries WHERE member_id = :member AND id > :after"
    )
    lots = text(
        "INSERT INTO lots (member_id, account_id, issuer_id, entry_id, points, remaining, earned_at, available_at, "
        "expires_at) SELECT CAST(:member AS VARCHAR(32)), :account, :partner, id, 1, 1, :t, :t, :exp FROM journal_entries "
        "WHERE member_id = :member AND id > :after"
    ).bindparams(*times)
    balance = text("UPDATE accounts SET balance = balance + :n WHERE id = :account")
    last_entry = text("SELECT COALESCE(MAX(id), 0) FROM journal_entries")

    bar = click.progressbar(length=postings, label=f"  {'seed: ' + format(postings, ',') + ' postings on one member':<44}",
                            file=sys.stderr, width=30) if progress else None
    done = 0
    with bar if bar is not None else contextlib.nullcontext():
        while done < postings:
            n = min(CHUNK, postings - done)
            with db.engine.connect() as connection:
                connection.execution_options(write=True)
                with connection.begin():
                    if dialect == "postgresql":
                        _bulk_mode(connection)
                    after = connection.execute(last_entry).scalar_one()
                    connection.execute(entries, {"lo": done + 1, "hi": done + n, "partner": partner.id,
                                                 "member": member_id, "t": OCCURRED})
                    connection.execute(legs, {"account": account, "amount": 1, "member": member_id, "after": after})
                    connection.execute(legs, {"account": partner.issuance, "amount": -1, "member": member_id,
                                              "after": after})
                    connection.execute(lots, {"member": member_id, "account": account, "partner": partner.id,
                                              "after": after, "t": OCCURRED, "exp": OCCURRED + LIFETIME})
                    connection.execute(balance, {"n": n, "account": account})
            done += n
            if bar is not None:
                bar.update(n)
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))  # what autovacuum would do after a bulk load
    with db.session() as session:
        count = session.scalar(select(func.count()).select_from(Posting).where(Posting.account_id == account))
    if count != postings:
        raise RuntimeError(f"seeded {count} postings, meant {postings}")
    return member_id, card


def _bulk_mode(connection) -> None:
    """Load like pg_restore: no per-row foreign-key triggers (the rows are consistent by construction), no fsync wait.

    session_replication_role needs a superuser; without one the load is just slower.
    """
    connection.execute(text("SET LOCAL synchronous_commit = off"))
    connection.execute(text("SAVEPOINT bulk_mode"))
    try:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
    except Exception:
        connection.execute(text("ROLLBACK TO SAVEPOINT bulk_mode"))
    else:
        connection.execute(text("RELEASE SAVEPOINT bulk_mode"))
