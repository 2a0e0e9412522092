"""Points that come from no purchase: welcome bonuses, referrals and actions.

Each is funded by the partner whose rule it is: the credit debits that
partner's issuance account and opens a lot it issued, so settlement bills it
like any sale. Each records its award, so the member sees which rule paid.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from network.errors import Invalid
from network.ledger import journal, locks, orders
from network.ledger.journal import AVAILABLE, ISSUANCE, MemberAccounts
from network.ledger.kinds import EntryKind, OrderKind
from network.lifecycle import hold_release
from network.members import cards
from network.models import Account, Order, Partner, Referral
from network.models import Award as AwardRow
from network.parties.registry import PartnerRef
from partners.earning import RuleSet, local_day_bounds
from partners.rules import Award


def credit(
    session: Session,
    member: MemberAccounts,
    *,
    partner_id: int,
    issuance_account: int,
    award: Award,
    reason: str,
    now: datetime,
    lifetime: timedelta,
    order_id: int | None = None,
) -> int:
    """Credit one award to a locked member, issued by `partner_id`; returns the entry id."""
    entry_id = journal.post(
        session,
        kind=EntryKind.BONUS,
        legs=[(issuance_account, -award.points), (member.ids[AVAILABLE], award.points)],
        member=member,
        partner_id=partner_id,
        reason=reason,
        booked_at=now,
        order_id=order_id,
    )
    journal.add_lot(session, member, issuer_id=partner_id, entry_id=entry_id, points=award.points, earned_at=now,
                   expires_at=now + lifetime)
    session.execute(insert(AwardRow), [{"entry_id": entry_id, "rule": award.rule, "points": award.points,
                                        "detail": award.detail[:200]}])
    return entry_id


def on_enrolment(
    session: Session,
    partner: PartnerRef,
    rules: RuleSet,
    member_id: str,
    *,
    referred_by: str | None,
    now: datetime,
    lifetime: timedelta,
) -> dict:
    """A partner enrolled a member: its welcome bonus now, its referral promise for the first sale."""
    outcome: dict = {}
    local = now.astimezone(ZoneInfo(partner.timezone))  # a campaign's event rule counts inside its window
    welcome = rules.event("welcome_bonus", local)
    if welcome:
        member = locks.lock_member(session, member_id)
        award = Award("welcome_bonus", welcome["points"], f"welcome to {partner.name}")
        credit(session, member, partner_id=partner.id, issuance_account=partner.account_id(ISSUANCE), award=award,
               reason=f"Welcome bonus from {partner.name}", now=now, lifetime=lifetime)
        outcome["welcome_bonus"] = award.points
        outcome["balance"] = member.balance_view()
    if referred_by is not None:
        referrer = cards.member_for_card(session, referred_by)
        terms = rules.event("referral", local)
        if terms:
            session.execute(insert(Referral).values(
                referred_id=member_id, referrer_id=referrer, partner_id=partner.id,
                referrer_points=terms["referrer_points"], referred_points=terms["referred_points"], created_at=now,
            ))
            outcome["referral"] = {"referrer_points": terms["referrer_points"], "referred_points": terms["referred_points"],
                                   "paid": "after the first sale"}
    return outcome


def pay_referral(session: Session, referred: MemberAccounts, *, now: datetime, lifetime: timedelta) -> None:
    """Pay both sides of a referral, once: the referred member (locked by the caller) has just bought."""
    terms = session.execute(
        select(Referral, Partner.name, Account.id.label("issuance"))
        .join(Partner, Partner.id == Referral.partner_id)
        .join(Account, and_(Account.partner_id == Partner.id, Account.kind == ISSUANCE))
        .where(Referral.referred_id == referred.member_id, Referral.paid_entry_id.is_(None))
    ).first()
    if terms is None:
        return
    referral, partner_name, issuance = terms
    # Locked after the referred member: a deadlock with a transaction locking
    # the two the other way round is detected by the database and retried.
    referrer = locks.lock_holder(session, referral.referrer_id)
    hold_release.release_expired(session, referrer, now)
    common = {"partner_id": referral.partner_id, "issuance_account": issuance, "now": now, "lifetime": lifetime}
    entry_id = credit(session, referred, award=Award("referral", referral.referred_points, "referred by a member"),
                      reason=f"Referral bonus from {partner_name}: first purchase", **common)
    credit(session, referrer, award=Award("referral", referral.referrer_points, "referred a new member"),
           reason=f"Referral bonus from {partner_name}: a member you referred made a first purchase", **common)
    session.execute(update(Referral).where(Referral.referred_id == referral.referred_id).values(paid_entry_id=entry_id))


def record_action(
    session: Session,
    partner: PartnerRef,
    rules: RuleSet,
    *,
    card_number: str,
    action: str,
    reference: str,
    now: datetime,
    lifetime: timedelta,
) -> dict:
    """A non-purchase action (a review, a social post) earns its rule's points, within a per-day limit.

    The day is the partner's local calendar day; the reference is the
    partner's own id for the action and is booked once.
    """
    local = now.astimezone(ZoneInfo(partner.timezone))
    terms = next((params for params in rules.events("action", local) if params["action"] == action), None)
    if terms is None:
        known = sorted(params["action"] for params in rules.events("action", local))
        raise Invalid(f"{partner.name} rewards no action {action!r}", {"action": [f"must be one of: {', '.join(known) or 'none'}"]},
                      code="unknown_action")
    member = locks.lock_member_by_card(session, card_number)
    hold_release.release_expired(session, member, now)
    kind = f"{OrderKind.ACTION}:{action}"
    # Claimed first, so a resent action is a duplicate (409) even when the day's limit is reached.
    order = orders.claim(session, partner_id=partner.id, kind=kind, order_id=reference, member_id=member.member_id,
                         points=terms["points"], booked_at=now)
    start, end = local_day_bounds(now, partner.timezone)
    done_today = session.scalar(
        select(func.count()).select_from(Order).where(
            Order.partner_id == partner.id, Order.kind == kind, Order.member_id == member.member_id,
            Order.booked_at >= start, Order.booked_at < end,
        )
    )
    if done_today > terms["per_day"]:
        raise Invalid(
            f"The member already earned {action!r} {done_today - 1} time(s) today at {partner.name}",
            {"action": [f"at most {terms['per_day']} per day"], "next_at": end.isoformat()},
            code="action_limit_reached",
        )
    award = Award("action", terms["points"], action)
    entry_id = credit(session, member, partner_id=partner.id, issuance_account=partner.account_id(ISSUANCE), award=award,
                      reason=f"{action} at {partner.name} ({reference})", now=now, lifetime=lifetime, order_id=order)
    return {"journal_id": entry_id, "points": award.points, "awards": [{"rule": "action", "points": award.points,
            "detail": action}], "member_id": member.member_id, "balance": member.balance_view()}
