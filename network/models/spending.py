"""Holds and the reward catalogues."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id


class Hold(Base):
    """Points authorised at a till and not yet captured: what the member's held account holds.

    Placing it moves the points from available to held and takes them out of
    their lots (under `hold_entry_id`), so they can be neither spent twice nor
    expire meanwhile. Capture, void or expiry gives them all back to the same
    lots (`release_entry_id`); a capture then books the captured points as an
    ordinary redemption (`redemption_entry_id`), which is what settlement bills.
    Only `status` and the release columns ever change, under the member's lock.
    """

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("points > 0", name="hold_points_positive"),
        Index("ix_holds_member_id_status", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    # The partner's order (kind "hold"); a capture books its own "redemption" order with the same order id.
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    points: Mapped[int]
    # authorized, captured, voided or expired
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Also the hold's public id: POST /v1/redemptions answers it as `redemption_id`.
    hold_entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    release_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    redemption_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    released_at: Mapped[datetime | None]
    # Points captured (at most `points`); NULL until captured.
    captured: Mapped[int | None]
    # A held reward: its units are reserved from stock until the hold is captured or released.
    reward_id: Mapped[int | None] = mapped_column(ForeignKey("rewards.id"))
    quantity: Mapped[int | None]
    # Paid by amount: the money value in the partner's currency (minor units).
    amount_minor: Mapped[int | None]


class Reward(Base):
    """An item of a partner's catalogue that members take for points.

    `stock` NULL means unlimited; it is only ever decremented by one
    conditional UPDATE, so it never goes below zero however many tills race.
    """

    __tablename__ = "rewards"
    __table_args__ = (
        UniqueConstraint("partner_id", "sku"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="reward_stock_not_negative"),
        CheckConstraint("points > 0", name="reward_points_positive"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    points: Mapped[int]
    stock: Mapped[int | None]
    # At most this many units per member, counted over captured (and held) redemptions of it.
    per_member_limit: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime]


class RewardRedemption(Base):
    """Units of a reward a member took, with the redemption entry that paid for them (for the per-member limit)."""

    __tablename__ = "reward_redemptions"
    __table_args__ = (Index("ix_reward_redemptions_reward_id_member_id", "reward_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), unique=True)
    quantity: Mapped[int]
    # Set when the redemption is reversed: the units went back to stock and no longer count to the limit.
    reversal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
