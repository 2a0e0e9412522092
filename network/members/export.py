"""Everything the hub holds about one member, as one JSON document (a GDPR access request).

One document rather than pages: even a member of many years has thousands
of rows, not millions, and a partial export answers no access request.
The profile is decrypted here and only here (and in the operator's member
view); after a deletion it shows no e-mail or name, since the key is gone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from network.ledger.journal import AVAILABLE, HELD, balance_view
from network.lifecycle import hold_release
from network.members import cards, privacy
from network.members.privacy import MasterKey
from network.models import Account, Award, JournalEntry, Lot, Order, Partner, Posting, Referral
from network.parties.registry import slugs


def export(session: Session, master: MasterKey, member_id: str, *, now: datetime) -> dict:
    """The member's document as of `now`: a hold expired by then shows released, as every read shows it."""
    member = cards.get_member(session, member_id, merged=True, deleted=True)
    accounts = dict(session.execute(select(Account.id, Account.kind).where(Account.member_id == member_id)).all())
    balances = dict(session.execute(select(Account.kind, Account.balance).where(Account.member_id == member_id)).all())
    released = hold_release.unreleased(session, member_id, now) if balances.get(HELD) else {}
    balances[AVAILABLE] += sum(released.values())
    balances[HELD] -= sum(released.values())
    lots = session.execute(select(Lot).where(Lot.member_id == member_id).order_by(Lot.id)).scalars().all()
    entries = _entries(session, accounts)
    orders = _orders(session, member_id)
    referrals = session.execute(
        select(Referral).where(or_(Referral.referred_id == member_id, Referral.referrer_id == member_id))
        .order_by(Referral.created_at)
    ).scalars().all()
    names = slugs(session, {lot.issuer_id for lot in lots} | {r.partner_id for r in referrals}
                  | {e["partner_id"] for e in entries} | ({member.enrolled_by} if member.enrolled_by else set()))
    for entry in entries:
        entry["partner"] = names.get(entry.pop("partner_id"))
    return {
        "profile": {
            "member_id": member.id,
            **privacy.reveal(session, master, member),
            "created_at": member.created_at,
            "enrolled_by": names[member.enrolled_by] if member.enrolled_by else None,
            "last_activity_at": member.last_activity_at,
            "merged_into": member.merged_into,
            "deleted_at": member.deleted_at,
        },
        "cards": cards.card_view(cards.cards_of(session, member_id)),
        "balance": balance_view(balances),
        "lots": [
            {"id": lot.id, "account": accounts[lot.account_id], "issuer": names.get(lot.issuer_id, "network"),
             "points": lot.points, "remaining": lot.remaining + released.get(lot.id, 0), "earned_at": lot.earned_at,
             "available_at": lot.available_at, "expires_at": lot.expires_at, "merged_from": lot.merged_from_id}
            for lot in lots
        ],
        "entries": entries,
        "orders": orders,
        "referrals": [
            {"role": "referred" if r.referred_id == member_id else "referrer",
             "other_member_id": r.referrer_id if r.referred_id == member_id else r.referred_id,
             "partner": names.get(r.partner_id), "referrer_points": r.referrer_points,
             "referred_points": r.referred_points, "created_at": r.created_at, "paid_entry_id": r.paid_entry_id}
            for r in referrals
        ],
    }


def _entries(session: Session, accounts: dict[int, str]) -> list[dict]:
    """Every journal entry with a posting on the member's accounts, with those postings and its awards."""
    if not accounts:
        return []
    rows = session.execute(
        select(JournalEntry, Posting.account_id, Posting.amount)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .where(Posting.account_id.in_(list(accounts)))
        .order_by(JournalEntry.id, Posting.id)
    ).all()
    by_id: dict[int, dict] = {}
    for entry, account_id, amount in rows:
        view = by_id.get(entry.id)
        if view is None:
            view = by_id[entry.id] = {
                "id": entry.id, "kind": entry.kind, "partner_id": entry.partner_id, "reason": entry.reason,
                "order": entry.order_id, "reverses": entry.reverses_id, "occurred_at": entry.occurred_at,
                "booked_at": entry.booked_at, "postings": [], "awards": [],
            }
        view["postings"].append({"account": accounts[account_id], "amount": amount})
    awards: dict[int, list] = defaultdict(list)
    ids = list(by_id)
    for start in range(0, len(ids), 1000):
        for award in session.execute(
            select(Award).where(Award.entry_id.in_(ids[start:start + 1000])).order_by(Award.id)
        ).scalars():
            awards[award.entry_id].append({"rule": award.rule, "points": award.points, "detail": award.detail})
    for entry_id, view in by_id.items():
        view["awards"] = awards.get(entry_id, [])
    return list(by_id.values())


def _orders(session: Session, member_id: str) -> list[dict]:
    original = aliased(Order)
    rows = session.execute(
        select(Order, Partner.slug, original.order_id)
        .join(Partner, Partner.id == Order.partner_id)
        .outerjoin(original, original.id == Order.original_id)
        .where(Order.member_id == member_id)
        .order_by(Order.id)
    ).all()
    return [
        {"partner": slug, "kind": order.kind, "order_id": order.order_id, "original_order_id": original_id,
         "currency": order.currency, "total_minor": order.total_minor, "points": order.points,
         "occurred_at": order.occurred_at, "booked_at": order.booked_at}
        for order, slug, original_id in rows
    ]
