"""Postings and lot movements by month of booking: made ahead, filled from the default, and a month's close reads its own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, inspect, text

from network.ledger import partitions
from network.schema import downgrade, upgrade
from settlement.figures import outstanding
from settlement.statement import NETWORK_SLUG
from tests.support.holds import hold
from tests.support.metrics import scrape, value


def close(hub, end: datetime) -> dict:
    answer = hub.call("POST", "/v1/settlement/runs", json={"end": end.isoformat()})
    assert answer.status_code == 201, answer.json
    return answer.json["statement"]


def month_activity(world, n: int) -> None:
    """Sales at both partners, a spend across them, a refund, and a hold left open: every kind outstanding counts."""
    hub = world.hub
    hub.sale(world.coffee, world.card, "40.00", order=f"C-{n}")
    hub.sale(world.grocer, world.card, "25.00", order=f"G-{n}")
    assert hub.redeem(world.grocer, world.card, 30).status_code == 201
    assert hub.refund(world.coffee, f"C-{n}", "10.00", order=f"R-{n}").status_code == 201
    assert hold(hub, world.coffee, world.card, 4, f"H-{n}").status_code == 201


def test_each_close_rolls_the_outstanding_forward_to_what_the_whole_history_sums_to(world, clock, database):
    """A statement's outstanding is the last one's plus the period's own movements: it must equal the full sum."""
    slugs = {"network": None}
    for n in range(3):
        month_activity(world, n)
        clock.advance(days=31)
        statement = close(world.hub, clock.now - timedelta(minutes=5))
        with database.session() as session:
            if n == 0:
                slugs |= dict(session.execute(text("SELECT slug, id FROM partners")).all())
            whole = outstanding(session, clock.now - timedelta(minutes=5))
        held = {section["partner"]: section["outstanding"] for section in statement["partners"]}
        assert held == {slug: whole.get(party, 0) for slug, party in slugs.items()}
        assert held[NETWORK_SLUG] == 0 and sum(held.values()) > 0
    # What the network owes is what its one member holds, the open holds included.
    balance = world.hub.balance(world.card)
    assert sum(held.values()) == balance["available"] + balance["pending"] + balance["held"] == 150


def _relations(plan: dict) -> set[str]:
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", ()):
        found |= _relations(child)
    return found


@pytest.mark.postgres_only
def test_closing_a_month_reads_only_that_months_partitions(world, clock, database):
    start = partitions.month_of(clock.now)  # 2026-03
    with database.engine.begin() as connection:
        partitions.ensure(connection, now=clock.now, since=start)
    month_activity(world, 0)
    clock.now = datetime(2026, 4, 10, 12, 0, tzinfo=timezone.utc)
    month_activity(world, 1)
    close(world.hub, datetime(2026, 4, 1, tzinfo=timezone.utc))
    clock.now = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)
    month_activity(world, 2)

    sent: list[tuple[str, dict]] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "lot_movements" in statement:
            sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", watch)
    try:
        april = close(world.hub, datetime(2026, 5, 1, tzinfo=timezone.utc))
    finally:
        event.remove(database.engine, "before_cursor_execute", watch)
    assert april["period"] == {"start": "2026-04-01T00:00:00Z", "end": "2026-05-01T00:00:00Z"}
    # One statement reads the month's movements for the claw-backs, the spends, the breakage and the outstanding.
    assert len(sent) == 1
    with database.engine.connect() as connection:
        for statement, parameters in sent:
            (plan,) = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
            read = {name for name in _relations(plan["Plan"]) if name.startswith(partitions.TABLES)}
            assert read == {"lot_movements_2026_04"}, (statement, read)
    # What was booked in April is in April's partitions, and nothing waits in a default.
    with database.engine.connect() as connection:
        counts = {name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                  for name in ("postings_2026_04", "lot_movements_2026_04", "postings_default", "lot_movements_default")}
    assert counts["postings_2026_04"] > 0 and counts["lot_movements_2026_04"] > 0
    assert counts["postings_default"] == counts["lot_movements_default"] == 0


@pytest.mark.postgres_only
def test_a_month_nobody_made_waits_in_the_default_until_coalition_db_partitions_makes_it(world, clock, database, runner):
    clock.now = datetime(2031, 1, 20, 9, 0, tzinfo=timezone.utc)  # years past the months the migration made
    sold = world.hub.sale(world.coffee, world.card, "40.00", order="LATE-1", occurred_at="2031-01-20T08:00:00Z")
    assert sold.status_code == 201, sold.json
    assert world.hub.redeem(world.grocer, world.card, 15).status_code == 201

    def rows(connection, name):
        return connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()

    with database.engine.connect() as connection:
        assert rows(connection, "postings_default") == 4 and rows(connection, "lot_movements_default") == 1
        total = connection.execute(text("SELECT sum(amount), count(*) FROM postings")).one()
    result = runner.invoke(["db", "partitions", "--ahead", "1"])
    assert result.exit_code == 0, result.output
    made = [line.split()[1] for line in result.output.splitlines() if line.startswith("made ")]
    assert made == ["postings_2031_01", "postings_2031_02", "lot_movements_2031_01", "lot_movements_2031_02"]
    assert "postings_2031_01" in result.output and "default" in result.output
    with database.engine.connect() as connection:
        assert rows(connection, "postings_default") == 0 and rows(connection, "lot_movements_default") == 0
        assert rows(connection, "postings_2031_01") == 4 and rows(connection, "lot_movements_2031_01") == 1
        assert connection.execute(text("SELECT sum(amount), count(*) FROM postings")).one() == total
    assert world.hub.balance(world.card)["available"] == 25
    again = runner.invoke(["db", "partitions", "--ahead", "1"])
    assert again.exit_code == 0 and "made " not in again.output


def test_the_migration_made_each_month_from_the_first_booked_to_three_ahead_and_sqlite_none(backend, runner, database):
    result = runner.invoke(["db", "partitions", "--ahead", "0"])
    assert result.exit_code == 0, result.output
    with database.engine.connect() as connection:
        listed = partitions.listing(connection)
    if backend == "sqlite":
        assert result.output == "sqlite: postings and lot movements are one table each; nothing to make\n"
        assert listed == []
        return
    names = {p.name for p in listed}
    now = partitions.month_of(datetime.now(timezone.utc))
    for table in partitions.TABLES:
        for ahead in range(partitions.MONTHS_AHEAD + 1):
            assert partitions.partition_name(table, partitions.add_months(now, ahead)) in names
            assert partitions.partition_name(table, partitions.add_months(now, ahead)) in result.output
        assert f"{table}_default" in names
    assert all(partitions.is_partition(name) for name in names)


def test_metrics_say_how_far_the_partitions_reach_and_what_waits_for_one(backend, world, clock, database, hub):
    clock.now = datetime(2044, 1, 10, 9, 0, tzinfo=timezone.utc)  # a month nobody made
    assert hub.sale(world.coffee, world.card, "40.00", occurred_at="2044-01-10T08:00:00Z").status_code == 201
    found = scrape(hub.client)
    if backend == "sqlite":
        assert not [key for key in found if key[0].startswith("coalition_ledger_")]
        return
    assert value(found, "coalition_ledger_partition_months_ahead") == -1
    assert value(found, "coalition_ledger_rows_awaiting_partition") == 2  # the sale's two postings
    with database.engine.begin() as connection:
        partitions.ensure(connection, now=clock.now, ahead=2)
    found = scrape(hub.client)
    assert value(found, "coalition_ledger_partition_months_ahead") == 2
    assert value(found, "coalition_ledger_rows_awaiting_partition") == 0


def test_migration_0018_keeps_every_row_on_the_way_down_and_up_again(world, database):
    """The upgrade rewrites both tables into their months (PostgreSQL) or adds the columns (SQLite); the downgrade undoes
    it, on a database that holds a ledger (`network.schema.downgrade`)."""
    world.hub.sale(world.coffee, world.card, "40.00")
    assert world.hub.redeem(world.grocer, world.card, 15).status_code == 201

    def rows():
        with database.engine.connect() as connection:
            return [connection.execute(text(f"SELECT count(*), sum({column}) FROM {table}")).one()
                    for table, column in (("postings", "amount"), ("lot_movements", "points"))]

    before = rows()
    assert before[0][0] == 4 and before[1][0] == 1
    downgrade(database.engine, "0017")
    try:
        assert rows() == before
        with database.engine.connect() as connection:
            for table in ("postings", "lot_movements"):
                assert "booked_at" not in {column["name"] for column in inspect(connection).get_columns(table)}
            assert not partitions.partitioned(connection, "postings")
    finally:
        upgrade(database.engine)
    assert rows() == before  # and the fixture's ledger check finds each row booked with its entry
    with database.engine.connect() as connection:
        assert partitions.partitioned(connection, "lot_movements") == (database.engine.dialect.name == "postgresql")
