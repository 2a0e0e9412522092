"""Merging two members who turned out to be one person: cards, points and lots move to the survivor.

Provenance and expiry are kept: each open lot of the absorbed member is
emptied by a LotMovement and re-opened on the survivor with the same issuer,
earned_at, available_at and expires_at, pointing back at the lot it came
from (`merged_from_id`). The points move by one journal entry of kind
"merge" per account kind. Settlement counts neither side of a merge as
issued, redeemed or clawed back, so its figures per issuer do not change,
and a later redemption of the moved points bills their original issuer.

Merging again a member already merged into this one is allowed and moves
whatever reached it since (a sale on its card that raced the first merge).

What the absorbed member owes after a claw-back (its debts) the survivor
owes, and repays at once from its own points. Deliberately simple: a member
with held points (an authorised redemption not yet captured) is not merged
(409 member_has_holds); capture or release the hold first. Orders keep
naming the member who placed them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Invalid
from network.ledger import debts, journal, locks
from network.ledger.journal import AVAILABLE, HELD, OWED, PENDING, MemberAccounts
from network.ledger.kinds import EntryKind
from network.lifecycle import expiry, upkeep
from network.members import cards
from network.models import Account, Card, Debt, Lot, Member, Referral

MOVED_KINDS = (AVAILABLE, PENDING)

_lots = Lot.__table__
_EMPTY_LOT = update(_lots).where(_lots.c.id == bindparam("lot")).values(remaining=0)


def merge(session: Session, survivor_id: str, absorbed_id: str, *, now: datetime) -> dict:
    if survivor_id == absorbed_id:
        raise Invalid("A member cannot be merged into itself", {"member_id": [absorbed_id]}, code="same_member")
    # Both members' accounts, locked in account id order in one statement: no deadlock with a concurrent merge.
    locks.lock_member_ids(session, [survivor_id, absorbed_id])
    cards.get_member(session, survivor_id)
    absorbed_member = cards.get_member(session, absorbed_id, merged=True)
    if absorbed_member.merged_into not in (None, survivor_id):
        cards.get_member(session, absorbed_id)  # merged into another: 410 member_merged
    survivor = locks.lock_member(session, survivor_id)
    absorbed = locks.lock_member(session, absorbed_id)
    for member in (absorbed, survivor):
        upkeep.bring_up_to_date(session, member, now)
    if absorbed.balances[HELD]:
        raise Conflict(
            f"The member has {absorbed.balances[HELD]} points held by an authorised redemption; capture or release it first",
            {"member_id": [absorbed_id], "held": absorbed.balances[HELD]},
            code="member_has_holds",
        )
    moved, lots = _move_points(session, absorbed, survivor, now)
    _move_debts(session, absorbed, survivor, now)
    numbers = session.execute(
        update(Card).where(Card.member_id == absorbed_id).values(member_id=survivor_id).returning(Card.number)
    ).scalars().all()
    # A referral bonus still owed to the absorbed member as referrer is paid to the survivor. (One it was
    # promised as the referred member is not: the survivor may hold a promise of its own.)
    session.execute(update(Referral).where(Referral.referrer_id == absorbed_id, Referral.paid_entry_id.is_(None))
                    .values(referrer_id=survivor_id))
    survivor_member = session.get(Member, survivor_id)
    latest = max((t for t in (survivor_member.last_activity_at, absorbed_member.last_activity_at) if t), default=None)
    session.execute(update(Member).where(Member.id == survivor_id).values(last_activity_at=latest))
    session.execute(update(Member).where(Member.id == absorbed_id).values(merged_into=survivor_id))
    return {
        "member_id": survivor_id,
        "merged": absorbed_id,
        "moved": moved,
        "lots": lots,
        "cards": sorted(numbers),
        "balance": survivor.balance_view(),
    }


def _move_points(session: Session, absorbed: MemberAccounts, survivor: MemberAccounts, now: datetime) -> tuple[dict, int]:
    """One "merge" entry per account kind with points, and their lots; both members locked."""
    moved, lots = {}, 0
    for kind in MOVED_KINDS:
        points = absorbed.balances[kind]
        moved[kind] = points
        if points <= 0:
            continue
        entry_id = journal.post(
            session,
            kind=EntryKind.MERGE,
            legs=[(absorbed.ids[kind], -points), (survivor.ids[kind], points)],
            member=survivor,
            partner_id=None,
            reason=f"Merge of member {absorbed.member_id} into {survivor.member_id}: {kind} points",
            booked_at=now,
        )
        # `post` keeps the survivor's running balance; the absorbed member's moves here, under the same lock.
        session.execute(update(Account).where(Account.id == absorbed.ids[kind]).values(balance=Account.balance - points))
        absorbed.balances[kind] -= points
        lots += _move_lots(session, absorbed, survivor, kind, entry_id)
    return moved, lots


def _move_debts(session: Session, absorbed: MemberAccounts, survivor: MemberAccounts, now: datetime) -> None:
    """What a claw-back left the absorbed member owing, the survivor now owes, and repays from its own points."""
    owed = -absorbed.balances[OWED]
    if owed <= 0:
        return
    journal.post(session, kind=EntryKind.MERGE, legs=[(absorbed.ids[OWED], owed), (survivor.ids[OWED], -owed)], member=None,
                partner_id=None, reason=f"{owed} points owed moved from merged member {absorbed.member_id}", booked_at=now)
    for side, change in ((absorbed, owed), (survivor, -owed)):
        session.execute(update(Account).where(Account.id == side.ids[OWED]).values(balance=Account.balance + change))
        side.balances[OWED] += change
    session.execute(update(Debt).where(Debt.member_id == absorbed.member_id, Debt.remaining > 0)
                    .values(member_id=survivor.member_id))
    debts.repay(session, survivor, now)


def rehome(session: Session, member: MemberAccounts, holder: str, *, now: datetime) -> MemberAccounts:
    """Points just given back to a closed member (a redemption reversed after it was merged or deleted).

    A merged member's go on to `holder`, the member at the end of its chain
    of merges (both locked by the caller), like the merges themselves moved
    them; if that member was deleted they are forfeited, like its others
    were. Returns the accounts whose balance the caller should show.
    """
    if holder != member.member_id:
        survivor = locks.lock_member(session, holder)
        upkeep.bring_up_to_date(session, survivor, now)  # a write on the survivor: its expired holds end first
        _move_points(session, member, survivor, now)
        member = survivor
    if session.scalar(select(Member.deleted_at).where(Member.id == member.member_id)) is not None:
        expiry.forfeit(session, member, reason="Points returned to a deleted member: forfeited", now=now)
    return member


def _move_lots(session: Session, absorbed: MemberAccounts, survivor: MemberAccounts, kind: str, entry_id: int) -> int:
    """Empty every open lot of the absorbed member on `kind` into a like lot of the survivor's."""
    open_lots = session.execute(
        select(_lots).where(_lots.c.member_id == absorbed.member_id, _lots.c.account_id == absorbed.ids[kind],
                            _lots.c.remaining > 0).order_by(_lots.c.id)
    ).all()
    if not open_lots:
        return 0
    connection = session.connection()
    connection.execute(_EMPTY_LOT, [{"lot": lot.id} for lot in open_lots])
    connection.execute(journal.INSERT_MOVEMENTS, [{"lot_id": lot.id, "entry_id": entry_id, "points": -lot.remaining} for lot in open_lots])
    connection.execute(insert(Lot), [
        {
            "member_id": survivor.member_id, "account_id": survivor.ids[kind], "issuer_id": lot.issuer_id,
            "entry_id": entry_id, "points": lot.remaining, "remaining": lot.remaining, "earned_at": lot.earned_at,
            "available_at": lot.available_at, "expires_at": lot.expires_at, "merged_from_id": lot.id,
        }
        for lot in open_lots
    ])
    return len(open_lots)
