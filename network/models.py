"""The hub's tables, as SQLAlchemy 2 typed models.

Sessions are opened and committed outside these classes (network.db); the
functions that change the ledger take a session as their first argument.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    cast,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from network.ledger.kinds import CardStatus

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the ledger; use UTC-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class DecimalText(TypeDecorator):
    """A Decimal stored as its exact text: SQLite's NUMERIC would go through float."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


# Named constraints, so later migrations (SQLite batch mode included) can alter them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def int_sum(column):
    """SUM as an integer: PostgreSQL's SUM(bigint) is numeric, which psycopg returns as Decimal."""
    return cast(func.coalesce(func.sum(column), 0), BigInteger)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {int: BigInteger, datetime: UtcDateTime, Decimal: DecimalText}


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
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    # The partner's Ed25519 public key (base64url, 32 bytes raw), for countersigning statements.
    public_key: Mapped[str | None] = mapped_column(String(64))
    # Its return window: a sale's points stay pending this many days before they can be spent.
    pending_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # "retailer", or "charity": a partner members donate points to.
    kind: Mapped[str] = mapped_column(String(16), default="retailer", server_default="retailer")
    # Points per unit of its currency when a member pays an amount with points (100: 1 EUR costs 100 points).
    points_per_unit: Mapped[Decimal | None]


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


class Member(Base):
    __tablename__ = "members"
    # Who was merged into a member: their sales count for its tier (network.lifecycle.tiers).
    __table_args__ = (
        Index("ix_members_merged_into", "merged_into", postgresql_where=text("merged_into IS NOT NULL"),
              sqlite_where=text("merged_into IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Fernet ciphertext under the member's own key (MemberKey), never plaintext; NULL once the member is deleted.
    email: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
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
    __table_args__ = (Index("ix_journal_entries_member_id_id", "member_id", "id"),)

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
    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="posting_not_zero"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int]


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
    """Points taken from (negative) or given back to (positive) a lot by an entry."""

    __tablename__ = "lot_movements"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    points: Mapped[int]


class Order(Base):
    """A partner's own order id, once per partner and kind.

    It is inserted before anything is booked (INSERT ... ON CONFLICT DO
    NOTHING), so a resent sale is a 409 instead of a second credit, whatever
    else has changed since. A refund finds its sale here. A sale too small to
    earn a point is recorded all the same (with no journal entry), so its
    refund is recognised. Journal entries name the order they book.
    """

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("partner_id", "kind", "order_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    # sale, refund, redemption, or action:<name> for a non-purchase action.
    kind: Mapped[str] = mapped_column(String(80))
    order_id: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"))
    original_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    currency: Mapped[str | None] = mapped_column(String(3))
    total_minor: Mapped[int | None]
    points: Mapped[int]
    occurred_at: Mapped[datetime | None]
    booked_at: Mapped[datetime]


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
    created_at: Mapped[datetime]


class IdempotencyRecord(Base):
    """The stored outcome of a write, keyed by who sent it and their key.

    Inserted in the same transaction as the postings it describes, so a
    retried request finds either nothing (and runs) or the whole outcome.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    principal: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


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


class MemberKey(Base):
    """A member's own data key (Fernet), wrapped under the hub's master key.

    Deleting the row crypto-shreds the member: whatever ciphertext remains
    anywhere (a backup) can no longer be read.
    """

    __tablename__ = "member_keys"

    member_id: Mapped[str] = mapped_column(ForeignKey("members.id"), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


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


class Event(Base):
    """Something a partner or a plugin may want to hear of, written in the transaction that made it true.

    Rolled back with its postings, so no event is lost or invented. `partner_id`
    is the audience (the partner whose webhook gets it; NULL: plugins only).
    `dedup_key` makes a scan's event once per kind and key (a member's expiry
    date, a dormancy); NULL keys never clash.
    """

    __tablename__ = "events"
    __table_args__ = (
        # Only the keyed events (scans'): a sale's event pays for no entry here.
        Index("uq_events_kind_dedup_key", "kind", "dedup_key", unique=True,
              postgresql_where=text("dedup_key IS NOT NULL"), sqlite_where=text("dedup_key IS NOT NULL")),
        # What `coalition events deliver` has not yet turned into deliveries.
        Index("ix_events_not_fanned_out", "id", postgresql_where=text("fanned_out_at IS NULL"),
              sqlite_where=text("fanned_out_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # A random uuid4, what receivers deduplicate on; not indexed: the hub never looks an event up by it.
    public_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    # No foreign keys: an import writes thousands of events a second, and a key check per row cost
    # a tenth of its speed; the ids are copied from rows the same transaction has just read or locked.
    member_id: Mapped[str | None] = mapped_column(String(32))
    partner_id: Mapped[int | None]
    # The event's fields as JSON text, kept as written: bulk inserts send it as text, and it is what is signed.
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    fanned_out_at: Mapped[datetime | None]


class Webhook(Base):
    """Where a partner wants its events POSTed, and the secret they are signed with (never shown back)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # NULL once removed: a removed webhook keeps no secret.
    secret: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]


class Delivery(Base):
    """One event on its way to one webhook or one delivery plugin: pending, delivered, failed or cancelled."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "webhook_id"),
        UniqueConstraint("event_id", "plugin"),
        CheckConstraint("(webhook_id IS NULL) <> (plugin IS NULL)", name="one_channel"),
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id"), index=True)
    # The name of the plugin (pluggy's) that delivers it another way (e-mail, SMS).
    plugin: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    """Every try, kept: when, the HTTP status or the error, and how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
