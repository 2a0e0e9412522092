"""What every view needs: the hub's state, the caller, the clock, and idempotent writes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pluggy
from flask import Response, current_app, g, request
from sqlalchemy.orm import Session

from network import idempotency
from network.auth import KeyCache, Principal, authenticate
from network.db import Database
from network.errors import Forbidden
from partners.adapters import Adapter


@dataclass
class Hub:
    """Per-app state, kept in app.extensions: never a module global."""

    db: Database
    plugins: pluggy.PluginManager
    adapters: dict[str, Adapter]
    keys: KeyCache


def hub() -> Hub:
    return current_app.extensions["coalition"]


def now() -> datetime:
    return current_app.config["CLOCK"]()


def requires(*roles: str):
    """Authenticate and check the caller's role before the body is even parsed.

    Placed under `@blp.route` and above `@blp.arguments`, so a stranger
    learns nothing from validation errors.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = authenticate(
                hub().db, request.headers.get("Authorization"), current_app.config["COALITION_ADMIN_TOKEN"], hub().keys
            )
            if principal.role not in roles:
                raise Forbidden(f"This needs the {' or '.join(roles)} role", code="wrong_role")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper

    return decorate


def principal() -> Principal:
    return g.principal


def read(work: Callable[[Session], object]):
    return hub().db.read(work)


def idempotent_write(work: Callable[[Session], dict], status: int = 201) -> Response:
    """Run a write under the request's Idempotency-Key (if any) and answer with its stored outcome."""
    key = request.headers.get("Idempotency-Key")
    idempotency.validate_key(key)
    outcome = idempotency.run(
        hub().db,
        lambda session: (status, work(session)),
        principal=g.principal.key,
        key=key,
        request_hash=idempotency.fingerprint(request.method, request.path, request.get_data()),
        now=now(),
    )
    response = Response(outcome.body + "\n", status=outcome.status, mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
