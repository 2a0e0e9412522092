"""The scale run: the earn, the balance read and a month's settlement on a big ledger, beside the same on a small one.

`python -m bench.scale` (PostgreSQL; not in CI: the big ledger takes minutes
to seed). Each ledger is seeded inside the database by bench.settlement's
seeder (partners with contract versions, members with their three accounts,
sales, redemptions, reversals, refunds; every invariant checked after), with
`--members` members and `--postings` postings for the big one, 1,000 and
1,000,000 for the small. On top of each, 1,000 live members enrolled by the
hub's own functions (cards, accounts) take the earns and the balance reads,
so what is measured is the hub's work on tables of that size:

- the earn through the service layer, 8 clients, members spread;
- the balance read of one live member, 1 client, p50/p99;
- `settle()` over the last whole calendar month of the seeded ledger (a
  month's statement figures, from the outstanding points it opened with, as
  a close rolls them forward), with the postings that month holds.

What it should show: the balance read growing no faster than log n (an
index descent per table), the earn flat, and a month's settlement growing
with the month's postings, not with the ledger's.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import click
from sqlalchemy import func, select, text

from analytics.lifetime import averages
from analytics.programme import assemble, parts, programme
from analytics.returns_on_points import returns
from analytics.value import fit_value_model, predicted
from analytics.window import Window
from bench import backends, load, service, settlement, world
from bench.report import Row, text_table
from network.clock import utc_now
from network.db import Database, make_engine
from network.ledger import partitions
from network.models import JournalEntry, Member, Posting
from network.schema import upgrade
from settlement import runs
from settlement.figures import Opening, Period, outstanding, settle

SMALL = (1_000, 1_000_000)
CLIENTS, LIVE_MEMBERS = 8, 1_000


@dataclass(frozen=True)
class Ledger:
    members: int
    postings: int

    @property
    def label(self) -> str:
        return f"{self.members:,} members, {self.postings / 1e6:g}M postings"


def last_whole_month(end: datetime) -> Period:
    """The calendar month before `end`'s (UTC): what a monthly close settles, one partition on PostgreSQL."""
    this = partitions.month_of(end)
    start = partitions.add_months(this, -1)
    return Period(datetime(start.year, start.month, 1, tzinfo=timezone.utc),
                  datetime(this.year, this.month, 1, tzinfo=timezone.utc))


def measure(admin_url: str, ledger: Ledger, ops: int, reads: int, progress: bool) -> tuple[list[Row], list[str]]:
    rows, notes = [], []
    with backends.postgres_database(admin_url) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            db = Database(engine)
            started = time.perf_counter()
            seeded = settlement.seed(db, ledger.postings, progress, members=ledger.members)
            notes.append(f"{ledger.label}: seeded {seeded.postings:,} postings, {seeded.entries:,} entries, "
                         f"{seeded.members:,} members in {time.perf_counter() - started:.0f} s; {seeded.invariants}")
            scene = world.build(db, partners=3, member_count=LIVE_MEMBERS, clients=CLIENTS, progress=False)
            earn = load.run(f"earn on {ledger.label}", ops, service.earn_ops(db, scene, CLIENTS, hot=False,
                                                                             tag="SCALE"), progress=progress)
            rows.append(Row("postgresql", "service", f"earn, spread, on {ledger.label}", earn))
            read = load.run(f"balance read on {ledger.label}", reads,
                            service.balance_ops(db, scene.members[0].card, 1), progress=progress)
            rows.append(Row("postgresql", "service", f"balance read, on {ledger.label}", read))
            month = last_whole_month(seeded.period.end)
            with db.session() as session:
                in_month = session.scalar(select(func.count()).select_from(Posting).where(
                    Posting.booked_at >= month.start, Posting.booked_at < month.end))
                # As a close does: the outstanding the month starts from is the last statement's.
                opening = Opening(month.start, outstanding(session, month.start))
            settled = []
            for _ in range(3):
                with db.session() as session:
                    begun = time.perf_counter()
                    settle(session, month, settlement.CURRENCY, opening=opening)
                    settled.append(time.perf_counter() - begun)
            best = min(settled)
            rows.append(Row("postgresql", "service", f"a month's settle(), on {ledger.label} (ops = its postings)",
                            load.Measure(in_month, 0, best, [best], [], 1, in_month)))
            notes.append(f"{ledger.label}: {month.start:%B %Y} holds {in_month:,} postings; settle() over it took "
                         f"{', '.join(f'{s:.2f} s' for s in settled)} (best counted)")
            rows.append(_report(db, month, ledger, in_month, notes))
            _value(db, month, ledger, notes)
        finally:
            engine.dispose()
    return rows, notes


def _report(db: Database, month: Period, ledger: Ledger, in_month: int, notes: list[str]) -> Row:
    """The month's programme report (GET /v1/analytics/programme's work), after the months before it were closed.

    A statement ending at the month's start is stored first, as a monthly
    close leaves one: the report's outstanding starts from it.
    """
    with db.session() as session, session.begin():
        runs.close_period(session, end=month.start, now=utc_now(), grace=timedelta(0), currency=settlement.CURRENCY,
                          network="bench", sign=lambda data: {"alg": "none"})  # set-up: the bench verifies nothing
    took = []
    for _ in range(3):
        with db.session() as session:
            begun = time.perf_counter()
            programme(session, Window(month.start, month.end))
            took.append(time.perf_counter() - begun)
    notes.append(f"{ledger.label}: the {month.start:%B %Y} programme report took "
                 f"{', '.join(f'{s:.2f} s' for s in took)} one part after another")
    window = Window(month.start, month.end)
    took = []
    for _ in range(3):
        begun = time.perf_counter()
        assemble(window, None, db.lagging_reads(parts(window)))
        took.append(time.perf_counter() - begun)
    notes.append(f"{ledger.label}: the same report as the API reads it, its parts side by side, took "
                 f"{', '.join(f'{s:.2f} s' for s in took)} (best counted)")
    best = min(took)
    return Row("postgresql", "service", f"a month's programme report, on {ledger.label} (ops = its postings)",
               load.Measure(in_month, 0, best, [best], [], 1, in_month))


def _value(db: Database, month: Period, ledger: Ledger, notes: list[str]) -> None:
    """The money side of the analytics on the same ledger: the value models' fit, members' value, the return.

    The seeder writes no orders, so first each seeded earn gets the order a
    till would have sent (1 euro a point, and some cents), as one INSERT and
    one UPDATE: the fit, the averages and the return read orders.
    """
    with db.session() as session, session.begin():
        base = {"base": session.scalar(text("SELECT coalesce(max(id), 0) FROM orders"))}  # past the live members' own
        session.execute(text(
            "INSERT INTO orders (id, partner_id, kind, order_id, member_id, currency, total_minor, points, occurred_at, "
            "booked_at) SELECT e.id + :base, e.partner_id, 'sale', 'SEED-' || e.id, e.member_id, 'EUR', "
            "p.amount * 100 + e.id % 100, p.amount, e.booked_at, e.booked_at FROM journal_entries e "
            "JOIN postings p ON p.entry_id = e.id AND p.amount > 0 WHERE e.kind = 'earn' AND e.order_id IS NULL"), base)
        session.execute(text("UPDATE journal_entries SET order_id = id + :base WHERE kind = 'earn' AND order_id IS NULL"),
                        base)
        session.execute(text("SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders))"))
    with db.session() as session:
        session.execute(text("ANALYZE orders"))
        session.execute(text("ANALYZE journal_entries"))
        session.commit()
    window = Window(month.start, month.end)
    timed = {}
    for name, work in (
            ("the value models' fit (coalition analytics fit)",
             lambda s: fit_value_model(s, "EUR", month.end, utc_now())),
            ("members' value by enrolling partner (GET /v1/analytics/lifetime)", lambda s: averages(s, month.end, "partner")),
            ("the month's return per partner (GET /v1/analytics/returns)", lambda s: returns(s, window, settlement.CURRENCY, utc_now())),
    ):
        with db.session() as session:
            begun = time.perf_counter()
            work(session)
            timed[name] = time.perf_counter() - begun
            session.commit()
    with db.session() as session:
        someone = session.scalar(select(Member.id).where(Member.id.in_(
            select(JournalEntry.member_id).where(JournalEntry.kind == "earn").limit(1))))
        begun = time.perf_counter()
        predicted(session, someone, month.end)
        timed["one member's predicted value (GET /v1/analytics/members/<id>)"] = time.perf_counter() - begun
    for name, took in timed.items():
        notes.append(f"{ledger.label}: {name} took {took:.2f} s")


@click.command()
@click.option("--members", default=1_000_000, show_default=True, help="members in the big ledger")
@click.option("--postings", default=20_000_000, show_default=True, help="postings in the big ledger")
@click.option("--ops", default=2_000, show_default=True, help="earns on each ledger")
@click.option("--reads", default=2_000, show_default=True, help="balance reads on each ledger")
@click.option("--admin-url", default=backends.DEFAULT_POSTGRES_URL, show_default=True)
@click.option("--progress/--no-progress", default=sys.stderr.isatty())
def main(members: int, postings: int, ops: int, reads: int, admin_url: str, progress: bool) -> None:
    """The earn, the balance read and a month's settlement on a small ledger and on a big one."""
    problem = backends.postgres_problem(admin_url)
    if problem:
        raise click.ClickException(f"PostgreSQL is needed: {problem}")
    rows, notes = [], []
    for ledger in (Ledger(*SMALL), Ledger(members, postings)):
        click.secho(f"\n== {ledger.label} ({utc_now():%H:%M:%S})", bold=True, err=True)
        more, said = measure(admin_url, ledger, ops, reads, progress)
        rows += more
        notes += said
    click.echo(text_table(rows))
    for note in notes:
        click.echo(note)


if __name__ == "__main__":
    main()
