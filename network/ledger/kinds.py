"""Every kind and status the ledger stores, in one place, so a typo is an AttributeError rather than a row no query finds.

They are `StrEnum`s: each member is the very string stored in its column
and shown in the API, so rows written before these existed read back the
same, and JSON, SQL parameters and canonical statements see plain strings.
"""

from __future__ import annotations

from enum import StrEnum


class AccountKind(StrEnum):
    """Whose points an account holds, and in what state."""

    AVAILABLE = "available"  # a member's points they can spend
    PENDING = "pending"  # a member's points inside a partner's return window
    HELD = "held"  # a member's points set aside by an authorised redemption (a hold)
    #: What a member owes after a refund clawed back more than they had (claw-back policy `unlimited`):
    #: never positive, repaid from the next points they earn. Their balance shows available + owed.
    OWED = "owed"
    ISSUANCE = "issuance"  # a partner's: the points it issued
    REDEMPTION = "redemption"  # a partner's: the points spent at its tills
    PROMOTION = "promotion"  # the network's: it funds promotions and adjustments
    BREAKAGE = "breakage"  # the network's: expired and forfeited points


MEMBER_ACCOUNTS = (AccountKind.AVAILABLE, AccountKind.PENDING, AccountKind.HELD, AccountKind.OWED)
PARTNER_ACCOUNTS = (AccountKind.ISSUANCE, AccountKind.REDEMPTION)


class EntryKind(StrEnum):
    """What a journal entry records; settlement reads the period's entries by kind."""

    EARN = "earn"  # a sale's points (its awards)
    REFUND = "refund"  # a refund's claw-back of a sale's points
    REPAYMENT = "repayment"  # a member's new points paying what a claw-back left owed
    BONUS = "bonus"  # a welcome, referral or action bonus
    ADJUSTMENT = "adjustment"  # the operator's credit or debit, with a reason
    REDEMPTION = "redemption"  # points spent at a till (a capture too)
    REDEMPTION_REVERSAL = "redemption_reversal"  # a till took a redemption back
    HOLD = "hold"  # points set aside (available -> held)
    HOLD_RELEASE = "hold_release"  # held points given back by a capture, a void or the hold's expiry
    RELEASE = "release"  # pending points whose return window passed (pending -> available)
    MERGE = "merge"  # points moved from a merged member to the survivor
    EXPIRY = "expiry"  # points past their lifetime, to breakage
    FORFEITURE = "forfeiture"  # points given up (an erased member), to breakage
    #: What a member already held in a partner's own programme when it joined, issued by that partner.
    OPENING = "opening_balance"


#: Entries that take points out of circulation: settlement reports them as the issuer's breakage.
BREAKAGE_ENTRIES = (EntryKind.EXPIRY, EntryKind.FORFEITURE, EntryKind.ADJUSTMENT)
HOLD_ENTRIES = (EntryKind.HOLD, EntryKind.HOLD_RELEASE)
REDEMPTION_ENTRIES = (EntryKind.REDEMPTION, EntryKind.REDEMPTION_REVERSAL)


class OrderKind(StrEnum):
    """A partner's own order id is unique per partner and kind: a resent sale is never credited twice."""

    SALE = "sale"
    REFUND = "refund"
    #: An order cancelled after it was booked: a refund of all that was left, under the order's own id (once).
    CANCELLATION = "cancellation"
    #: An edit that lowered an order's total: a refund of the difference, by the sale's row id and the edit's number.
    EDIT = "edit"
    REDEMPTION = "redemption"
    HOLD = "hold"  # a hold's own order; its capture books a redemption order with the same order id
    ACTION = "action"  # an action a partner rewards (`POST /v1/actions`), by its reference
    OPENING = "opening_balance"  # a row of a partner's opening balances, by its key (network.earning.opening)


class HoldStatus(StrEnum):
    AUTHORIZED = "authorized"  # the only status whose points are still held
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


class CardStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class PartnerKind(StrEnum):
    RETAILER = "retailer"
    CHARITY = "charity"  # receives donations of points
