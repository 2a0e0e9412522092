"""Events kept in bounds: what was delivered long ago goes with its deliveries and attempts; what was not, never."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from network.events import outbox, retention
from network.events.retention import Pruned
from network.models import Delivery, DeliveryAttempt, Event

KEEP = timedelta(days=30)
OLD, RECENT = timedelta(days=45), timedelta(days=29)
#: Delivery plugins, one delivery each: an event may have several.
CHANNELS = ("mail", "sms", "push")


def make(database, clock, age: timedelta, *statuses: str, key: str | None = None, fanned_out: bool = True) -> int:
    """An event made `age` ago with one delivery per status (each with two attempts); its id."""
    at = clock.now - age

    def work(session):
        public_id = outbox.emit(session, "points_expiring" if key else "points_earned", member_id=None, partner_id=None,
                                data={"points": 10}, now=at, dedup_key=key)
        event = session.scalars(select(Event).where(Event.public_id == public_id)).one()
        event.fanned_out_at = at + timedelta(seconds=1) if fanned_out else None
        for channel, status in zip(CHANNELS, statuses):
            delivery = Delivery(event_id=event.id, plugin=channel, status=status, attempts=2, created_at=at,
                                delivered_at=at + timedelta(minutes=1) if status == "delivered" else None)
            session.add(delivery)
            session.flush()
            session.add_all([DeliveryAttempt(delivery_id=delivery.id, attempted_at=at + timedelta(seconds=n),
                                             status_code=code, duration_ms=40) for n, code in ((2, 503), (60, 200))])
        return event.id

    return database.transact(work)


def left(database, event_id: int) -> tuple[bool, list[str], int]:
    """What is left of an event: whether its row is, its deliveries' statuses, how many attempts they have."""
    with database.session() as session:
        statuses = session.scalars(select(Delivery.status).where(Delivery.event_id == event_id).order_by(Delivery.id)).all()
        attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt).join(Delivery)
                                  .where(Delivery.event_id == event_id))
        return session.get(Event, event_id) is not None, list(statuses), attempts


def outbox_rows(database) -> dict[str, list[tuple]]:
    """Every row of the outbox's three tables, as they are."""
    with database.session() as session:
        return {table.name: sorted(map(tuple, session.execute(select(table)).all()))
                for table in (Event.__table__, Delivery.__table__, DeliveryAttempt.__table__)}


def prune(database, clock, **kwargs) -> Pruned:
    return retention.prune(database.transact, now=clock.now, keep=KEEP, **kwargs)


def test_an_old_delivered_event_goes_with_its_deliveries_and_attempts(database, clock):
    delivered = make(database, clock, OLD, "delivered", "cancelled")
    nothing_to_deliver = make(database, clock, OLD)  # fanned out to no webhook and no plugin
    assert prune(database, clock) == Pruned(events=2, deliveries=2, attempts=4)
    assert left(database, delivered) == (False, [], 0)
    assert left(database, nothing_to_deliver) == (False, [], 0)
    assert prune(database, clock) == Pruned()


def test_an_old_event_not_delivered_everywhere_keeps_everything(database, clock):
    kept = {status: make(database, clock, OLD, status) for status in ("pending", "sending", "failed")}
    mixed = make(database, clock, OLD, "delivered", "failed")
    before = outbox_rows(database)
    assert prune(database, clock) == Pruned()
    assert outbox_rows(database) == before
    for status, event_id in kept.items():
        assert left(database, event_id) == (True, [status], 2)
    assert left(database, mixed) == (True, ["delivered", "failed"], 4)


def test_a_recent_delivered_event_is_kept_until_it_is_older_than_the_retention(database, clock):
    recent = make(database, clock, RECENT, "delivered")
    on_the_line = make(database, clock, KEEP, "delivered")
    assert prune(database, clock) == Pruned()
    assert left(database, recent) == left(database, on_the_line) == (True, ["delivered"], 2)
    clock.advance(days=2)
    assert prune(database, clock) == Pruned(events=2, deliveries=2, attempts=4)
    assert left(database, recent) == (False, [], 0)


def test_a_scans_event_keeps_its_row_so_the_scan_never_emits_it_again(database, clock):
    keyed = make(database, clock, OLD, "delivered", "delivered", key="m-1:2026-04-01")
    assert prune(database, clock) == Pruned(events=0, deliveries=2, attempts=4)
    assert left(database, keyed) == (True, [], 0)
    assert prune(database, clock) == Pruned()
    again = database.transact(lambda session: outbox.emit(
        session, "points_expiring", member_id=None, partner_id=None, data={"points": 10}, now=clock.now,
        dedup_key="m-1:2026-04-01"))
    assert again is None


def test_an_event_never_fanned_out_is_kept(database, clock):
    waiting = make(database, clock, OLD, fanned_out=False)
    assert prune(database, clock) == Pruned()
    assert left(database, waiting) == (True, [], 0)


def test_a_prune_removes_a_batch_of_events_per_transaction_and_skips_what_it_keeps(database, clock):
    """The deliverer writes between two batches; every removable event goes, however the kept ones fall between."""
    removable, kept = [], []
    for n in range(7):
        removable.append(make(database, clock, OLD - timedelta(hours=n), "delivered"))
        kept.append(make(database, clock, OLD - timedelta(hours=n), "failed"))
    batches = []

    def transact(work):
        done = database.transact(work)
        batches.append(done[0])
        return done

    assert retention.prune(transact, now=clock.now, keep=KEEP, batch=3) == Pruned(events=7, deliveries=7, attempts=14)
    assert [done.events for done in batches] == [3, 3, 1]
    assert all(left(database, event_id) == (False, [], 0) for event_id in removable)
    assert all(left(database, event_id) == (True, ["failed"], 2) for event_id in kept)


def test_coalition_events_prune(database, clock, runner):
    old = make(database, clock, OLD, "delivered", "cancelled")
    failed = make(database, clock, OLD, "failed")
    week_old = make(database, clock, timedelta(days=10), "delivered")

    result = runner.invoke(["events", "prune"])
    assert result.exit_code == 0, result.output
    assert result.output == ("removed 1 events, 2 deliveries, 4 attempts older than 2026-02-12T09:30:00+00:00; "
                             "kept what is not delivered\n")
    assert left(database, old) == (False, [], 0)
    assert left(database, failed) == (True, ["failed"], 2)
    assert left(database, week_old) == (True, ["delivered"], 2)

    before = outbox_rows(database)
    refused = runner.invoke(["events", "prune", "--days", "0"])
    assert refused.exit_code == 2 and "--days" in refused.output
    assert outbox_rows(database) == before

    shorter = runner.invoke(["events", "prune", "--days", "7"])
    assert shorter.exit_code == 0, shorter.output
    assert shorter.output.startswith("removed 1 events, 1 deliveries, 2 attempts older than 2026-03-07T09:30:00+00:00")
    assert left(database, week_old) == (False, [], 0)
    assert left(database, failed) == (True, ["failed"], 2)
