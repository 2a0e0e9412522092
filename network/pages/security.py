"""What every page answer carries: a signed session cookie, CSRF tokens, and a policy that forbids inline scripts.

The API is called with bearer tokens, which a browser never attaches by
itself, so it needs none of this; pages live on a cookie, which it does,
so every form carries a CSRF token (Flask-WTF), the cookie is HttpOnly and
SameSite=Lax (Secure when the hub is reached over https), and the
Content-Security-Policy lets a page load only the hub's own assets: a
script injected into a page would not run, and nothing is fetched from a
CDN (a hub may run where the internet is not reached).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import TooManyRequests

from network.api.limits import EXTENSION
from network.errors import DomainError

#: Script, style, images and fonts only from the hub itself; no framing, no plugins, forms post only to the hub.
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
          "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

csrf = CSRFProtect()
#: Paths no page lives under: their requests carry bearer tokens, never the session cookie.
NO_SESSION = ("/v1/", "/docs", "/healthz", "/readyz", "/metrics")


class PageSessions(SecureCookieSessionInterface):
    """The signed cookie, opened only for pages: an API request (every sale) neither reads nor signs one."""

    def open_session(self, app: Flask, request):
        if request.path.startswith(NO_SESSION):
            return None  # Flask's null session: nothing read, nothing written
        return super().open_session(app, request)


def install(app: Flask) -> None:
    """The session key and cookie, and the CSRF check's refusal as a page."""
    config = app.config
    config["SECRET_KEY"] = config.get("SECRET_KEY") or os.environ.get("COALITION_SECRET_KEY") or _read_or_make(
        Path(config["COALITION_SECRET_KEY_FILE"]))
    config.update(SESSION_COOKIE_NAME="coalition_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                  SESSION_COOKIE_SECURE=(config.get("COALITION_PUBLIC_URL") or "").startswith("https://"),
                  WTF_CSRF_CHECK_DEFAULT=False,  # the pages check their own forms (`guard`); the API has no cookie to forge
                  WTF_CSRF_TIME_LIMIT=None)  # a token lives as long as its session, which has its own expiry
    app.session_interface = PageSessions()
    csrf.init_app(app)

    @app.errorhandler(CSRFError)
    def _stale_form(error: CSRFError):
        return render_template("message.html", title="This form could not be sent",
                               text="It had expired or did not come from this site. Go back, reload the page and try again.",
                               again=False), 400


def guard(blueprint: Blueprint) -> Blueprint:
    """A blueprint's pages checked and answered as pages: hooks of the blueprint's own, so the API pays nothing."""

    @blueprint.before_request
    def _protect():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()

    @blueprint.errorhandler(DomainError)
    def _refused(error: DomainError):
        """A refusal the page did not word itself, said on a page (never the API's JSON) with the API's status."""
        return render_template("message.html", title="That did not work", text=error.message, again=False), error.status

    @blueprint.errorhandler(TooManyRequests)
    def _too_many(error: TooManyRequests):
        """The API's 429 and its headers, said on a page."""
        answer = current_app.extensions[EXTENSION].refuse(error)
        wait = answer.headers.get("Retry-After", "60")
        page = Response(render_template("message.html", title="Too many tries",
                                        text=f"Wait {wait} seconds, then try again.", again=False), 429)
        for name in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            if name in answer.headers:
                page.headers[name] = answer.headers[name]
        return page

    @blueprint.after_request
    def _policy(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # a wallet link in the address bar goes nowhere else
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return blueprint


def _read_or_make(path: Path) -> str:
    """The session key from its file, made (0600) by the first worker that needs it."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker made it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            key = secrets.token_urlsafe(48)
            handle.write(key + "\n")
        return key
