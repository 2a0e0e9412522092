"""The ledger's rows: accounts, journal entries, postings, lots and their movements, debts, awards, orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.models.base import Base, Id


class Account(Base):
    """One side of every posting.

    Member accounts (available, pending, held) exist from enrolment and keep a
    running `balance`, changed under the member's row lock in the same
    transaction as their postings. Partner accounts (issuance, redemption) and
    the network's own (promotion, breakage) are hot: their `balance` stays NULL
    and their totals come from postings.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("member_id", "kind"),
        UniqueConstraint("partner_id", "kind"),
        # The network's own accounts (promotion, breakage): one of each kind.
        Index(
            "uq_accounts_network_kind",
            "kind",
            unique=True,
            postgresql_where=text("member_id IS NULL AND partner_id IS NULL"),
            sqlite_where=text("member_id IS NULL AND partner_id IS NULL"),
        ),
        CheckConstraint("(member_id IS NULL) = (balance IS NULL)", name="member_accounts_keep_balance"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    balance: Mapped[int | None]


class JournalEntry(Base):
    """One movement of points; its postings sum to zero. Never updated."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        Index("ix_journal_entries_member_id_id", "member_id", "id"),
        # Entries are written in booking order: a BRIN index finds a month's in a few pages (settlement).
        Index("ix_journal_entries_booked_at", "booked_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    member_id: Mapped[str | None] = mapped_column(ForeignKey("members.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    # The partner's order (sale, refund, redemption) this entry books, if any.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime | None]
    booked_at: Mapped[datetime]


class Posting(Base):
    """One leg of a journal entry.

    On PostgreSQL the table is partitioned by month of `booked_at`, its
    entry's booking time (network.ledger.partitions), and its primary key is
    (id, booked_at) there; ids are unique all the same.
    """

    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="posting_not_zero"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int]
    booked_at: Mapped[datetime]


class Lot(Base):
    """Points credited to a member, remembered with who issued them.

    `issuer_id` is NULL for points the network itself funds. Redemptions
    consume lots oldest-expiry-first; settlement reads the consumptions to
    say whose points were spent where.
    """

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="lot_remaining_in_range"),
        # Only open lots: a member of ten years has thousands of spent ones
        # that a redemption must not wade through.
        Index(
            "ix_lots_open",
            "member_id",
            "account_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
        # What `coalition expire` looks for: open lots by expiry date.
        Index(
            "ix_lots_open_by_expiry",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
        # A refund after a merge follows its sale's lot to the lot that took its points.
        Index(
            "ix_lots_merged_from",
            "merged_from_id",
            postgresql_where=text("merged_from_id IS NOT NULL"),
            sqlite_where=text("merged_from_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    issuer_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    points: Mapped[int]
    remaining: Mapped[int]
    earned_at: Mapped[datetime]
    available_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # The lot a merge emptied into this one: its points' history continues here.
    merged_from_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"))


class Debt(Base):
    """Points a refund clawed back beyond what the member had (policy `unlimited`), owed to the refunding partner.

    The member's `owed` account carries the total; the next points the
    member has are used to repay, oldest debt first, each repayment moving
    lots to the partner owed (settlement: points of their issuers spent there).
    """

    __tablename__ = "debts"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="debt_remaining_in_range"),
        Index("ix_debts_open", "member_id", "id", postgresql_where=text("remaining > 0"),
              sqlite_where=text("remaining > 0")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    # The refund that left the debt.
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"))
    points: Mapped[int]
    remaining: Mapped[int]
    created_at: Mapped[datetime]


class Award(Base):
    """Why an entry moved the points it did: one row per earning rule.

    A sale's awards sum to its points; a refund's (negative) awards to the
    points it took back, rule by rule. The member's history shows them.
    """

    __tablename__ = "awards"
    __table_args__ = (CheckConstraint("points <> 0", name="award_not_zero"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    points: Mapped[int]
    detail: Mapped[str] = mapped_column(String(200))


class LotMovement(Base):
    """Points taken from (negative) or given back to (positive) a lot by an entry.

    Partitioned as postings are, by its entry's `booked_at`: what settling a
    month reads. It carries its lot's `issuer_id` too (a lot's issuer never
    changes), so a month's close reads its movements without the lots of
    every year before.
    """

    __tablename__ = "lot_movements"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    points: Mapped[int]
    booked_at: Mapped[datetime]
    issuer_id: Mapped[int | None] = mapped_column(Id)


class Order(Base):
    """A partner's own order id, once per partner and kind.

    It is inserted before anything is booked (INSERT ... ON CONFLICT DO
    NOTHING), so a resent sale is a 409 instead of a second credit, whatever
    else has changed since. A refund finds its sale here. A sale too small to
    earn a point is recorded all the same (with no journal entry), so its
    refund is recognised. Journal entries name the order they book.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("partner_id", "kind", "order_id"),
        # Orders are written in booking order: a BRIN index finds a span's in a few pages (the analytics' revenue).
        Index("ix_orders_booked_at", "booked_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    # sale, refund, redemption, or action:<name> for a non-purchase action.
    kind: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[str] = mapped_column(String(255))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    original_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    total_minor: Mapped[int | None]
    #: What the customer was charged for the goods, where refunds may hand back money naming no line (Shopify).
    charged_minor: Mapped[int | None]
    points: Mapped[int]
    occurred_at: Mapped[datetime | None]
    booked_at: Mapped[datetime]
    #: A sale at a controlled partner: what each of its points drew on the partner's funds, in micros
    #: (network.parties.funding), and how many drew and were not given back by a refund. NULL: none drew.
    point_cost_micros: Mapped[int | None]
    drawn_points: Mapped[int | None]
