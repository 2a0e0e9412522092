"""The network's tier ladder."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base


class Tier(Base):
    """One rung of the network's tier ladder; the operator replaces the whole ladder at once.

    Members point at a rung by its position, so renaming a tier or changing
    its threshold keeps every member where they are.
    """

    __tablename__ = "tiers"
    __table_args__ = (
        CheckConstraint("threshold >= 0", name="tier_threshold_not_negative"),
        CheckConstraint("position >= 0", name="tier_position_not_negative"),
    )

    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    # Qualifying points (earned from sales in the window) that reach this tier.
    threshold: Mapped[int]
    # What a sale earns at this tier, as a multiple of the partner's own award (>= 1, exact).
    multiplier: Mapped[Decimal]
    updated_at: Mapped[datetime]
