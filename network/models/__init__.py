"""The hub's tables, as SQLAlchemy 2 typed models, one module per concept.

Sessions are opened and committed outside these classes (network.db); the
functions that change the ledger take a session as their first argument.
They sit below every domain (a ledger invariant reads holds, settlement reads
lots), and this package imports them all so that one metadata, and so one
Alembic history, holds every table.
"""

from __future__ import annotations

from network.models.access import AuditEvent, Credential, SettingsVersion, User
from network.models.analytics import ValueModel
from network.models.base import Base, DecimalText, Id, UtcDateTime, int_sum
from network.models.events import Delivery, DeliveryAttempt, Event, Webhook
from network.models.ledger import Account, Award, Debt, JournalEntry, Lot, LotMovement, Order, Posting
from network.models.members import Card, CardAlias, Member, MemberKey, Referral, WalletLink
from network.models.parties import Contract, Partner, PartnerCredit, Prepayment, UnfundedSale
from network.models.requests import IdempotencyRecord
from network.models.settlement import Acknowledgement, Dispute, Statement, TransferPayment
from network.models.spending import Hold, Reward, RewardRedemption
from network.models.tiers import Tier

__all__ = ["AuditEvent", "Credential", "SettingsVersion", "User", "Base", "DecimalText", "Id", "UtcDateTime", "int_sum", "Contract", "Partner", "PartnerCredit", "Prepayment", "UnfundedSale", "Card", "CardAlias", "Member", "MemberKey", "Referral", "WalletLink", "Account", "Award", "Debt", "JournalEntry", "Lot", "LotMovement", "Order", "Posting", "Hold", "Reward", "RewardRedemption", "Tier", "Delivery", "DeliveryAttempt", "Event", "Webhook", "Acknowledgement", "Dispute", "Statement", "TransferPayment", "IdempotencyRecord", "ValueModel"]
