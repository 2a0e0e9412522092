"""Members, their cards and balances, and their history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from network.api.answers import answers, writes
from network.api.common import hub, idempotent_write, ladder, lagging_read, now, principal, read, requires, tier_window
from network.api.document import card_in_path
from network.api.member_data import master_key
from network.api.paging import QUERY, Listing, page, page_schema, query_schema
from network.api.schemas import (
    AdjustmentCreate,
    AdjustmentResult,
    CardBalance,
    HistoryEntry,
    MemberCreate,
    MemberCreated,
    MemberOut,
)
from network.earning import adjustments, bonuses
from network.errors import Forbidden
from network.lifecycle import expiry, tiers
from network.members import cards, history, privacy
from network.parties.roles import ADMIN, ALL_ROLES, PARTNER_KEY, PARTNER_ROLES, STAFF_ROLES, SUPPORT
from network.spending import holds

blp = Blueprint("members", __name__, description="Members and cards")


@blp.route("/members", methods=["POST"])
@requires(ADMIN, SUPPORT, PARTNER_KEY)
@writes
@blp.arguments(MemberCreate, required=False, description="every field is optional: a partner may enrol a member with no body")
@blp.response(201, MemberCreated)
@answers("unknown_card", "invalid_card", "card_blocked", "rules_unavailable", "master_key_error")
def enrol(args):
    """Enrol a member and issue their first card.

    A partner enrolling pays its `welcome_bonus` rule at once; with
    `referred_by`, its `referral` rule is promised and paid to both members
    after the new member's first sale.
    """
    partner = principal().partner

    rules = hub().ruleset(partner) if partner else None
    days = timedelta(days=current_app.config["COALITION_POINTS_LIFETIME_DAYS"])

    def work(session):
        if args["referred_by"] is not None:
            cards.member_for_card(session, args["referred_by"])  # 404 for an unknown referrer, before enrolling
        member_id, card = cards.enrol(
            session, email=args["email"], name=args["name"], enrolled_by=partner.id if partner else None, now=now(),
            master=master_key(),
        )
        enrolled = {"member_id": member_id, "card_number": card}
        if partner is not None:
            enrolled.update(
                bonuses.on_enrolment(session, partner, rules, member_id, referred_by=args["referred_by"], now=now(), lifetime=days)
            )
        return enrolled

    return idempotent_write(work)


@blp.route("/members/<member_id>", methods=["GET"])
@requires(ALL_ROLES)
@blp.response(200, MemberOut)
@answers("unknown_member", "member_merged", "member_deleted", "master_key_error")
def show(member_id):
    """A member's cards (with their status), balance and tier; e-mail and name (decrypted) for admins and support.

    A partner, and the operator's finance staff, see each card's last four
    digits only: a member id reaches partners in events, and a full card
    number is what spends points at a till.
    """
    return read(member_view(member_id))


def member_view(member_id: str) -> Callable[[Session], dict]:
    """The reading of a member as the caller may see it: what this API's `show` and the desk's member page answer."""
    is_operator = principal().sees_personal_data
    at, window, known = now(), tier_window(), ladder()

    def work(session):
        member = cards.get_member(session, member_id)
        view = {
            "member_id": member.id,
            "created_at": member.created_at,
            "cards": cards.card_view(cards.cards_of(session, member.id), masked=not is_operator),
            "balance": holds.as_of(balance := cards.balances(session, member.id, at),
                                   holds.expired_points(session, at, member_id=member.id, held=balance["held"])),
            "expiring": _expiring(session, member.id),
            **tiers.member_view(session, member.id, now=at, window=window, known=known),
        }
        if is_operator:
            view.update(privacy.reveal(session, master_key(), member))
        return view

    return work


@blp.route("/members/<member_id>/adjustments", methods=["POST"])
@requires(ADMIN, SUPPORT)
@writes
@blp.arguments(AdjustmentCreate)
@blp.response(201, AdjustmentResult)
@answers("unknown_member", "member_merged", "member_deleted", "insufficient_points", "wrong_role", "over_role_limit")
def adjust(args, member_id):
    """Credit or debit a member's points by hand, with a reason; funded by the network.

    Admins, and support up to `COALITION_SUPPORT_ADJUSTMENT_LIMIT` points either way (403 `over_role_limit` above
    it). A debit takes the member's oldest-expiring points first and never goes below zero (`insufficient_points`).
    """
    return idempotent_write(adjustment(member_id, args))


def adjustment(member_id: str, args: dict) -> Callable[[Session], dict]:
    """The work of the caller's adjustment (`AdjustmentCreate`'s fields), refused above support's limit before any
    is done: what this API and the desk both commit."""
    limit = current_app.config["COALITION_SUPPORT_ADJUSTMENT_LIMIT"]
    if principal().role == SUPPORT and abs(args["points"]) > limit:
        raise Forbidden(f"Support adjusts at most {limit} points at once", {"points": [f"at most {limit} either way"]},
                        code="over_role_limit")
    days = timedelta(days=current_app.config["COALITION_POINTS_LIFETIME_DAYS"])

    def work(session):
        cards.get_member(session, member_id)
        return adjustments.adjust(session, member_id, now=now(), lifetime=days, **args)

    return work


#: A member's history as a list of the API (network/api/paging.py): newest first, by entry id.
HISTORY = Listing("history", int, bound=2**63 - 1, newest_first=True, example_key=4711)


@blp.route("/members/<member_id>/history", methods=["GET"])
@requires(STAFF_ROLES, PARTNER_ROLES)
@blp.arguments(query_schema(HISTORY, "by entry id"), **QUERY)
@blp.response(200, page_schema(HistoryEntry, "HistoryPage", HISTORY, "/v1/members/8f14e45fceea167a5a36dedd4bea2543/history"))
@answers("unknown_member", "member_merged", "member_deleted")
def member_history(query, member_id):
    """Entries newest first, a page at a time (follow `next`); a partner sees only the entries it created.

    The operator's staff see every entry.
    """
    partner = principal().partner

    def work(session):
        cards.get_member(session, member_id)
        return page(HISTORY, query, lambda after, count: history.history(
            session, member_id, partner_id=partner.id if partner else None, count=count, below=after),
            key=lambda entry: entry["id"])

    return lagging_read(work)  # looking back: the replica's lag is fine (docs/architecture.md)


@blp.route("/cards/<card_number>/balance", methods=["GET"])
@card_in_path
@requires(ALL_ROLES)
@blp.response(200, CardBalance)
@answers("unknown_card", "invalid_card", "card_blocked")
def balance(card_number):
    """What a till shows before a redemption: the balances, the next points to expire, and the member's tier.

    Any partner may read any card (the card number is what a till holds). `held` counts authorised holds; points of
    an expired hold show as available at once.
    """
    at, window, known = now(), tier_window(), ladder()

    def work(session):
        holder = cards.card_holder(session, card_number, at)
        member_id, balance = holder.member_id, holder.balances
        return {"card_number": card_number, "member_id": member_id, **holds.as_of(balance, holds.expired_points(session, at, member_id=member_id,
                                                                                         held=balance["held"])),
                "expiring": _expiring(session, member_id, holder),
                **tiers.member_view(session, member_id, now=at, window=window, known=known)}

    return read(work)


def _expiring(session, member_id: str, holder: cards.Holder | None = None) -> dict | None:
    """The next points to expire and when, so a member can spend them in time."""
    known = {} if holder is None else {"open_accounts": holder.open_accounts, "last_active": holder.last_active}
    soon = expiry.next_expiring(session, member_id, expiry.Policy.from_config(current_app.config), **known)
    return None if soon is None else {"points": soon.points, "at": soon.at}
