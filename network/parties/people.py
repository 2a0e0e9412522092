"""People who sign in: the operator's staff and partners' users, their passwords and their lock-outs.

Passwords are hashed with argon2id (argon2-cffi): a slow, memory-hard hash
is what a low-entropy secret needs, unlike API keys. A person added by
someone else gets a one-time password and must choose their own before the
first sign-in. Repeated failures lock the account for a while; the count
is committed even though the attempt is refused, so the caller of
`sign_in` commits first and raises after.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from network.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from network.models import User
from network.parties import roles

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD, MAX_PASSWORD = 12, 256

#: argon2-cffi's profiles: RFC 9106's low-memory one in production, its cheapest in the test suite.
HASHERS = {"RFC_9106_LOW_MEMORY": profiles.RFC_9106_LOW_MEMORY, "CHEAPEST": profiles.CHEAPEST}


@dataclass(frozen=True)
class Policy:
    """How sign-in treats failures (COALITION_SIGN_IN_MAX_FAILURES, COALITION_SIGN_IN_LOCK_SECONDS)."""

    max_failures: int = 5
    lock: timedelta = timedelta(minutes=15)
    hasher: PasswordHasher = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)

    @classmethod
    def from_config(cls, config) -> Policy:
        return cls(max_failures=config["COALITION_SIGN_IN_MAX_FAILURES"],
                   lock=timedelta(seconds=config["COALITION_SIGN_IN_LOCK_SECONDS"]),
                   hasher=PasswordHasher.from_parameters(HASHERS[config["COALITION_PASSWORD_HASH"]]))


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    role: str
    partner_id: int | None
    must_change_password: bool
    disabled_at: datetime | None
    locked_until: datetime | None
    created_at: datetime
    last_sign_in_at: datetime | None

    def as_json(self, partner_slug: str | None = None) -> dict:
        stamp = (lambda value: None if value is None else value.isoformat())
        return {"id": self.id, "email": self.email, "role": self.role, "partner": partner_slug,
                "must_change_password": self.must_change_password, "disabled_at": stamp(self.disabled_at),
                "created_at": stamp(self.created_at), "last_sign_in_at": stamp(self.last_sign_in_at)}


_PERSON = select(User.id, User.email, User.role, User.partner_id, User.must_change_password, User.disabled_at,
                 User.locked_until, User.created_at, User.last_sign_in_at)


def normalise_email(email: str, field: str = "email") -> str:
    found = email.strip().lower()
    if not _EMAIL.match(found) or len(found) > 254:
        raise Invalid("Not an e-mail address", {field: [email]})
    return found


def add(session: Session, policy: Policy, now: datetime, *, email: str, role: str,
        partner_id: int | None = None) -> tuple[Person, str]:
    """A new person with a one-time password (returned once): staff without a partner, a partner user with one."""
    email = normalise_email(email)
    if role not in roles.STAFF_ROLES + roles.PARTNER_USER_ROLES:
        raise Invalid(f"No role {role!r}", {"role": [f"one of {', '.join(roles.STAFF_ROLES + roles.PARTNER_USER_ROLES)}"]})
    if (role in roles.PARTNER_USER_ROLES) != (partner_id is not None):
        raise Invalid("A partner role needs its partner, a staff role none", {"role": [role]})
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"{email} has an account already", {"email": [email]}, code="user_exists")
    password = secrets.token_urlsafe(12)
    user_id = session.execute(insert(User).values(
        email=email, role=role, partner_id=partner_id, password_hash=policy.hasher.hash(password),
        must_change_password=True, failed_sign_ins=0, created_at=now,
    ).returning(User.id)).scalar_one()
    return by_id(session, user_id), password


def by_id(session: Session, user_id: int) -> Person:
    row = session.execute(_PERSON.where(User.id == user_id)).first()
    if row is None:
        raise NotFound(f"No user {user_id}", {"user_id": [str(user_id)]}, code="unknown_user")
    return Person(*row)


def by_email(session: Session, email: str) -> Person:
    row = session.execute(_PERSON.where(User.email == email.strip().lower())).first()
    if row is None:
        raise NotFound(f"No user {email}", {"email": [email]}, code="unknown_user")
    return Person(*row)


def staff(session: Session) -> list[Person]:
    return [Person(*row) for row in session.execute(_PERSON.where(User.partner_id.is_(None)).order_by(User.email))]


def of_partner(session: Session, partner_id: int) -> list[Person]:
    return [Person(*row) for row in session.execute(_PERSON.where(User.partner_id == partner_id).order_by(User.id))]


def disable(session: Session, user_id: int, now: datetime) -> Person:
    """Disable once; the person's tokens and sessions stop at the next request (auth reads `disabled_at`)."""
    session.execute(update(User).where(User.id == user_id, User.disabled_at.is_(None)).values(disabled_at=now))
    return by_id(session, user_id)


@dataclass(frozen=True)
class Attempt:
    """What a sign-in came to: the person, or the refusal to raise once the failure count is committed."""

    person: Person | None
    refusal: Exception | None = None


_DUMMIES: dict[tuple, str] = {}


def _dummy(hasher: PasswordHasher) -> str:
    """A hash made with the hasher's own parameters: an unknown address costs what a known one does."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.type)
    if key not in _DUMMIES:
        _DUMMIES[key] = hasher.hash("not a password of anyone")
    return _DUMMIES[key]


def check_password(session: Session, policy: Policy, now: datetime, email: str, password: str, *,
                   changing: bool = False) -> Attempt:
    """Verify a password, counting failures; `changing`: the one-time password may be used to replace itself."""
    row = session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    wrong = Unauthenticated("The e-mail address or the password is wrong", code="invalid_credentials")
    if row is None or row.disabled_at is not None:
        _verify(policy.hasher, _dummy(policy.hasher), password)  # the same work whether or not the address is known
        return Attempt(None, wrong)
    if row.locked_until is not None and row.locked_until > now:
        return Attempt(None, Forbidden("Too many failed sign-ins: the account is locked for a while",
                                       {"locked_until": [row.locked_until.isoformat()]}, code="account_locked"))
    if not _verify(policy.hasher, row.password_hash, password):
        failures = row.failed_sign_ins + 1
        locked = failures >= policy.max_failures
        session.execute(update(User).where(User.id == row.id).values(
            failed_sign_ins=0 if locked else failures, locked_until=now + policy.lock if locked else row.locked_until))
        return Attempt(None, wrong)
    if row.must_change_password and not changing:
        return Attempt(None, Forbidden("Choose your own password first (POST /v1/auth/password)",
                                       code="password_change_required"))
    values = {"failed_sign_ins": 0, "locked_until": None}
    if policy.hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = policy.hasher.hash(password)
    if not changing:
        values["last_sign_in_at"] = now
    session.execute(update(User).where(User.id == row.id).values(**values))
    return Attempt(by_id(session, row.id))


def set_password(session: Session, policy: Policy, person: Person, old: str, new: str) -> None:
    if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
        raise Invalid(f"A password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", {"new_password": ["length"]})
    if new == old:
        raise Invalid("The new password must differ from the old one", {"new_password": ["unchanged"]})
    session.execute(update(User).where(User.id == person.id).values(
        password_hash=policy.hasher.hash(new), must_change_password=False))


def _verify(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
