"""Signing in to the desk and the portal through their pages: the API's checks, the API's credential, a page's words."""

from __future__ import annotations

from sqlalchemy import select

from network.models import AuditEvent, Credential
from network.parties import people
from tests.support.pages import PASSWORD, add_person, csrf, sign_in, signed_in


def test_staff_sign_in_lands_on_the_desk_and_a_partner_user_on_their_portal(app, world):
    desk = signed_in(app, "fin@example.net", "finance")
    assert "Signed in as fin@example.net (finance)" in desk.get("/desk").get_data(as_text=True)
    portal = signed_in(app, "till@coffee.example", "partner_staff", "brew-bar")
    assert portal.get("/portal").headers["Location"] == "/portal/brew-bar"
    assert "Brew Bar" in portal.get("/portal/brew-bar").get_data(as_text=True)


def test_a_page_of_the_desk_sends_a_stranger_to_sign_in_and_back(app):
    add_person(app, "ops@example.net", "admin")
    client = app.test_client()
    assert client.get("/desk").headers["Location"] == "/sign-in?next=/desk"
    answer = sign_in(client, "ops@example.net", next_page="/desk")
    assert answer.headers["Location"] == "/desk"
    elsewhere = sign_in(app.test_client(), "ops@example.net", next_page="//evil.example/x")
    assert elsewhere.headers["Location"] == "/desk"  # never another site


def test_a_wrong_password_and_an_unknown_address_read_alike_and_are_counted(app, database):
    add_person(app, "fin@example.net", "finance")
    client = app.test_client()
    wrong, unknown = sign_in(client, "fin@example.net", "not it at all"), sign_in(client, "nobody@example.net", "x" * 12)
    assert wrong.status_code == unknown.status_code == 401
    assert "The e-mail address or the password is wrong" in wrong.get_data(as_text=True)
    assert "The e-mail address or the password is wrong" in unknown.get_data(as_text=True)
    assert client.get("/desk").status_code == 302  # not signed in
    actions = database.read(lambda session: session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all())
    assert actions[-2:] == ["sign-in refused (invalid_credentials)"] * 2
    for _ in range(4):
        sign_in(client, "fin@example.net", "not it at all")
    locked = sign_in(client, "fin@example.net")  # the right password, too late
    assert locked.status_code == 403 and "locked" in locked.get_data(as_text=True)


def test_a_one_time_password_is_replaced_on_the_page_then_the_person_is_in(app, database):
    given = add_person(app, "new@example.net", "support", password=None)
    client = app.test_client()
    first = sign_in(client, "new@example.net", given)
    assert first.status_code == 200 and "Choose your own password" in first.get_data(as_text=True)
    form = {"email": "new@example.net", "password": given, "csrf_token": csrf(first.get_data(as_text=True))}
    differ = client.post("/sign-in/password", data={**form, "new_password": "x" * 12, "repeat": "y" * 12})
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    short = client.post("/sign-in/password", data={**form, "new_password": "short", "repeat": "short"})
    assert short.status_code == 422 and "12 to 256 characters" in short.get_data(as_text=True)
    done = client.post("/sign-in/password", data={**form, "new_password": PASSWORD, "repeat": PASSWORD})
    assert done.headers["Location"] == "/desk" and client.get("/desk").status_code == 200
    assert sign_in(app.test_client(), "new@example.net", given).status_code == 401  # the one-time password is spent
    assert sign_in(app.test_client(), "new@example.net").status_code == 302


def test_sign_out_revokes_the_sessions_credential_and_a_disabled_person_is_out_at_the_next_click(app, database, clock):
    client = signed_in(app, "fin@example.net", "finance")
    page = client.get("/desk").get_data(as_text=True)
    assert client.post("/sign-out", data={"csrf_token": csrf(page)}).headers["Location"] == "/sign-in"
    kinds = database.read(lambda session: session.execute(
        select(Credential.kind, Credential.revoked_at).where(Credential.name == "page sign-in")).all())
    assert kinds == [("session", clock.now)]
    last = database.read(lambda session: session.execute(
        select(AuditEvent.actor, AuditEvent.action).order_by(AuditEvent.id.desc()).limit(1)).one())
    assert tuple(last) == ("fin@example.net", "sign-out")
    assert client.get("/desk").status_code == 302

    other = signed_in(app, "sup@example.net", "support")
    assert other.get("/desk").status_code == 200
    person = database.read(lambda session: people.by_email(session, "sup@example.net"))
    database.transact(lambda session: people.disable(session, person.id, clock.now))
    assert other.get("/desk").headers["Location"].startswith("/sign-in")


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(app, database):
    client = signed_in(app, "fin@example.net", "finance")
    refused = client.post("/sign-out")
    assert refused.status_code == 400 and "could not be sent" in refused.get_data(as_text=True)
    assert client.get("/desk").status_code == 200  # still signed in: the session's credential stands
    revoked = database.read(lambda session: session.scalars(select(Credential.revoked_at)).all())
    assert revoked == [None]


def test_a_role_without_the_page_sees_a_403_page_not_the_api_json(app, world):
    client = signed_in(app, "till@coffee.example", "partner_admin", "brew-bar")
    answer = client.get("/desk")
    assert answer.status_code == 403 and answer.mimetype == "text/html"
    assert "Not for your role" in answer.get_data(as_text=True)
    other = client.get("/portal/green-grocer")
    assert other.status_code == 404 and answer.mimetype == "text/html"
