"""Who a page is for: a session in the signed cookie, ended by sign-out, by idleness, or by its age.

The cookie holds only whose session it is and two times; it is signed
(Flask's session, under the hub's key), so a visitor can read it but not
change it. Times come from the app's clock, so tests can move them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, session


def now() -> datetime:
    return current_app.config["CLOCK"]()


def begin(kind: str, subject: str) -> None:
    """A new session for `subject` (a member id): anything the cookie held before is dropped."""
    session.clear()
    at = now().isoformat()
    session.update(kind=kind, subject=subject, began=at, seen=at)


def current(kind: str) -> str | None:
    """The subject of a live session of this kind, its idle time restarted; None (and the cookie emptied) otherwise."""
    if session.get("kind") != kind:
        return None
    try:
        began, seen = datetime.fromisoformat(session["began"]), datetime.fromisoformat(session["seen"])
    except (KeyError, TypeError, ValueError):
        session.clear()
        return None
    at, config = now(), current_app.config
    if at - seen > timedelta(minutes=config["COALITION_SESSION_IDLE_MINUTES"]) or \
            at - began > timedelta(hours=config["COALITION_SESSION_HOURS"]):
        session.clear()
        return None
    session["seen"] = at.isoformat()
    return session["subject"]


def end() -> None:
    session.clear()
