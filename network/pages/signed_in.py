"""A person's pages (the desk, the portal): who is signed in, as the API's own principal, and their writes audited.

The session cookie holds the sign-in credential the API's own sign-in
issues (kind "session"), so a page request is authenticated exactly as an
API request is: read afresh every time, a revoked credential or a disabled
person is out at their next click. A page's write runs the same domain
function as the API's and writes its audit event in its own transaction,
named by the page's method and route as the API's are by theirs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from network.api import audit_trail
from network.api.common import hub, now
from network.errors import Unauthenticated
from network.pages import sessions
from network.parties import audit, auth
from network.parties.auth import Principal
from network.parties.roles import ALL_ROLES

KIND = "person"


def begin(token: str) -> None:
    sessions.begin(KIND, token)


def token() -> str | None:
    return sessions.current(KIND)


def principal() -> Principal | None:
    """Whoever the session is for, read afresh (never from a worker's cache), or None once it no longer holds."""
    found = token()
    if found is None:
        return None
    try:
        return auth.authenticate(hub().db, f"Bearer {found}", None, now())
    except Unauthenticated:
        sessions.end()
        return None


def needs(*allowed: str | tuple[str, ...]):
    """Sign-in required, and one of these roles: a stranger is sent to sign in, a wrong role gets a 403 page.

    Sets `g.principal` as the API's `requires` does, so the audit trail
    and `only_itself` see the person the same way.
    """
    roles = tuple(dict.fromkeys(role for item in allowed for role in ((item,) if isinstance(item, str) else item)))
    if set(roles) - set(ALL_ROLES):
        raise ValueError(f"No such roles: {sorted(set(roles) - set(ALL_ROLES))}")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            caller = principal()
            if caller is None:
                return redirect(url_for("people.sign_in", next=request.full_path.rstrip("?")))
            g.principal = caller
            if caller.role not in roles:
                return page_message("Not for your role", "Your account may not open this page. "
                                    "Ask your administrator if you need it.", 403)
            return view(*args, **kwargs)

        wrapper.roles = roles
        return wrapper

    return decorate


def write(work: Callable[[Session], object], *, before=None, after=None, partner_id: int | None = None):
    """Run a page's write with its audit event in the same transaction (the API's `idempotent_write` without a key).

    `before`/`after` say what a change of configuration replaced and left,
    as the API's views say it with `audit_trail.change`.
    """

    def unit(session: Session):
        audit_trail.begin()
        done = work(session)
        if before is not None or after is not None:
            audit_trail.change(before(session, done) if callable(before) else before,
                               after(session, done) if callable(after) else after, partner_id)
        audit.write(session, audit_trail.event())
        return done

    return hub().db.transact(unit)


def page_message(title: str, text: str, status: int = 200):
    return render_template("message.html", title=title, text=text, again=False), status
