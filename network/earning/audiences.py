"""Campaigns for an audience at the hub: the members' facts a rule's audience reads, and the count before launch.

A sale is priced before its card is read (the price needs no database);
a rule set with audiences (partners.audience) prices its sales again once
the members are known, with their tier, enrolment and last activity read
in one query for the whole batch. A rule set without them never comes
here: the earn costs what it did.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from network.models import Member, Tier
from partners.audience import Audience
from partners.audience import Member as Facts
from partners.earning import RuleSet, awards_for_sale


def facts(session: Session, member_ids: set[str]) -> dict[str, Facts]:
    """What an audience may know of each member: tier name, enrolment, last purchase or redemption."""
    rows = session.execute(
        select(Member.id, Tier.name, Member.created_at, Member.last_activity_at)
        .outerjoin(Tier, Tier.position == func.coalesce(Member.tier, 0)).where(Member.id.in_(member_ids)))
    return {member_id: Facts(tier, created, last) for member_id, tier, created, last in rows}


def repriced(session: Session, rules: RuleSet, timezone: str, claims: list) -> list:
    """Each claim priced again for its member, when the rules have audiences; else the claims as they are."""
    if not rules.audiences or not claims:
        return claims
    known = facts(session, {claim.holder.member_id for claim in claims})
    return [claim._replace(awards=awards_for_sale(rules, claim.sale, timezone, known.get(claim.holder.member_id)))
            for claim in claims]


def preview(session: Session, audience: Audience, timezone: str, now: datetime) -> int:
    """How many members the audience holds now: what a campaign would reach if it started today."""
    zone = ZoneInfo(timezone)
    query = select(func.count()).select_from(Member).where(Member.merged_into.is_(None), Member.deleted_at.is_(None))
    if audience.tiers is not None:
        named = select(Tier.position).where(Tier.name.in_(audience.tiers))
        query = query.where(func.coalesce(Member.tier, 0).in_(named))
    if audience.enrolled_since is not None:
        query = query.where(Member.created_at >= datetime.combine(audience.enrolled_since, time(), zone))
    if audience.enrolled_before is not None:
        query = query.where(Member.created_at < datetime.combine(audience.enrolled_before, time(), zone))
    if audience.dormant_days is not None:
        quiet_since = now - timedelta(days=audience.dormant_days)
        query = query.where(or_(Member.last_activity_at.is_(None), Member.last_activity_at <= quiet_since))
    return session.scalar(query)
