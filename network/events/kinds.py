"""The kinds of event the hub tells partners of, and the states of a delivery, as stored and as sent."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    POINTS_EARNED = "points_earned"  # to the partner where the sale was made
    POINTS_REDEEMED = "points_redeemed"  # to the partner where the points were spent
    REWARD_WITHIN_REACH = "reward_within_reach"  # a sale brought the member close to a catalogue reward
    POINTS_EXPIRING = "points_expiring"  # to the enrolling partner, ahead of the member's next expiry
    TIER_CHANGED = "tier_changed"
    DORMANT_MEMBER = "dormant_member"  # points unspent and no activity for a while
    WEBHOOK_TEST = "webhook_test"  # asked for by the partner itself, to try its endpoint
    WEBHOOK_PAUSED = "webhook_paused"  # to the operator (plugins): a partner's endpoint kept failing
    WEBHOOK_RESUMED = "webhook_resumed"  # to the operator (plugins): it answers again
    CREDIT_WARNING = "credit_warning"  # to the partner: its points drew 80% of its funds and credit limit
    CREDIT_LIMIT_REACHED = "credit_limit_reached"  # to the partner: a sale was refused (or left waiting) at its limit
    POINTS_FUNDED = "points_funded"  # to the partner where the sale was made: its points that waited for funds drew


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due now or at next_attempt_at
    SENDING = "sending"  # claimed by a deliverer; due again at claimed_until if it never says how it ended
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # every attempt used
    CANCELLED = "cancelled"  # the partner removed its webhook

#: A delivery still on its way: waiting for its time, or claimed by a deliverer.
UNSETTLED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
