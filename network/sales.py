"""Sales earn points at the partner that made them; refunds take them back.

Booking: a sale of n points debits the partner's issuance account and
credits the member's available account, opens a lot issued by the partner,
and records the awards (one per earning rule) that make up n. A refund does
the reverse for its share of the sale, rule by rule, draining the sale's own
lot only, so provenance stays with the issuer that is refunding.

Sales are booked in bulk: one statement per table for any number of sales,
so an end-of-day file of 100,000 rows costs a few hundred statements, and a
single sale from a till goes through the very same code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from network import bonuses, ledger, members, orders
from network.errors import DomainError, Invalid
from network.ledger import AVAILABLE, ISSUANCE
from network.models import Award as AwardRow
from network.models import JournalEntry, Lot
from network.registry import PartnerRef
from partners.earning import RuleSet, awards_for_sale, clawback_awards
from partners.money import Money
from partners.rules import Award
from partners.transactions import Refund, Sale

#: A sale whose order id this partner already booked (or that appears twice in one batch).
DUPLICATE = "duplicate"

_entries, _postings, _lots, _awards = JournalEntry.__table__, ledger._postings, Lot.__table__, AwardRow.__table__
_INSERT_ENTRIES = insert(_entries).returning(_entries.c.id, sort_by_parameter_order=True)


def _currency_error(partner: PartnerRef, money: Money) -> Invalid:
    return Invalid(
        f"{partner.name} books in {partner.currency}, not {money.currency}",
        {"currency": [f"must be {partner.currency}"]},
        code="currency_mismatch",
    )


def award_rows(entry_id: int, awards: Sequence[Award], sign: int = 1) -> list[dict]:
    return [{"entry_id": entry_id, "rule": a.rule, "points": sign * a.points, "detail": a.detail[:200]} for a in awards]


def awards_view(awards: Sequence[Award], sign: int = 1) -> list[dict]:
    return [{"rule": a.rule, "points": sign * a.points, "detail": a.detail} for a in awards]


def book_sales(
    session: Session, partner: PartnerRef, rules: RuleSet, sales: Sequence[Sale], *, now: datetime, lifetime: timedelta
) -> list[dict | DomainError | str]:
    """Book many sales of one partner; one outcome per sale, in order.

    An outcome is the booking (a dict), the `DomainError` that refused the
    sale, or `DUPLICATE`. Every refusal is decided before anything is
    written, so the transaction holds exactly the accepted sales.
    """
    outcomes: list[dict | DomainError | str | None] = [None] * len(sales)
    priced: list[tuple[int, Sale, list[Award]]] = []
    for index, sale in enumerate(sales):
        if sale.total.currency != partner.currency:
            outcomes[index] = _currency_error(partner, sale.total)
        else:
            priced.append((index, sale, awards_for_sale(rules, sale, partner.timezone)))
    holders, referrals = members.lock_cards(session, {sale.card_number for _, sale, _ in priced})
    claims: list[tuple[int, Sale, list[Award], ledger.MemberAccounts]] = []
    seen: set[str] = set()
    for index, sale, awards in priced:
        holder = holders[sale.card_number]
        if isinstance(holder, DomainError):
            outcomes[index] = holder
        elif sale.order_id in seen:
            outcomes[index] = DUPLICATE
        else:
            seen.add(sale.order_id)
            claims.append((index, sale, awards, holder))
    claimed = orders.claim_many(
        session,
        partner_id=partner.id,
        kind="sale",
        rows=[
            {
                "order_id": sale.order_id,
                "member_id": holder.member_id,
                "points": sum(a.points for a in awards),
                "occurred_at": sale.occurred_at,
                "currency": sale.total.currency,
                "total_minor": sale.refundable.minor,
                "booked_at": now,
            }
            for _, sale, awards, holder in claims
        ],
    )
    earning: list[tuple[int, Sale, list[Award], ledger.MemberAccounts, int]] = []
    first_sales: dict[str, ledger.MemberAccounts] = {}
    for index, sale, awards, holder in claims:
        order_id = claimed.get(sale.order_id)
        if order_id is None:
            outcomes[index] = DUPLICATE
            continue
        if holder.member_id in referrals:
            first_sales.setdefault(holder.member_id, holder)
        if awards:
            earning.append((index, sale, awards, holder, order_id))
        else:
            outcomes[index] = {"journal_id": None, "points": 0, "awards": [], "balance": holder.balance_view()}
    if earning:
        _book_earnings(session, partner, earning, outcomes, now=now, lifetime=lifetime)
    for holder in first_sales.values():
        bonuses.pay_referral(session, holder, now=now, lifetime=lifetime)
    return outcomes  # type: ignore[return-value]


def _book_earnings(session, partner, earning, outcomes, *, now, lifetime) -> None:
    connection = session.connection()
    entry_ids = connection.execute(
        _INSERT_ENTRIES,
        [
            {
                "kind": "earn",
                "partner_id": partner.id,
                "member_id": holder.member_id,
                "reverses_id": None,
                "order_id": order_id,
                "reason": f"Sale {sale.order_id} at {partner.name}: {sale.total} {sale.total.currency}",
                "occurred_at": sale.occurred_at,
                "booked_at": now,
            }
            for _, sale, _, holder, order_id in earning
        ],
    ).scalars().all()
    issuance = partner.account_id(ISSUANCE)
    postings, lots, award_list = [], [], []
    changes: dict[int, int] = defaultdict(int)
    expires_at = now + lifetime
    for entry_id, (_, _, awards, holder, _) in zip(entry_ids, earning):
        points = sum(a.points for a in awards)
        account = holder.ids[AVAILABLE]
        postings += [
            {"entry_id": entry_id, "account_id": issuance, "amount": -points},
            {"entry_id": entry_id, "account_id": account, "amount": points},
        ]
        lots.append({
            "member_id": holder.member_id, "account_id": account, "issuer_id": partner.id, "entry_id": entry_id,
            "points": points, "remaining": points, "earned_at": now, "available_at": now, "expires_at": expires_at,
        })
        award_list += award_rows(entry_id, awards)
        changes[account] += points
        holder.balances[AVAILABLE] += points
    connection.execute(insert(_postings), postings)
    connection.execute(ledger._MOVE_BALANCE, [{"account": a, "change": c} for a, c in changes.items()])
    connection.execute(insert(_lots), lots)
    connection.execute(insert(_awards), award_list)
    for entry_id, (index, _, awards, holder, _) in zip(entry_ids, earning):
        outcomes[index] = {
            "journal_id": entry_id,
            "points": sum(a.points for a in awards),
            "awards": awards_view(awards),
            "balance": holder.balance_view(),
        }


def record_sale(
    session: Session, partner: PartnerRef, rules: RuleSet, sale: Sale, *, now: datetime, lifetime: timedelta
) -> dict:
    (outcome,) = book_sales(session, partner, rules, [sale], now=now, lifetime=lifetime)
    if outcome == DUPLICATE:
        raise orders.duplicate(session, partner.id, "sale", sale.order_id)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def record_refund(session: Session, partner: PartnerRef, refund: Refund, *, now: datetime) -> dict:
    if refund.total.currency != partner.currency:
        raise _currency_error(partner, refund.total)
    sale = orders.find(session, partner.id, "sale", refund.original_order_id)
    if sale is None:
        raise Invalid(
            f"No sale {refund.original_order_id!r} at {partner.name} to refund",
            {"original_order_id": [refund.original_order_id]},
            code="unknown_order",
        )
    if refund.card_number is not None and members.member_for_card(session, refund.card_number) != sale.member_id:
        raise Invalid("The card is not the one the sale was made with", {"card_number": [refund.card_number]}, code="card_mismatch")
    member = ledger.lock_member(session, sale.member_id)
    if orders.find(session, partner.id, "refund", refund.order_id) is not None:
        # Checked before the amounts, so a resent refund reads as a duplicate, not as too large.
        raise orders.duplicate(session, partner.id, "refund", refund.order_id)
    before = orders.refunded_so_far(session, sale.id)
    if before + refund.total.minor > sale.total_minor:
        refundable = Money(sale.total_minor - before, sale.currency)
        raise Invalid(
            f"The refund exceeds what is left of sale {sale.order_id} ({refundable} {sale.currency})",
            {"total": [f"at most {refundable} can still be refunded"], "refundable": str(refundable)},
            code="refund_exceeds_sale",
        )
    earned = session.execute(
        select(JournalEntry.id, Lot.id.label("lot_id"), Lot.remaining)
        .join(Lot, Lot.entry_id == JournalEntry.id)
        .where(JournalEntry.order_id == sale.id)
    ).first()
    due = clawback_awards(_sale_awards(session, earned.id, sale.points) if earned else [], sale.total_minor, before, refund.total.minor)
    # Only the sale's own points come back, so the refund reverses what this
    # partner issued and nothing another partner issued. Points of the sale
    # already spent stay spent: the partner reports them as uncollected.
    taken = _trim(due, earned.remaining if earned else 0)
    points = sum(a.points for a in taken)
    order = orders.claim(
        session,
        partner_id=partner.id,
        kind="refund",
        order_id=refund.order_id,
        member_id=member.member_id,
        points=-points,
        booked_at=now,
        occurred_at=refund.occurred_at,
        currency=refund.total.currency,
        total_minor=refund.total.minor,
        original_id=sale.id,
    )
    entry_id = None
    if points:
        entry_id = ledger.post(
            session,
            kind="refund",
            legs=[(member.ids[AVAILABLE], -points), (partner.account_id(ISSUANCE), points)],
            member=member,
            partner_id=partner.id,
            reason=f"Refund {refund.order_id} of sale {sale.order_id} at {partner.name}: {refund.total} {refund.total.currency}",
            booked_at=now,
            occurred_at=refund.occurred_at,
            reverses_id=earned.id,
            order_id=order,
        )
        ledger.consume_lots(session, member, points, entry_id, first_lot_id=earned.lot_id)
        session.execute(insert(_awards), award_rows(entry_id, taken, sign=-1))
    result = {"journal_id": entry_id, "points": -points, "awards": awards_view(taken, sign=-1), "balance": member.balance_view()}
    owed = sum(a.points for a in due)
    if points < owed:
        result["uncollected_points"] = owed - points
    return result


def _sale_awards(session: Session, entry_id: int, points: int) -> list[Award]:
    """What the sale earned, rule by rule (earlier refunds are accounted for by their cumulative share)."""
    rows = session.execute(
        select(AwardRow.rule, AwardRow.points, AwardRow.detail).where(AwardRow.entry_id == entry_id).order_by(AwardRow.id)
    ).all()
    if not rows:  # booked before awards were recorded: all of it was the base rate
        return [Award("base_rate", points)]
    return [Award(row.rule, row.points, row.detail) for row in rows]


def _trim(awards: list[Award], limit: int) -> list[Award]:
    """Keep at most `limit` points, giving up the last awards first (bonuses before the base)."""
    kept, left = [], limit
    for award in awards:
        take = min(award.points, left)
        left -= take
        if take:
            kept.append(Award(award.rule, take, award.detail))
    return kept
