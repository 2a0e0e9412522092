"""Single-use links into a member's wallet: how a member gets in without a password.

A partner's app has already signed its customer in, so it asks the hub for a
link and opens it for them (the customer-portal pattern of payment
platforms); a member on their own asks for one by e-mail. Either way the link
is a bearer secret for a few minutes: it is kept only as its SHA-256, opens
the wallet once, and the wallet then lives on its own session cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.models import WalletLink

#: How long a link opens the wallet.
LIFETIME = timedelta(minutes=15)


class LinkRefused(Exception):
    """A link that no longer opens anything: used, expired, or never made. `why` is what the page says."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, member_id: str, *, now: datetime) -> tuple[str, datetime]:
    """A new link's token and when it stops working; the caller checks the member may be reached (it exists, is live)."""
    token = secrets.token_urlsafe(32)
    expires_at = now + LIFETIME
    session.execute(insert(WalletLink).values(token_hash=_hash(token), member_id=member_id, created_at=now,
                                              expires_at=expires_at))
    return token, expires_at


def spend(session: Session, token: str, *, now: datetime) -> str:
    """The member a link opens, spending it: one conditional UPDATE, so two tabs opening it at once get one wallet."""
    digest = _hash(token)
    spent = session.execute(
        update(WalletLink).where(WalletLink.token_hash == digest, WalletLink.used_at.is_(None), WalletLink.expires_at > now)
        .values(used_at=now).returning(WalletLink.member_id)
    ).first()
    if spent is not None:
        return spent.member_id
    found = session.execute(select(WalletLink.used_at, WalletLink.expires_at).where(WalletLink.token_hash == digest)).first()
    if found is None:
        raise LinkRefused("This link is not one the network gave out. Ask for a new one.")
    if found.used_at is not None:
        raise LinkRefused("This link was used already: each link opens the wallet once. Ask for a new one.")
    raise LinkRefused("This link has expired: links work for 15 minutes. Ask for a new one.")
