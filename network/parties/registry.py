"""Partners joining the network: their row, their two hot accounts and their key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.orm import Session, aliased

from network.errors import Conflict, NotFound
from network.ledger.journal import ISSUANCE, REDEMPTION
from network.ledger.kinds import PARTNER_ACCOUNTS, PartnerKind
from network.models import Account, Partner
from network.parties import credentials


@dataclass(frozen=True)
class NewPartner:
    slug: str
    name: str
    timezone: str
    currency: str
    adapter: str
    #: The adapter's settings, as its `config_schema` loaded them.
    adapter_config: dict[str, Any]
    #: The earning rules as sent: [{"rule": "base_rate", "rate": "1"}, ...] (partners.earning compiles them).
    rules: list[dict[str, Any]]
    #: The return window: a sale's points stay pending this many days.
    pending_days: int = 0
    kind: str = PartnerKind.RETAILER
    #: Points per unit of its currency when a member pays an amount with points; None: it takes no amounts.
    points_per_unit: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class PartnerRef(NewPartner):
    """A partner as a request sees it: a snapshot loaded with its hot accounts in one query.

    Booking a sale needs the partner's issuance account; carrying its id
    here saves a lookup per request.
    """

    id: int
    created_at: datetime
    accounts: dict[str, int]
    #: "prepaid" or "credit": each earn draws on its funds (network.parties.funding); None: not controlled.
    funding: str | None = None
    #: Past what it may draw: "refuse" its sales, or book their points "pending" until funds arrive.
    over_limit: str = "refuse"

    def account_id(self, kind: str) -> int:
        return self.accounts[kind]


#: A partner's columns as `PartnerRef` takes them (the caller's query in `auth` reads them too).
PARTNER_COLUMNS = (
    Partner.id, Partner.slug, Partner.name, Partner.timezone, Partner.currency, Partner.adapter, Partner.adapter_config,
    Partner.rules, Partner.pending_days, Partner.kind, Partner.points_per_unit, Partner.created_at, Partner.funding,
    Partner.over_limit,
)
_FIELDS = tuple(column.key for column in PARTNER_COLUMNS)
_issuance, _redemption = aliased(Account), aliased(Account)
_PARTNER = (
    select(*PARTNER_COLUMNS, _issuance.id.label(ISSUANCE), _redemption.id.label(REDEMPTION))
    .join(_issuance, and_(_issuance.partner_id == Partner.id, _issuance.kind == ISSUANCE))
    .join(_redemption, and_(_redemption.partner_id == Partner.id, _redemption.kind == REDEMPTION))
)


def partner_ref(row) -> PartnerRef:
    """A `PartnerRef` from a row holding the partner's columns and its accounts' ids (among others)."""
    fields = row._mapping
    return PartnerRef(**{name: fields[name] for name in _FIELDS}, accounts={kind: fields[kind] for kind in PARTNER_ACCOUNTS})


def create_partner(session: Session, spec: NewPartner, now: datetime) -> tuple[PartnerRef, str]:
    """Returns the partner and its first API key, which is never stored or shown again."""
    if session.scalar(select(Partner.id).where(Partner.slug == spec.slug)) is not None:
        raise Conflict(f"A partner with slug {spec.slug!r} exists", {"slug": [spec.slug]}, code="partner_exists")
    partner_id = session.execute(
        insert(Partner).values(
            slug=spec.slug,
            name=spec.name,
            timezone=spec.timezone,
            currency=spec.currency,
            adapter=spec.adapter,
            adapter_config=spec.adapter_config,
            rules=spec.rules,
            pending_days=spec.pending_days,
            kind=spec.kind,
            points_per_unit=spec.points_per_unit,
            created_at=now,
        ).returning(Partner.id)
    ).scalar_one()
    session.execute(insert(Account), [{"kind": kind, "partner_id": partner_id} for kind in PARTNER_ACCOUNTS])
    key, _ = credentials.issue(session, now, kind=credentials.PARTNER_KEY, name="first key", partner_id=partner_id)
    return get_partner(session, spec.slug), key


def get_partner(session: Session, slug: str) -> PartnerRef:
    row = session.execute(_PARTNER.where(Partner.slug == slug)).first()
    if row is None:
        raise NotFound(f"No partner {slug!r}", code="unknown_partner")
    return partner_ref(row)


def set_adapter(session: Session, slug: str, adapter: str, config: dict[str, Any]) -> PartnerRef:
    _update(session, slug, adapter=adapter, adapter_config=config)
    return get_partner(session, slug)


def set_rules(session: Session, slug: str, rules: list[dict[str, Any]]) -> PartnerRef:
    _update(session, slug, rules=rules)
    return get_partner(session, slug)


def amend(session: Session, slug: str, changes: dict[str, Any]) -> PartnerRef:
    """Change a partner's plain settings (name, time zone, return window); a new window applies to later sales only."""
    if changes:
        _update(session, slug, **changes)
    return get_partner(session, slug)


def set_points_rate(session: Session, slug: str, points_per_unit: Decimal) -> PartnerRef:
    _update(session, slug, points_per_unit=points_per_unit)
    return get_partner(session, slug)


def _update(session: Session, slug: str, **values) -> None:
    if session.execute(update(Partner).where(Partner.slug == slug).values(**values)).rowcount == 0:
        raise NotFound(f"No partner {slug!r}", code="unknown_partner")


def slugs(session: Session, ids: set[int | None]) -> dict[int | None, str]:
    """Partner slugs by id; the network itself (NULL issuer) reads as "network"."""
    found = {pid: slug for pid, slug in session.execute(select(Partner.id, Partner.slug).where(Partner.id.in_(ids - {None})))}
    found[None] = "network"
    return found


def provenance(session: Session, by_issuer: dict[int | None, int]) -> list[dict]:
    """Points by issuing partner, as answers show them: [{"issuer": slug, "points": n}, ...] by slug."""
    names = slugs(session, set(by_issuer))
    return sorted(({"issuer": names[i], "points": n} for i, n in by_issuer.items()), key=lambda p: p["issuer"])


#: What the partner list shows of each: never a key's hash, the adapter's settings or the public key.
_LISTED = select(Partner.id, Partner.slug, Partner.name, Partner.kind, Partner.adapter, Partner.timezone, Partner.currency,
                 Partner.created_at)


def listed(session: Session, *, after: int | None, limit: int) -> list:
    """Partners in id order (the order they joined), after the partner id `after`: rows of `_LISTED`'s columns."""
    query = _LISTED if after is None else _LISTED.where(Partner.id > after)
    return session.execute(query.order_by(Partner.id).limit(limit)).all()
