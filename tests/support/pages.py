"""Pages driven through the test client: their forms' CSRF tokens, and people signed in as a browser signs in."""

from __future__ import annotations

import re

from sqlalchemy import update

from network.models import User
from network.parties import people
from network.parties.registry import get_partner

PASSWORD = "a long password of theirs"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def add_person(app, email: str, role: str, partner: str | None = None, password: str | None = PASSWORD) -> str:
    """A person of `role` (of partner slug `partner`, for a partner role): with `password` set as their own, or
    with the one-time password they were given (returned) when `password` is None."""
    now = app.config["CLOCK"]()
    policy = people.Policy.from_config(app.config)

    def work(session):
        partner_id = get_partner(session, partner).id if partner else None
        person, given = people.add(session, policy, now, email=email, role=role, partner_id=partner_id)
        if password is None:
            return given
        session.execute(update(User).where(User.id == person.id).values(
            password_hash=policy.hasher.hash(password), must_change_password=False))
        return password

    return app.extensions["coalition"].db.transact(work)


def sign_in(client, email: str, password: str = PASSWORD, next_page: str = ""):
    """Sign in through the page, as a browser does: its form's token first."""
    token = csrf(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"email": email, "password": password, "next": next_page, "csrf_token": token})


def signed_in(app, email: str, role: str, partner: str | None = None):
    """A new test client of a new person of `role`, signed in."""
    add_person(app, email, role, partner)
    client = app.test_client()
    answer = sign_in(client, email)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client
