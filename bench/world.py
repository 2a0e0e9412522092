"""The scene every scenario plays in: partners, many funded members and one hot member.

Built through the service layer (registry.create_partner, cards.enrol,
sales.record_sale), so every row is the ledger's own. Funding is one big
sale per member, so redemptions never run out of points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text

from bench import load
from network.clock import utc_now
from network.db import Database
from network.earning import sales
from network.earning.terms import Terms
from network.members import cards
from network.models import Account, Lot
from network.parties.registry import NewPartner, create_partner
from partners.earning import RuleSet, compile_rules, earn_rate_rules
from partners.money import Money
from partners.plugins import make_plugin_manager
from partners.plugins import rules as plugin_rules
from partners.transactions import Sale

LIFETIME = timedelta(days=730)


def hub_terms(db) -> Terms:
    """The booking terms as a hub worker holds them: the tier ladder and the catalogues read once, not per sale
    (network.api.common.terms keeps them for COALITION_SETTINGS_CACHE_SECONDS)."""
    from network.events import notices
    from network.lifecycle import tiers

    return Terms(lifetime=LIFETIME, ladder=db.read(tiers.ladder), offers=db.read(notices.offers))
OCCURRED = datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc)
SALE = Money(1250, "EUR")  # 12.50 EUR at 1 point per EUR: 12 points
SALE_POINTS = 12
FUND = Money(100_000, "EUR")  # 1,000.00 EUR: 1,000 points per member
HOT_FUND = Money(10_000_000, "EUR")  # 100,000 points for the hot member
REDEEM_POINTS = 5
BATCH = 25  # members enrolled and funded per transaction during set-up


@dataclass(frozen=True)
class BenchPartner:
    partner: object  # what registry.create_partner returned: what record_sale and redeem take
    id: int
    issuance: int
    redemption: int
    key: str


@dataclass(frozen=True)
class BenchMember:
    member_id: str
    card: str
    available: int = 0  # account id
    fund_lot: int = 0  # the funding lot, which the raw baseline's redemptions draw on


@dataclass
class World:
    partners: list[BenchPartner]
    members: list[BenchMember]
    hot: BenchMember


def new_partner_spec(slug: str) -> NewPartner:
    return NewPartner(slug=slug, name=slug.replace("-", " ").title(), timezone="Europe/Paris", currency="EUR",
                      adapter="canonical", adapter_config={}, rules=earn_rate_rules("1"))


def base_rate_rules() -> RuleSet:
    """One point per EUR, compiled by the real base_rate rule plugin."""
    return compile_rules(plugin_rules(make_plugin_manager()), earn_rate_rules("1"))


RULES = base_rate_rules()


def analyse(db: Database) -> None:
    """ANALYZE on PostgreSQL, as autovacuum would after the set-up's inserts.

    A server with autovacuum off (this machine's PostgreSQL ships so) would
    otherwise plan every earn of the run on a new database's empty
    statistics, which no production server does.
    """
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def build(db: Database, *, partners: int, member_count: int, clients: int, progress: bool) -> World:
    now = utc_now()
    created = db.transact(lambda s: [create_partner(s, new_partner_spec(f"bench-{k}"), now) for k in range(partners)])
    with db.session() as session:
        accounts = {(pid, kind): aid for pid, kind, aid in session.execute(
            select(Account.partner_id, Account.kind, Account.id).where(Account.partner_id.is_not(None)))}
    refs = [BenchPartner(p, p.id, accounts[(p.id, "issuance")], accounts[(p.id, "redemption")], key) for p, key in created]

    enrolled: list[tuple[str, str] | None] = [None] * (member_count + 1)

    def enrol_and_fund(session, index: int) -> None:
        member_id, card = cards.enrol(session, email=None, name=None, enrolled_by=None, now=now)
        partner = refs[index % len(refs)].partner
        total = HOT_FUND if index == member_count else FUND
        sales.record_sale(session, partner, RULES, Sale(f"FUND-{index}", card, OCCURRED, total), now=now, terms=Terms(lifetime=LIFETIME))
        enrolled[index] = (member_id, card)

    batches = range(0, member_count + 1, BATCH)

    def op(i: int) -> None:
        start = batches[i]
        db.transact(lambda s: [enrol_and_fund(s, j) for j in range(start, min(start + BATCH, member_count + 1))])

    measure = load.run(f"set-up: {member_count} members, funded", len(batches), [op] * clients, max_seconds=600,
                       progress=progress)
    if measure.errors:
        raise RuntimeError(f"set-up failed: {measure.error_samples}")
    analyse(db)
    with db.session() as session:
        available = dict(session.execute(select(Account.member_id, Account.id).where(Account.kind == "available",
                                                                                     Account.member_id.is_not(None))).all())
        fund_lots = dict(session.execute(select(Lot.member_id, func.min(Lot.id)).group_by(Lot.member_id)).all())
    refs_m = [BenchMember(m, c, available[m], fund_lots[m]) for m, c in enrolled]  # type: ignore[misc]
    return World(refs, refs_m[:-1], refs_m[-1])
