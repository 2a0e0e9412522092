"""Deadlocks and serialisation failures are retried a bounded number of times, then 503."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from network.errors import Unavailable


class Orig(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def failing(times, error):
    calls = []

    def work(session):
        calls.append(1)
        session.execute(text("SELECT 1"))
        if len(calls) <= times:
            raise error
        return "done"

    return work, calls


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_is_retried_and_then_succeeds(database, sqlstate):
    work, calls = failing(2, OperationalError("UPDATE", {}, Orig(sqlstate)))
    assert database.transact(work) == "done"
    assert len(calls) == 3


def test_a_ledger_that_stays_busy_answers_unavailable(database):
    work, calls = failing(100, OperationalError("UPDATE", {}, Orig("40P01")))
    with pytest.raises(Unavailable):
        database.transact(work, attempts=4)
    assert len(calls) == 4


def test_other_database_errors_are_not_retried(database):
    work, calls = failing(100, OperationalError("UPDATE", {}, Orig("53300")))
    with pytest.raises(OperationalError):
        database.transact(work)
    assert len(calls) == 1


def test_a_unique_key_race_is_retried_once(database):
    work, calls = failing(100, IntegrityError("INSERT", {}, Orig("23505")))
    with pytest.raises(IntegrityError):
        database.transact(work)
    assert len(calls) == 2


def kill_pooled_connections(database) -> None:
    """What a server restart or a failover does to the connections a pool keeps."""
    outside = create_engine(database.engine.url, poolclass=NullPool)
    with outside.connect() as admin:
        killed = admin.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).scalar()
    outside.dispose()
    assert killed >= 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_connection_killed_under_the_pool_is_replaced_not_failed(world, database):
    world.hub.sale(world.coffee, world.card, "10.00")
    kill_pooled_connections(database)
    assert world.hub.balance(world.card)["available"] == 10
    assert world.hub.redeem(world.grocer, world.card, 4).status_code == 201
    kill_pooled_connections(database)
    assert database.transact(lambda session: session.execute(text("SELECT 1")).scalar()) == 1
