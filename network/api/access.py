"""Signing in: a person's e-mail and password exchanged for a token, and the one-time password replaced.

Both take no token and are public, so each answers the same for an
unknown address as for a wrong password, and counts a failure against the
account before it answers. Every attempt, good or bad, is in the audit trail.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, request
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from network.api.access_schemas import PasswordChange, PasswordChanged, SignedIn, SignIn
from network.api.answers import answers
from network.api.common import hub, now
from network.api.idempotency import ShownOnce, to_json
from network.api.limits import json_field, limited
from network.parties import audit, credentials, people
from network.parties.registry import slugs

blp = Blueprint("access", __name__, description="Signing in: staff and partners' users")


def policy() -> people.Policy:
    return people.Policy.from_config(current_app.config)


@blp.route("/auth/sign-in", methods=["POST"])
@limited("COALITION_SIGN_IN_LIMIT", json_field("email"))  # per account, before its password is checked
@limited("COALITION_SIGN_IN_LIMIT_PER_ADDRESS")
@blp.doc(security=[])
@blp.arguments(SignIn)
@blp.response(201, SignedIn)
@answers("invalid_credentials", "account_locked", "password_change_required", "bad_request", "validation_error")
def sign_in(args):
    """Exchange a person's e-mail and password for a token that lasts `COALITION_SESSION_HOURS`.

    For the operator's staff and partners' users (partner keys need no sign-in). Wrong passwords in a row lock the
    account for a while (`account_locked`); a one-time password must be replaced first (`password_change_required`).
    """
    at, hours = now(), timedelta(hours=current_app.config["COALITION_SESSION_HOURS"])

    def work(session: Session):
        attempt = people.check_password(session, policy(), at, args["email"], args["password"])
        audit_attempt(session, attempt, "sign-in", args["email"])
        if attempt.refusal is not None:
            return attempt.refusal
        person = attempt.person
        token, _ = credentials.issue(session, at, kind=credentials.SESSION, name="sign-in", user_id=person.id,
                                     expires_at=at + hours)
        partner = slugs(session, {person.partner_id})[person.partner_id] if person.partner_id else None
        return {"token": ShownOnce(token), "expires_at": (at + hours).isoformat(), "role": person.role, "partner": partner}

    return _answer(hub().db.transact(work), 201)


@blp.route("/auth/password", methods=["POST"])
@limited("COALITION_SIGN_IN_LIMIT", json_field("email"))  # per account, before its password is checked
@limited("COALITION_SIGN_IN_LIMIT_PER_ADDRESS")
@blp.doc(security=[])
@blp.arguments(PasswordChange)
@blp.response(200, PasswordChanged)
@answers("invalid_credentials", "account_locked", "bad_request", "validation_error")
def change_password(args):
    """Replace a password, the one-time password of a new account included; the person then signs in with the new one.

    The current password is checked as a sign-in is (and counts towards the lock-out). Every token the person
    holds keeps working; a new password of 12 characters or more, unlike the old one.
    """
    at = now()

    def work(session: Session):
        attempt = people.check_password(session, policy(), at, args["email"], args["password"], changing=True)
        if attempt.refusal is None:
            people.set_password(session, policy(), attempt.person, args["password"], args["new_password"])
        audit_attempt(session, attempt, "password change", args["email"])
        return attempt.refusal or {"changed": True}

    return _answer(hub().db.transact(work), 200)


def audit_attempt(session: Session, attempt: people.Attempt, what: str, email: str) -> None:
    """Every attempt in the trail, good or bad: the API's sign-in and the pages' alike."""
    person = attempt.person
    outcome = "" if attempt.refusal is None else f" refused ({attempt.refusal.code})"
    actor = (audit.Actor(person.email, person.role, person.partner_id) if person
             else audit.Actor(email.strip().lower(), "unknown"))
    audit.record(session, now(), actor, f"{what}{outcome}", request.path,
                 where=audit.Where(request.remote_addr, request.headers.get("User-Agent")))


def _answer(outcome, status: int):
    """Raise a refusal only now, after its failure count and audit event are committed."""
    if isinstance(outcome, Exception):
        raise outcome
    return current_app.response_class(to_json(outcome) + "\n", status=status, mimetype="application/json")
