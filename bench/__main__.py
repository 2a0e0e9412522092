"""`python -m bench`: earn and redeem throughput on SQLite and PostgreSQL, next to a raw baseline."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import replace
from pathlib import Path

import click

from bench import (
    backends,
    delivery,
    goals,
    imports,
    load,
    over_http,
    pgbench,
    procs,
    raw,
    report,
    seed,
    service,
    settlement,
    tills,
    web,
    world,
)
from bench.report import Row, Target
from bench.settings import Settings
from network.db import Database, make_engine
from network.ledger.invariants import violations
from network.schema import upgrade

CSV_IMPORT = Target("ops/s", 5000)
SETTLEMENT_RUN = Target("ops/s", 100_000)  # postings per second: 1M postings settled in 10 s
SPREAD, HOT = "members spread", "one hot member"
LEGEND = (
    "ratio = ops/s over the raw baseline's ops/s measured in the same run (bare SQLAlchemy Core writing the same rows: "
    "entry, postings, lot, order, running balance; no lock, no lookup, no business logic; for reads, one bare SELECT "
    "of the balances joined from the card). tpc-b ratio = ops/s over pgbench's TPC-B tps (its default script, "
    "8 clients, -j 2, scale 10, as long as a wrk run) measured first in the same run, on a database of its own; the "
    "earn's targets are shares of it, of the spread earn (one hot member; the redemption) on the same path, or "
    "absolute (p99, cpu). driver = what sent the HTTP requests: wrk (bench/wrk.lua, on the clock: --seconds) or "
    "python (bench.web's keep-alive client threads, --ops); the hello-world rows are both drivers' own ceilings. "
    "After each HTTP write run, the orders and journal entries booked under its order ids are counted against its "
    "answers 201 (notes below). Latencies are per operation, client side. cpu ms/op = busy CPU of the "
    "whole machine (all cores: the clients, the hub and the database) per operation, from /proc/stat. "
    "ops marked * were stopped by the time bound of a scenario (--max-seconds) before the count was reached. "
    "Settlement run: one close_period (figures, statement, Merkle root, RFC 8785 bytes, Ed25519 signature, stored) "
    "over a seeded ledger, ops = postings in it (best of 3); its raw baseline is one hand-written GROUP BY per figure "
    "(issued, issuer x redeemer, outstanding) over the same rows, no ORM. Statement signing and verifying: KeyRing.sign "
    "and settlement.signing.verify, 1 client, next to bare cryptography Ed25519 sign and verify of the same bytes. "
    "Webhooks (PostgreSQL): `coalition events deliver` processes (clients = processes x threads) sending to a local "
    "receiver (bench.receiver); p50/p99 are delays from an event's created_at to its receipt, or an attempt's "
    "recorded duration, or kill -> sent again; their references are in the notes below the table."
)


def say(message: str = "", **style) -> None:
    click.secho(message, err=True, **style)


def _postings_label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def run_backend(name: str, url: str, s: Settings, logs: Path, rows: list[Row],
                reference: load.Measure | None = None) -> None:
    """Append this backend's rows to `rows` as they are measured (a failure keeps what was done).

    `reference` is pgbench's TPC-B figure (PostgreSQL): the earn rows show their share of it.
    """
    pg = name == "postgresql"
    tpc_b = reference if pg else None
    engine = make_engine(url)
    try:
        say(f"\n== {name}: migrating a fresh database", bold=True)
        upgrade(engine)
        db = Database(engine)
        scene = world.build(db, partners=s.partners, member_count=s.members, clients=s.clients, progress=s.progress)

        # Earn and redeem through the service layer, each right after its raw baseline.
        raws: dict[tuple[str, bool], load.Measure] = {}
        spread = None
        for op, service_ops, raw_ops in (("earn", service.earn_ops, raw.earn_ops),
                                         ("redeem", service.redeem_ops, raw.redeem_ops)):
            for hot in (False, True):
                scenario, tag = f"{op}, {HOT if hot else SPREAD}", f"{op}-{'hot' if hot else 'spread'}"
                base = load.run(f"{name} raw {scenario}", s.ops,
                                raw_ops(engine, scene, s.clients, hot=hot, tag=f"RAW-{tag}"),
                                max_seconds=s.max_seconds, progress=s.progress)
                measure = load.run(f"{name} service {scenario}", s.ops,
                                   service_ops(db, scene, s.clients, hot=hot, tag=f"SVC-{tag}"),
                                   max_seconds=s.max_seconds, progress=s.progress)
                raws[(op, hot)] = base
                spread = measure if op == "earn" and not hot else spread
                rows.append(Row(name, "service", scenario, measure, raw=base,
                                more_targets=goals.writes("service", op, hot, tpc_b, spread) if pg else [],
                                reference=tpc_b if op == "earn" else None))
                if op == "earn" and not hot and s.processes > 1:
                    rows.append(_in_processes(name, url, scene, s, tpc_b))

        # A CSV export of s.csv_rows sales, imported in chunks (service layer), after its raw insert.
        importer, importer_key = imports.csv_partner(db)
        csv_path = logs / f"{name}-export.csv"
        imports.write_file(csv_path, scene, s.csv_rows, "CSV")
        base = imports.raw_import(engine, scene, importer, csv_path, tag="RAW")
        say(f"   raw insert of the export's rows: {base.rate:,.0f} rows/s")
        measure, note = imports.service_import(db, importer, csv_path)
        say(f"   coalition import of {s.csv_rows:,} rows: {measure.rate:,.0f} rows/s")
        csv_label = f"CSV import, {s.csv_rows // 1000}k rows (ops = rows)"
        rows.append(Row(name, "service", csv_label, measure, raw=base, target=CSV_IMPORT if pg else None,
                        notes=[note]))
        # A till's POSLog in files of 50 transactions, each booked transaction by transaction in one import.
        till_logs = logs / f"{name}-poslog"
        till_logs.mkdir(exist_ok=True)
        paths = tills.write_logs(till_logs, scene, s.poslog_transactions, till=len(rows))
        measure, note = tills.book_logs(db, tills.till_partner(db, f"bench-till-{name}"), paths)
        say(f"   POSLog, {len(paths)} files of {tills.PER_FILE}: {measure.rate:,.0f} transactions/s")
        rows.append(Row(name, "service", f"POSLog files of {tills.PER_FILE} (ops = transactions)", measure, raw=base,
                        notes=[note]))

        # The same over HTTP; then one member with a million postings, and balance reads on it.
        reads: list[Row] = []
        if s.http:
            port = web.free_port()
            with web.hub_server(url, port, logs / f"{name}-hub.log"):
                say(f"   coalition serve on 127.0.0.1:{port} (gunicorn, {web.WORKERS} workers x {web.THREADS} "
                    f"threads), driven by {s.http_driver}")
                hub = over_http.Hub(name, port, db, s, logs)
                key = scene.partners[0].key
                load.run("warm-up", s.clients * 10, web.balance_ops(port, key, scene.members[0].card, s.clients),
                         progress=False)
                spread = None
                for op in ("earn", "redeem"):
                    for hot in (False, True):
                        scenario, tag = f"{op}, {HOT if hot else SPREAD}", f"HTTP-{op}-{'hot' if hot else 'spread'}"
                        measure, notes = hub.write(scenario, op, hot, scene, tag)
                        spread = measure if op == "earn" and not hot else spread
                        rows.append(Row(name, "http", scenario, measure, raw=raws[(op, hot)], notes=notes,
                                        more_targets=goals.writes("http", op, hot, tpc_b, spread) if pg else [],
                                        driver=hub.driver, reference=tpc_b if op == "earn" else None))
                imports.write_file(csv_path, scene, s.csv_rows, "HTTP-CSV")
                measure = imports.http_import(port, importer_key, csv_path)
                say(f"   POST /v1/transactions/batch of {s.csv_rows:,} rows: {measure.rate:,.0f} rows/s")
                rows.append(Row(name, "http", csv_label, measure, raw=base, driver=over_http.PYTHON))
                rows[-1].notes.append(_check_invariants(db))
                card = seed.seed_heavy_member(db, scene.partners[0], s.postings, s.progress)[1]
                reads = _reads(name, "http", lambda label, n: hub.read(label, key, card, n), engine, card, s, pg,
                               driver=hub.driver)
        else:
            rows[-1].notes.append(_check_invariants(db))
            card = seed.seed_heavy_member(db, scene.partners[0], s.postings, s.progress)[1]
        service_reads = _reads(name, "service", lambda label, n: load.run(
            label, s.reads, service.balance_ops(db, card, n), max_seconds=s.max_seconds, progress=s.progress),
            engine, card, s, pg)
        rows.extend(service_reads + reads)
    finally:
        engine.dispose()


def run_pgbench(admin_url: str, s: Settings, logs: Path, rows: list[Row]) -> load.Measure | None:
    """pgbench's TPC-B rate on this server, first: the reference of the earn on PostgreSQL (bench.pgbench)."""
    if pgbench.command() is None:
        say(f"pgbench is not installed ({pgbench.INSTALL}): no TPC-B reference, the earn's targets fall back to "
            "absolute rates.", fg="yellow", bold=True)
        return None
    say(f"\n== postgresql: pgbench TPC-B reference (scale {pgbench.SCALE}, {s.clients} clients, -j 2, "
        f"{s.seconds:g} s), on a database of its own", bold=True)
    measure = pgbench.measure(admin_url, clients=s.clients, seconds=s.seconds, folder=logs)
    say(f"   pgbench: {measure.rate:,.0f} tps, p99 {measure.p99 or 0:.1f} ms")
    rows.append(Row("postgresql", "pgbench", f"TPC-B, default script, scale {pgbench.SCALE} (reference)", measure,
                    driver="pgbench"))
    return measure


def run_settlement(name: str, url: str, s: Settings, keys: Path, rows: list[Row]) -> settlement.Outcome:
    """A close_period over a ledger of s.settlement_postings postings, on a database of its own, after its raw GROUP BYs."""
    engine = make_engine(url)
    try:
        say(f"\n== {name}: settlement run over {s.settlement_postings:,} postings, on a fresh database", bold=True)
        upgrade(engine)
        db = Database(engine)
        seeded = settlement.seed(db, s.settlement_postings, s.progress)
        say(f"   seeded {seeded.postings:,} postings in {seeded.seconds:.1f}s")
        outcome = settlement.measure_run(db, seeded, keys)
        say(f"   close_period: {outcome.run.seconds:.2f}s ({outcome.run.rate:,.0f} postings/s); "
            f"raw GROUP BYs: {outcome.raw.seconds:.2f}s")
        label = f"settlement run, {_postings_label(s.settlement_postings)} postings (ops = postings)"
        rows.append(Row(name, "service", label, outcome.run, raw=outcome.raw,
                        target=SETTLEMENT_RUN if name == "postgresql" else None, notes=outcome.notes))
        return outcome
    finally:
        engine.dispose()


def run_signing(outcome: settlement.Outcome, s: Settings) -> list[Row]:
    """Signing and verifying the last run's statement, next to bare cryptography (no database: once per run)."""
    say("\n== statement signing and verifying (KeyRing, settlement.signing.verify; bare cryptography)", bold=True)
    return [Row("-", "service", label, measure, raw=bare)
            for label, measure, bare in settlement.signing_measures(outcome, s.ops, s.progress)]


def _reads(name: str, path: str, measure, engine, card: str, s: Settings, pg: bool, driver: str | None = None
           ) -> list[Row]:
    """Balance reads on the heavy member by 1 client (the latency target) and by all clients, each after its raw read.

    `measure(label, clients)` measures the reads on `path`.
    """
    label = f"balance read, {_postings_label(s.postings)} postings on member"
    out = []
    for clients in (1, s.clients):
        base = load.run(f"{name} raw read x{clients}", s.reads, raw.read_ops(engine, card, clients),
                        max_seconds=s.max_seconds, progress=s.progress)
        m = measure(f"{name} {path} read x{clients}", clients)
        out.append(Row(name, path, label, m, raw=base, target=goals.balance_read(path) if pg and clients == 1 else None,
                       driver=driver))
    return out


def _in_processes(name: str, url: str, scene: world.World, s: Settings, tpc_b: load.Measure | None) -> Row:
    """Earn, members spread, with the clients split over processes (the GIL binds one process to one core)."""
    threads = max(1, s.clients // s.processes)
    layout = f"{s.processes}x{threads}"
    common = dict(op="earn", hot=False, total=s.ops, processes=s.processes, threads=threads,
                  max_seconds=s.max_seconds, progress=s.progress)
    base = procs.run(f"{name} raw earn, {layout} processes x threads", url, scene, path="raw",
                     tag=f"RAW-P-{layout}", **common)
    measure = procs.run(f"{name} service earn, {layout} processes x threads", url, scene, path="service",
                        tag=f"SVC-P-{layout}", **common)
    return Row(name, "service", f"earn, {SPREAD}, {s.processes} processes", measure, raw=base,
               more_targets=goals.earn_spread("service", tpc_b) if name == "postgresql" else [], clients=layout,
               reference=tpc_b)


def _check_invariants(db: Database) -> str:
    started = time.perf_counter()
    with db.session() as session:
        broken = violations(session)
    took = time.perf_counter() - started
    if broken:
        say(f"   ledger invariants BROKEN after the concurrent writes: {broken[:5]}", fg="red", bold=True)
        return f"ledger invariants BROKEN: {len(broken)} violation(s), e.g. {broken[0]}"
    say(f"   ledger invariants hold after the concurrent writes (checked in {took:.1f}s)", fg="green")
    return "ledger invariants hold after all the concurrent writes"


def run_hello(s: Settings, logs: Path) -> list[Row]:
    say("\n== gunicorn hello-world (HTTP ceiling: no app, no database; and the Python client's own)", bold=True)
    label = f"gunicorn hello-world, {web.WORKERS} workers x {web.THREADS} threads"
    return [Row("-", "http", label, measure, driver=driver) for driver, measure in over_http.hello(s, logs)]


def run_delivery(url: str, s: Settings, logs: Path, rows: list[Row]) -> None:
    """Webhook delivery against a local receiver, each scenario on a database of its own (bench.delivery)."""
    quick = s.delivery_events < 1000
    delivery.run(url, delivery.Settings(events=s.delivery_events, backlog=50 if quick else 300,
                                        progress=s.progress), logs, rows)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True,
              help="A small smoke run (200 ops, 3 s wrk and pgbench runs, 50 members, 20k postings, 50k settlement "
                   "postings, 300 webhook events).")
@click.option("--only", type=click.Choice(["sqlite", "postgres", "delivery"]), default=None,
              help="One backend only, or only the webhook delivery scenario (PostgreSQL).")
@click.option("--postgres-url", default=backends.DEFAULT_POSTGRES_URL, show_default=True,
              help="A server to create (and drop) a bench database on; env COALITION_BENCH_POSTGRES_URL.")
@click.option("--clients", default=8, show_default=True, help="Concurrent clients.")
@click.option("--ops", type=int, default=None, help="Operations per scenario [default: 2000].")
@click.option("--members", type=int, default=None, help="Members in the spread scenarios [default: 1000].")
@click.option("--postings", type=int, default=None, help="Postings on the heavy member [default: 1000000].")
@click.option("--reads", type=int, default=None, help="Balance reads per read scenario [default: 1000].")
@click.option("--max-seconds", default=20.0, show_default=True, help="Time bound of one scenario.")
@click.option("--seconds", type=click.IntRange(min=1), default=None,
              help="Length of each wrk run and of the pgbench run [default: 15].")
@click.option("--http-driver", type=click.Choice(["wrk", "python"]), default="wrk", show_default=True,
              help="What sends the HTTP scenarios' requests (python: bench.web's client; also when wrk is missing).")
@click.option("--pgbench/--no-pgbench", "use_pgbench", default=True, show_default=True,
              help="Measure pgbench's TPC-B rate first, the reference of the earn on PostgreSQL.")
@click.option("--processes", default=2, show_default=True,
              help="Also run the service-layer earn with the clients split over this many processes (0: don't).")
@click.option("--csv-rows", type=int, default=None, help="Rows of the CSV export imported [default: 100000].")
@click.option("--settlement-postings", type=int, default=None,
              help="Postings in the ledger a settlement run closes [default: 1000000; 0: no settlement run].")
@click.option("--http/--no-http", default=True, show_default=True, help="Also measure over HTTP (gunicorn).")
@click.option("--delivery-events", type=int, default=None,
              help="Events in the webhook delivery drain, on PostgreSQL [default: 10000; 0: no delivery scenario].")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table and the machine as Markdown to this file.")
def main(quick, only, postgres_url, clients, ops, members, postings, reads, max_seconds, seconds, http_driver,
         use_pgbench, processes, csv_rows, settlement_postings, http, delivery_events, markdown) -> None:
    """Measure earn and redeem throughput on SQLite and PostgreSQL.

    Through the service layer (8 clients, members spread and one hot member)
    and over HTTP (gunicorn, driven by wrk), each next to a raw baseline
    measured in the same run (the same rows inserted with bare SQLAlchemy
    Core) and, on PostgreSQL, to pgbench's TPC-B rate on the same server; and
    balance-read latency on a member with a million postings; a settlement
    run over a ledger of a million postings next to a raw SQL aggregation of
    the same rows, and statement signing and verifying next to bare
    cryptography; webhook delivery by `coalition events deliver` processes to
    a local receiver (drain, a slow partner, deadline, kill, lost events).
    """
    s = Settings(
        clients=clients,
        ops=ops or (200 if quick else 2000),
        members=members or (50 if quick else 1000),
        partners=4,
        postings=postings or (20_000 if quick else 1_000_000),
        reads=reads or (200 if quick else 1000),
        max_seconds=max_seconds,
        processes=processes,
        http=http,
        progress=True,
        csv_rows=csv_rows or (10_000 if quick else 100_000),
        poslog_transactions=1_000 if quick else 5_000,
        settlement_postings=(settlement_postings if settlement_postings is not None
                             else 50_000 if quick else 1_000_000),
        delivery_events=delivery_events if delivery_events is not None else 300 if quick else 10_000,
        seconds=seconds or (3 if quick else 15),
        http_driver=http_driver,
        pgbench=use_pgbench,
    )
    if http and only != "delivery":
        s = replace(s, http_driver=over_http.choose_driver(s.http_driver))
    started, load_before, cpu_before = time.perf_counter(), report.load_average(), load.cpu_times()
    code_before = report.code_version()
    if os.getloadavg()[0] > 0.5:
        say(f"Load average is {load_before} before the run: other work on this machine will lower the figures.",
            fg="yellow")
    todo: list[tuple[str, object]] = []
    pg_version = None
    if only in (None, "sqlite"):
        todo.append(("sqlite", backends.sqlite_database))
    if only in (None, "postgres", "delivery"):
        problem = backends.postgres_problem(postgres_url)
        if problem is None:
            pg_version = backends.postgres_version(postgres_url)
            if only != "delivery":
                todo.append(("postgresql", lambda: backends.postgres_database(postgres_url)))
        else:
            say(f"PostgreSQL is not reachable at {postgres_url}: {problem}", fg="yellow", bold=True)
            if only in ("postgres", "delivery"):
                sys.exit(1)
            say("Running SQLite only.", fg="yellow")
    failed = False
    rows: list[Row] = []
    logs = Path(tempfile.mkdtemp(prefix="coalition_bench_logs_"))
    settled: settlement.Outcome | None = None
    keys = Path(tempfile.mkdtemp(prefix="coalition_bench_keys_")) / "settlement-keys"  # the hub's signing keys
    try:
        for name, database in todo:
            reference = None
            if name == "postgresql" and s.pgbench:
                try:
                    reference = run_pgbench(postgres_url, s, logs, rows)
                except Exception:
                    failed = True
                    say("\npostgresql: pgbench failed (no TPC-B reference)", fg="red", bold=True)
                    say(traceback.format_exc())
            try:
                with database() as url:
                    run_backend(name, url, s, logs, rows, reference)
            except Exception:
                failed = True
                say(f"\n{name}: the bench failed", fg="red", bold=True)
                say(traceback.format_exc())
            if s.settlement_postings:
                try:
                    with database() as url:
                        settled = run_settlement(name, url, s, keys, rows)
                except Exception:
                    failed = True
                    say(f"\n{name}: the settlement bench failed", fg="red", bold=True)
                    say(traceback.format_exc())
        if pg_version is not None and s.delivery_events:
            try:
                run_delivery(postgres_url, s, logs, rows)
            except Exception:
                failed = True
                say("\npostgresql: the delivery bench failed", fg="red", bold=True)
                say(traceback.format_exc())
        if settled is not None:
            try:
                rows.extend(run_signing(settled, s))
            except Exception:
                failed = True
                say("statement signing bench failed", fg="red", bold=True)
                say(traceback.format_exc())
        if http and only != "delivery":
            try:
                rows.extend(run_hello(s, logs))
            except Exception:
                failed = True
                say("hello-world baseline failed", fg="red", bold=True)
                say(traceback.format_exc())
    finally:
        shutil.rmtree(keys.parent, ignore_errors=True)
        if not failed:
            shutil.rmtree(logs, ignore_errors=True)
        else:
            say(f"server logs kept in {logs}")
    elapsed = time.perf_counter() - started
    steal = report.steal_share(cpu_before, load.cpu_times())

    click.echo()
    click.echo(report.text_table(rows))
    click.echo()
    click.echo(textwrap.fill(LEGEND, 120))
    wrk_runs = f", {s.seconds:g} s per wrk run" if s.http_driver == over_http.WRK else ""
    click.echo(f"{s.clients} clients, {s.ops} ops per scenario (Python client){wrk_runs}; targets apply to PostgreSQL. "
               f"Took {elapsed:.0f}s; CPU stolen by the hypervisor: {steal}.")
    for row in rows:
        for note in row.notes:
            click.echo(f"{row.backend}: {note}")
        if row.measure.errors:
            click.echo(f"{row.backend} {row.path} {row.scenario}: {row.measure.errors} errors, e.g. "
                       f"{row.measure.error_samples[:2]}")
    for row in rows:
        for target in row.targets:
            if not target.met(row.measure):
                click.secho(f"target missed: {row.backend} {row.path} {row.scenario}: {target}", fg="red")
    if markdown is not None:
        machine = {**report.machine(pg_version, load_before), "CPU steal during the run (hypervisor)": steal}
        code_after = report.code_version()
        machine["code"] = code_before if code_after == code_before else (
            f"{code_before} at the start, {code_after} at the end (the hub's code changed during the run)")
        write_markdown(markdown, rows, s, machine, elapsed, sys.argv[1:])
        click.echo(f"wrote {markdown}")
    if failed:
        sys.exit(1)


def write_markdown(path: Path, rows: list[Row], s: Settings, machine: dict, elapsed: float, argv: list[str]) -> None:
    lines = ["## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    lines += ["", "## Command", "", "```", " ".join(["python -m bench", *argv]), "```", "",
              f"{s.clients} clients, {s.ops} operations per scenario (Python client), {s.seconds:g} s per wrk and "
              f"pgbench run, {s.members} members in the spread scenarios, "
              f"{s.postings:,} postings on the heavy member, {s.reads} reads per read scenario, "
              f"{s.settlement_postings:,} postings in the settlement ledger, {s.delivery_events:,} events in the "
              f"webhook drain; took {elapsed:.0f}s.",
              "", "## Results", "", report.markdown_table(rows), "", LEGEND, ""]
    notes = [f"- {r.backend}: {n}" for r in rows for n in r.notes]
    notes += [f"- {r.backend} {r.path} {r.scenario}: {r.measure.errors} errors, e.g. {r.measure.error_samples[:2]}"
              for r in rows if r.measure.errors]
    if notes:
        lines += notes + [""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
