"""The invariants that catch where the ledger once left its model (issue 11, item 11): each finds a hand-made breach."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from network.ledger.invariants import check
from network.models import Hold, JournalEntry, Lot, LotMovement, Member
from tests.support.holds import hold


def _deleted_with_points(world, session):
    """A member marked deleted without the erasure that forfeits its points."""
    session.execute(update(Member).where(Member.id == world.member_id).values(deleted_at=Member.created_at))
    return lambda s: s.execute(update(Member).values(deleted_at=None))


def _refund_took_another_lot(world, session):
    """A partial refund of A-1 whose movement names another lot of the same issuer, A-1's own still open."""
    refund = session.scalar(select(JournalEntry.id).where(JournalEntry.kind == "refund"))
    own, other = session.scalars(select(Lot.id).order_by(Lot.id)).all()

    def move(s, source, target):
        s.execute(update(LotMovement).where(LotMovement.entry_id == refund).values(lot_id=target))
        s.execute(update(Lot).where(Lot.id == source).values(remaining=Lot.remaining + 5))
        s.execute(update(Lot).where(Lot.id == target).values(remaining=Lot.remaining - 5))

    move(session, own, other)
    return lambda s: move(s, other, own)


def _hold_outlived_a_write(world, session):
    """A hold still authorised although an entry was booked after it expired (here: its own entry)."""
    (hold_id, created) = session.execute(select(Hold.id, Hold.created_at)).one()
    session.execute(update(Hold).where(Hold.id == hold_id).values(expires_at=created - timedelta(seconds=1)))
    return lambda s: s.execute(update(Hold).where(Hold.id == hold_id).values(expires_at=created + timedelta(minutes=10)))


@pytest.mark.parametrize(
    ("corrupt", "broken"),
    [
        (_deleted_with_points, "deleted members hold no points"),
        (_refund_took_another_lot, "refunds take their sale's own lots first"),
        (_hold_outlived_a_write, "expired holds end before the next write"),
    ],
)
def test_a_ledger_that_left_its_model_fails_naming_the_invariant(world, database, runner, corrupt, broken):
    hub = world.hub
    assert hub.sale(world.coffee, world.card, "20.00", order="A-1").json["points"] == 20
    assert hub.sale(world.coffee, world.card, "10.00", order="A-2").json["points"] == 10
    assert hub.refund(world.coffee, "A-1", "5.00").json["points"] == -5
    assert hold(hub, world.grocer, world.card, 3, "G-1", hold_seconds=600).status_code == 201
    with database.session() as session:
        assert {name for name, problems in check(session).items() if problems} == set()
    with database.session() as session:
        repair = corrupt(world, session)
        session.commit()
    with database.session() as session:
        assert {name for name, problems in check(session).items() if problems} == {broken}
    result = runner.invoke(["ledger", "check"])
    assert result.exit_code == 1
    assert f"FAIL  {broken}" in result.output
    with database.session() as session:  # healthy again for the fixture's own check
        repair(session)
        session.commit()
