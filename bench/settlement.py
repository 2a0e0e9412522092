"""Settlement: closing a period over a ledger of ~1M postings, next to a raw SQL aggregation of the same rows.

Seeding writes, with bare SQL generated inside the database (generate_series
on PostgreSQL, a recursive CTE on SQLite), one statement per table per chunk,
a ledger as the hub's own functions would have written it:

- partners made by `registry.create_partner`, each with two contract
  versions (`contracts.add_version`): one in force before the period, one
  starting in the middle of it;
- many members (three accounts each, as `members.enrol` makes them);
- sales: an earn entry (member's available +p, issuer's issuance -p) and a
  lot of p points issued by the partner;
- redemptions of 4 sales in 5, at a partner chosen round-robin (the issuer
  itself one time in `partners`): an entry (available -r, redeemer's
  redemption +r) and a lot movement of -r on the sale's lot;
- reversals of 1 redemption in 20 (the points go back into the same lot);
- refunds of 1 sale in 25 that nobody redeemed from (half the points back
  to the issuer's issuance, a movement of -p/2 on the lot);

then each lot's `remaining` and each member's running balance follow from
the rows, so the ledger invariants (network.ledger.invariants) hold; they are all
checked after seeding. No orders, awards or cards are written: settlement
reads none of them. Every entry is booked one second after the one before,
so the period holds every seeded row.

Measured, each best of 3 (the stored statement is deleted between runs):

- `settlement.runs.close_period` inside `Database.transact`, signed by a
  KeyRing in a temporary directory: the figures, the statement, its Merkle
  root, canonical bytes, signature and the stored row, for the whole period;
  ops = postings in the ledger, so the target of 100,000 ops/s is 1M
  postings in 10 s;
- the raw baseline: one hand-written GROUP BY per figure (issued by issuer,
  less refunds; redeemed by issuer x redeemer; outstanding by issuer) in
  plain SQL, no ORM, no contract versions, no statement;
- signing the run's canonical bytes with `KeyRing.sign` and checking them
  with `settlement.signing.verify` against the JWK set, each next to bare
  `cryptography` Ed25519 sign / verify of the same bytes.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import click
from sqlalchemy import bindparam, delete, func, select, text

from bench import load
from bench.imports import measured
from bench.load import Measure
from bench.seed import _bulk_mode
from bench.world import new_partner_spec
from network.clock import utc_now
from network.db import Database
from network.ledger import partitions
from network.ledger.invariants import CHECKS, violations
from network.ledger.journal import ISSUANCE, REDEMPTION
from network.models import JournalEntry, Lot, Posting, Statement, UtcDateTime
from network.parties import contracts
from network.parties.registry import create_partner
from settlement.figures import Period, settle
from settlement.runs import close_period
from settlement.signing import KeyRing, b64url_decode, verify

CURRENCY = "EUR"
NETWORK = "bench"
PARTNERS = 6
CHUNK = 50_000  # sales per transaction while seeding (about 190k postings)
LIFETIME_SECONDS = 730 * 86_400
# Entries per sale: the sale, a redemption 4 times in 5, a refund 1 in 25, a reversal 1 in 20.
ENTRIES_PER_SALE = 1 + 4 / 5 + 1 / 25 + 1 / 20


@dataclass(frozen=True)
class Seeded:
    postings: int
    entries: int
    sales: int
    members: int
    period: Period
    seconds: float
    invariants: str


def _sql(dialect: str, partners: list, first: dict[str, int], members: int) -> dict[str, str]:
    """The seeding statements; :lo and :hi bound the sale numbers k of one chunk, :t0 is epoch seconds.

    Sale k is entry 4k (relative), its redemption 4k+1, refund 4k+2, reversal
    4k+3; an entry numbered g is booked at t0 + g seconds.
    """
    n = len(partners)

    def by_index(column: str, attr) -> str:
        return "CASE " + column + " " + " ".join(f"WHEN {i} THEN {attr(p)}" for i, p in enumerate(partners)) + " END"

    pid = lambda column: by_index(column, lambda p: p.id)  # noqa: E731
    issuance = lambda column: by_index(column, lambda p: p.account_id(ISSUANCE))  # noqa: E731
    redemption = lambda column: by_index(column, lambda p: p.account_id(REDEMPTION))  # noqa: E731
    if dialect == "postgresql":
        prefix = ""
        series = "generate_series(CAST(:lo AS bigint) * 4, CAST(:hi AS bigint) * 4 - 1) AS s(g)"
        sales_series = "generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint) - 1) AS s(g)"
        when = lambda seconds: f"to_timestamp(CAST(:t0 AS bigint) + {seconds})"  # noqa: E731
    else:
        prefix = "WITH RECURSIVE s(g) AS (SELECT :lo * 4 UNION ALL SELECT g + 1 FROM s WHERE g < :hi * 4 - 1) "
        series = "s"
        sales_series = "s"
        when = lambda seconds: f"(strftime('%Y-%m-%d %H:%M:%S', :t0 + {seconds}, 'unixepoch') || '.000000')"  # noqa: E731
    sales_prefix = prefix.replace(":lo * 4", ":lo").replace(":hi * 4 - 1", ":hi - 1")
    # One row per entry numbered g, with everything derived from it.
    facts = (
        "SELECT g, k, j, p, "
        "1 + (k * 31) % p AS r, "  # points redeemed: 1 .. p
        "p / 2 AS f, "  # points refunded
        f"k % {n} AS issuer, "
        f"(k + (k / {n}) % {n}) % {n} AS redeemer, "
        f"(k * 2654435761) % {members} AS m "
        "FROM (SELECT g, g / 4 AS k, g % 4 AS j, 10 + ((g / 4) * 7919) % 191 AS p FROM {series}) AS base "
        "WHERE j = 0 OR (j = 1 AND k % 5 <> 0) OR (j = 2 AND k % 25 = 0) OR (j = 3 AND k % 20 = 1)"
    )
    e, lot, acct = first["entry"], first["lot"], first["account"]
    available = f"{acct} + 3 * m"
    entries = (
        f"{prefix}INSERT INTO journal_entries (id, kind, partner_id, member_id, reverses_id, reason, occurred_at, booked_at) "
        f"SELECT {e} + g, "
        "CASE j WHEN 0 THEN 'earn' WHEN 1 THEN 'redemption' WHEN 2 THEN 'refund' ELSE 'redemption_reversal' END, "
        f"CASE WHEN j IN (0, 2) THEN {pid('issuer')} ELSE {pid('redeemer')} END, "
        "'settle-' || CAST(m AS TEXT), "
        f"CASE j WHEN 2 THEN {e} + 4 * k WHEN 3 THEN {e} + 4 * k + 1 END, "
        "CASE j WHEN 0 THEN 'Bench sale' WHEN 1 THEN 'Bench redemption' WHEN 2 THEN 'Bench refund' "
        "ELSE 'Bench reversal' END, "
        f"CASE WHEN j IN (0, 2) THEN {when('g')} END, {when('g')} "
        f"FROM ({facts.format(series=series)}) AS x"
    )
    # Two postings per entry: side 0 is the member's available account, side 1 the partner's.
    postings = (
        f"{prefix}INSERT INTO postings (entry_id, account_id, amount, booked_at) "
        f"SELECT {e} + g, "
        f"CASE WHEN side = 0 THEN {available} WHEN j IN (0, 2) THEN {issuance('issuer')} "
        f"ELSE {redemption('redeemer')} END, "
        "CASE j WHEN 0 THEN p WHEN 1 THEN -r WHEN 2 THEN -f ELSE r END * (1 - 2 * side), "
        f"{when('g')} "
        f"FROM ({facts.format(series=series)}) AS x CROSS JOIN (SELECT 0 AS side UNION ALL SELECT 1) AS sides"
    )
    lots = (
        f"{sales_prefix}INSERT INTO lots (id, member_id, account_id, issuer_id, entry_id, points, remaining, earned_at, "
        "available_at, expires_at) "
        f"SELECT {lot} + k, 'settle-' || CAST(m AS TEXT), {available}, {pid('issuer')}, {e} + 4 * k, p, "
        "p - CASE WHEN k % 5 <> 0 AND k % 20 <> 1 THEN r ELSE 0 END - CASE WHEN k % 25 = 0 THEN f ELSE 0 END, "
        f"{when('4 * k')}, {when('4 * k')}, {when(f'4 * k + {LIFETIME_SECONDS}')} "
        f"FROM (SELECT k, p, 1 + (k * 31) % p AS r, p / 2 AS f, k % {n} AS issuer, (k * 2654435761) % {members} AS m "
        f"FROM (SELECT g AS k, 10 + (g * 7919) % 191 AS p FROM {sales_series}) AS base) AS x"
    )
    movements = (
        f"{prefix}INSERT INTO lot_movements (lot_id, entry_id, points, booked_at, issuer_id) "
        f"SELECT {lot} + k, {e} + g, CASE j WHEN 1 THEN -r WHEN 2 THEN -f ELSE r END, {when('g')}, {pid('issuer')} "
        f"FROM ({facts.format(series=series)}) AS x WHERE j > 0"
    )
    return {"entries": entries, "postings": postings, "lots": lots, "movements": movements}


def _people(dialect: str) -> tuple[str, str]:
    """Members settle-0 .. settle-(n-1), each with the three accounts `members.enrol` makes: ids first + 3m + 0, 1, 2."""
    if dialect == "postgresql":
        prefix, source = "", "generate_series(0, CAST(:n AS bigint) - 1) AS s(g)"
    else:
        prefix, source = "WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < :n - 1) ", "s"
    members_sql = (f"{prefix}INSERT INTO members (id, email, name, enrolled_by, created_at) "
                   f"SELECT 'settle-' || CAST(g AS TEXT), NULL, NULL, NULL, :t FROM {source}")
    accounts_sql = (f"{prefix}INSERT INTO accounts (id, kind, member_id, partner_id, balance) "
                    f"SELECT :first + 3 * g + k.n, k.kind, 'settle-' || CAST(g AS TEXT), NULL, 0 FROM {source} "
                    "CROSS JOIN (SELECT 0 AS n, 'available' AS kind UNION ALL SELECT 1, 'pending' "
                    "UNION ALL SELECT 2, 'held') AS k")
    return members_sql, accounts_sql


def seed(db: Database, postings: int, progress: bool, members: int | None = None) -> Seeded:
    """Partners, contracts, members and a ledger of about `postings` postings, all booked inside one period.

    `members`: how many members share the sales (default one per 20 sales).
    """
    started = time.perf_counter()
    dialect = db.engine.dialect.name
    sales = max(25, round(postings / (2 * ENTRIES_PER_SALE)))
    member_count = max(100, sales // 20) if members is None else max(1, members)
    # Entry g is booked at t0 + g s; the period ends a minute after the last one, an hour before now.
    end = utc_now().replace(microsecond=0) - timedelta(hours=1)
    t0 = end - timedelta(seconds=4 * sales + 60)
    start_of_time = t0 - timedelta(days=400)

    def partners_and_contracts(session):
        made = [create_partner(session, new_partner_spec(f"settle-{i}"), start_of_time)[0] for i in range(PARTNERS)]
        for i, partner in enumerate(made):
            for version, effective in enumerate((start_of_time, t0 + timedelta(seconds=2 * sales))):
                contracts.add_version(
                    session, partner, issue_fee=Decimal("0.0100") + Decimal(i) / 1000 + Decimal(version) / 2000,
                    redeem_rate=Decimal("0.0080") + Decimal(i) / 1250 - Decimal(version) / 4000, currency=CURRENCY,
                    effective_from=effective, now=start_of_time)
        return made

    partners = db.transact(partners_and_contracts)
    members_sql, accounts_sql = _people(dialect)
    members_sql, accounts_sql = text(members_sql).bindparams(bindparam("t", type_=UtcDateTime())), text(accounts_sql)
    with db.engine.connect() as connection:
        connection.execution_options(write=True)
        with connection.begin():
            first = {table: connection.execute(text(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")).scalar_one()
                     for table in ("journal_entries", "lots", "accounts")}
            first = {"entry": first["journal_entries"], "lot": first["lots"], "account": first["accounts"]}
            connection.execute(members_sql, {"n": member_count, "t": start_of_time})
            connection.execute(accounts_sql, {"n": member_count, "first": first["account"]})
            # The months the seeded entries are booked in, as a hub running through them would have made them.
            partitions.ensure(connection, now=utc_now(), since=partitions.month_of(t0))

    statements = {name: text(sql) for name, sql in _sql(dialect, partners, first, member_count).items()}
    bar = click.progressbar(length=sales, label=f"  {'seed: ' + format(postings, ',') + ' settlement postings':<44}",
                            file=sys.stderr, width=30) if progress else None
    with bar if bar is not None else contextlib.nullcontext():
        for lo in range(0, sales, CHUNK):
            hi = min(sales, lo + CHUNK)
            params = {"lo": lo, "hi": hi, "t0": int(t0.timestamp())}
            with db.engine.connect() as connection:
                connection.execution_options(write=True)
                with connection.begin():
                    if dialect == "postgresql":
                        _bulk_mode(connection)
                    for name in ("entries", "postings", "lots", "movements"):
                        connection.execute(statements[name], params)
            if bar is not None:
                bar.update(hi - lo)

    with db.engine.connect() as connection:
        connection.execution_options(write=True)
        with connection.begin():
            # Each member's running balance is what its lots still hold (and what its postings sum to).
            connection.execute(text(
                "UPDATE accounts SET balance = t.points FROM (SELECT account_id, SUM(remaining) AS points FROM lots "
                "WHERE id >= :lot GROUP BY account_id) AS t WHERE accounts.id = t.account_id"
            ), {"lot": first["lot"]})
            if dialect == "postgresql":
                for table in ("journal_entries", "lots", "accounts"):
                    connection.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"))
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))  # what autovacuum would do after a bulk load
    seeded = time.perf_counter() - started
    with db.session() as session:
        count = session.scalar(select(func.count()).select_from(Posting))
        entries = session.scalar(select(func.count()).select_from(JournalEntry))
        lots = session.scalar(select(func.count()).select_from(Lot))
    if lots != sales:
        raise RuntimeError(f"seeded {lots} lots, meant {sales}")
    invariants = _invariants(db)
    return Seeded(count, entries, sales, member_count, Period(None, end), seeded, invariants)


def _invariants(db: Database) -> str:
    started = time.perf_counter()
    with db.session() as session:
        broken = violations(session)
    took = time.perf_counter() - started
    if broken:
        click.secho(f"   settlement ledger: invariants BROKEN after seeding: {broken[:5]}", err=True, fg="red", bold=True)
        raise RuntimeError(f"ledger invariants broken after seeding the settlement ledger: {broken[:3]}")
    click.secho(f"   all ledger invariants hold on the seeded ledger (checked in {took:.1f}s)", err=True, fg="green")
    return f"all {len(CHECKS)} ledger invariants (network.ledger.invariants) hold on the seeded settlement ledger (checked in {took:.1f}s)"


# ---------------------------------------------------------------- the raw baseline

_WHEN = bindparam("end", type_=UtcDateTime())
RAW_QUERIES = {
    # issued by issuer in the period: lots credited, less refunds' movements (negative)
    "issued": text(
        "SELECT issuer_id, SUM(points) FROM ("
        " SELECT l.issuer_id, l.points FROM lots l JOIN journal_entries e ON e.id = l.entry_id WHERE e.booked_at < :end"
        " UNION ALL"
        " SELECT l.issuer_id, m.points FROM lot_movements m JOIN journal_entries e ON e.id = m.entry_id"
        " JOIN lots l ON l.id = m.lot_id WHERE e.kind = 'refund' AND e.booked_at < :end"
        ") AS x GROUP BY issuer_id"
    ).bindparams(_WHEN),
    # redeemed, issuer x redeemer
    "matrix": text(
        "SELECT l.issuer_id, e.partner_id, SUM(-m.points) FROM lot_movements m"
        " JOIN journal_entries e ON e.id = m.entry_id JOIN lots l ON l.id = m.lot_id"
        " WHERE e.kind IN ('redemption', 'redemption_reversal') AND e.booked_at < :end"
        " GROUP BY l.issuer_id, e.partner_id"
    ).bindparams(_WHEN),
    # outstanding at the end, by issuer
    "outstanding": text(
        "SELECT issuer_id, SUM(points) FROM ("
        " SELECT l.issuer_id, l.points FROM lots l JOIN journal_entries e ON e.id = l.entry_id WHERE e.booked_at < :end"
        " UNION ALL"
        " SELECT l.issuer_id, m.points FROM lot_movements m JOIN journal_entries e ON e.id = m.entry_id"
        " JOIN lots l ON l.id = m.lot_id WHERE e.booked_at < :end"
        ") AS x GROUP BY issuer_id"
    ).bindparams(_WHEN),
}


def raw_figures(db: Database, period: Period) -> dict[str, dict]:
    """The three figures, one GROUP BY each, over the whole ledger up to the period's end (the first period)."""
    with db.engine.connect() as connection:
        return {name: {tuple(row[:-1]): int(row[-1]) for row in connection.execute(query, {"end": period.end})}
                for name, query in RAW_QUERIES.items()}


def _best_of(times: int, prepare, work) -> tuple[Measure, list[float]]:
    best, all_seconds = None, []
    for _ in range(times):
        prepare()
        measure = work()
        all_seconds.append(measure.seconds)
        if best is None or measure.seconds < best.seconds:
            best = measure
    return best, all_seconds


@dataclass
class Outcome:
    run: Measure
    raw: Measure
    notes: list[str]
    canonical: bytes
    signature: dict
    keys: KeyRing


def measure_run(db: Database, seeded: Seeded, key_dir, repeats: int = 3) -> Outcome:
    """close_period through Database.transact, and the raw aggregation, each best of `repeats`."""
    keys = KeyRing(key_dir, environ={})
    keys.ensure_key()
    result = {}

    def forget():
        db.transact(lambda session: session.execute(delete(Statement)))

    def run():
        def work():
            result["signed"] = db.transact(lambda session: close_period(
                session, end=seeded.period.end, now=utc_now(), grace=timedelta(seconds=60), currency=CURRENCY,
                network=NETWORK, sign=keys.sign))
        return measured(seeded.postings, work)

    def raw():
        def work():
            result["raw"] = raw_figures(db, seeded.period)
        return measured(seeded.postings, work)

    measure, run_seconds = _best_of(repeats, forget, run)
    base, raw_seconds = _best_of(repeats, lambda: None, raw)
    with db.session() as session:
        started = time.perf_counter()
        figures = settle(session, seeded.period, CURRENCY)
        settle_seconds = time.perf_counter() - started
    _agree(figures, result["raw"])
    signed = result["signed"]
    with db.session() as session:
        canonical = session.scalar(select(Statement.canonical).where(Statement.sequence == 1)).encode()
    statement = signed["statement"]
    notes = [
        f"settlement ledger: {seeded.postings:,} postings ({seeded.entries:,} entries: {seeded.sales:,} sales and their "
        f"redemptions, reversals and refunds; {seeded.members:,} members, {PARTNERS} partners with 2 contract versions "
        f"each, one starting inside the period), seeded in {seeded.seconds:.1f}s",
        seeded.invariants,
        "close_period (figures, statement, Merkle root, RFC 8785 bytes, Ed25519 signature, stored) "
        f"took {', '.join(f'{s:.2f}s' for s in run_seconds)} (best counted); settle() alone {settle_seconds:.2f}s; "
        f"the raw GROUP BYs {', '.join(f'{s:.2f}s' for s in raw_seconds)}; their figures agree with settle()'s; "
        f"statement of {len(canonical):,} bytes, {len(statement['matrix'])} matrix cells, "
        f"{len(statement['transfers'])} transfers",
    ]
    return Outcome(measure, base, notes, canonical, signed["signature"], keys)


def _agree(figures, raw: dict[str, dict]) -> None:
    """The service's figures and the raw GROUP BYs must say the same, or the comparison means nothing."""
    issued = {k[0]: v for k, v in raw["issued"].items()}
    matrix = {k: v for k, v in raw["matrix"].items()}
    outstanding = {k[0]: v for k, v in raw["outstanding"].items()}
    checks = {
        "issued": ({k: v for k, v in figures.issued.items() if v}, {k: v for k, v in issued.items() if v}),
        "matrix": ({k: v for k, v in figures.matrix.items() if v}, {k: v for k, v in matrix.items() if v}),
        "outstanding": ({k: v for k, v in figures.outstanding.items() if v}, {k: v for k, v in outstanding.items() if v}),
    }
    for name, (service, bare) in checks.items():
        if service != bare:
            raise RuntimeError(f"settle() and the raw SQL disagree on {name}: {service} vs {bare}")


# ---------------------------------------------------------------- signing and verifying

def signing_measures(outcome: Outcome, ops: int, progress: bool) -> list[tuple[str, Measure, Measure]]:
    """(label, KeyRing / verify, bare cryptography) for signing and for verifying the run's canonical bytes."""
    data, keys = outcome.canonical, outcome.keys
    jwks = keys.jwks()
    signature = keys.sign(data)
    verify(data, signature, jwks)
    private = keys._active_private()[1]  # the very key the ring signs with
    public = private.public_key()
    raw_signature = b64url_decode(signature["value"])
    if private.sign(data) != raw_signature:  # Ed25519 is deterministic
        raise RuntimeError("KeyRing.sign and bare cryptography give different signatures")
    run = lambda label, op: load.run(label, ops, [op], max_seconds=60, progress=progress)  # noqa: E731
    bare_sign = run("bare cryptography Ed25519 sign", lambda _i: private.sign(data))
    ring_sign = run("KeyRing.sign", lambda _i: keys.sign(data))
    bare_verify = run("bare cryptography Ed25519 verify", lambda _i: public.verify(raw_signature, data))
    ring_verify = run("settlement.signing.verify (JWK set)", lambda _i: verify(data, signature, jwks))
    size = f"{len(data) / 1024:.1f} KB" if len(data) >= 1024 else f"{len(data)} bytes"
    return [
        (f"statement signing, KeyRing.sign ({size})", ring_sign, bare_sign),
        (f"statement verifying, signing.verify ({size})", ring_verify, bare_verify),
    ]

