"""Closed periods' statements and partners' acknowledgements of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id


class Statement(Base):
    """A closed settlement period: its statement's canonical bytes and the hub's signature over them.

    Periods follow one another without gap or overlap; each statement names
    the hash of the one before, so the chain shows if any was changed.
    """

    __tablename__ = "statements"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime]
    canonical: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime]


class Acknowledgement(Base):
    """A partner's countersignature of a statement's hash: it received the statement and agrees it is the one."""

    __tablename__ = "acknowledgements"
    __table_args__ = (UniqueConstraint("sequence", "partner_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, ForeignKey("statements.sequence"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    statement_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    #: The key the countersignature was checked with: it verifies offline after the partner registers another.
    public_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class TransferPayment(Base):
    """A statement's transfer seen paid on the network's bank statement (camt.053): one per statement and partner.

    The statement itself never changes; whether its money moved is kept
    beside it, with the bank's own reference for the entry that moved it.
    """

    __tablename__ = "transfer_payments"
    __table_args__ = (UniqueConstraint("sequence", "partner_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, ForeignKey("statements.sequence"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    booked_on: Mapped[str] = mapped_column(String(10))  # the bank's booking date, YYYY-MM-DD
    bank_reference: Mapped[str] = mapped_column(String(140))
    created_at: Mapped[datetime]


class Dispute(Base):
    """A partner's objection to lines of its section of a statement, and how finance ended it.

    The statement never changes: an upheld dispute is settled by an
    adjustment in money booked in the open period (`resolved_at`), which
    the next statement carries in the partner's net and lists.
    """

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, ForeignKey("statements.sequence"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    order_ids: Mapped[list] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # open, adjusted or rejected
    #: Minor units of the settlement currency the partner receives (negative: pays) by an upheld dispute.
    adjustment_minor: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
