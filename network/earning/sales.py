"""Sales earn points at the partner that made them; refunds take them back.

Booking: a sale of n points debits the partner's issuance account and
credits the member's available account, opens a lot issued by the partner,
and records the awards (one per earning rule) that make up n. A refund does
the reverse for its share of the sale, rule by rule, draining the sale's own
lots first (its lot and every lot merges moved it to); how much more it may
take is the network's claw-back policy (network.earning.clawback).

Sales are booked in bulk: one statement per table for any number of sales,
so an end-of-day file of 100,000 rows costs a few hundred statements, and a
single sale from a till goes through the very same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from network.db import Retry
from network.earning import audiences, bonuses, checks, credit, unfunded
from network.earning import clawback as clawbacks
from network.earning.earned import Earned, earned_by
from network.earning.terms import Terms
from network.errors import DomainError, Invalid, PaymentRequired
from network.events import notices, outbox
from network.events.kinds import EventKind
from network.ledger import bulk, debts, journal, locks, orders
from network.ledger.journal import AVAILABLE, ISSUANCE, OWED, PENDING, REDEMPTION
from network.ledger.kinds import EntryKind, OrderKind
from network.lifecycle import hold_release, pending, tiers, upkeep
from network.members import aliases, cards
from network.models import Award as AwardRow
from network.models import Card, JournalEntry, Lot, Order, Posting
from network.parties import funding
from network.parties.registry import PartnerRef
from partners.cards import is_valid_card_number
from partners.earning import RuleSet, awards_for_sale, clawback_awards
from partners.fields import MAX_ORDER_ID
from partners.money import Money
from partners.rules import Award
from partners.transactions import Refund, Sale

#: A sale whose order id this partner already booked (or that appears twice in one batch).
DUPLICATE = "duplicate"
#: When the points of an order placed but not paid become available: not before a `Payment` says so.
UNPAID = pending.UNPAID

_entries, _postings, _lots, _awards = JournalEntry.__table__, Posting.__table__, Lot.__table__, AwardRow.__table__

def award_rows(entry_id: int, awards: Sequence[Award], sign: int = 1) -> list[dict]:
    return [{"entry_id": entry_id, "rule": a.rule, "points": sign * a.points, "detail": a.detail[:200]} for a in awards]


def awards_view(awards: Sequence[Award], sign: int = 1) -> list[dict]:
    return [{"rule": a.rule, "points": sign * a.points, "detail": a.detail} for a in awards]


def price(partner: PartnerRef, rules: RuleSet, sale: Sale, *, now: datetime, terms: Terms) -> list[Award] | DomainError:
    """What a sale earns under the partner's rules, or why it cannot be booked; no database needed.

    Bounds and date come first: a rule never sees year 9999 (its local time would overflow) nor 10^30 of a line.
    """
    if sale.total.currency != partner.currency:
        return checks.currency_error(partner, sale.total)
    if len(sale.order_id) > MAX_ORDER_ID:
        return checks.long_order_id("order_id", sale.order_id)
    if refusal := checks.out_of_bounds(sale) or checks.misdated(sale.occurred_at, now=now, terms=terms):
        return refusal
    return awards_for_sale(rules, sale, partner.timezone)


class Priced(NamedTuple):
    """A sale its rules priced, at its place in the batch (where its outcome goes)."""

    index: int
    sale: Sale
    awards: list[Award]


class Claim(NamedTuple):
    """A priced sale on a usable card, its order id not seen before in the batch."""

    index: int
    sale: Sale
    awards: list[Award]
    holder: journal.MemberAccounts


class Booked(NamedTuple):
    """A claim whose order id was new to the partner: `order_id` is its row in orders."""

    index: int
    sale: Sale
    awards: list[Award]
    holder: journal.MemberAccounts
    order_id: int
    points: int
    waits: bool = False  # past its partner's limit: its points wait, pending, for funds (network.earning.unfunded)


def book_sales(
    session: Session,
    partner: PartnerRef,
    sales: Sequence[tuple[Sale, list[Award] | DomainError]],
    *,
    now: datetime,
    terms: Terms = Terms(),
    lock_first: bool = False,
    rules: RuleSet | None = None,
) -> list[dict | DomainError | str]:
    """Book many priced sales of one partner; one outcome per sale, in order.

    `rules`: the rules they were priced by; a campaign's rule with an audience prices each again for its member.

    An outcome is the booking (a dict), the `DomainError` that refused the
    sale, or `DUPLICATE`. Every refusal is decided before anything is
    written, so the transaction holds exactly the accepted sales.

    The members are locked last, just before their balances move, so two
    chunks of an import (or two imports) write their rows at once and hold
    the locks only for their final statements; a single sale (`lock_first`)
    locks its member as it reads the card, in the same statement, which
    saves one. Either way a member a merge absorbed while this waited for
    the lock has its sales booked on the survivor (a batch is run again).
    """
    outcomes: list[dict | DomainError | str | None] = [None] * len(sales)
    priced = _priced(sales, outcomes, now=now, terms=terms)
    holders, referrals = aliases.holders(session, partner.id, {p.sale.card_number for p in priced}, lock=lock_first)
    claims = _claims(priced, holders, outcomes)
    if rules is not None:
        claims = audiences.repriced(session, rules, partner.timezone, claims)
    claims = _with_tier_awards(session, claims, now=now, terms=terms)
    # A single sale past a credit limit is refused whole (402); past a limit that lets sales wait, none is refused.
    if partner.funding is None or lock_first or partner.over_limit == funding.PENDING:
        booked = _claim_orders(session, partner, claims, outcomes, now=now)
        if booked:
            _book(session, partner, booked, referrals, outcomes, now=now, terms=terms, lock_first=lock_first)
        return outcomes  # type: ignore[return-value]
    try:  # a batch past the limit: its sales refused, each, and nothing of them kept (not even their order ids)
        with session.begin_nested():
            booked = _claim_orders(session, partner, claims, outcomes, now=now)
            if booked:
                _book(session, partner, booked, referrals, outcomes, now=now, terms=terms, lock_first=lock_first)
    except PaymentRequired as refusal:
        for claim in claims:
            outcomes[claim.index] = refusal
        credit.refused(session, partner, now)  # in the chunk's transaction: only the savepoint rolled back
    return outcomes  # type: ignore[return-value]


def _priced(sales: Sequence[tuple[Sale, list[Award] | DomainError]], outcomes: list, *, now: datetime,
            terms: Terms) -> list[Priced]:
    """The sales their rules could price, dated where the hub books; the others' refusals go to their outcomes."""
    priced = []
    for index, (sale, awards) in enumerate(sales):
        if isinstance(awards, DomainError):
            outcomes[index] = awards
        elif misdated := checks.misdated(sale.occurred_at, now=now, terms=terms):
            outcomes[index] = misdated
        else:
            priced.append(Priced(index, sale, awards))
    return priced


def _claims(priced: list[Priced], holders: dict, outcomes: list) -> list[Claim]:
    """The sales on a usable card, each order id once; a bad card's error or `DUPLICATE` goes to the outcome."""
    claims, seen = [], set()
    for index, sale, awards in priced:
        holder = holders[sale.card_number]
        if isinstance(holder, DomainError):
            outcomes[index] = holder
        elif sale.order_id in seen:
            outcomes[index] = DUPLICATE
        else:
            seen.add(sale.order_id)
            claims.append(Claim(index, sale, awards, holder))
    return claims


def _with_tier_awards(session: Session, claims: list[Claim], *, now: datetime, terms: Terms) -> list[Claim]:
    """Each claim with its tier award added, priced in batch order as if the sales came one by one."""
    extra = tiers.tier_awards(session, [(c.holder.member_id, c.awards) for c in claims], now=now,
                              window=terms.tier_window, known=terms.ladder)
    return [claim._replace(awards=claim.awards + more) for claim, more in zip(claims, extra)]


def _claim_orders(session: Session, partner: PartnerRef, claims: list[Claim], outcomes: list, *,
                  now: datetime) -> list[Booked]:
    """Claim the claims' order ids at once; one the partner already booked is a `DUPLICATE`."""
    rows = [
        {"order_id": c.sale.order_id, "member_id": c.holder.member_id, "points": sum(a.points for a in c.awards),
         "occurred_at": c.sale.occurred_at, "total_minor": c.sale.refundable.minor,
         "charged_minor": c.sale.charged.minor if c.sale.charged else None}
        for c in claims
    ]
    claimed = orders.claim_many(session, partner_id=partner.id, kind=OrderKind.SALE,
                                same={"currency": partner.currency, "booked_at": now}, rows=rows)
    booked = []
    for claim, row in zip(claims, rows):
        order_id = claimed.get(claim.sale.order_id)
        if order_id is None:
            outcomes[claim.index] = DUPLICATE
        else:
            booked.append(Booked(*claim, order_id, row["points"]))
    return booked


def _book(session: Session, partner: PartnerRef, booked: list[Booked], referrals: set[str], outcomes: list, *,
          now: datetime, terms: Terms, lock_first: bool) -> None:
    """Write the booked sales, move their members' balances, and what follows an earn: referrals, tiers, events."""
    locked, waiting = lock_first, partner.funding is not None and partner.over_limit == funding.PENDING
    if waiting:
        # Whether a sale's points wait for funds says where they are written, so the draw comes first; after the
        # members' locks all the same (a batch's too, then), as every draw.
        if not locked:
            _lock_holders(session, booked)
            locked = True
        waits = unfunded.cover(session, partner, [(b.order_id, b.points) for b in booked if b.awards], now,
                               held=[b.holder for b in booked])
        booked = [b._replace(waits=True) if b.order_id in waits else b for b in booked]
    earning = [b for b in booked if b.awards]  # a sale that earns nothing writes no entry and releases no referral
    # Members locked already (a till's sale): their balances move in the statement that writes the entries.
    along = _credit(partner, booked) if locked and earning else None
    entries = _write_earnings(session, partner, earning, now=now, lifetime=terms.lifetime, balances=along)
    if not locked:
        _lock_holders(session, booked)
    if partner.funding is not None and not waiting:
        # After the members' locks, as a single sale takes them: members first, then the partner's funds, always.
        credit.draw(session, partner, [(b.order_id, b.points) for b in earning], now)
    for holder in {id(b.holder): b.holder for b in booked}.values():  # an expired hold ends before the write,
        hold_release.release_expired(session, holder, now)  # so the answer's balance shows it released
    if along is None:
        bulk.add_to_balances(session.connection(), _credit(partner, booked))
    cards.touch(session, [b.holder for b in earning], now)
    first_sales = {b.holder.member_id: b.holder for b in earning if b.holder.member_id in referrals}
    for holder in first_sales.values():
        bonuses.pay_referral(session, holder, now=now, lifetime=terms.lifetime)
    moved = tiers.promote(session, {b.holder.member_id for b in earning}, now=now, window=terms.tier_window,
                          known=terms.ladder)
    notices.tier_changes(session, moved, now=now, reason="threshold reached")
    if terms.nudge_gap > 0 and terms.offers != []:  # no nudge to send: nothing to work out
        notices.rewards_within_reach(session, _moves(booked), partner_id=partner.id, gap=terms.nudge_gap, now=now,
                                     known=terms.offers)
    for b in booked:  # each answer shows the balance after the whole batch
        outcomes[b.index] = {"journal_id": entries.get(b.order_id), "points": b.points,
                             "awards": awards_view(b.awards), "member_id": b.holder.member_id,
                             "balance": b.holder.balance_view(), **({"awaiting_funds": True} if b.waits else {})}
    outbox.emit_many(session, EventKind.POINTS_EARNED, [outbox.NewEvent(b.holder.member_id, partner.id, {
        "member_id": b.holder.member_id, "partner": partner.slug, "points": b.points, "order_id": b.sale.order_id,
        "balance": outcomes[b.index]["balance"]}) for b in earning], now=now)


def _lock_holders(session: Session, booked: list[Booked]) -> None:
    """Lock the batch's members (read unlocked so far), after their rows are written and before their balances move.

    Locked last, two chunks of an import write their rows at once and queue
    only for their final statements. A member a merge absorbed while this
    waited has rows naming the closed member: the chunk is run again
    (`Retry`), and then reads the survivor's card.
    """
    if locks.lock_members(session, list({id(b.holder): b.holder for b in booked}.values())):
        raise Retry("A member of the batch was merged while it waited for the lock")


def _credit(partner: PartnerRef, booked: list[Booked]) -> dict[int, int]:
    """What the batch earned the locked members, by account, added to the balances held in memory: one write for all.

    Added in any order with a hold's release (network.lifecycle.hold_release): both only add to balances.
    """
    changes: dict[int, int] = defaultdict(int)
    for b in booked:
        credited = _credited(partner, b)
        changes[b.holder.ids[credited]] += b.points
        b.holder.balances[credited] += b.points
    return {account: change for account, change in changes.items() if change}


def _credited(partner: PartnerRef, b: Booked) -> str:
    """Where a sale's points go: pending through the partner's return window, or until the order is paid or funded."""
    return PENDING if partner.pending_days or b.sale.awaiting_payment or b.waits else AVAILABLE


def _available_at(b: Booked, window: datetime) -> datetime:
    """When the sale's points become available: at the end of the window, unless they wait for news first."""
    if b.waits:
        return pending.UNFUNDED_UNPAID if b.sale.awaiting_payment else pending.UNFUNDED
    return UNPAID if b.sale.awaiting_payment else window


def _moves(booked: list[Booked]) -> list[tuple[str, int, int]]:
    """Each credited member's points before and after the batch (what they could spend soon: pending counts)."""
    earned: dict[str, int] = defaultdict(int)
    holders = {}
    for b in booked:
        earned[b.holder.member_id] += b.points
        holders[b.holder.member_id] = b.holder
    moves = []
    for member_id, points in earned.items():
        after = sum(holders[member_id].balances[kind] for kind in (AVAILABLE, PENDING, OWED))
        moves.append((member_id, after - points, after))
    return moves


def _write_earnings(session: Session, partner: PartnerRef, earning: list[Booked], *, now: datetime,
                    lifetime: timedelta, balances: dict[int, int] | None = None) -> dict[int, int]:
    """Write the entries, postings, lots and awards of sales that earn, and move `balances`; returns each order's entry id.

    One statement on PostgreSQL (network.ledger.bulk.insert_entries_with):
    the rows name their entry by its order until it has an id.
    """
    issuance = partner.account_id(ISSUANCE)
    window = now + timedelta(days=partner.pending_days)
    entries, postings, lots, award_list = [], [], [], []
    for b in earning:
        account = b.holder.ids[_credited(partner, b)]
        entries.append({"member_id": b.holder.member_id, "order_id": b.order_id, "occurred_at": b.sale.occurred_at,
                        "reason": f"Sale {b.sale.order_id} at {partner.name}: {b.sale.total} {b.sale.total.currency}"})
        postings += [
            {"entry_id": b.order_id, "account_id": issuance, "amount": -b.points},
            {"entry_id": b.order_id, "account_id": account, "amount": b.points},
        ]
        lots.append({"member_id": b.holder.member_id, "account_id": account, "entry_id": b.order_id, "points": b.points,
                     "remaining": b.points, "available_at": _available_at(b, window)})
        award_list += award_rows(b.order_id, b.awards)
    return bulk.insert_entries_with(
        session.connection(), _entries, entries, {"kind": EntryKind.EARN, "partner_id": partner.id, "booked_at": now},
        [(_postings, postings, {"booked_at": now}),
         (_lots, lots, {"issuer_id": partner.id, "earned_at": now, "expires_at": now + lifetime}),
         (_awards, award_list, {})],
        balances,
    )


def record_sale(session: Session, partner: PartnerRef, rules: RuleSet, sale: Sale, *, now: datetime,
                terms: Terms = Terms()) -> dict:
    priced = price(partner, rules, sale, now=now, terms=terms)
    (outcome,) = book_sales(session, partner, [(sale, priced)], now=now, terms=terms, lock_first=True, rules=rules)
    if outcome == DUPLICATE:
        raise orders.duplicate(session, partner.id, OrderKind.SALE, sale.order_id)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


class TakeBack(NamedTuple):
    """What a refund takes back: its share of the sale's awards, and where the policy finds the points."""

    due: list[Award]  # the refund's share of each award, before the policy
    taken: list[Award]  # as much of `due` as the policy collects, bonuses given up first
    share: clawbacks.Split
    own_account: str  # where the sale's own lot is: pending or available

    @property
    def uncollected(self) -> int:
        return sum(a.points for a in self.due) - self.share.total


def record_refund(session: Session, partner: PartnerRef, refund: Refund, *, now: datetime, terms: Terms = Terms(),
                  kind: OrderKind = OrderKind.REFUND, queue: unfunded.Plan | None = None, release: bool = True) -> dict:
    """`kind`: a cancellation is booked as the refund of all that is left, under the order's own id (network.earning.order_status).

    What the refund makes room for in its partner's funds is released in its
    transaction (`release`), the members that reaches locked with the sale's
    first (`unfunded.ahead_of_refunds`; `queue`: by the caller already).
    """
    _check_refund(partner, refund, now=now, terms=terms)
    sale = _refunded_sale(session, partner, refund)
    refund = _measured(refund, sale)
    if sale.occurred_at is not None and checks.utc(refund.occurred_at) < checks.utc(sale.occurred_at):
        # A till's clock set wrong, or the wrong order id: either way not a refund of this sale.
        raise Invalid("The refund is dated before the sale it refunds",
                      {"occurred_at": [f"must be at least {checks.utc(sale.occurred_at).isoformat()}, the sale's date"]},
                      code="invalid_transaction")
    queue = unfunded.ahead_of_refunds(session, partner, [sale.order_id]) if queue is None else queue
    # After a merge the sale's points (and its card) are the surviving member's.
    member = locks.lock_holder(session, sale.member_id)
    _check_card_and_order(session, partner, refund, member, kind)
    before = _refunded_before(session, sale, refund)
    upkeep.bring_up_to_date(session, member, now)
    earned = earned_by(session, sale, member)
    due = clawback_awards(_sale_awards(session, sale) if earned else [], sale.total_minor, before,
                          refund.total.minor)
    back = _take_back(terms, member, earned, due)
    order = orders.claim(
        session, partner_id=partner.id, kind=kind, order_id=refund.order_id, member_id=member.member_id,
        points=-back.share.total, booked_at=now, occurred_at=refund.occurred_at, currency=refund.total.currency,
        total_minor=refund.total.minor, original_id=sale.id,
    )
    entry_id = _book_refund(session, partner, refund, sale, member, earned, back, order, now) if back.share.total else None
    if release:
        unfunded.after_refunds(session, partner, now, queue, held=[member])
    result = {"journal_id": entry_id, "points": -back.share.total, "awards": awards_view(back.taken, sign=-1),
              "member_id": member.member_id, "balance": member.balance_view()}
    if back.uncollected > 0:
        result["uncollected_points"] = back.uncollected
    return result


def _check_refund(partner: PartnerRef, refund: Refund, *, now: datetime, terms: Terms) -> None:
    """What needs no database: the partner's currency, order ids the ledger can keep, sane amounts and date."""
    if refund.total.currency != partner.currency:
        raise checks.currency_error(partner, refund.total)
    for field in ("order_id", "original_order_id"):
        if len(getattr(refund, field)) > MAX_ORDER_ID:
            raise checks.long_order_id(field, getattr(refund, field))
    if refusal := checks.out_of_bounds(refund) or checks.misdated(refund.occurred_at, now=now, terms=terms):
        raise refusal


def _refunded_sale(session: Session, partner: PartnerRef, refund: Refund) -> Order:
    sale = orders.find(session, partner.id, OrderKind.SALE, refund.original_order_id)
    if sale is None:
        raise Invalid(
            f"No sale {refund.original_order_id!r} at {partner.name} to refund",
            {"original_order_id": [refund.original_order_id]},
            code="unknown_order",
        )
    return sale


def _member_of(session: Session, partner: PartnerRef, reference: str) -> str:
    """The member of a card, or of the card this partner's alias stands for; the card's refusal for neither."""
    if not is_valid_card_number(reference) or session.get(Card, reference) is None:
        number = aliases.resolve(session, partner.id, [reference]).get(reference)
        if number is not None:
            return cards.member_for_card(session, number)
    return cards.member_for_card(session, reference)


def _measured(refund: Refund, sale: Order) -> Refund:
    """A refund of money naming no line, as its share of the sale in the sale's own measure (what points were earned on)."""
    if refund.charged_back is None or refund.total.minor:
        return refund
    if not sale.charged_minor:
        raise Invalid(f"The refund names no line, and what sale {sale.order_id} charged is unknown: its share cannot be "
                      "measured", {"charged_back": [str(refund.charged_back)]}, code="unmeasurable_refund")
    share = min(refund.charged_back.minor, sale.charged_minor) * (sale.total_minor or 0) // sale.charged_minor
    return replace(refund, total=Money(share, refund.total.currency))


def _check_card_and_order(session: Session, partner: PartnerRef, refund: Refund, member: journal.MemberAccounts,
                          kind: OrderKind) -> None:
    """The card, if named, is the sale's holder's; the refund's order id is new."""
    if refund.card_number is not None and _member_of(session, partner, refund.card_number) != member.member_id:
        raise Invalid("The card is not the one the sale was made with", {"card_number": [refund.card_number]}, code="card_mismatch")
    if orders.find(session, partner.id, kind, refund.order_id) is not None:
        # Checked before the amounts, so a resent refund reads as a duplicate, not as too large.
        raise orders.duplicate(session, partner.id, kind, refund.order_id)


def _refunded_before(session: Session, sale: Order, refund: Refund) -> int:
    """What earlier refunds of the sale took (minor units), refusing a refund past what is left of it."""
    before = orders.refunded_so_far(session, sale.id)
    if before + refund.total.minor > sale.total_minor:
        refundable = Money(sale.total_minor - before, sale.currency)
        raise Invalid(
            f"The refund exceeds what is left of sale {sale.order_id} ({refundable} {sale.currency})",
            {"total": [f"at most {refundable} can still be refunded"], "refundable": str(refundable)},
            code="refund_exceeds_sale",
        )
    return before


def _take_back(terms: Terms, member: journal.MemberAccounts, earned: Earned | None, due: list[Award]) -> TakeBack:
    """Where the policy takes the refund's points from: the sale's own lot, the member's others, what is left owing."""
    own_account = PENDING if earned and earned.account_id == member.ids[PENDING] else AVAILABLE
    own_remaining = earned.remaining if earned else 0
    share = clawbacks.split(
        terms.clawback, sum(a.points for a in due), own_remaining=own_remaining, own_pending=own_account == PENDING,
        others_available=member.balances[AVAILABLE] - (own_remaining if own_account == AVAILABLE else 0),
    )
    return TakeBack(due, _trim(due, share.total), share, own_account)


def _book_refund(session: Session, partner: PartnerRef, refund: Refund, sale: Order, member: journal.MemberAccounts,
                 earned: Earned | None, back: TakeBack, order: int, now: datetime) -> int:
    """Post the refund entry, take its lots, record what it leaves owing and the awards it takes back."""
    share = back.share
    if back.own_account == AVAILABLE:  # one pass: the sale's own lots first, then the others
        plans = [journal.plan_taking(session, member, share.own + share.others,
                                     first_lot_ids=earned.lot_ids if earned else ())]
    else:
        plans = [journal.plan_taking(session, member, share.own, first_lot_ids=earned.lot_ids, account=PENDING),
                 journal.plan_taking(session, member, share.others)]
    # Points the partner issued come back to its issuance account; another issuer's points, and
    # what is left owing, it receives as if the member had spent them at its till.
    own_issue = sum(plan.by_issuer.get(partner.id, 0) for plan in plans)
    if share.own and (sale.point_cost_micros is not None or partner.funding is not None):
        # What the sale's own points drew on the partner's funds returns with them (the member is locked: funds last).
        funding.give_back(session, partner.id, sale.id, share.own, now, emptied=share.own == earned.remaining)
    entry_id = journal.post(
        session,
        kind=EntryKind.REFUND,
        legs=[(member.ids[back.own_account], -share.own), (member.ids[AVAILABLE], -share.others),
              (member.ids[OWED], -share.owed), (partner.account_id(ISSUANCE), own_issue),
              (partner.account_id(REDEMPTION), share.total - own_issue)],
        member=member,
        partner_id=partner.id,
        reason=f"Refund {refund.order_id} of sale {sale.order_id} at {partner.name}: {refund.total} {refund.total.currency}",
        booked_at=now,
        occurred_at=refund.occurred_at,
        reverses_id=earned.entry_id,
        order_id=order,
    )
    for plan in plans:
        journal.take(session, plan, entry_id)
    if share.owed:
        debts.owe(session, member, partner_id=partner.id, entry_id=entry_id, points=share.owed, now=now)
    session.execute(insert(_awards), award_rows(entry_id, back.taken, sign=-1))
    return entry_id


def _sale_awards(session: Session, sale: Order) -> list[Award]:
    """What the sale earned, rule by rule, over all its earn entries (an edit may have topped it up).

    Earlier refunds are accounted for by their cumulative share.
    """
    rows = session.execute(
        select(AwardRow.rule, AwardRow.points, AwardRow.detail).join(JournalEntry, JournalEntry.id == AwardRow.entry_id)
        .where(JournalEntry.order_id == sale.id, JournalEntry.kind == EntryKind.EARN).order_by(AwardRow.id)
    ).all()
    if not rows:  # booked before awards were recorded: all of it was the base rate
        return [Award("base_rate", sale.points)]
    by_rule: dict[str, Award] = {}
    for row in rows:
        known = by_rule.get(row.rule)
        by_rule[row.rule] = Award(row.rule, row.points + (known.points if known else 0), known.detail if known else row.detail)
    return list(by_rule.values())


def _trim(awards: list[Award], limit: int) -> list[Award]:
    """Keep at most `limit` points, giving up the last awards first (bonuses before the base)."""
    kept, left = [], limit
    for award in awards:
        take = min(award.points, left)
        left -= take
        if take:
            kept.append(Award(award.rule, take, award.detail))
    return kept
