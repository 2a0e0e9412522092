"""`coalition ledger check` finds a broken ledger and names the broken invariant."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select, update

from network.ledger.invariants import CHECKS, check
from network.models import Account, Debt, JournalEntry, Lot, Posting


def test_a_healthy_ledger_passes(world, runner):
    world.hub.sale(world.coffee, world.card, "10.00")
    world.hub.redeem(world.grocer, world.card, 4)
    result = runner.invoke(["ledger", "check"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    assert result.output.count("ok ") == len(CHECKS)


def _break_balance(session):
    session.execute(update(Account).where(Account.kind == "available").values(balance=Account.balance + 1))


def _break_entry(session):
    entry = session.scalar(select(JournalEntry.id))
    account = session.scalar(select(Account.id).where(Account.kind == "issuance"))
    session.execute(insert(Posting).values(entry_id=entry, account_id=account, amount=-3))


def _break_lot(session):
    session.execute(update(Lot).values(remaining=Lot.remaining - 1))


def _break_debt(session):
    """A debt that no refund posted to the member's owed account."""
    entry = session.execute(select(JournalEntry.id, JournalEntry.member_id, JournalEntry.partner_id)).first()
    session.execute(insert(Debt).values(member_id=entry.member_id, partner_id=entry.partner_id, entry_id=entry.id,
                                        points=5, remaining=5, created_at=datetime.now(timezone.utc)))


@pytest.mark.parametrize(
    ("corrupt", "broken"),
    [
        (_break_balance, {"member balances equal their postings", "available and pending balances equal their lots"}),
        (_break_entry, {"every entry sums to zero", "all postings sum to zero", "partner issuance equals its lots less refunds"}),
        (_break_lot, {"available and pending balances equal their lots", "lots equal their movements"}),
        (_break_debt, {"owed balances equal open debts"}),
    ],
)
def test_a_corrupted_ledger_fails_naming_the_invariant(world, database, runner, corrupt, broken):
    world.hub.sale(world.coffee, world.card, "10.00")
    with database.session() as session:
        corrupt(session)
        session.commit()
        found = {name for name, problems in check(session).items() if problems}
    assert found == broken
    result = runner.invoke(["ledger", "check"])
    assert result.exit_code == 1
    for name in broken:
        assert f"FAIL  {name}" in result.output
    # Leave the database healthy for the fixture's own check.
    with database.engine.begin() as connection:
        for table in ("debts", "awards", "lot_movements", "lots", "postings", "journal_entries", "orders"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
        connection.execute(update(Account).where(Account.member_id.is_not(None)).values(balance=0))
