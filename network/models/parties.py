"""Partners and their contracts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    adapter: Mapped[str] = mapped_column(String(40))
    # The adapter's settings (a webhook secret, a CSV column map), validated by the adapter's own schema.
    adapter_config: Mapped[dict] = mapped_column(JSON, default=dict)
    # The earning rules as the operator sent them: [{"rule": "base_rate", "rate": "1"}, ...].
    rules: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    # The partner's Ed25519 public key (base64url, 32 bytes raw), for countersigning statements.
    public_key: Mapped[str | None] = mapped_column(String(64))
    # Its return window: a sale's points stay pending this many days before they can be spent.
    pending_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "retailer", or "charity": a partner members donate points to.
    kind: Mapped[str] = mapped_column(String(16), default="retailer", server_default="retailer")
    # Points per unit of its currency when a member pays an amount with points (100: 1 EUR costs 100 points).
    points_per_unit: Mapped[Decimal | None]
    # "prepaid" or "credit" when its issuing draws on funds (network.parties.credit); None: not controlled.
    funding: Mapped[str | None] = mapped_column(String(8))
    # Past what it may draw: "refuse" its sales (402), or book their points "pending" until funds cover them.
    over_limit: Mapped[str] = mapped_column(String(8), default="refuse", server_default="refuse")
    # Where the network pays it (and names it on a transfer file): checked by settlement.banking.
    account_holder: Mapped[str | None] = mapped_column(String(70))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))


class Contract(Base):
    """One version of what a partner pays and receives per point, from `effective_from` on.

    Versions are only added, never changed, so a closed period's figures
    can always be worked out again from the versions in force then.
    """

    __tablename__ = "contracts"
    __table_args__ = (UniqueConstraint("partner_id", "effective_from"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    effective_from: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    # Money per point, in `currency`'s major unit: owed to the network per point issued ...
    issue_fee: Mapped[Decimal]
    # ... and received per point a member spends at this partner's tills.
    redeem_rate: Mapped[Decimal]
    created_at: Mapped[datetime]


class PartnerCredit(Base):
    """What an issuing partner may draw: its funds and credit limit, and what its points have drawn so far.

    One row per controlled partner, updated by each earn with a single
    conditional UPDATE (the check reads no aggregate), so concurrent sales
    cannot together pass the limit. Amounts are in millionths of the
    settlement currency's unit: a point's cost has more places than money.
    """

    __tablename__ = "partner_credit"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    limit_micros: Mapped[int]  # 0 when prepaid
    #: What one point issued draws: its issue fee plus its expected redemption value, in micros.
    point_cost_micros: Mapped[int]
    drawn_micros: Mapped[int]
    funded_micros: Mapped[int]
    #: The last level warned of ("80": 80% of what it may draw), so each warning is sent once per climb.
    warned: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime]


class Prepayment(Base):
    """Funds a partner sent, recorded by finance or found on the bank statement (by its reference)."""

    __tablename__ = "prepayments"
    __table_args__ = (UniqueConstraint("partner_id", "reference"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    amount_micros: Mapped[int]
    reference: Mapped[str] = mapped_column(String(140))
    created_at: Mapped[datetime]


class UnfundedSale(Base):
    """A sale booked past its partner's limit (over_limit "pending"): its points wait, pending, for funds.

    The queue funds arriving read, oldest first, by partner: the lots'
    `available_at` (network.lifecycle.pending.UNFUNDED) keeps the points from
    being spent, this row says whose funds they wait for, so a prepayment
    reads its partner's few waiting sales rather than every open lot. The row
    goes when the sale's points are released (or found all taken back).
    """

    __tablename__ = "unfunded_sales"
    __table_args__ = (Index("ix_unfunded_sales_partner_id_order_id", "partner_id", "order_id"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    created_at: Mapped[datetime]
