"""Partners joining the network: their row, their two hot accounts and their key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.errors import Conflict, NotFound
from network.ledger import PARTNER_KINDS
from network.models import Account, Partner
from partners.credentials import hash_api_key, new_api_key


@dataclass(frozen=True)
class NewPartner:
    slug: str
    name: str
    timezone: str
    currency: str
    adapter: str
    earn_rate: Decimal


def create_partner(session: Session, spec: NewPartner, now: datetime) -> tuple[Partner, str]:
    """Returns the partner and its API key, which is never stored or shown again."""
    if session.scalar(select(Partner.id).where(Partner.slug == spec.slug)) is not None:
        raise Conflict(f"A partner with slug {spec.slug!r} exists", {"slug": [spec.slug]}, code="partner_exists")
    key = new_api_key()
    partner = Partner(
        slug=spec.slug,
        name=spec.name,
        timezone=spec.timezone,
        currency=spec.currency,
        adapter=spec.adapter,
        earn_rate=spec.earn_rate,
        api_key_hash=hash_api_key(key),
        created_at=now,
        accounts=[Account(kind=kind) for kind in PARTNER_KINDS],
    )
    session.add(partner)
    session.flush()
    return partner, key


def get_partner(session: Session, slug: str) -> Partner:
    partner = session.execute(select(Partner).where(Partner.slug == slug)).unique().scalar_one_or_none()
    if partner is None:
        raise NotFound(f"No partner {slug!r}", code="unknown_partner")
    return partner


def partner_by_key(session: Session, key: str) -> Partner | None:
    query = select(Partner).where(Partner.api_key_hash == hash_api_key(key))
    return session.execute(query).unique().scalar_one_or_none()


def slugs(session: Session, ids: set[int | None]) -> dict[int | None, str]:
    """Partner slugs by id; the network itself (NULL issuer) reads as "network"."""
    found = {pid: slug for pid, slug in session.execute(select(Partner.id, Partner.slug).where(Partner.id.in_(ids - {None})))}
    found[None] = "network"
    return found
