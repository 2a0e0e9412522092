"""`coalition ledger check` finds a broken ledger and names the broken invariant."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update

from network.ledger.invariants import CHECKS, check
from network.models import Account, Debt, JournalEntry, Lot, LotMovement, Member, Posting
from tests.support.holds import hold


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
    entry, booked_at = session.execute(select(JournalEntry.id, JournalEntry.booked_at)).first()
    account = session.scalar(select(Account.id).where(Account.kind == "issuance"))
    session.execute(insert(Posting).values(entry_id=entry, account_id=account, amount=-3, booked_at=booked_at))


def _break_lot(session):
    session.execute(update(Lot).values(remaining=Lot.remaining - 1))


def _break_debt(session):
    """A debt that no refund posted to the member's owed account."""
    entry = session.execute(select(JournalEntry.id, JournalEntry.member_id, JournalEntry.partner_id)).first()
    session.execute(insert(Debt).values(member_id=entry.member_id, partner_id=entry.partner_id, entry_id=entry.id,
                                        points=5, remaining=5, created_at=datetime.now(timezone.utc)))


def _break_booking(session):
    """A posting booked a second after its entry: a month's close would count it in the wrong partition."""
    posting = session.execute(select(Posting.id, Posting.booked_at).where(Posting.amount > 0)).first()
    session.execute(update(Posting).where(Posting.id == posting.id).values(booked_at=posting.booked_at + timedelta(seconds=1)))


def _break_issuer(session):
    """A movement (of no points) naming another issuer than its lot's: settlement would bill the wrong partner."""
    lot = session.execute(select(Lot.id, Lot.entry_id, Lot.issuer_id)).first()
    booked_at = session.scalar(select(JournalEntry.booked_at).where(JournalEntry.id == lot.entry_id))
    session.execute(insert(LotMovement).values(lot_id=lot.id, entry_id=lot.entry_id, points=0, booked_at=booked_at,
                                               issuer_id=lot.issuer_id + 1))


@pytest.mark.parametrize(
    ("corrupt", "broken"),
    [
        (_break_balance, {"member balances equal their postings", "available and pending balances equal their lots"}),
        (_break_entry, {"every entry sums to zero", "all postings sum to zero", "partner issuance equals its lots less refunds"}),
        (_break_lot, {"available and pending balances equal their lots", "lots equal their movements"}),
        (_break_debt, {"owed balances equal open debts"}),
        (_break_booking, {"postings and movements are booked with their entry"}),
        (_break_issuer, {"movements name their lot's issuer"}),
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


@pytest.mark.parametrize("held", [False, True])
def test_a_merged_member_left_holding_points_fails_the_check(world, database, runner, held):
    """A merge that let points (or an open hold) stay behind on the absorbed member: only this check can see them."""
    hub = world.hub
    survivor, _ = hub.enrol(world.coffee)
    hub.sale(world.coffee, world.card, "10.00")
    if held:
        assert hold(hub, world.grocer, world.card, 4, "H-1").status_code == 201
    with database.session() as session:
        session.execute(update(Member).where(Member.id == world.member_id).values(merged_into=survivor))
        session.commit()
        problems = check(session)
    assert {name for name, found in problems.items() if found} == {"merged members hold nothing"}
    expected = [f"merged member {world.member_id}: available balance {6 if held else 10}"]
    if held:
        expected.append(f"merged member {world.member_id}: held balance 4")
    expected.append(f"merged member {world.member_id}: 1 open lot(s), {6 if held else 10} points")
    if held:
        expected.append(f"merged member {world.member_id}: 1 authorised hold(s), 4 points")
    assert problems["merged members hold nothing"] == expected
    result = runner.invoke(["ledger", "check"])
    assert result.exit_code == 1
    assert "FAIL  merged members hold nothing" in result.output
    with database.engine.begin() as connection:  # healthy again for the fixture's own check
        connection.execute(update(Member).values(merged_into=None))
