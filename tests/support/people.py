"""People with tokens, made straight in the database: a test about what a role may do need not sign in first."""

from __future__ import annotations

from sqlalchemy import update

from network.models import User
from network.parties import credentials, people
from network.parties.registry import get_partner


def token_for(app, email: str, role: str, partner: str | None = None) -> str:
    """A person of `role` (of partner slug `partner`, for a partner role) and a token of theirs."""
    state = app.extensions["coalition"]
    now = app.config["CLOCK"]()

    def work(session):
        partner_id = get_partner(session, partner).id if partner else None
        person, _ = people.add(session, people.Policy.from_config(app.config), now, email=email, role=role,
                               partner_id=partner_id)
        session.execute(update(User).where(User.id == person.id).values(must_change_password=False))
        token, _ = credentials.issue(session, now, kind=credentials.TOKEN, name="test", user_id=person.id)
        return token

    return state.db.transact(work)
