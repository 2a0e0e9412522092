"""Signing in to the desk and the portal: a person's e-mail and password, and the one-time password replaced.

The same checks as the API's sign-in (`people.check_password`: failures
counted, lock-outs, the same answer for an unknown address as for a wrong
password), the same audit events, and the same credential: the session
cookie carries a sign-in token that sign-out revokes.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from network.api.access import audit_attempt, policy
from network.api.common import hub, now
from network.api.limits import form_field, limited
from network.errors import Invalid
from network.pages import security, sessions, signed_in
from network.parties import audit, credentials, people, roles

blp = security.guard(Blueprint("people", __name__))


def _home_of(role: str) -> str:
    return url_for("desk.home") if role in roles.STAFF_ROLES else url_for("portal.home")


def _next(role: str) -> str:
    """Where the person was going, if it is a page of this hub (never another site: no open redirect)."""
    wanted = request.form.get("next") or request.args.get("next") or ""
    if wanted.startswith("/") and not wanted.startswith(("//", "/\\")) and not wanted.startswith("/v1/"):
        return wanted
    return _home_of(role)


def _open_session(session: Session, person: people.Person) -> str:
    at = now()
    token, _ = credentials.issue(session, at, kind=credentials.SESSION, name="page sign-in", user_id=person.id,
                                 expires_at=at + timedelta(hours=current_app.config["COALITION_SESSION_HOURS"]))
    return token


def _form(template: str, status: int = 200, **values):
    return render_template(template, next=request.values.get("next", ""), **values), status


@blp.route("/sign-in", methods=["GET"])
def sign_in():
    caller = signed_in.principal()
    if caller is not None and caller.user_id is not None:
        return redirect(_next(caller.role))
    return _form("people/sign_in.html", error=None, email="")


@blp.route("/sign-in", methods=["POST"])
@limited("COALITION_SIGN_IN_LIMIT", form_field("email"))  # per account, before its password is checked
@limited("COALITION_SIGN_IN_LIMIT_PER_ADDRESS")
def check():
    email, password = (request.form.get("email") or "").strip(), request.form.get("password") or ""

    def work(session: Session):
        attempt = people.check_password(session, policy(), now(), email, password)
        audit_attempt(session, attempt, "sign-in", email)
        if attempt.refusal is not None:
            return attempt.refusal, None
        return attempt.person, _open_session(session, attempt.person)

    found, token = hub().db.transact(work)  # a failure's count and event are committed before it is answered
    if token is None:
        if found.code == "password_change_required":
            return _form("people/password.html", 200, error=None, email=email,
                         intro="Choose your own password: the one you were given works only to replace itself.")
        return _form("people/sign_in.html", found.status, error=found.message, email=email)
    signed_in.begin(token)
    return redirect(_next(found.role))


@blp.route("/sign-in/password", methods=["GET"])
def password():
    return _form("people/password.html", error=None, email=request.args.get("email", ""), intro=None)


@blp.route("/sign-in/password", methods=["POST"])
@limited("COALITION_SIGN_IN_LIMIT", form_field("email"))
@limited("COALITION_SIGN_IN_LIMIT_PER_ADDRESS")
def change_password():
    """The one-time password (or the current one) replaced, and the person signed in with the new one."""
    form = request.form
    email, old, new = (form.get("email") or "").strip(), form.get("password") or "", form.get("new_password") or ""
    if new != (form.get("repeat") or ""):
        return _form("people/password.html", 422, error="The two new passwords differ.", email=email, intro=None)

    def work(session: Session):
        attempt = people.check_password(session, policy(), now(), email, old, changing=True)
        if attempt.refusal is not None:
            audit_attempt(session, attempt, "password change", email)
            return attempt.refusal, None
        try:
            people.set_password(session, policy(), attempt.person, old, new)
        except Invalid as weak:
            return weak, None
        audit_attempt(session, attempt, "password change", email)
        return attempt.person, _open_session(session, attempt.person)

    found, token = hub().db.transact(work)
    if token is None:
        return _form("people/password.html", found.status, error=found.message, email=email, intro=None)
    signed_in.begin(token)
    return redirect(_next(found.role))


@blp.route("/sign-out", methods=["POST"])
def sign_out():
    """The session's credential revoked, not only the cookie dropped: a copied cookie stops working too."""
    caller = signed_in.principal()
    if caller is not None and caller.credential_id is not None:
        def work(session: Session) -> None:
            credentials.revoke(session, caller.credential_id, now())
            audit.record(session, now(), audit.Actor(caller.actor, caller.role, caller.partner.id if caller.partner else None,
                                                     caller.credential_id), "sign-out", request.path,
                         where=audit.Where(request.remote_addr, request.headers.get("User-Agent")))

        hub().db.transact(work)
    sessions.end()
    return redirect(url_for("people.sign_in"))
