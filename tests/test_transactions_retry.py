"""Deadlocks and serialisation failures are retried a bounded number of times, then 503."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

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
