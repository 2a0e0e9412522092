"""Finding a member by card or by e-mail, for the people who answer members' calls.

By e-mail, the search looks up the address's keyed hash (network.members.privacy:
`email_hash`), under each master key while keys rotate, so it reads an
index and decrypts nothing; only the members it finds are then decrypted,
to be shown. Every member holding the address is found, a merged one too
(with `merged_into`, where its cards and points went), in member id order.
A deleted member has no hash left, and is found by nothing.

By card, the card's holder, whatever the card's status (a blocked card is
what a member calls about): a merge moves the cards, and a holder merged
since is followed to its survivor, as a till's balance is.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from network.members import cards, privacy
from network.members.privacy import MasterKey
from network.models import Card, Member


def by_email(session: Session, master: MasterKey, email: str, *, after: str | None, limit: int) -> list[Member]:
    """Members whose e-mail is `email` (stripped and casefolded), by member id after `after`."""
    query = select(Member).where(Member.email_hash.in_(master.email_hashes(email)), Member.deleted_at.is_(None))
    if after is not None:
        query = query.where(Member.id > after)
    return list(session.scalars(query.order_by(Member.id).limit(limit)))


def by_card(session: Session, number: str, *, after: str | None, limit: int) -> list[Member]:
    """The card's holder (none for a card nobody holds, or a deleted member's), as a page of at most one."""
    holder = session.scalar(select(Member).join(Card, Card.member_id == Member.id).where(Card.number == number))
    seen = set()
    while holder is not None and holder.merged_into is not None and holder.id not in seen:  # merged again since
        seen.add(holder.id)
        holder = session.get(Member, holder.merged_into)
    if holder is None or holder.deleted_at is not None or (after is not None and holder.id <= after) or limit < 1:
        return []
    return [holder]


def found(session: Session, master: MasterKey, member: Member, *, personal: bool, masked: bool) -> dict:
    """A member found: its cards, and with `personal` its e-mail and name, decrypted for it alone."""
    view = {"member_id": member.id, "created_at": member.created_at, "merged_into": member.merged_into,
            "cards": cards.card_view(cards.cards_of(session, member.id), masked=masked)}
    view.update(privacy.reveal(session, master, member) if personal else {"email": None, "name": None})
    return view
