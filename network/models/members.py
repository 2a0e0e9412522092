"""Members, their cards, their data keys and the referrals between them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from network.ledger.kinds import CardStatus
from network.models.base import Base, Id


class Member(Base):
    __tablename__ = "members"
    # Who was merged into a member: their sales count for its tier (network.lifecycle.tiers).
    __table_args__ = (
        Index("ix_members_merged_into", "merged_into", postgresql_where=text("merged_into IS NOT NULL"),
              sqlite_where=text("merged_into IS NOT NULL")),
        # Finding members by e-mail (network.members.search) without decrypting anyone else's.
        Index("ix_members_email_hash", "email_hash", postgresql_where=text("email_hash IS NOT NULL"),
              sqlite_where=text("email_hash IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Fernet ciphertext under the member's own key (MemberKey), never plaintext; NULL once the member is deleted.
    email: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    # HMAC-SHA256 (hex) of the normalised e-mail under a key derived from the master key (network.members.privacy):
    # what a search by e-mail looks up. NULL without an e-mail, and once the member is deleted.
    email_hash: Mapped[str | None] = mapped_column(String(64))
    enrolled_by: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    created_at: Mapped[datetime]
    # The last earn or redemption: with `activity_extends` expiry, every lot lives until this plus the lifetime.
    last_activity_at: Mapped[datetime | None]
    # The member this one was merged into: its cards, points and lots are there now.
    merged_into: Mapped[str | None] = mapped_column(ForeignKey("members.id"))
    # When the member asked to be forgotten: key destroyed, points forfeited, the ledger kept.
    deleted_at: Mapped[datetime | None]
    # The member's tier: its position in the ladder (network.lifecycle.tiers), NULL for the first. Stored, so a
    # sale knows its multiplier without reading the member's year of history.
    tier: Mapped[int | None] = mapped_column(Integer)
    tier_since: Mapped[datetime | None]
    # When the yearly tier review last judged the member: a second run the same year passes it by.
    tier_reviewed_at: Mapped[datetime | None]


class Referral(Base):
    """A referral promised at enrolment, paid once on the referred member's first sale.

    The terms are copied from the enrolling partner's `referral` rule when the
    member joins, so a later change of rules does not change a promise made.
    """

    __tablename__ = "referrals"

    referred_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    referrer_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    # The partner whose rule it is: it funds (issues) both credits.
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    referrer_points: Mapped[int]
    referred_points: Mapped[int]
    created_at: Mapped[datetime]
    paid_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))


class Card(Base):
    __tablename__ = "cards"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CardStatus.ACTIVE)
    created_at: Mapped[datetime]
    blocked_at: Mapped[datetime | None]
    # Why (a lost card, its replacement, the member's deletion), as given by who blocked it.
    block_reason: Mapped[str | None] = mapped_column(String(200))


class MemberKey(Base):
    """A member's own data key (Fernet), wrapped under the hub's master key.

    Deleting the row crypto-shreds the member: whatever ciphertext remains
    anywhere (a backup) can no longer be read.
    """

    __tablename__ = "member_keys"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class WalletLink(Base):
    """A single-use link into a member's wallet, handed to a partner's signed-in customer or mailed to the member.

    Only the token's SHA-256 is kept: a leaked table opens no wallet. Spent by
    the first visit (`used_at`), and worthless after `expires_at`.
    """

    __tablename__ = "wallet_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CardAlias(Base):
    """A partner's own loyalty number for a hub card: what its till prints or its shop stores.

    Per partner: one partner's alias never resolves for another, and two
    partners may use the same number for different cards. It names the card
    (the member follows it through a merge, and a blocked card is refused
    under its alias as it would be under its number).
    """

    __tablename__ = "card_aliases"
    __table_args__ = (UniqueConstraint("partner_id", "alias"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    alias: Mapped[str] = mapped_column(String(128))
    card_number: Mapped[str] = mapped_column(ForeignKey("cards.number"), index=True)
    created_at: Mapped[datetime]
