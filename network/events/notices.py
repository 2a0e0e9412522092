"""Events that follow from a booking rather than tell of it: a tier changed, a reward came within reach.

Written by the booking's own transaction, like every outbox event. A nudge
is sent when a sale carries the member across the edge of reach: from more
than `gap` points short of a reward to `gap` or fewer (the nearest such
reward of any partner's catalogue, told to the partner where the sale was
made). A member who
stays within reach is not nudged again on every coffee; one who spends and
comes back within reach later is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.events import outbox
from network.events.kinds import EventKind
from network.models import Member, Partner, Reward


def tier_changes(session: Session, changes: Sequence, *, now: datetime, reason: str) -> None:
    """A `tier_changed` event per move (network.lifecycle.tiers.Change), to the member's enrolling partner."""
    if not changes:
        return
    enrolled = dict(session.execute(
        select(Member.id, Member.enrolled_by).where(Member.id.in_([change.member_id for change in changes]))
    ).all())
    outbox.emit_many(session, EventKind.TIER_CHANGED, [
        outbox.NewEvent(change.member_id, enrolled.get(change.member_id), {
            "member_id": change.member_id, "from": change.old, "to": change.new, "reason": reason})
        for change in changes
    ], now=now)


def offers(session: Session) -> list:
    """Every reward on offer (active, in stock), cheapest first: what a nudge may point to."""
    return session.execute(
        select(Reward.sku, Reward.name, Reward.points, Reward.partner_id, Partner.slug, Partner.name.label("partner_name"))
        .join(Partner, Partner.id == Reward.partner_id)
        .where(Reward.active.is_(True), (Reward.stock.is_(None)) | (Reward.stock > 0))
        .order_by(Reward.points, Reward.id)
    ).all()


def rewards_within_reach(session: Session, moves: Iterable[tuple[str, int, int]], *, partner_id: int, gap: int,
                         now: datetime, known: list | None = None) -> None:
    """Nudge members whose points went from `before` to `after` across the edge of a reward's reach.

    `moves` holds (member id, points before, points after) for the members a
    sale of `partner_id` credited: that partner, which already knows them,
    gets the nudge, whichever catalogue the reward is in (catalogues are
    public to every partner; members are not). One query for the
    catalogues, whatever the batch size, and none when the caller `known`s
    them (as a worker last read them: a reward sold out seconds ago may
    still be pointed to, which costs nothing but a nudge).
    """
    moves = [(member, before, after) for member, before, after in moves if after > before]
    if not moves or gap <= 0:
        return
    on_offer = offers(session) if known is None else known
    if not on_offer:
        return
    nudges = []
    for member_id, before, after in moves:
        reached = [offer for offer in on_offer if 0 < offer.points - after <= gap < offer.points - before]
        if not reached:
            continue
        nearest = min(reached, key=lambda offer: offer.points - after)  # ties: the cheaper reward, by the ordering
        short = nearest.points - after
        nudges.append(outbox.NewEvent(member_id, partner_id, {
            "member_id": member_id, "points_to_go": short, "balance": after,
            "reward": {"partner": nearest.slug, "sku": nearest.sku, "name": nearest.name, "points": nearest.points},
            "message": f"You're just {short} points away from {nearest.name} at {nearest.partner_name}",
        }))
    outbox.emit_many(session, EventKind.REWARD_WITHIN_REACH, nudges, now=now)
