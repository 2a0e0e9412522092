"""The ledger's invariants, checked by `coalition ledger check` and after every test that writes.

Each check is one aggregate query that returns offending rows; an empty
result means it holds. They read the whole ledger, so they are an audit, not
something a request path runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from network.ledger.kinds import AccountKind, EntryKind, HoldStatus
from network.models import Account, Award, Debt, Hold, JournalEntry, Lot, LotMovement, Member, Posting, int_sum


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str


def _entries_sum_to_zero(session: Session):
    total = int_sum(Posting.amount)
    for entry_id, amount in session.execute(select(Posting.entry_id, total).group_by(Posting.entry_id).having(total != 0)):
        yield f"entry {entry_id} sums to {amount}"


def _entries_have_two_postings(session: Session):
    count = func.count(Posting.id)
    query = (
        select(JournalEntry.id, count)
        .outerjoin(Posting, Posting.entry_id == JournalEntry.id)
        .group_by(JournalEntry.id)
        .having(count < 2)
    )
    for entry_id, postings in session.execute(query):
        yield f"entry {entry_id} has {postings} posting(s)"


def _ledger_sums_to_zero(session: Session):
    total = session.scalar(select(int_sum(Posting.amount)))
    if total:
        yield f"all postings sum to {total}"


def _member_balances_match_postings(session: Session):
    sums = select(Posting.account_id, int_sum(Posting.amount).label("total")).group_by(Posting.account_id).subquery()
    query = (
        select(Account.id, Account.member_id, Account.kind, Account.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.member_id.is_not(None), Account.balance != func.coalesce(sums.c.total, 0))
    )
    for account_id, member_id, kind, balance, total in session.execute(query):
        yield f"member {member_id} {kind} account {account_id}: balance {balance}, postings {total}"


def _balances_match_lots(session: Session):
    lots = select(Lot.account_id, int_sum(Lot.remaining).label("remaining")).group_by(Lot.account_id).subquery()
    query = (
        select(Account.member_id, Account.kind, Account.balance, func.coalesce(lots.c.remaining, 0))
        .outerjoin(lots, lots.c.account_id == Account.id)
        .where(Account.kind.in_((AccountKind.AVAILABLE, AccountKind.PENDING)), Account.balance != func.coalesce(lots.c.remaining, 0))
    )
    for member_id, kind, balance, remaining in session.execute(query):
        yield f"member {member_id}: {kind} {balance}, lots remaining {remaining}"


def _owed_matches_debts(session: Session):
    """What a member owes is the sum of their open debts; they never owe a negative amount."""
    debts = select(Debt.member_id, int_sum(Debt.remaining).label("remaining")).group_by(Debt.member_id).subquery()
    query = (
        select(Account.member_id, Account.balance, func.coalesce(debts.c.remaining, 0))
        .outerjoin(debts, debts.c.member_id == Account.member_id)
        .where(Account.kind == AccountKind.OWED, Account.balance != -func.coalesce(debts.c.remaining, 0))
    )
    for member_id, balance, remaining in session.execute(query):
        yield f"member {member_id}: owed account {balance}, open debts {remaining}"


def _lots_match_movements(session: Session):
    moved = select(LotMovement.lot_id, int_sum(LotMovement.points).label("moved")).group_by(LotMovement.lot_id).subquery()
    query = (
        select(Lot.id, Lot.points, Lot.remaining, func.coalesce(moved.c.moved, 0))
        .outerjoin(moved, moved.c.lot_id == Lot.id)
        .where(Lot.points + func.coalesce(moved.c.moved, 0) != Lot.remaining)
    )
    for lot_id, points, remaining, total in session.execute(query):
        yield f"lot {lot_id}: {points} points {total:+d} moved, but {remaining} remaining"


def _rows_booked_with_their_entry(session: Session):
    """Postings and lot movements carry their entry's booking time: what settlement and the partitions go by."""
    for table in (Posting, LotMovement):
        query = (
            select(table.id, table.entry_id).join(JournalEntry, JournalEntry.id == table.entry_id)
            .where(table.booked_at != JournalEntry.booked_at)
        )
        for row_id, entry_id in session.execute(query):
            yield f"{table.__tablename__} {row_id}: booked apart from entry {entry_id}"


def _movements_name_their_lots_issuer(session: Session):
    """What settlement bills a movement to: its lot's issuer, copied onto it."""
    query = (
        select(LotMovement.id, LotMovement.lot_id).join(Lot, Lot.id == LotMovement.lot_id)
        .where(LotMovement.issuer_id.is_distinct_from(Lot.issuer_id))
    )
    for movement_id, lot_id in session.execute(query):
        yield f"lot movement {movement_id}: names another issuer than lot {lot_id}"


def _issuance_matches_lots(session: Session):
    """A partner's issuance account is what its lots credited, less what its own refunds took back from them.

    Settlement bills issuers by their lots; this is what keeps the two in
    step. (A refund that takes another issuer's points books them to the
    refunding partner's redemption account: they were spent there. A lot a
    merge opened holds points issued before, on the lot it emptied.)
    """
    issued = (
        select(Lot.issuer_id, int_sum(Lot.points).label("points"))
        .join(JournalEntry, JournalEntry.id == Lot.entry_id)
        .where(JournalEntry.kind != "merge")
        .group_by(Lot.issuer_id)
        .subquery()
    )
    clawed = (
        select(Lot.issuer_id, int_sum(LotMovement.points).label("points"))
        .join(LotMovement, LotMovement.lot_id == Lot.id)
        .join(JournalEntry, JournalEntry.id == LotMovement.entry_id)
        .where(JournalEntry.kind == EntryKind.REFUND, JournalEntry.partner_id == Lot.issuer_id)
        .group_by(Lot.issuer_id)
        .subquery()
    )
    totals = select(Posting.account_id, int_sum(Posting.amount).label("total")).group_by(Posting.account_id).subquery()
    balance = func.coalesce(totals.c.total, 0)
    expected = -(func.coalesce(issued.c.points, 0) + func.coalesce(clawed.c.points, 0))
    query = (
        select(Account.partner_id, balance, expected)
        .outerjoin(totals, totals.c.account_id == Account.id)
        .outerjoin(issued, issued.c.issuer_id == Account.partner_id)
        .outerjoin(clawed, clawed.c.issuer_id == Account.partner_id)
        .where(Account.kind == AccountKind.ISSUANCE, balance != expected)
    )
    for partner_id, actual, wanted in session.execute(query):
        yield f"partner {partner_id}: issuance account {actual}, its lots say {wanted}"


def _no_negative_available(session: Session):
    query = select(Account.member_id, Account.balance).where(Account.kind == AccountKind.AVAILABLE, Account.balance < 0)
    for member_id, balance in session.execute(query):
        yield f"member {member_id} has {balance} points available"


def _awards_explain_entries(session: Session):
    """An entry with awards moved exactly their sum on the member's side."""
    awards = select(Award.entry_id, int_sum(Award.points).label("awarded")).group_by(Award.entry_id).subquery()
    member_side = (
        select(Posting.entry_id, int_sum(Posting.amount).label("moved"))
        .join(Account, Account.id == Posting.account_id)
        .where(Account.member_id.is_not(None))
        .group_by(Posting.entry_id)
        .subquery()
    )
    query = (
        select(awards.c.entry_id, awards.c.awarded, func.coalesce(member_side.c.moved, 0))
        .outerjoin(member_side, member_side.c.entry_id == awards.c.entry_id)
        .where(awards.c.awarded != func.coalesce(member_side.c.moved, 0))
    )
    for entry_id, awarded, moved in session.execute(query):
        yield f"entry {entry_id}: awards {awarded}, member postings {moved}"


def _held_equals_authorized_holds(session: Session):
    """A member's held account holds exactly the points of its authorised holds: none lost, none left behind."""
    holds = (
        select(Hold.member_id, int_sum(Hold.points).label("points")).where(Hold.status == HoldStatus.AUTHORIZED)
        .group_by(Hold.member_id).subquery()
    )
    query = (
        select(Account.member_id, Account.balance, func.coalesce(holds.c.points, 0))
        .outerjoin(holds, holds.c.member_id == Account.member_id)
        .where(Account.kind == AccountKind.HELD, Account.balance != func.coalesce(holds.c.points, 0))
    )
    for member_id, balance, points in session.execute(query):
        yield f"member {member_id}: held {balance}, authorised holds {points}"


def _deleted_members_hold_nothing(session: Session):
    """Erasure forfeits every point, and points returned later are forfeited too: a deleted member holds none."""
    lots = (
        select(Lot.account_id, int_sum(Lot.remaining).label("remaining")).where(Lot.remaining > 0)
        .group_by(Lot.account_id).subquery()
    )
    remaining = func.coalesce(lots.c.remaining, 0)
    query = (
        select(Account.member_id, Account.kind, Account.balance, remaining)
        .join(Member, Member.id == Account.member_id)
        .outerjoin(lots, lots.c.account_id == Account.id)
        .where(Member.deleted_at.is_not(None), Account.kind.in_(_POINTS), (Account.balance != 0) | (remaining > 0))
    )
    for member_id, kind, balance, left in session.execute(query):
        yield f"deleted member {member_id}: {kind} {balance}, open lots {left}"


_POINTS = (AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD)


def _refunds_take_their_own_lots_first(session: Session):
    """A refund takes another lot only once its sale's own are empty: every lot descended from the sale's, by merges.

    Own lots still open right after the refund are measured by the lot
    movements up to the refund's entry: a lot's movements are made under its
    member's lock, so their entry ids follow their order.
    """
    refunds = (
        select(JournalEntry.id.label("refund"), JournalEntry.member_id, Lot.id.label("root"))
        .join(Lot, (Lot.entry_id == JournalEntry.reverses_id) & Lot.merged_from_id.is_(None))
        .where(JournalEntry.kind == EntryKind.REFUND)
        .cte("refunds")
    )
    descent = select(refunds.c.root, refunds.c.root.label("lot")).distinct().cte("descent", recursive=True)
    descent = descent.union_all(
        select(descent.c.root, Lot.id).join(descent, Lot.merged_from_id == descent.c.lot).where(Lot.merged_from_id.is_not(None))
    )
    own = descent.alias("own")
    foreign = (
        select(LotMovement.entry_id.label("refund"), (-int_sum(LotMovement.points)).label("points"))
        .join(refunds, refunds.c.refund == LotMovement.entry_id)
        .where(~select(own.c.lot).where(own.c.root == refunds.c.root, own.c.lot == LotMovement.lot_id).exists())
        .group_by(LotMovement.entry_id)
        .subquery()
    )
    before = LotMovement.__table__.alias("before")
    left = Lot.points + func.coalesce(int_sum(before.c.points), 0)
    still_open = (
        select(refunds.c.refund, Lot.id.label("lot"), left.label("left"))
        .join(descent, descent.c.root == refunds.c.root)
        .join(Lot, (Lot.id == descent.c.lot) & (Lot.member_id == refunds.c.member_id) & (Lot.entry_id < refunds.c.refund))
        .outerjoin(before, (before.c.lot_id == Lot.id) & (before.c.entry_id <= refunds.c.refund))
        .group_by(refunds.c.refund, Lot.id, Lot.points)
        .having(left > 0)
        .subquery()
    )
    query = (
        select(foreign.c.refund, foreign.c.points, still_open.c.lot, still_open.c.left)
        .join(still_open, still_open.c.refund == foreign.c.refund)
        .order_by(foreign.c.refund, still_open.c.lot)
    )
    for refund, points, lot, left in session.execute(query):
        yield f"refund entry {refund} took {points} points of other lots while its sale's lot {lot} kept {left}"


def _expired_holds_end_before_later_writes(session: Session):
    """A write on a member releases its holds expired by the write's time first: none outlives a later entry."""
    query = (
        select(Hold.hold_entry_id, Hold.member_id, Hold.expires_at, func.min(JournalEntry.id))
        .join(JournalEntry, (JournalEntry.member_id == Hold.member_id) & (JournalEntry.booked_at >= Hold.expires_at))
        .where(Hold.status == HoldStatus.AUTHORIZED)
        .group_by(Hold.hold_entry_id, Hold.member_id, Hold.expires_at)
    )
    for hold_id, member_id, expires_at, entry_id in session.execute(query):
        yield f"hold {hold_id} of member {member_id} expired at {expires_at.isoformat()}, still authorised after entry {entry_id}"


def _merged_members_hold_nothing(session: Session):
    """A merge moves everything to the survivor, and what comes after follows it there: a merged member keeps nothing.

    Points left on a closed member (an earn that raced the merge and landed
    on the member it absorbed) are points no till can reach; the other
    checks all hold for them, so only this one sees them.
    """
    merged = select(Member.id).where(Member.merged_into.is_not(None))
    balances = (
        select(Account.member_id, Account.kind, Account.balance)
        .where(Account.member_id.in_(merged), Account.balance != 0)
        .order_by(Account.member_id, Account.kind)
    )
    for member_id, kind, balance in session.execute(balances):
        yield f"merged member {member_id}: {kind} balance {balance}"
    lots = (
        select(Lot.member_id, func.count(), int_sum(Lot.remaining))
        .where(Lot.member_id.in_(merged), Lot.remaining > 0).group_by(Lot.member_id)
    )
    for member_id, count, remaining in session.execute(lots):
        yield f"merged member {member_id}: {count} open lot(s), {remaining} points"
    holds = (
        select(Hold.member_id, func.count(), int_sum(Hold.points))
        .where(Hold.member_id.in_(merged), Hold.status == HoldStatus.AUTHORIZED).group_by(Hold.member_id)
    )
    for member_id, count, points in session.execute(holds):
        yield f"merged member {member_id}: {count} authorised hold(s), {points} points"


CHECKS = {
    "every entry sums to zero": _entries_sum_to_zero,
    "every entry has two postings or more": _entries_have_two_postings,
    "all postings sum to zero": _ledger_sums_to_zero,
    "member balances equal their postings": _member_balances_match_postings,
    "available and pending balances equal their lots": _balances_match_lots,
    "owed balances equal open debts": _owed_matches_debts,
    "lots equal their movements": _lots_match_movements,
    "postings and movements are booked with their entry": _rows_booked_with_their_entry,
    "movements name their lot's issuer": _movements_name_their_lots_issuer,
    "partner issuance equals its lots less refunds": _issuance_matches_lots,
    "no available balance below zero": _no_negative_available,
    "awards add up to their entries": _awards_explain_entries,
    "held balances equal their authorised holds": _held_equals_authorized_holds,
    "merged members hold nothing": _merged_members_hold_nothing,
    "deleted members hold no points": _deleted_members_hold_nothing,
    "refunds take their sale's own lots first": _refunds_take_their_own_lots_first,
    "expired holds end before the next write": _expired_holds_end_before_later_writes,
}


def check(session: Session) -> dict[str, list[str]]:
    """Every invariant by name, with the offending rows (empty when it holds)."""
    return {name: list(run(session)) for name, run in CHECKS.items()}


def violations(session: Session) -> list[Violation]:
    return [Violation(name, detail) for name, details in check(session).items() for detail in details]
